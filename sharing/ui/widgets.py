"""Pieces every page uses: CSV downloads, "reproduce in Python" snippets, charts with both,
and problems shown in the session's language."""

from __future__ import annotations

import math
import pprint
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sharing.i18n import Problem, define
from sharing.io import csv_bytes
from sharing.ui import workspace
from sharing.ui.text import lang, t
from sharing.ui.workspace import Origin, Workspace

TABLES_KEY = "widgets_tables"
SEEN_KEY = "widgets_tables_seen"

define({
    "ui.bad_cell": ("{column} 列第 {row} 行：{value!r} 不是数字",
                    "column {column}, row {row}: {value!r} is not a number"),
})


def file_name(stem: str, suffix: str = "csv") -> str:
    """A download's file name from ``stem`` (already in the session's language, e.g.
    ``t("file.summary")``); characters a file system refuses become ``_``."""
    return re.sub(r'[\\/:*?"<>|\s]+', "_", stem) + f".{suffix}"


def download_csv(df: pd.DataFrame, name: str, key: str, label: str | None = None) -> None:
    """A CSV download of ``df``: UTF-8 with BOM, formula cells neutralised
    (:func:`sharing.io.csv_bytes`), named ``name`` (already in the session's language).
    The bytes are made when the user clicks, not on every rerun."""
    st.download_button(label or t("download_csv"), lambda: csv_bytes(df),
                       file_name=file_name(name), mime="text/csv", key=key, on_click="ignore")


def snippet_code(origin: Origin, edits: Iterable[tuple[str, Any]], expression: str,
                 imports: Iterable[str] = ()) -> str:
    """Python that rebuilds the session's scenario and prints ``data = <expression>``;
    ``expression`` may use ``sc`` (the scenario), ``res`` (its result) and the modules
    imported by ``imports`` lines."""
    lines = ["import sharing", *imports, *origin.load_code(), *_replace_lines(edits)]
    lines += ["res = sharing.simulate(sc)", f"data = {expression}", "print(data)"]
    return "\n".join(lines) + "\n"


def _replace_lines(edits: Iterable[tuple[str, Any]]) -> list[str]:
    """``sc = sc.replace({...})`` with the edits in order (none: no line)."""
    edits = dict(edits)
    if not edits:
        return []
    body = pprint.pformat(edits, width=88, sort_dicts=False)
    return ["sc = sc.replace(" + body.replace("\n", "\n" + " " * 16) + ")"]


def compare_snippet_code(variants: dict[str, workspace.Variant], expression: str,
                         imports: Iterable[str] = ()) -> str:
    """Python that rebuilds each of ``variants`` into ``results`` (name -> Result) and
    prints ``data = <expression>``."""
    lines = ["import sharing", *imports]
    loads = {line for v in variants.values() for line in v.origin.load_code()
             if line.startswith("from ")}
    lines += sorted(loads)
    lines += ["", "scenarios = {}"]
    for name, v in variants.items():
        lines += [line for line in v.origin.load_code() if line.startswith("sc = ")]
        lines += [*_replace_lines(v.edits), f"scenarios[{name!r}] = sc"]
    lines += ["results = {name: sharing.simulate(sc) for name, sc in scenarios.items()}",
              f"data = {expression}", "print(data)"]
    return "\n".join(lines) + "\n"


def snippet(ws: Workspace, expression: str, imports: Iterable[str] = (),
            code: str | None = None) -> None:
    """The "用 Python 复现 / reproduce in Python" expander for the session's scenario (or
    the given ``code``)."""
    with st.expander(t("reproduce")):
        st.caption(t("reproduce_help"))
        st.code(code or snippet_code(ws.origin, ws.edits.items(), expression, imports),
                language="python")


def chart(fig: go.Figure, data: pd.DataFrame, name: str, key: str, ws: Workspace,
          expression: str, imports: Iterable[str] = (), code: str | None = None) -> None:
    """A plotly chart, then the CSV of the data it is drawn from and the snippet that
    computes that data (``expression``, see :func:`snippet_code`; or the given ``code``)."""
    st.plotly_chart(fig, width="stretch", key=f"{key}_chart")
    left, right = st.columns([1, 3])
    with left:
        download_csv(data, name, key=f"{key}_csv")
    with right:
        snippet(ws, expression, imports, code)


EDIT_PLACE = "<scenario>"  # where Scenario.replace places its problems: the field says it


def choice(label: str, options: list[Any], name: str, labels: Mapping[Any, str],
           default: Any = None, multiple: bool = False, container: Any = st) -> Any:
    """A selectbox (or a multiselect with ``multiple``) whose option labels are in the
    session's language. Streamlit's frontend keeps the labels a widget was made with, so
    the widget's key carries the language; the choice itself is kept under ``name`` and
    survives a switch of language."""
    kept = st.session_state.get(name, default)
    key = f"{name}:{lang()}"
    if multiple:
        kept = [v for v in (kept or []) if v in options]
        value = container.multiselect(label, options, default=kept, key=key,
                                      format_func=labels.get)
    else:
        index = options.index(kept) if kept in options else 0
        value = container.selectbox(label, options, index=index, key=key,
                                    format_func=labels.get)
    st.session_state[name] = value
    return value


def editor_frame(df: pd.DataFrame, state: dict | None) -> pd.DataFrame:
    """``df`` as ``st.data_editor`` shows it after the edits in its widget state
    (``{"edited_rows": {row: {column: value}}, "added_rows": [...], "deleted_rows": [...]}``):
    what an ``on_change`` callback needs, since it runs before the editor returns."""
    out = df.reset_index(drop=True).astype(object)
    state = state or {}
    for row, cells in state.get("edited_rows", {}).items():
        for column, value in cells.items():
            out.loc[int(row), column] = value
    out = out.drop(index=[int(r) for r in state.get("deleted_rows", [])])
    added = pd.DataFrame(list(state.get("added_rows", [])), columns=out.columns)
    return pd.concat([out, added], ignore_index=True) if len(added) else \
        out.reset_index(drop=True)


def problem_lines(problems: Iterable[Problem | str]) -> list[str]:
    """Problems as text in the session's language (plain strings are shown as they are)."""
    lines = [p.text(lang()) if isinstance(p, Problem) else str(p) for p in problems]
    return [line.removeprefix(EDIT_PLACE + ": ") for line in lines]


def show_problems(problems: Iterable[Problem | str]) -> None:
    """An error box listing ``problems`` (wrapped, one per line)."""
    lines = problem_lines(problems)
    if lines:
        st.error(t("problems") + "\n\n" + "\n".join(f"- {line}" for line in lines))


def field_problems(ws: Workspace, field: str) -> None:
    """The problems of the last edit of ``field``, shown next to it."""
    show_problems(ws.problems.get(field, []))


# ---------------------------------------------------------------------------------------------
# Tables that edit the scenario


class BadCell(ValueError):
    """A table cell that cannot be what its column needs (a problem of the field)."""

    def __init__(self, problem: Problem):
        super().__init__(problem.key)
        self.problem = problem


def number(value: Any, column: str, row: int) -> float | None:
    """A table cell as a number; ``None`` when empty (the schema says whether it may be);
    raises :class:`BadCell` naming the column and the 1-based row."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadCell(Problem("ui.bad_cell", {"column": column, "row": row + 1,
                                              "value": value})) from None


def send(changes: Callable[[], dict[str, Any]], field: str) -> bool:
    """``ws.edit(changes(), field)``; a :class:`BadCell` is kept as the field's problem."""
    ws = workspace.get()
    try:
        return ws.edit(changes(), field)
    except BadCell as bad:
        ws.problems[field] = [bad.problem]
        return False


def edit_table(ws: Workspace, name: str, df: pd.DataFrame,
               to_changes: Callable[[pd.DataFrame], dict[str, Any]], **options: Any) -> None:
    """A ``st.data_editor`` of ``df`` whose edits become ``to_changes(edited frame)``, with
    the field's problems under it.

    The edits are applied by :func:`apply_table_edits` at the start of the next run, before
    anything is drawn (as a callback would, and also when a test sets the editor's state),
    so that the whole page shows their effect."""
    key = ws.widget_key(name)
    st.session_state.setdefault(TABLES_KEY, {})[key] = (df, to_changes, name)
    st.data_editor(df, key=key, hide_index=True, width="stretch", **options)
    field_problems(ws, name)


def apply_table_edits() -> None:
    """Send the pending edits of the tables drawn in the last run (see :func:`edit_table`).
    An edit already refused is not sent again."""
    tables = st.session_state.get(TABLES_KEY, {})
    st.session_state[TABLES_KEY] = {}  # the tables register again as they are drawn
    seen = st.session_state.setdefault(SEEN_KEY, {})
    for key, (df, to_changes, field) in tables.items():
        state = st.session_state.get(key)
        if not isinstance(state, dict) or not any(
                state.get(k) for k in ("edited_rows", "added_rows", "deleted_rows")):
            continue
        if seen.get(key) == repr(state):
            continue
        seen[key] = repr(state)
        send(lambda df=df, state=state, to_changes=to_changes:
             to_changes(editor_frame(df, state)), field)
