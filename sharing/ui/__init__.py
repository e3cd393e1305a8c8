"""The Streamlit app (the only package that imports Streamlit): ``app.py`` calls :func:`main`.

The app edits, calls the library (cached), displays and exports; it never computes a number
itself. :func:`main` draws the sidebar (language, scenario, uploads) and runs the page the
user picked from ``st.navigation``: 概览 Overview, 协议 Agreements, 资金流 Flows, 公平 Fair
split, 风险 Risk, 比较 Compare, 导出 Export, 结算 Settlement.

The page contract
-----------------
A page is a module in ``sharing/ui/pages/`` with one function ``render() -> None``, listed in
:data:`PAGES`. Inside ``render``:

- ``ws = workspace.get()`` is the session's :class:`~sharing.ui.workspace.Workspace`:
  ``ws.scenario`` (the current, validated :class:`~sharing.Scenario`), ``ws.result`` (the
  last valid :class:`~sharing.Result`, a private copy: pages may not share it with other
  sessions, and its arrays are read-only; ``None`` when nothing valid was loaded yet),
  ``ws.origin`` and ``ws.edits`` (what the snippets replay), ``ws.variants`` (name ->
  :class:`~sharing.ui.workspace.Variant`, for comparison), ``ws.problems`` (field ->
  problems of the last refused edit). Change the scenario only through
  ``ws.edit({key_path: value}, field=...)`` (validated by ``Scenario.replace``; returns False
  and keeps the last valid scenario and result when refused), ``ws.save_variant(name)``,
  ``ws.reset()`` or ``ws.load(origin, scenario)``. Other per-session state goes in
  ``st.session_state`` under keys prefixed with the page's name; never in module globals.
- Text: ``from sharing.ui.text import t, lang, label, money, shown``. ``t("key")`` is the
  catalogue message ``ui.key`` in the session's language (define a page's messages with
  ``sharing.i18n.define({"ui.<page>.<key>": ("中文", "English")})`` at import time);
  ``lang()`` is ``"zh"`` or ``"en"`` (pass it to the library: exports, charts, messages);
  ``label(column)`` is a result column's header, ``shown(df)`` a table with headers and
  coded values (``vat`` → 增值税) in the language, ``money(x)`` ``12,345.67``.
- Charts: build the figure with a library function of :mod:`sharing.charts` (no Streamlit,
  so the HTML report reuses it; titles and axes from its ``lang`` argument), then call
  ``widgets.chart(fig, data, name, key, ws, expression)``: it draws the chart, a CSV download
  of ``data`` and the "用 Python 复现 / reproduce in Python" snippet, where ``expression``
  (Python over ``sc``, ``res`` and ``charts``) computes ``data`` from the replayed scenario.
- Tables: ``widgets.download_csv(df, name, key)`` (UTF-8 with BOM, formulas neutralised,
  made when clicked); ``widgets.show_problems(items)`` / ``widgets.field_problems(ws, field)``
  show problems in the language, wrapped, with no server paths.
- Widgets: a choice whose option labels are translated is ``widgets.choice(label, options,
  name, labels)`` (its key carries the language, its value survives a switch); a widget that
  shows a scenario value uses ``key=ws.widget_key(name)`` and sends ``ws.edit`` from its
  ``on_change``; a table that edits the scenario is ``widgets.edit_table(ws, name, df,
  to_changes)``. Page-level keys start with the page's name (``fair_...``).
- Long work (optimizer, Monte Carlo) runs behind a button, shows ``st.progress`` and keeps
  its output in ``st.session_state`` so that other widgets do not lose it.
"""

from __future__ import annotations

import streamlit as st

from sharing.ui import sidebar, widgets
from sharing.ui.pages import (
    agreements,
    compare,
    export,
    fair,
    flows,
    overview,
    risk,
    settlement,
)
from sharing.ui.text import language_switch, t

# (module, url path, title key) in the order of the navigation
PAGES = [
    (overview, "overview", "page.overview"),
    (agreements, "agreements", "page.agreements"),
    (flows, "flows", "page.flows"),
    (fair, "fair", "page.fair"),
    (risk, "risk", "page.risk"),
    (compare, "compare", "page.compare"),
    (export, "export", "page.export"),
    (settlement, "settlement", "page.settlement"),
]


def main() -> None:
    """Draw the app: the sidebar, then the page the user picked."""
    st.set_page_config(page_title="跨区域财税利益分享模拟器 · sharing", layout="wide")
    language_switch()
    widgets.apply_table_edits()
    nav = st.navigation([st.Page(module.render, title=t(title), url_path=path,
                                 default=path == "overview")
                         for module, path, title in PAGES])
    sidebar.render()
    nav.run()


__all__ = ["PAGES", "main"]
