"""3 · 资金流 Flows: who transfers what to whom (a Sankey for one year or in present value),
the year-by-year table per tax, and the statistics split (GDP, investment ...), which is not
money and is shown apart from it."""

from __future__ import annotations

import streamlit as st

from sharing import charts
from sharing.i18n import define
from sharing.io import INDICATOR_NAMES
from sharing.ui import why, workspace
from sharing.ui.text import jurisdiction_names, label, lang, money_columns, pick, shown, t
from sharing.ui.widgets import chart, choice, download_csv, show_problems, snippet

PV = "pv"

define({
    "ui.flows.sankey": ("资金流向", "Who pays whom"),
    "ui.flows.when": ("年份", "Year"),
    "ui.flows.pv": ("全部年份现值", "All years, present value"),
    "ui.flows.sankey_note": ("左侧为征收地（税收在哪里征收），右侧为协议后的收入方；"
                             "自己流向自己的部分是征收地留下的收入",
                             "Left: where the tax is collected; right: who has it after the "
                             "agreements. A flow to itself is what the host keeps"),
    "ui.flows.by_tax": ("逐年分税种", "Year by year, per tax"),
    "ui.flows.by_tax_note": ("征收额、留成为征收地口径；分享后收入为协议后归属（万元，名义值）",
                             "Collected and retained at the host; allocated after the "
                             "agreements (10,000 CNY, nominal)"),
    "ui.flows.who": ("辖区", "Jurisdiction"),
    "ui.flows.all": ("全部", "All"),
    "ui.flows.statistics": ("统计分算（非资金）", "Statistics split (not money)"),
    "ui.flows.statistics_note": ("统计指标（GDP、投资等）的分算，单位为指标本身的单位，"
                                 "不计入任何资金数字",
                                 "Economic indicators (GDP, investment ...) split between the "
                                 "sides, in their own units: not part of any money figure"),
    "ui.flows.no_statistics": ("此情景的协议没有统计分算", "No agreement here splits statistics"),
    "ui.file.transfers": ("资金流向_{when}", "transfers_{when}"),
    "ui.file.by_tax": ("逐年分税种", "by_tax"),
    "ui.file.statistics": ("统计分算_{indicator}", "statistics_{indicator}"),
})


def sankey(ws: workspace.Workspace) -> None:
    res = ws.result
    st.subheader(t("flows.sankey"))
    years = [int(y) for y in res.years]
    when_names = {PV: t("flows.pv"), **{y: str(y) for y in years}}
    when = choice(t("flows.when"), [PV, *years], "flows_when", when_names)
    year = None if when == PV else int(when)
    data = charts.transfers(res, year, lang())
    st.caption(t("flows.sankey_note"))
    chart(charts.transfers_sankey(data, year, lang()), data,
          t("file.transfers", when=when_names[when]), "flows_sankey", ws,
          f"charts.transfers(res, {year!r}, {lang()!r})", imports=["from sharing import charts"])
    why.expander("flows_sankey", ["net_transfer", "allocated", "retained"], year=year)


def tax_table(ws: workspace.Workspace) -> None:
    res = ws.result
    st.subheader(t("flows.by_tax"))
    st.caption(t("flows.by_tax_note"))
    names = jurisdiction_names(res.scenario)
    options = ["", *names]
    who_names = {"": t("flows.all"), **names}
    who = choice(t("flows.who"), options, "flows_who", who_names)
    data = charts.by_tax(res)
    expression = "charts.by_tax(res)"
    if who:
        data = data[data["jurisdiction"] == who].reset_index(drop=True)
        expression += f'.query("jurisdiction == {who!r}").reset_index(drop=True)'
    amounts = [label(c) for c in ("collected", "retained", "allocated")]
    st.dataframe(shown(data), hide_index=True, width="stretch", height=360,
                 column_config=money_columns(amounts))
    left, right = st.columns([1, 3])
    with left:
        download_csv(shown(data), t("file.by_tax"), key="flows_by_tax_csv")
    with right:
        snippet(ws, expression, imports=["from sharing import charts"])
    why.expander("flows_by_tax", ["allocated", "retained", "collected"], [who] if who else None)


def statistics(ws: workspace.Workspace) -> None:
    res = ws.result
    st.subheader(t("flows.statistics"))
    data = charts.statistics_by_year(res, lang())
    if data.empty:
        st.caption(t("flows.no_statistics"))
        return
    st.info(t("flows.statistics_note"))
    pick_lang = 0 if lang() == "zh" else 1
    for indicator in dict.fromkeys(data["indicator"]):
        name = INDICATOR_NAMES.get(indicator, (indicator, indicator))[pick_lang]
        part = data[data["indicator"] == indicator].reset_index(drop=True)
        chart(charts.statistics_bars(data, indicator, name, lang()), part,
              t("file.statistics", indicator=name), f"flows_statistics_{indicator}", ws,
              f'charts.statistics_by_year(res, {lang()!r}).query("indicator == {indicator!r}")'
              ".reset_index(drop=True)", imports=["from sharing import charts"])


def render() -> None:
    ws = workspace.get()
    st.title(t("page.flows"))
    st.caption(pick(ws.scenario.name, ws.scenario.name_en))
    if ws.result is None:
        st.warning(t("no_result"))
        show_problems(ws.problems.get("scenario", []))
        return
    if ws.refused:
        st.warning(t("stale"))
    sankey(ws)
    tax_table(ws)
    statistics(ws)
