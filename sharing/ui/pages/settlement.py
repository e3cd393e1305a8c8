"""8 · 结算 Settlement: the ledger after signing (issue 11). Upload the taxes actually
collected and the payments made (CSV, UTF-8 or GBK; or use the 高竹 example shipped in
``scenarios/actuals/``), pick the settlement year, and see what each side owes
(``sharing.settle``): the statement, the ledger, arrears by partner and year in a chart, the
variance against the projection; download the 结算单 (.docx, one per pair) and the ledger
workbook.

A broken file shows its problems (file, row, column) in the session's language and the last
valid ledger stays on screen (``st.session_state["settlement_last"]``).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import sharing
from sharing import charts
from sharing.i18n import Problem, define
from sharing.scenario import ScenarioError
from sharing.settlement import actuals_template, payments_template, translate
from sharing.statement import ledger_workbook, write_statement_docx
from sharing.ui import workspace
from sharing.ui.text import jurisdiction_names, lang, money_columns, pick, t
from sharing.ui.upload import MAX_BYTES
from sharing.ui.widgets import chart, choice, download_csv, file_name, show_problems, snippet

EXAMPLES = Path(__file__).resolve().parents[3] / "scenarios" / "actuals"
EXAMPLE_FOR = "gaozhu"  # the built-in scenario the example actuals belong to
LAST_KEY = "settlement_last"
PROBLEMS_KEY = "settlement_problems"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

define({
    "ui.page.settlement": ("结算", "Settlement"),
    "ui.settlement.intro": ("协议签署后的年度结算：按实际入库数计算各方应结算额，记录已拨付款项，"
                            "结转欠款，出具结算单（见 docs/settlement.md）",
                            "The yearly settlement after signing: amounts due from the taxes "
                            "actually collected, payments made, arrears carried forward, and "
                            "the settlement statement (see docs/settlement.md)"),
    "ui.settlement.example": ("使用高竹示例数据（scenarios/actuals/gaozhu_*.csv，示例数据）",
                              "Use the 高竹 example (scenarios/actuals/gaozhu_*.csv, "
                              "illustrative)"),
    "ui.settlement.example_other": ("示例数据属于川渝高竹新区；当前情景请上传自己的实际数（可先下载"
                                    "模板）", "The example belongs to the Gaozhu scenario; for "
                                    "this one upload your own actuals (download the templates)"),
    "ui.settlement.actuals": ("实际入库数 CSV", "Actual taxes CSV"),
    "ui.settlement.payments": ("已拨付款项 CSV（可选）", "Payments CSV (optional)"),
    "ui.settlement.upload_help": ("UTF-8 或 GBK，不超过 {mb} MB；列见 docs/settlement.md",
                                  "UTF-8 or GBK, at most {mb} MB; columns in docs/settlement.md"),
    "ui.settlement.too_big": ("{name} 超过 {mb} MB", "{name} is larger than {mb} MB"),
    "ui.settlement.template_actuals": ("下载实际数模板", "Download the actuals template"),
    "ui.settlement.template_payments": ("下载付款模板", "Download the payments template"),
    "ui.settlement.need_actuals": ("请上传实际入库数 CSV", "Upload the actual taxes CSV"),
    "ui.settlement.year": ("结算年度", "Settlement year"),
    "ui.settlement.year_auto": ("自动（实际数的最后一年）", "automatic (the last year with "
                                "actuals)"),
    "ui.settlement.stale": ("输入有问题，下方仍是上一次有效的结算", "The input has problems: the "
                            "settlement below is the last valid one"),
    "ui.settlement.of": ("{name} · {year} 年度结算", "{name} · settlement {year}"),
    "ui.settlement.statement": ("结算单", "Settlement statement"),
    "ui.settlement.ledger": ("账簿（万元）", "Ledger (10,000 CNY)"),
    "ui.settlement.arrears": ("欠款（按付款方与年度）", "Arrears by payer and year"),
    "ui.settlement.due": ("应结算明细（万元）", "Amounts due (10,000 CNY)"),
    "ui.settlement.variance": ("预测与实际（万元）", "Projected and actual (10,000 CNY)"),
    "ui.settlement.compliance": ("实际兑现率（已付 / 应付）", "Observed compliance (paid / due)"),
    "ui.settlement.col.agreement": ("协议", "agreement"),
    "ui.settlement.col.compliance": ("兑现率", "compliance"),
    "ui.settlement.estimated": ("含估算数：{n} 个税源年度没有实际数，按预测计",
                                "Includes estimates: {n} stream-year(s) have no actual and use "
                                "the projection"),
    "ui.settlement.later": ("{n} 笔付款记在 {year} 年以后，未计入本次结算",
                            "{n} payment(s) booked after {year} are not in this settlement"),
    "ui.settlement.downloads": ("下载", "Downloads"),
    "ui.settlement.docx": ("结算单 {payer} → {payee}（Word）",
                           "Statement {payer} → {payee} (Word)"),
    "ui.settlement.xlsx": ("下载账簿工作簿", "Download the ledger workbook"),
    "ui.settlement.failed": ("无法结算：", "Cannot settle:"),
    "ui.file.actuals_template": ("实际数模板", "actuals_template"),
    "ui.file.payments_template": ("付款模板", "payments_template"),
    "ui.file.settlement_ledger": ("账簿", "ledger"),
    "ui.file.settlement_due": ("应结算明细", "due"),
    "ui.file.settlement_variance": ("预测与实际", "variance"),
    "ui.file.settlement_arrears": ("欠款", "arrears"),
    "ui.file.settlement_workbook": ("结算账簿_{year}", "settlement_{year}"),
    "ui.file.settlement_statement": ("结算单_{year}_{payer}_{payee}",
                                     "statement_{year}_{payer}_{payee}"),
})


def _read(file: Any, problems: list[Problem]) -> bytes | None:
    if file is None:
        return None
    data = file.getvalue()
    if len(data) > MAX_BYTES:
        problems.append(Problem("ui.settlement.too_big", {"name": file.name,
                                                          "mb": MAX_BYTES // 2**20}))
        return None
    return data


def inputs(ws: workspace.Workspace) -> tuple[Any, Any, str, str, list[Problem]] | None:
    """The actuals and payments (bytes or the example's paths), their names, and the
    problems of the uploads; None when there is nothing to settle yet."""
    problems: list[Problem] = []
    sc = ws.scenario
    is_example = ws.origin.kind == "builtin" and ws.origin.name == EXAMPLE_FOR
    use_example = is_example and st.checkbox(t("settlement.example"), value=True,
                                             key="settlement_example")
    if use_example:
        actuals = EXAMPLES / "gaozhu_actuals.csv"
        payments = EXAMPLES / "gaozhu_payments.csv"
        return actuals, payments, actuals.name, payments.name, problems
    if not is_example:
        st.caption(t("settlement.example_other"))
    left, right = st.columns(2)
    help_text = t("settlement.upload_help", mb=MAX_BYTES // 2**20)
    with left:
        up_a = st.file_uploader(t("settlement.actuals"), type=["csv"], help=help_text,
                                key="settlement_actuals")
        st.download_button(t("settlement.template_actuals"),
                           lambda: actuals_template(sc).encode("utf-8-sig"),
                           file_name=file_name(t("file.actuals_template")), mime="text/csv",
                           key="settlement_template_actuals", on_click="ignore")
    with right:
        up_p = st.file_uploader(t("settlement.payments"), type=["csv"], help=help_text,
                                key="settlement_payments")
        st.download_button(t("settlement.template_payments"),
                           lambda: payments_template(sc).encode("utf-8-sig"),
                           file_name=file_name(t("file.payments_template")), mime="text/csv",
                           key="settlement_template_payments", on_click="ignore")
    actuals, payments = _read(up_a, problems), _read(up_p, problems)
    if actuals is None and not problems:
        st.info(t("settlement.need_actuals"))
        return None
    return actuals, payments, getattr(up_a, "name", ""), getattr(up_p, "name", ""), problems


def _digest(source: Any) -> str:
    data = source.read_bytes() if isinstance(source, Path) else source or b""
    return hashlib.sha256(data).hexdigest()


def settle(ws: workspace.Workspace, actuals: Any, payments: Any, names: tuple[str, str],
           through: int | None) -> None:
    """Settle; keep the ledger, or the problems (and the last ledger). The same inputs are
    not settled twice in a row (a rerun of the page keeps the ledger it has)."""
    inputs_key = repr((ws.key, _digest(actuals), _digest(payments), through))
    last = st.session_state.get(LAST_KEY)
    if last is not None and last["inputs"] == inputs_key:
        st.session_state[PROBLEMS_KEY] = []
        return
    try:
        led = sharing.settle(ws.scenario, actuals=actuals, payments=payments, through=through)
    except ScenarioError as err:
        st.session_state[PROBLEMS_KEY] = [_rename(p, names) for p in err.items]
        return
    except Exception as err:  # a library bug: say so, keep the page and the last ledger
        st.session_state[PROBLEMS_KEY] = [Problem("ui.internal_error", {
            "error": f"{type(err).__name__}: {err}"})]
        return
    st.session_state[PROBLEMS_KEY] = []
    st.session_state[LAST_KEY] = {"inputs": inputs_key, "origin": ws.origin, "led": led}


def _rename(problem: Any, names: tuple[str, str]) -> Any:
    """An uploaded file's problems name it (the library sees bytes: ``<actuals>``); no
    server paths reach the screen."""
    if not isinstance(problem, Problem):
        return problem
    where = problem.where
    if where == "<actuals>" and names[0]:
        return problem.at(where=names[0])
    if where == "<payments>" and names[1]:
        return problem.at(where=names[1])
    if where and ("/" in where or "\\" in where):
        return problem.at(where=Path(where).name)
    return problem


def _docx(statement, payer: str, payee: str) -> bytes:
    buffer = io.BytesIO()
    write_statement_docx(statement, payer, payee, buffer)
    return buffer.getvalue()


def _workbook(led, language: str) -> bytes:
    buffer = io.BytesIO()
    ledger_workbook(led, buffer, language)
    return buffer.getvalue()


def _table(df, language: str, names: dict[str, str]) -> None:
    """A ledger table with headers and codes in the language and names, not ids."""
    df = df.copy()
    for column in ("payer", "payee", "jurisdiction", "agreement"):
        if column in df.columns:
            df[column] = df[column].map(lambda v: names.get(v, v))
    shown = translate(df, language)
    money = [c for c, orig in zip(shown.columns, df.columns, strict=True)
             if df[orig].dtype.kind == "f"]
    st.dataframe(shown, hide_index=True, width="stretch", column_config=money_columns(money))


def show(ws: workspace.Workspace, led, code_args: str) -> None:
    language = lang()
    sc = led.scenario
    names = jurisdiction_names(sc)
    year = led.through
    st.subheader(t("settlement.of", name=pick(sc.name, sc.name_en), year=year))
    missing = int((~led.known[:, led.model.years <= year]).sum())
    if missing:
        st.warning(t("settlement.estimated", n=missing))
    if len(led.later_payments):
        st.info(t("settlement.later", n=len(led.later_payments), year=year))
    statement = led.statement(year, language)
    st.markdown(f"**{t('settlement.statement')}**")
    st.code(statement.text, language=None)
    call = f"sharing.settle(sc, {code_args})"
    st.markdown(f"**{t('settlement.downloads')}**")
    columns = st.columns(3)
    for i, pair in enumerate(statement.pairs.itertuples()):
        columns[i % 3].download_button(
            t("settlement.docx", payer=names[pair.payer], payee=names[pair.payee]),
            lambda p=pair.payer, q=pair.payee: _docx(statement, p, q),
            file_name=file_name(t("file.settlement_statement", year=year, payer=pair.payer,
                                  payee=pair.payee), "docx"),
            mime=DOCX, key=f"settlement_docx_{pair.payer}_{pair.payee}", on_click="ignore")
    columns[-1].download_button(t("settlement.xlsx"), lambda: _workbook(led, language),
                                file_name=file_name(t("file.settlement_workbook", year=year),
                                                    "xlsx"),
                                mime=XLSX, key="settlement_xlsx", on_click="ignore")
    st.markdown(f"**{t('settlement.arrears')}**")
    data = charts.arrears_by_year(led, language)
    chart(charts.arrears_bars(data, language), data, t("file.settlement_arrears"),
          "settlement_arrears", ws, f"charts.arrears_by_year({call}, {language!r})",
          imports=["from sharing import charts"])
    for key, frame in (("ledger", led.ledger), ("due", led.due), ("variance", led.variance)):
        st.markdown(f"**{t(f'settlement.{key}')}**")
        _table(frame, language, {**names, **{a.id: pick(a.name, a.name_en) or a.id
                                             for a in sc.agreements}})
        left, right = st.columns([1, 3])
        with left:
            download_csv(translate(frame, language), t(f"file.settlement_{key}"),
                         key=f"settlement_{key}_csv")
        with right:
            snippet(ws, f"{call}.{key}")
    compliance = led.compliance()
    if len(compliance):
        st.markdown(f"**{t('settlement.compliance')}**")
        ags = {a.id: pick(a.name, a.name_en) or a.id for a in sc.agreements}
        st.dataframe(pd.DataFrame({
            t("settlement.col.agreement"): [ags.get(k, k) for k in compliance.index],
            t("settlement.col.compliance"): [f"{v:.1%}" for v in compliance.to_numpy()]}),
            hide_index=True, width="stretch")


def render() -> None:
    ws = workspace.get()
    st.title(t("page.settlement"))
    st.caption(t("settlement.intro"))
    if ws.error:
        st.error(ws.error)
    found = inputs(ws)
    sc = ws.scenario
    years = [None, *range(sc.years.start, sc.years.end + 1)]
    through = choice(t("settlement.year"), years, "settlement_year",
                     {y: t("settlement.year_auto") if y is None else str(y) for y in years})
    if found is None:
        st.session_state[PROBLEMS_KEY] = []
    else:
        actuals, payments, a_name, p_name, problems = found
        if problems:
            st.session_state[PROBLEMS_KEY] = problems
        else:
            settle(ws, actuals, payments, (a_name, p_name), through)
    problems = st.session_state.get(PROBLEMS_KEY, [])
    if problems:
        st.error(t("settlement.failed"))
        show_problems(problems)
    last = st.session_state.get(LAST_KEY)
    if last is None or last["origin"] != ws.origin:  # nothing, or another scenario's ledger
        return
    if problems:
        st.warning(t("settlement.stale"))
    if isinstance(actuals_path := (found[0] if found else None), Path):
        args = (f"actuals={str(actuals_path.relative_to(EXAMPLES.parents[1]))!r}, "
                f"payments={str(found[1].relative_to(EXAMPLES.parents[1]))!r}")
    else:
        args = "actuals='actuals.csv', payments='payments.csv'"
    args += f", through={last['led'].through}"
    show(ws, last["led"], args)
