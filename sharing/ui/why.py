"""The "为什么？ / why?" expander beside the numbers of a page: the trace of one number
(:meth:`sharing.Result.explain`, see ``docs/explain.md``) in the session's language — the rule
path, the inputs, the formula and its arithmetic — with the steps as a CSV.

A page calls :func:`expander` once under the numbers it shows; the user picks the
jurisdiction, the number (column) and the year inside it. Traces are cached per result and
question (they are immutable), so a rerun that does not change the question costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from sharing.explain import PRESENT_VALUE, Trace
from sharing.i18n import define
from sharing.result import Result
from sharing.scenario import ScenarioError
from sharing.ui import workspace
from sharing.ui.text import jurisdiction_names, label, lang, t
from sharing.ui.widgets import choice, download_csv, show_problems, snippet_code

TOTAL = "total"  # the year choice "all years": a yearly column's total over the horizon

define({
    "ui.why.title": ("为什么？", "Why?"),
    "ui.why.help": ("选一个数字，看它从哪里来：规则路径、输入、公式和算式（万元）",
                    "Pick a number to see where it comes from: the rule path, the inputs, the "
                    "formula and the arithmetic (10,000 CNY)"),
    "ui.why.jurisdiction": ("辖区", "Jurisdiction"),
    "ui.why.column": ("数字", "Number"),
    "ui.why.year": ("年份", "Year"),
    "ui.why.total": ("全部年份合计", "All years (total)"),
    "ui.why.python": ("用 Python 得到同样的步骤：", "The same steps in Python:"),
    "ui.why.steps_csv": ("下载步骤 CSV", "Download the steps (CSV)"),
    "ui.file.why": ("为什么_{jurisdiction}_{column}_{year}", "why_{jurisdiction}_{column}_{year}"),
})

# the summary's numbers, present values first
SUMMARY = ("pv_net_benefit", "gain", "standalone_pv", "no_agreement_pv", "allocated",
           "collected", "retained", "net_transfer", "unpaid", "subsidy", "cost_share",
           "net_benefit")
LONG_STEPS, LONG_HEIGHT = 25, 480  # a long trace scrolls inside its box (pixels)
STEP_COLUMNS = ["step", "rule_path", "what", "formula", "inputs", "value", "note"]


@st.cache_resource(max_entries=256, show_spinner=False)
def _trace(key: str, jurisdiction: str, year: int | None, column: str,
           _res: Result) -> Trace:
    """One question's trace, shared by every session asking it of the same result (``key``
    is the result's cache key; a Trace is immutable)."""
    del key
    return _res.explain(jurisdiction, year=year, column=column)


def call(jurisdiction: str, year: int | None, column: str) -> str:
    """The Python call that gives the same trace."""
    args = [repr(jurisdiction)] + ([f"year={year}"] if year is not None else [])
    return f"res.explain({', '.join(args)}, column={column!r})"


def expander(key: str, columns: Sequence[str] = SUMMARY,
             jurisdictions: Sequence[str] | None = None, year: int | None = None) -> None:
    """A "为什么？ / why?" expander explaining one of ``columns`` (the first by default) of
    one of ``jurisdictions`` (all by default) of the session's result, in a year (``year``
    by default, else the total; present values take no year). ``key`` makes its widgets'
    keys unique."""
    ws = workspace.get()
    res = ws.result
    if res is None:
        return
    names = jurisdiction_names(res.scenario)
    ids = list(jurisdictions or names)
    with st.expander(t("why.title")):
        st.caption(t("why.help"))
        left, middle, right = st.columns(3)
        jid = ids[0] if len(ids) == 1 else choice(
            t("why.jurisdiction"), ids, f"{key}_why_who", names, container=left)
        column = columns[0] if len(columns) == 1 else choice(
            t("why.column"), list(columns), f"{key}_why_column",
            {c: label(c) for c in columns}, container=middle)
        when: int | None = None
        if column not in PRESENT_VALUE:
            years = {TOTAL: t("why.total"), **{int(y): str(y) for y in res.years}}
            picked = choice(t("why.year"), list(years),  # follows the page's year
                            f"{key}_why_year" + (f"@{year}" if year else ""), years,
                            default=year, container=right)
            when = None if picked == TOTAL else int(picked)
        try:
            trace = _trace(ws.key, jid, when, column, res)
        except ScenarioError as err:
            show_problems(err.items)
            return
        show(ws, trace, jid, column, when, key)


def steps_text(lines: list[str]) -> str:
    """The numbered steps, one a line, without the indent of the printed trace (the box
    is not monospaced)."""
    return "\n".join(line.strip() for line in lines)


def show(ws: workspace.Workspace, trace: Trace, jurisdiction: str, column: str,
         year: int | None, key: str) -> None:
    """A trace: its heading, its numbered steps (wrapped; a long trace scrolls in its box),
    the steps' CSV and the Python that gives the same steps."""
    heading, *steps = trace.text(lang()).split("\n")
    st.markdown(f"**{heading}**")
    box = st.container(height=LONG_HEIGHT if len(steps) > LONG_STEPS else "content")
    box.text(steps_text(steps))
    left, right = st.columns([1, 3])
    with left:
        name = t("file.why", jurisdiction=jurisdiction, column=column,
                 year=year if year is not None else t("why.total"))
        download_csv(trace.steps[STEP_COLUMNS].astype({"inputs": str}), name,
                     key=f"{key}_why_csv", label=t("why.steps_csv"))
    with right:
        st.caption(t("why.python"))
        st.code(snippet_code(ws.origin, ws.edits.items(), f"{call(jurisdiction, year, column)}"
                             ".steps"), language="python")
