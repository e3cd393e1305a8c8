"""1 · 概览 Overview: headline cards, allocated revenue by year, a waterfall per jurisdiction,
the summary with its total row, and the scenario's sources and assumptions in words."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from sharing import charts
from sharing.i18n import define
from sharing.io import TOTAL, export_summary, translate
from sharing.result import Result
from sharing.scenario import Scenario
from sharing.ui import why, workspace
from sharing.ui.text import label, lang, money, money_columns, pick, share, shown, t
from sharing.ui.widgets import chart, download_csv, show_problems, snippet
from sharing.ui.words import in_words

define({
    "ui.overview.cards": ("各方收益（现值）", "Each side's benefit (present value)"),
    "ui.overview.pv": ("净收益现值", "PV net benefit"),
    "ui.overview.gain": ("合作收益（较不合作）", "gain over standalone"),
    "ui.overview.gain_share": ("占总合作收益 {share}", "{share} of the total gain"),
    "ui.overview.negative": ("合作收益为负：此方不如不合作", "negative gain: worse off than alone"),
    "ui.overview.by_year": ("逐年分享后收入", "Allocated revenue by year"),
    "ui.overview.waterfalls": ("从无协议到净收益", "From no agreement to net benefit"),
    "ui.overview.summary": ("汇总", "Summary"),
    "ui.overview.summary_note": ("单位：万元；“现值”按贴现率 {rate} 折现到 {year} 年",
                                 "10,000 CNY (万元); present values discounted at {rate} to "
                                 "{year}"),
    "ui.overview.sources": ("来源", "Sources"),
    "ui.overview.assumptions": ("假设", "Assumptions"),
    "ui.overview.assumed": ("假设", "assumed"),
    "ui.overview.illustrative_items": ("以下数字为示例数据，并非公布数：",
                                       "These numbers are illustrative, not published:"),
    "ui.file.summary": ("汇总", "summary"),
    "ui.file.allocated_by_year": ("逐年分享后收入", "allocated_by_year"),
    "ui.file.waterfall": ("瀑布图_{name}", "waterfall_{name}"),
})


def cards(res: Result) -> None:
    st.subheader(t("overview.cards"))
    summary = res.summary
    total_gain = summary["gain"].sum()
    columns = st.columns(min(len(summary), 4))
    for i, row in enumerate(summary.itertuples()):
        with columns[i % len(columns)].container(border=True):
            name = pick(row.name, row.name_en)
            st.metric(t("overview.pv") + f" · {name}", money(row.pv_net_benefit),
                      delta=money(row.gain), delta_color="normal")
            gain_share = row.gain / total_gain if total_gain else float("nan")
            st.caption(t("overview.gain") + " · " + t("overview.gain_share",
                                                       share=share(gain_share)))
            if row.gain < 0:
                st.markdown(f":red[▼ {t('overview.negative')}]")
            why.expander(f"overview_card_{row.jurisdiction}", ["pv_net_benefit", "gain"],
                         [row.jurisdiction])


def summary_table(exported: pd.DataFrame) -> pd.DataFrame:
    """The summary as exported (:func:`sharing.io.export_summary`: rounded so that the rows
    add up to the total row), with the names and the total row in the session's language."""
    table = exported.copy()
    names = table["name"] if lang() == "zh" else table["name_en"]
    table["name"] = names.where(table["jurisdiction"] != TOTAL, t("total"))
    return table.drop(columns=["jurisdiction", "name_en"])


def summary(ws: workspace.Workspace, res: Result) -> None:
    st.subheader(t("overview.summary"))
    sc = res.scenario
    st.caption(t("overview.summary_note", rate=f"{sc.discount_rate:.1%}",
                 year=int(res.years[0])))
    exported = export_summary(res)
    table = summary_table(exported)
    amounts = [label(c) for c in table.columns if c != "name"]
    st.dataframe(shown(table), hide_index=True, width="stretch",
                 column_config={**money_columns(amounts),  # the name stays in view as it scrolls
                                label("name"): st.column_config.TextColumn(width="medium",
                                                                           pinned=True)})
    left, right = st.columns([1, 3])
    with left:
        download_csv(translate(exported, lang()), t("file.summary"), key="overview_summary_csv")
    with right:
        snippet(ws, f'sharing.io.export_tables(res, "{lang()}")["summary"]',
                imports=["import sharing.io"])
    why.expander("overview_summary")


def _illustrative(sc: Scenario) -> list[str]:
    items = []
    for park in sc.parks:
        for site in park.sites:
            taxes = [k for k, v in site.taxes.items() if getattr(v, "illustrative", False)]
            if site.illustrative or taxes:
                items.append(f"{pick(park.name, park.name_en)} · "
                             f"{pick(*_jurisdiction_names(sc, site.host))}")
    for group in (sc.costs, sc.firms, sc.streams):
        items += [pick(getattr(x, "name", None), getattr(x, "name_en", None)) or x.id
                  for x in group if getattr(x, "illustrative", False)]
    for ag in sc.agreements:
        if any(s.illustrative for s in ag.statistics):
            items.append(pick(ag.name, ag.name_en) or ag.id)
    return items


def _jurisdiction_names(sc: Scenario, jid: str) -> tuple[str, str]:
    j = next((j for j in sc.jurisdictions if j.id == jid), None)
    return (j.name, j.name_en) if j else (jid, jid)


def _note(note: str) -> str:
    """The note in the session's language when it is written ``中文 / English``."""
    zh, sep, en = note.partition(" / ")
    return note if not sep else (zh if lang() == "zh" else en)


def provenance(sc: Scenario) -> None:
    if sc.sources:
        with st.expander(t("overview.sources"), expanded=False):
            for src in sc.sources:
                title = f"[{src.title}]({src.url})" if src.url else src.title
                date = f" ({src.date})" if src.date else ""
                st.markdown(f"- {title}{date}" + (f" — {src.note}" if src.note else ""))
    illustrative = _illustrative(sc)
    if sc.assumptions or illustrative:
        with st.expander(t("overview.assumptions"), expanded=True):
            badge = f":orange-badge[{t('illustrative')}]"
            for item in sc.assumptions:
                st.markdown(f":blue-badge[{t('overview.assumed')}] **{in_words(sc, item.path)}**"
                            f" — {_note(item.note)}")
            if illustrative:
                joined = ("、" if lang() == "zh" else ", ").join(illustrative)
                st.markdown(f"{badge} {t('overview.illustrative_items')} {joined}")


def render() -> None:
    ws = workspace.get()
    sc = ws.scenario
    st.title(pick(sc.name, sc.name_en))
    st.caption(sc.name_en if lang() == "zh" else sc.name)
    if sc.description:
        st.caption(sc.description)
    if ws.error:
        st.error(t("internal_error", error=ws.error))
    res = ws.result
    if res is None:
        st.warning(t("no_result"))
        show_problems(ws.problems.get("scenario", []))
        return
    if ws.refused:
        st.warning(t("stale"))
    cards(res)
    st.subheader(t("overview.by_year"))
    data = charts.allocated_by_year(res, lang())
    chart(charts.allocated_area(data, lang()), data, t("file.allocated_by_year"),
          "overview_area", ws, f'charts.allocated_by_year(res, "{lang()}")',
          imports=["from sharing import charts"])
    why.expander("overview_area", ["allocated"])
    st.subheader(t("overview.waterfalls"))
    steps = charts.waterfall(res, lang())
    ids = list(res.summary["jurisdiction"])
    columns = st.columns(min(len(ids), 3))
    for i, jid in enumerate(ids):
        with columns[i % len(columns)]:
            part = steps[steps["jurisdiction"] == jid].reset_index(drop=True)
            chart(charts.waterfall_figure(steps, jid, lang()), part,
                  t("file.waterfall", name=jid), f"overview_waterfall_{jid}", ws,
                  f'charts.waterfall(res, "{lang()}").query("jurisdiction == {jid!r}")'
                  ".reset_index(drop=True)", imports=["from sharing import charts"])
            why.expander(f"overview_waterfall_{jid}", ["pv_net_benefit", "no_agreement_pv",
                                                      "standalone_pv", "gain"], [jid])
    summary(ws, res)
    provenance(sc)
