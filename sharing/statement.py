"""Settlement documents: the 结算单 as a Word file per partner pair, amounts in Chinese capital
numerals (大写金额), and the ledger as CSV files and a workbook.

The statement is what both finance bureaus sign: the year, both parties, one line per
agreement, the year's amount due, what was paid, arrears and interest, the booking lines each
side enters, and the key amounts in figures (元, to the fen) and in 大写.
"""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import RGBColor

from sharing import io
from sharing.i18n import Lang, define, message
from sharing.numerals import rmb_capital
from sharing.settlement import LABELS, WAN, Ledger, Statement, translate, yuan

CJK_FONT = "SimSun"


def _figures(wan: float) -> str:
    return f"{yuan(wan):,.2f} 元"


# ---------------------------------------------------------------------------------------------
# The Word statement


define({f"statement.{k}": v for k, v in {
    "title": ("{year} 年度财税利益分享结算单", "Tax-sharing settlement statement {year}"),
    "parties": ("付款方：{payer}　　收款方：{payee}", "Payer: {payer}    Payee: {payee}"),
    "year": ("结算年度：{year} 年　　金额单位：元",
             "Settlement year: {year}    Amounts in 元 (CNY)"),
    "lines": ("一、分协议应结算金额", "1. Amounts due by agreement"),
    "agreement": ("协议", "Agreement"),
    "channel": ("结算方式", "Settlement"),
    "forward": ("{payer}应付{payee}", "{payer} to {payee}"),
    "back": ("{payee}应付{payer}", "{payee} to {payer}"),
    "net": ("净额", "Net"),
    "total": ("合计", "Total"),
    "account": ("二、本年结算", "2. This year's account"),
    "amount_due": ("本年应结算金额：{figures}（大写：人民币{capitals}）",
                   "Amount due this year: {figures} (in words: 人民币{capitals})"),
    "balance": ("年末应付余额：{figures}（大写：人民币{capitals}）",
                "Balance payable at year end: {figures} (in words: 人民币{capitals})"),
    "credit": ("年末多付结余（抵以后年度）：{figures}（大写：人民币{capitals}）",
               "Credit carried forward: {figures} (in words: 人民币{capitals})"),
    "refund": ("本年应结算为负数：收款方应退付款方", "The amount due is negative: the payee "
               "owes the payer"),
    "bookings": ("三、账务处理", "3. Booking lines"),
    "advance": ("季度预拨：本年应预拨 {figures}，年终按实际数清算",
                "Quarterly advances: {figures} expected this year, trued up at year end"),
    "estimated": ("注：标 * 的协议含估算数（未报实际数的税源按预测计）。",
                  "Note: lines marked * include estimates (streams without actuals use the "
                  "projection)."),
    "sign": ("付款方（盖章）：＿＿＿＿＿＿　日期：＿＿＿＿\n"
             "收款方（盖章）：＿＿＿＿＿＿　日期：＿＿＿＿",
             "Payer (seal): ____________  Date: ________\n"
             "Payee (seal): ____________  Date: ________"),
}.items()})


def _t(key: str, lang: Lang, **params) -> str:
    return message(f"statement.{key}", lang, **params)


def _cjk(document) -> None:
    """Use a CJK font for East Asian text in every style the statement uses."""
    for name in ("Normal", "Title", "Heading 1", "Table Grid", "List Bullet"):
        style = document.styles[name]
        style.font.name = CJK_FONT
        if name in ("Title", "Heading 1"):
            style.font.color.rgb = RGBColor(0, 0, 0)  # an official document is black
        fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
        fonts.set(qn("w:eastAsia"), CJK_FONT)


def _file_name(text: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", text).strip("_")


def write_statement_docx(statement: Statement, payer: str, payee: str,
                         path: str | Path | BinaryIO) -> Path | BinaryIO:
    """One pair's statement as a .docx (python-docx), to a path or a buffer."""
    lang, year, sc = statement.lang, statement.year, statement.scenario
    names = {j.id: j.name if lang == "zh" else j.name_en for j in sc.jurisdictions}
    pair = statement.pairs[(statement.pairs["payer"] == payer)
                           & (statement.pairs["payee"] == payee)].iloc[0]
    lines = statement.lines[(statement.lines["payer"] == payer)
                            & (statement.lines["payee"] == payee)]
    bookings = statement.bookings[(statement.bookings["payer"] == payer)
                                  & (statement.bookings["payee"] == payee)]
    p, q = names[payer], names[payee]
    doc = Document()
    _cjk(doc)
    title = doc.add_heading(_t("title", lang, year=year), level=0)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph(sc.name if lang == "zh" else sc.name_en).alignment = \
        WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph(_t("parties", lang, payer=p, payee=q))
    doc.add_paragraph(_t("year", lang, year=year))

    doc.add_heading(_t("lines", lang), level=1)
    header = [_t("agreement", lang), _t("channel", lang), _t("forward", lang, payer=p, payee=q),
              _t("back", lang, payer=p, payee=q), _t("net", lang)]
    money = [[yuan(v) for v in lines[c]] for c in ("payer_to_payee", "payee_to_payer")]
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = text
        cell.paragraphs[0].runs[0].bold = True
    net_total = yuan(pair["due"])
    nets = _reconciled(lines["net"].tolist(), net_total)
    for k, (_, line) in enumerate(lines.iterrows()):
        cells = table.add_row().cells
        cells[0].text = line["name"] + (" *" if line["estimated"] else "")
        cells[1].text = line["channel"]
        for c, value in enumerate((money[0][k], money[1][k], nets[k]), start=2):
            cells[c].text = f"{value:,.2f}"
            cells[c].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    cells = table.add_row().cells
    cells[0].text = _t("total", lang)
    cells[4].text = f"{net_total:,.2f}"
    cells[4].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT

    doc.add_heading(_t("account", lang), level=1)
    keys = ("arrears_start", "due", "interest", "paid", "arrears_end", "credit_end")
    account = doc.add_table(rows=0, cols=2)
    account.style = "Table Grid"
    account.alignment = WD_TABLE_ALIGNMENT.CENTER
    for key in keys:
        cells = account.add_row().cells
        cells[0].text = LABELS[key][0 if lang == "zh" else 1]
        cells[1].text = f"{yuan(pair[key]):,.2f}"
        cells[1].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    doc.add_paragraph("")
    doc.add_paragraph(_t("amount_due", lang, figures=_figures(pair["due"]),
                         capitals=rmb_capital(yuan(pair["due"]), prefix="")))
    if pair["due"] < 0:
        doc.add_paragraph(_t("refund", lang))
    doc.add_paragraph(_t("balance", lang, figures=_figures(pair["arrears_end"]),
                         capitals=rmb_capital(yuan(pair["arrears_end"]), prefix="")))
    if pair["credit_end"] > 0:
        doc.add_paragraph(_t("credit", lang, figures=_figures(pair["credit_end"]),
                             capitals=rmb_capital(yuan(pair["credit_end"]), prefix="")))
    if pair["advance_expected"]:
        doc.add_paragraph(_t("advance", lang, figures=_figures(pair["advance_expected"])))

    doc.add_heading(_t("bookings", lang), level=1)
    for _, b in bookings.iterrows():
        doc.add_paragraph(f"{b['who']}：{b['line']} {yuan(b['amount']):,.2f} 元" if lang == "zh"
                          else f"{b['who']}: {b['line']} {yuan(b['amount']):,.2f} 元",
                          style="List Bullet")
    if lines["estimated"].any():
        doc.add_paragraph(_t("estimated", lang))
    doc.add_paragraph("")
    for text in _t("sign", lang).split("\n"):
        doc.add_paragraph(text)
    if not isinstance(path, str | Path):  # a buffer (the app's download)
        doc.save(path)
        return path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(path)
    return path


def _reconciled(values: list[float], total: Decimal) -> list[Decimal]:
    """Amounts in 万元 as 元 to the fen, adding up to ``total`` (the rounded sum): floor each
    to the fen, then give one fen each to the largest remainders (Hamilton's method)."""
    exact = [Decimal(repr(float(v))) * WAN for v in values]
    floors = [x.quantize(Decimal("0.01"), rounding=ROUND_FLOOR) for x in exact]
    short = int((total - sum(floors, Decimal(0))) / Decimal("0.01"))
    order = sorted(range(len(exact)), key=lambda i: floors[i] - exact[i])
    bump = set(order[:max(short, 0)])
    return [f + (Decimal("0.01") if i in bump else 0) for i, f in enumerate(floors)]


def statement_docx_files(ledger: Ledger, year: int, directory: str | Path,
                         lang: Lang = "zh") -> list[Path]:
    """One 结算单 per linked pair with any amount in ``year``."""
    statement = ledger.statement(year, lang)
    out = []
    for _, pair in statement.pairs.iterrows():
        if not np.any(np.abs(pair[["due", "paid", "arrears_start", "arrears_end",
                                   "credit_end"]].to_numpy(dtype=float)) > 1e-9):
            continue
        label = "结算单" if lang == "zh" else "statement"
        name = _file_name(f"{label}_{year}_{pair['payer']}_{pair['payee']}") + ".docx"
        out.append(write_statement_docx(statement, pair["payer"], pair["payee"],
                                        Path(directory) / name))
    return out


# ---------------------------------------------------------------------------------------------
# Ledger tables as CSV and a workbook


SHEETS = {"ledger": ("账簿", "ledger"), "due": ("应结算明细", "due"),
          "arrears": ("欠款账龄", "arrears"), "variance": ("预测与实际", "variance"),
          "compliance": ("兑现率", "compliance"), "payments": ("付款记录", "payments")}
FEN_DECIMALS = 6  # 0.000001 万元 = 1 分: settlement money is exact to the fen


def ledger_tables(ledger: Ledger, lang: Lang = "en") -> dict[str, pd.DataFrame]:
    """The ledger's tables for export, headers and codes in ``lang``. Amounts (万元) are
    rounded to the fen, 6 decimals, like the statement; compliance to 4 decimals."""
    compliance = ledger.compliance().round(4).reset_index()
    tables = {"ledger": ledger.ledger, "due": ledger.due, "arrears": ledger.arrears,
              "variance": ledger.variance, "compliance": compliance,
              "payments": ledger.payments.drop(columns="row").assign(
                  date=lambda d: d["date"].astype(str))}
    out = {}
    for key, df in tables.items():
        df = df.copy()
        for col in df.columns:
            if col != "compliance" and pd.api.types.is_float_dtype(df[col]):
                df[col] = df[col].round(FEN_DECIMALS) + 0.0  # + 0.0: never "-0.000000"
        out[key] = translate(df, lang)
    return out


def write_ledger(ledger: Ledger, year: int, directory: str | Path,
                 lang: Lang = "zh") -> list[Path]:
    """Ledger CSVs, the workbook ``settlement_<year>.xlsx`` and one .docx per pair."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tables = ledger_tables(ledger, lang)
    written = [io.write_csv(df, out / f"{key}.csv", f"%.{FEN_DECIMALS}f")
               for key, df in tables.items()]
    written.append(ledger_workbook(ledger, out / f"settlement_{year}.xlsx", lang, tables))
    written.extend(statement_docx_files(ledger, year, out, lang))
    return written


def ledger_workbook(ledger: Ledger, target: io.Target, lang: Lang = "zh",
                    tables: dict[str, pd.DataFrame] | None = None) -> io.Target:
    """The ledger's tables (:func:`ledger_tables`) as one workbook, a sheet each, amounts to
    the fen, to a path or a buffer (the app's download)."""
    tables = ledger_tables(ledger, lang) if tables is None else tables
    unit = "，单位：万元" if lang == "zh" else ", 万元 (10,000 CNY)"
    name = ledger.scenario.name if lang == "zh" else ledger.scenario.name_en
    sheets = {SHEETS[k][0 if lang == "zh" else 1]: (
        df, f"{name}：{SHEETS[k][0]}{unit}" if lang == "zh" else f"{name}: {k}{unit}")
        for k, df in tables.items()}
    return io.write_tables_xlsx(sheets, target, "#,##0." + "0" * FEN_DECIMALS)


__all__ = ["ledger_tables", "ledger_workbook", "statement_docx_files", "write_ledger",
           "write_statement_docx"]
