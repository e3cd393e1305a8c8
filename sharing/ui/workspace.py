"""One session's work: the scenario being edited, its edits, saved variants and the last
valid result. Everything lives in ``st.session_state``, so two users never see each other's
edits; nothing here is module-level mutable state.

A scenario in the app is always ``origin`` (a built-in file or an upload) plus ``edits``: the
``Scenario.replace`` key paths and values the user changed, in order. That is also what the
"reproduce in Python" snippets print, so a script gets the same scenario and the same
numbers. Every edit is validated by :meth:`Scenario.replace` (the schema a file goes through);
an edit that does not validate is refused, its problems are kept next to the field it came
from, and the scenario and result stay the last valid ones.

Simulations are cached across sessions (``st.cache_resource``, keyed on the origin and the
edits); a session never holds the cached :class:`Result` itself but a private copy whose
tables are its own and whose arrays are read-only (see :func:`private_result`). What else is
shared is immutable: scenarios (frozen models), the titles of the built-in scenarios (a
read-only mapping), and the compiled ``Result.model``, which only the library reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

import sharing
from sharing.frozen import freeze
from sharing.i18n import Problem
from sharing.result import Result
from sharing.scenario import Scenario, ScenarioError, builtin_scenarios, find_scenario
from sharing.ui.text import lang

DEFAULT_SCENARIO = "gaozhu"
STATE_KEY = "workspace"


@dataclass(frozen=True)
class Origin:
    """Where a scenario came from: a built-in scenario (``kind="builtin"``, ``name`` its
    name), or an uploaded YAML file or workbook (``kind="yaml"`` / ``"xlsx"``, ``name`` the
    file name, ``digest`` its content's SHA-256, so that two uploads never share a cache
    entry)."""

    kind: str
    name: str
    digest: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}:{self.digest}"

    def load_code(self) -> list[str]:
        """Python lines that load this origin into ``sc``."""
        if self.kind == "builtin":
            return ["from sharing.scenario import find_scenario", "",
                    f"sc = sharing.load_scenario(find_scenario({self.name!r}))"]
        if self.kind == "xlsx":
            return ["from sharing.io import import_scenario_xlsx", "",
                    f"sc = sharing.parse_scenario(import_scenario_xlsx({self.name!r}))"]
        return [f"sc = sharing.load_scenario({self.name!r})"]


@dataclass(frozen=True)
class Variant:
    """A scenario saved for comparison: where it came from and the edits made to it."""

    origin: Origin
    edits: tuple[tuple[str, Any], ...]
    scenario: Scenario

    @property
    def key(self) -> str:
        return cache_key(self.origin, self.edits)


def cache_key(origin: Origin, edits: tuple[tuple[str, Any], ...]) -> str:
    """A short key for (origin, edits): the simulation cache's key."""
    text = repr((origin.key, edits))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@st.cache_resource(max_entries=64, show_spinner=False)
def _shared_result(key: str, _sc: Scenario) -> Result:
    """Simulate once per (origin, edits) for every session; never handed out as is."""
    del key
    res = sharing.simulate(_sc)
    for view in ("summary", "by_year", "flows", "statistics", "standalone_pv"):
        getattr(res, view)  # built once here, copied for each session
    return res


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def private_result(shared: Result) -> Result:
    """A session's own copy of a cached result: its own DataFrames (a page that changes
    one changes nobody else's) and read-only views of the arrays."""
    mine = dataclasses.replace(
        shared, allocated=_read_only(shared.allocated), collected=_read_only(shared.collected),
        retained=_read_only(shared.retained))
    for view in ("summary", "by_year", "flows", "statistics"):
        mine.__dict__[view] = getattr(shared, view).copy()
    mine.__dict__["standalone_pv"] = _read_only(shared.standalone_pv)
    return mine


def simulate(key: str, sc: Scenario) -> Result:
    """The result of ``sc`` (identified by ``key``), a private copy of the cached one."""
    return private_result(_shared_result(key, sc))


@st.cache_resource(show_spinner=False)
def builtin_titles() -> dict[str, tuple[str, str]]:
    """Built-in scenario names -> (中文 title, English title), the default first."""
    titles = {}
    for name, path in builtin_scenarios().items():
        try:
            sc = sharing.load_scenario(path)
        except ScenarioError:
            continue  # a broken built-in file is a test failure, not the user's problem
        titles[name] = (sc.name, sc.name_en)
    # shared by every session: read-only
    return freeze(dict(sorted(titles.items(), key=lambda kv: kv[0] != DEFAULT_SCENARIO)))


@st.cache_resource(max_entries=32, show_spinner=False)
def load_builtin(name: str) -> Scenario:
    """A built-in scenario (immutable, so one copy serves every session)."""
    return sharing.load_scenario(find_scenario(name))


@dataclass
class Workspace:
    """The session's state (kept in ``st.session_state["workspace"]``)."""

    origin: Origin
    base: Scenario
    edits: dict[str, Any] = field(default_factory=dict)
    scenario: Scenario | None = None
    result: Result | None = None
    variants: dict[str, Variant] = field(default_factory=dict)
    problems: dict[str, list[Problem | str]] = field(default_factory=dict)
    error: str = ""  # a library bug met by the last simulation: "KeyError: 'host'"
    revision: int = 0  # counts changes of the scenario: part of the editor's widget keys

    def __post_init__(self) -> None:
        if self.scenario is None:
            self.scenario = self.base
            self._run()

    @property
    def key(self) -> str:
        return cache_key(self.origin, tuple(self.edits.items()))

    @property
    def refused(self) -> bool:
        """Whether an edit was refused, so that the results shown are the last valid ones
        (an upload's problems are the upload's, not the results')."""
        return any(v for k, v in self.problems.items() if k != "upload")

    def _run(self) -> bool:
        try:
            self.result = simulate(self.key, self.scenario)
        except ScenarioError as err:
            self.problems["scenario"] = list(err.items)
            return False
        except Exception as err:  # a library bug: say so, keep the page and the last result
            self.error = f"{type(err).__name__}: {err}"
            return False
        self.problems.pop("scenario", None)
        self.error = ""
        return True

    def edit(self, changes: Mapping[str, Any], field: str) -> bool:
        """Apply ``changes`` (key path -> value) on top of the session's edits. On success
        the scenario and result are updated and ``field``'s problems cleared; otherwise the
        problems are kept under ``field`` and nothing else changes. A path set again moves
        to the end (with any edit inside it dropped), so that the edits replayed in order
        give this scenario."""
        edits = dict(self.edits)
        for path, value in changes.items():
            for old in [p for p in edits if p == path or p.startswith((path + ".", path + "["))]:
                del edits[old]
            edits[path] = value
        try:
            scenario = self.base.replace(edits)
        except ScenarioError as err:
            self.problems[field] = list(err.items)
            return False
        previous = (self.edits, self.scenario, self.result)
        self.edits, self.scenario = edits, scenario
        if not self._run():
            self.problems[field] = self.problems.pop("scenario", []) or [
                Problem("internal_error", {"error": self.error})]
            self.edits, self.scenario, self.result = previous
            return False
        # every editor widget now shows the new scenario: earlier refusals are moot
        self.problems = {k: v for k, v in self.problems.items() if k == "upload"}
        self.revision += 1
        return True

    def reset(self) -> None:
        """Back to the scenario as loaded."""
        self.edits, self.scenario, self.problems = {}, self.base, {}
        self.revision += 1
        self._run()

    def load(self, origin: Origin, base: Scenario) -> None:
        """Work on another scenario (edits and problems cleared; variants kept)."""
        self.origin, self.base = origin, base
        self.reset()

    def save_variant(self, name: str) -> None:
        self.variants[name] = Variant(self.origin, tuple(self.edits.items()), self.scenario)

    def variant_result(self, name: str) -> Result:
        v = self.variants[name]
        return simulate(v.key, v.scenario)

    def widget_key(self, name: str) -> str:
        """A key for an editor widget showing the scenario's value: it changes with every
        change of the scenario, so that every widget shows the new values (a refused edit
        leaves the key, and the user's input, where they are), and with the language
        (Streamlit's frontend keeps the option labels a widget was made with)."""
        return f"{name}@{self.revision}:{lang()}"

    def current_variant(self) -> Variant:
        return Variant(self.origin, tuple(self.edits.items()), self.scenario)


def get() -> Workspace:
    """The session's workspace, created on the default scenario at the first call."""
    ws = st.session_state.get(STATE_KEY)
    if ws is None:
        ws = Workspace(Origin("builtin", DEFAULT_SCENARIO), load_builtin(DEFAULT_SCENARIO))
        st.session_state[STATE_KEY] = ws
    return ws


def run_problems(ws: Workspace, key: str) -> list:
    """The problems a page's last run (kept under ``key``) found, if it was on this version
    of the scenario."""
    version, items = st.session_state.get(key, ("", []))
    return items if version == ws.key else []


def kept_run(ws: Workspace, key: str) -> dict[str, Any] | None:
    """A page's last run (kept under ``key``), unless it was on another scenario (not just an
    earlier version of this one, which the page shows with a note)."""
    kept = st.session_state.get(key)
    if kept is not None and kept["origin"] != ws.origin:
        del st.session_state[key]
        return None
    return kept
