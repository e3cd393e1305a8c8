"""Pieces every page uses: CSV downloads, "reproduce in Python" snippets, charts with both,
and problems shown in the session's language."""

from __future__ import annotations

import pprint
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from sharing.i18n import Problem
from sharing.io import csv_bytes
from sharing.ui.text import lang, t
from sharing.ui.workspace import Origin, Workspace


def file_name(stem: str, suffix: str = "csv") -> str:
    """A download's file name in the session's language: ``stem`` is a ``ui.file.*`` key
    or plain text; characters a file system refuses become ``_``."""
    return re.sub(r'[\\/:*?"<>|\s]+', "_", stem) + f".{suffix}"


def download_csv(df: pd.DataFrame, name: str, key: str, label: str | None = None) -> None:
    """A CSV download of ``df``: UTF-8 with BOM, formula cells neutralised
    (:func:`sharing.io.csv_bytes`), named ``name`` (already in the session's language)."""
    st.download_button(label or t("download_csv"), csv_bytes(df), file_name=file_name(name),
                       mime="text/csv", key=key)


def snippet_code(origin: Origin, edits: Iterable[tuple[str, Any]], expression: str,
                 imports: Iterable[str] = ()) -> str:
    """Python that rebuilds the session's scenario and prints ``data = <expression>``;
    ``expression`` may use ``sc`` (the scenario), ``res`` (its result) and the modules
    imported by ``imports`` lines."""
    lines = ["import sharing", *imports, *origin.load_code()]
    edits = list(edits)
    if edits:
        body = pprint.pformat(dict(edits), width=88, sort_dicts=False)
        lines.append("sc = sc.replace(" + body.replace("\n", "\n" + " " * 16) + ")")
    lines += ["res = sharing.simulate(sc)", f"data = {expression}", "print(data)"]
    return "\n".join(lines) + "\n"


def snippet(ws: Workspace, expression: str, imports: Iterable[str] = ()) -> None:
    """The "用 Python 复现 / reproduce in Python" expander for the session's scenario."""
    with st.expander(t("reproduce")):
        st.caption(t("reproduce_help"))
        st.code(snippet_code(ws.origin, ws.edits.items(), expression, imports),
                language="python")


def chart(fig: go.Figure, data: pd.DataFrame, name: str, key: str, ws: Workspace,
          expression: str, imports: Iterable[str] = ()) -> None:
    """A plotly chart, then the CSV of the data it is drawn from and the snippet that
    computes that data (``expression``, see :func:`snippet_code`)."""
    st.plotly_chart(fig, width="stretch", key=f"{key}_chart")
    left, right = st.columns([1, 3])
    with left:
        download_csv(data, name, key=f"{key}_csv")
    with right:
        snippet(ws, expression, imports)


def problem_lines(problems: Iterable[Problem | str]) -> list[str]:
    """Problems as text in the session's language (plain strings are shown as they are)."""
    return [p.text(lang()) if isinstance(p, Problem) else str(p) for p in problems]


def show_problems(problems: Iterable[Problem | str]) -> None:
    """An error box listing ``problems`` (wrapped, one per line)."""
    lines = problem_lines(problems)
    if lines:
        st.error(t("problems") + "\n\n" + "\n".join(f"- {line}" for line in lines))


def field_problems(ws: Workspace, field: str) -> None:
    """The problems of the last edit of ``field``, shown next to it."""
    show_problems(ws.problems.get(field, []))
