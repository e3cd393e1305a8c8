"""7 · 导出 Export: every table as CSV, the Excel workbook, the scenario YAML, the draft
agreement (.docx), and a self-contained HTML report with the charts (:mod:`sharing.report`),
all in the session's language and from the last valid result. The files are made by the
library when the user clicks (the app and ``sharing run`` / ``sharing report`` give the same
bytes' content)."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from sharing.agreement_text import agreement_text
from sharing.i18n import define
from sharing.io import dump_scenario, export_tables, write_result_xlsx
from sharing.report import report_html
from sharing.result import Result
from sharing.ui import workspace
from sharing.ui.pages import fair, risk
from sharing.ui.pages.fair import games_tables
from sharing.ui.text import lang, pick, t
from sharing.ui.widgets import choice, download_csv, file_name, show_problems, snippet

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

define({
    "ui.export.intro": ("以下文件都取自当前情景的最后一次有效结果，表头与名称为{language}",
                        "Every file is made from the current scenario's last valid result, "
                        "with headers and names in {language}"),
    "ui.export.language": ("中文", "English"),
    "ui.export.tables": ("表格（CSV，UTF-8 带 BOM，Excel 可直接打开）",
                         "Tables (CSV, UTF-8 with BOM: Excel opens them)"),
    "ui.export.table.summary": ("汇总", "Summary"),
    "ui.export.table.flows": ("资金流明细", "Flows"),
    "ui.export.table.by_year": ("分年", "By year"),
    "ui.export.table.statistics": ("统计分算", "Statistics split"),
    "ui.export.table.splits": ("分配方案对比", "Fair splits"),
    "ui.export.table.values": ("联盟价值", "Coalition values"),
    "ui.export.table.core": ("核心检验", "Core check"),
    "ui.export.table.opt_shares": ("优化份额", "Optimized shares"),
    "ui.export.table.opt_payoffs": ("优化收益", "Optimized payoffs"),
    "ui.export.table.mc_summary": ("蒙特卡洛汇总", "Monte Carlo summary"),
    "ui.export.rows": ("{n:,} 行", "{n:,} rows"),
    "ui.export.files": ("文件", "Files"),
    "ui.export.xlsx": ("下载 Excel 工作簿", "Download the Excel workbook"),
    "ui.export.xlsx_help": ("各表一页，千分位两位小数，首行冻结，列宽自适应",
                            "One sheet per table, thousands separators and two decimals, "
                            "frozen header, fitted widths"),
    "ui.export.yaml": ("下载情景 YAML", "Download the scenario YAML"),
    "ui.export.docx": ("下载协议草案（Word）", "Download the draft agreement (Word)"),
    "ui.export.docx_which": ("起草哪个协议", "Draft which agreement"),
    "ui.export.docx_all": ("全部协议（一份文件）", "every agreement (one document)"),
    "ui.export.docx_preview": ("预览协议草案", "Preview the draft agreement"),
    "ui.export.no_agreements": ("此情景没有协议，无从起草", "This scenario has no agreement to "
                                "draft"),
    "ui.export.html": ("下载 HTML 报告（含图表，可离线查看）",
                       "Download the HTML report (charts included, works offline)"),
    "ui.export.cli": ("命令行得到相同的文件：", "The command line gives the same files:"),
    "ui.file.export_workbook": ("测算结果", "result"),
    "ui.file.export_report": ("测算报告", "report"),
    "ui.file.export_agreement": ("协议草案", "draft_agreement"),
})

RESULT_TABLES = ("summary", "flows", "by_year", "statistics")
GAME_TABLES = ("splits", "values", "core")


def workbook(res: Result, language: str) -> bytes:
    buffer = io.BytesIO()
    write_result_xlsx(res, buffer, language)
    return buffer.getvalue()


def runs(ws: workspace.Workspace) -> dict[str, pd.DataFrame]:
    """The tables of the optimizer and Monte Carlo runs kept by the fair and risk pages, when
    they were run on this version of the scenario."""
    out = {}
    opt = st.session_state.get(fair.RESULT_KEY)
    if opt is not None and opt["key"] == ws.key and len(opt["opt"].shares):
        out["opt_shares"] = opt["opt"].shares
        out["opt_payoffs"] = opt["opt"].payoffs
    mc = st.session_state.get(risk.RESULT_KEY)
    if mc is not None and mc["key"] == ws.key:
        out["mc_summary"] = mc["mc"].summary
    return out


def tables(ws: workspace.Workspace, res: Result) -> None:
    st.subheader(t("export.tables"))
    language = lang()
    exported = export_tables(res, language)
    try:
        games = games_tables(ws.key, res, language)
    except Exception:  # the fair page says why; the other tables are still exported
        games = {}
    found = {**{k: exported[k] for k in RESULT_TABLES},
             **{k: games[k] for k in GAME_TABLES if k in games}, **runs(ws)}
    columns = st.columns(4)
    for i, (key, df) in enumerate(found.items()):
        with columns[i % 4]:
            name = t(f"export.table.{key}")
            download_csv(df, name, key=f"export_csv_{key}",
                         label=f"{name} · {t('export.rows', n=len(df))}")
    snippet(ws, f"sharing.io.export_tables(res, {language!r})['summary']",
            imports=["import sharing.io"])


def files(ws: workspace.Workspace, res: Result) -> None:
    st.subheader(t("export.files"))
    language = lang()
    sc = res.scenario
    stem = ws.origin.name.rsplit(".", 1)[0] + ("_edited" if ws.edits else "")
    left, right = st.columns(2)
    with left:
        st.download_button(t("export.xlsx"), lambda: workbook(res, language),
                           file_name=file_name(f"{t('file.export_workbook')}_{stem}", "xlsx"),
                           mime=XLSX, key="export_xlsx", on_click="ignore",
                           help=t("export.xlsx_help"))
        st.download_button(t("export.yaml"), lambda: dump_scenario(sc).encode("utf-8"),
                           file_name=file_name(stem, "yaml"), mime="application/x-yaml",
                           key="export_yaml", on_click="ignore")
        st.download_button(t("export.html"), lambda: report_html(res, language).encode("utf-8"),
                           file_name=file_name(f"{t('file.export_report')}_{stem}", "html"),
                           mime="text/html", key="export_html", on_click="ignore")
    with right:
        if not sc.agreements:
            st.info(t("export.no_agreements"))
        else:
            ids = [None, *(ag.id for ag in sc.agreements)]
            names = {ag.id: pick(ag.name, ag.name_en) or ag.id for ag in sc.agreements}
            names[None] = t("export.docx_all")
            which = choice(t("export.docx_which"), ids, "export_agreement", names)
            draft = agreement_text(sc, language, which)
            st.download_button(t("export.docx"), draft.docx_bytes,
                               file_name=file_name(f"{t('file.export_agreement')}_{stem}",
                                                   "docx"),
                               mime=DOCX, key="export_docx", on_click="ignore")
            with st.expander(t("export.docx_preview")):
                st.markdown(draft.to_markdown())
    origin = ws.origin.name if ws.origin.kind == "builtin" else "SCENARIO.yaml"
    st.caption(t("export.cli"))
    st.code(f"sharing run {origin} --format xlsx --lang {language} -o result.xlsx\n"
            f"sharing report {origin} --lang {language} -o report.html\n"
            f"sharing agreement-text {origin} --lang {language} -o draft.docx",
            language="bash")


def render() -> None:
    ws = workspace.get()
    st.title(t("page.export"))
    if ws.error:
        st.error(ws.error)
    res = ws.result
    if res is None:
        st.warning(t("no_result"))
        show_problems(ws.problems.get("scenario", []))
        return
    if ws.refused:
        st.warning(t("stale"))
    st.caption(pick(res.scenario.name, res.scenario.name_en) + " · " +
               t("export.intro", language=t("export.language")))
    tables(ws, res)
    files(ws, res)
