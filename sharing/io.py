"""Files in and out: result tables as CSV or Excel, and scenarios through plain workbooks.

Exports are what a finance officer pastes into a report, so they are safe and they add up:

- text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR)
  are neutralised — in CSV by a leading apostrophe (OWASP's advice), in xlsx by storing them
  as text;
- amounts are rounded to 0.01 万元 with the largest-remainder (Hamilton) method, so the rounded
  rows of every table still sum exactly to its exported total;
- CSV is UTF-8 with a BOM, so Excel on a Chinese Windows opens it correctly; headers and codes
  are English (``vat``, ``allocated``), or Chinese with ``lang="zh"`` (增值税, 分享后收入);
- result workbooks have a title row with the unit (万元), a frozen header row with a filter,
  amounts as ``#,##0.00`` and columns as wide as their content (CJK characters count two).
  They are written with xlsxwriter in constant-memory mode: linear in the rows, to a path or
  a binary buffer (the app's downloads).

:func:`export_tables` is the one source of every exported table (CSV, workbook, app).

A scenario round-trips YAML → workbook → YAML: each list section is a sheet with one row per
item and dotted column names (``covers.park``, ``taxes.vat.base``); rules are flattened to
rows (owner, path, value); lists of ids are written as ``[a, b]``.
"""

from __future__ import annotations

import datetime
import io as io_module
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd
import xlsxwriter
import yaml
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from pydantic import ValidationError

from sharing.i18n import Problem, define, did_you_mean
from sharing.result import LABELS
from sharing.scenario import (
    FIRM_COLUMNS,
    Scenario,
    ScenarioError,
    parse_scenario,
    read_bytes,
    safe_yaml,
    validation_items,
)
from sharing.taxes import TAX_NAMES

if TYPE_CHECKING:
    from sharing.result import Result

FORMULA_PREFIXES = ("=", "+", "-", "@", "|", "\t", "\r", "\n", "＝", "＋", "－", "＠", "｜")
"""First characters that make a spreadsheet read a text cell as a formula or a DDE command
(OWASP, "CSV Injection": ``= + - @``, tab and carriage return; also ``|``, a line feed and
the full-width forms, which Excel on a Chinese Windows takes as their ASCII twins)."""
DECIMALS = 2
EXCEL_MAX_ROWS = 1_048_576
TOTAL = "total 合计"

define({
    "io.excel_row_limit": (
        "表 {table_zh} 有 {rows} 行，超过 Excel 工作表的上限 {limit} 行；"
        "请改为导出 CSV（--format csv）",
        "table {table_en} has {rows} rows, more than an Excel sheet holds ({limit}); export CSV "
        "instead (--format csv)"),
    "io.not_xlsx": ("不是可读的 .xlsx 工作簿（{error}）",
                    "not a readable .xlsx workbook ({error})"),
    "io.merged": ("合并单元格 {cells}；请取消合并（每个值单独一格）",
                  "merged cells {cells}; unmerge them (each value in its own cell)"),
    "io.missing_sheet": ("缺少工作表 {title!r}（现有：{sheets}）",
                         "missing sheet {title!r} (sheets: {sheets})"),
    "io.empty_header": ("表头为空的列下有数据", "values under an empty header"),
    "io.key_value": ("需要 key、value 两列", "needs columns key, value"),
    "io.site_row": ("园区 {park!r} / 片区 {site!r} 与工作表 parks 中的任何一行都不对应",
                    "park {park!r} / site {site!r} does not match a row of sheet parks"),
    "io.rule_owner": ("owner {owner!r} 不是本工作簿中的 agreements:<id> 或 costs:<id>",
                      "owner {owner!r} is not agreements:<id> or costs:<id> of this workbook"),
    "io.statistics_agreement": ("未知协议 {id!r}", "unknown agreement {id!r}"),
    "io.retention_level": ("{level!r} 不是 default、provinces 或 jurisdictions",
                           "{level!r} is not default, provinces or jurisdictions"),
})

def neutralise(value: object) -> object:
    """Prefix a formula-looking text cell with an apostrophe so it stays text: one that
    starts with a :data:`FORMULA_PREFIXES` character, also after leading spaces (spreadsheets
    skip them: ``" =1+1"``, ``"\u3000＝1"``)."""
    if isinstance(value, str) and (value.startswith(FORMULA_PREFIXES)
                                   or value.lstrip().startswith(FORMULA_PREFIXES)):
        return "'" + value
    return value


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns
            if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell and header neutralised (numbers untouched):
    the one gate of every CSV export."""
    out = df.copy()
    out.columns = [neutralise(c) for c in out.columns]
    for col in _text_columns(out):
        out[col] = out[col].map(neutralise)
    return out


# ---------------------------------------------------------------------------------------------
# Rounding that reconciles


def round_reconciled(values: np.ndarray, groups: np.ndarray | None = None,
                     decimals: int = DECIMALS) -> np.ndarray:
    """Round ``values`` so that, within each group, they sum exactly to the rounded group sum.

    Largest-remainder (Hamilton) method: floor every value to the unit ``10^-decimals``, then
    give one unit each to the values with the largest remainders until the group's rounded
    total is reached.
    """
    values = np.asarray(values, dtype=float)
    groups = np.zeros(len(values), dtype=int) if groups is None else np.asarray(groups)
    _, g = np.unique(groups, return_inverse=True)
    scaled = values * 10**decimals
    floor = np.floor(scaled)
    target = np.round(np.bincount(g, weights=scaled))
    short = (target - np.bincount(g, weights=floor)).astype(int)
    order = np.lexsort((-(scaled - floor), g))
    starts = np.searchsorted(g[order], np.arange(len(target)))
    rank = np.arange(len(values)) - starts[g[order]]
    bump = np.zeros(len(values))
    bump[order] = rank < short[g[order]]
    return (floor + bump) / 10**decimals + 0.0  # + 0.0: never "-0.00"


def _with_total(df: pd.DataFrame, label_col: str, numeric: list[str],
                by: str | None = None) -> pd.DataFrame:
    """Append a total row (per ``by`` group when given) and round every amount so that the
    rows of each group add up exactly to its total row."""
    keys = df[by].to_numpy() if by else np.zeros(len(df), dtype=int)
    codes, groups = pd.factorize(keys)  # groups in order of appearance, as groupby(sort=False)
    totals = pd.DataFrame({by: groups}) if by else pd.DataFrame(index=[0])
    totals[label_col] = TOTAL
    out = df.copy()
    for col in numeric:
        out[col] = round_reconciled(out[col].to_numpy(), keys)
        per_group = np.bincount(codes, weights=out[col].to_numpy(), minlength=len(totals))
        totals[col] = np.round(per_group, DECIMALS)
    merged = pd.concat([out, totals.reindex(columns=out.columns)], ignore_index=True)
    if by:
        merged = merged.sort_values(by, kind="stable", ignore_index=True)
    return merged


KIND_NAMES: dict[str, tuple[str, str]] = {
    "collected": ("征收额", "collected"),
    "retained": ("留成", "retained"),
    "allocated": ("分享后收入", "allocated"),
    "unpaid": ("未兑现", "unpaid"),
    "transfer": ("固定回报支付", "fixed-return payment"),
    "cost_share": ("成本分担", "cost share"),
    "subsidy": ("中央补助", "central subsidy"),
}
INDICATOR_NAMES: dict[str, tuple[str, str]] = {
    "gdp": ("地区生产总值", "GDP"),
    "value_added": ("增加值", "value added"),
    "industrial_output": ("工业总产值", "industrial output"),
    "agricultural_output": ("农业总产值", "agricultural output"),
    "tourism_revenue": ("旅游收入", "tourism revenue"),
    "investment": ("固定资产投资", "fixed-asset investment"),
}
# Coded values translated in Chinese exports, by column; values not listed stay as they are.
VALUE_NAMES: dict[str, dict[str, tuple[str, str]]] = {
    "tax": TAX_NAMES, "kind": KIND_NAMES, "indicator": INDICATOR_NAMES}
SHEET_NAMES: dict[str, tuple[str, str]] = {
    "summary": ("汇总", "summary"),
    "flows": ("资金流", "flows"),
    "by_year": ("分年", "by_year"),
    "statistics": ("统计分算", "statistics"),
}
NAME_COLUMNS = ("jurisdiction", "name", "name_en")


def translate(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``df`` with Chinese headers and coded values (``vat`` → 增值税) for ``lang="zh"``;
    unchanged for ``"en"``."""
    if lang == "en":
        return df
    if lang != "zh":
        raise ValueError(f"unknown language {lang!r}; use en or zh")
    out = df.copy()
    for col, names in VALUE_NAMES.items():
        if col in out.columns:
            codes = out[col].astype(object)
            out[col] = codes.map({k: zh for k, (zh, _) in names.items()}).fillna(codes)
    return out.rename(columns={k: zh for k, (zh, _) in LABELS.items()})


define({
    "bounds.not_finite": (
        "结果表 {table} 的 {column} 列含非有限数（{value}），未写出；请检查情景中的金额与增长率",
        "table {table}, column {column} holds a non-finite number ({value}); nothing is "
        "written: check the scenario's amounts and growth rates"),
})


def check_finite(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """``df`` itself when every number in it is finite; ScenarioError otherwise, so that no
    ``inf`` or ``NaN`` reaches a file or the screen. (The scenario bounds keep results
    finite; this is the last guard before writing.)"""
    for col in df.columns:
        values = df[col]
        if pd.api.types.is_float_dtype(values) and not np.isfinite(values.fillna(0)).all():
            bad = values[~np.isfinite(values.fillna(0))].iloc[0]
            raise ScenarioError([Problem("bounds.not_finite", {
                "table": table, "column": col, "value": bad})])
    return df


def export_summary(result: Result) -> pd.DataFrame:
    """The summary with a total row, rounded to 0.01 万元 so that the rows add up to the
    total: what summary.csv holds and what ``sharing run`` prints."""
    money = [c for c in result.summary.columns if c not in NAME_COLUMNS]
    return check_finite(_with_total(check_finite(result.summary, "summary"), "jurisdiction",
                                    money), "summary")


def export_tables(result: Result, lang: str = "en") -> dict[str, pd.DataFrame]:
    """The tables a user exports (summary, flows, by_year, statistics), rounded to 0.01 万元
    and reconciled. ``lang="en"`` keeps the column names and codes (``vat``, ``allocated``)
    for scripts; ``lang="zh"`` gives Chinese headers and coded values (增值税, 分享后收入).
    Every export (CSV, workbook, the app's downloads) is built from these tables."""
    if lang not in ("en", "zh"):
        raise ValueError(f"unknown language {lang!r}; use en or zh")
    for name in ("by_year", "flows", "statistics"):
        check_finite(getattr(result, name), name)
    summary = export_summary(result)
    by_year = _with_total(result.by_year, "jurisdiction",
                          [c for c in result.by_year.columns if c not in ("year", "jurisdiction")],
                          by="year")
    flows = result.flows.copy()
    group = flows["stream"] + "|" + flows["year"].astype(str) + "|" + flows["kind"]
    flows["amount"] = round_reconciled(flows["amount"].to_numpy(), group.to_numpy())
    statistics = result.statistics.copy()
    statistics["amount"] = np.round(statistics["amount"].astype(float), DECIMALS)
    tables = {"summary": summary, "flows": flows, "by_year": by_year, "statistics": statistics}
    return {k: translate(check_finite(v, k), lang) for k, v in tables.items()}


def compare_table(table: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """A :func:`sharing.result.compare` table flattened for a CSV file: ``jurisdiction``,
    ``name``, then one column per metric and scenario headed ``PV net benefit [gaozhu]``
    (``净收益现值 [gaozhu]`` with ``lang="zh"``), differences headed
    ``PV net benefit [b − a]``."""
    if lang not in ("en", "zh"):
        raise ValueError(f"unknown language {lang!r}; use en or zh")
    pick = 0 if lang == "zh" else 1
    flat = table.reset_index()
    flat.columns = [LABELS[m][pick] if not s else f"{LABELS[m][pick]} [{s}]"
                    for m, s in flat.columns]
    return flat


def csv_bytes(df: pd.DataFrame, float_format: str = "%.2f") -> bytes:
    """One table as CSV bytes: UTF-8 with BOM (Excel on a Chinese Windows reads it), CRLF
    line ends, text cells neutralised, floats with two decimals (amounts in 万元) unless told
    otherwise."""
    # CRLF line ends (RFC 4180, Excel's own): a cell holding a bare CR or LF is then quoted,
    # so it cannot start a new row whose first cell is a formula.
    return safe_frame(df).to_csv(index=False, float_format=float_format,
                                 lineterminator="\r\n").encode("utf-8-sig")


def result_csv_bytes(result: Result, lang: str = "en") -> dict[str, bytes]:
    """``{"summary.csv": bytes, "flows.csv": ..., "by_year.csv": ..., "statistics.csv": ...}``
    from :func:`export_tables`, for downloads and :func:`write_result_csv`."""
    return {f"{name}.csv": csv_bytes(df) for name, df in export_tables(result, lang).items()}


def write_csv(df: pd.DataFrame, path: str | Path, float_format: str = "%.2f") -> Path:
    """Write a DataFrame as UTF-8 CSV with BOM (see :func:`csv_bytes`)."""
    path = Path(path)
    path.write_bytes(csv_bytes(df, float_format))
    return path


def write_result_csv(result: Result, directory: str | Path, lang: str = "en") -> list[Path]:
    """summary.csv, flows.csv, by_year.csv and statistics.csv in ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    files = result_csv_bytes(result, lang)
    for name, data in files.items():
        (out / name).write_bytes(data)
    return [out / name for name in files]


# ---------------------------------------------------------------------------------------------
# Workbooks (xlsxwriter: streamed row by row, linear in the rows, and it writes to a buffer)

Target = str | Path | BinaryIO
MONEY_FORMAT = "#,##0.00"
MAX_COLUMN_WIDTH = 60
_WIDE = re.compile("[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f"
                   "\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]")


def text_width(text: str) -> int:
    """Display width in Excel's character units: CJK and full-width characters count two."""
    return len(text) + len(_WIDE.findall(text))


def write_result_xlsx(result: Result, target: Target, lang: str = "en") -> Target:
    """One workbook: summary, flows, by_year, statistics (a title row naming the scenario and
    the unit 万元, a frozen header row with a filter, amounts as ``#,##0.00``), then the
    scenario's inputs. ``target`` is a path or a binary file (``io.BytesIO``); returns it.

    Raises ScenarioError, before anything is written, when a table has more rows than a
    worksheet holds (1,048,576): export CSV instead.
    """
    tables = export_tables(result, lang)
    for key, df in tables.items():
        if len(df) + 2 > EXCEL_MAX_ROWS:
            zh, en = SHEET_NAMES[key]
            raise ScenarioError([Problem("io.excel_row_limit", {
                "table_zh": zh, "table_en": en, "rows": f"{len(df):,}",
                "limit": f"{EXCEL_MAX_ROWS - 2:,}"})])
    sc = result.scenario
    with _Book(target) as book:
        for key, df in tables.items():
            zh, en = SHEET_NAMES[key]
            unit = "" if key == "statistics" else "，单位：万元"
            title = (f"{sc.name}：{zh}{unit}" if lang == "zh" else
                     f"{sc.name_en}: {en}{'' if key == 'statistics' else ', 万元 (10,000 CNY)'}")
            book.frame(zh if lang == "zh" else en, df, title)
        _write_scenario_sheets(book, sc, lang=lang, prefix=True)
    return target


def write_tables_xlsx(sheets: dict[str, tuple[pd.DataFrame, str]], target: Target,
                      money_format: str = MONEY_FORMAT) -> Target:
    """A workbook of tables, ``{sheet name: (table, title)}``, formatted as the result
    workbook (title row, frozen header, amounts as ``money_format``, fitted widths), to a path
    or a buffer. Raises ScenarioError when a table has more rows than a worksheet holds."""
    for name, (df, _) in sheets.items():
        if len(df) + 2 > EXCEL_MAX_ROWS:
            raise ScenarioError([Problem("io.excel_row_limit", {
                "table_zh": name, "table_en": name, "rows": f"{len(df):,}",
                "limit": f"{EXCEL_MAX_ROWS - 2:,}"})])
    with _Book(target, money_format) as book:
        for name, (df, title) in sheets.items():
            book.frame(name, df, title)
    return target


class _Book:
    """An xlsxwriter workbook in constant-memory mode (rows go to disk as they are written).

    Text is always written as a string cell, never a formula; a float that Excel's 16
    significant digits would change (e.g. 1/6) is kept exact as its ``repr`` text.
    """

    def __init__(self, target: Target, money_format: str = MONEY_FORMAT):
        if isinstance(target, str | Path):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            target = str(target)
        self.book = xlsxwriter.Workbook(target, {"constant_memory": True,
                                                 "strings_to_formulas": False,
                                                 "strings_to_numbers": False,
                                                 "strings_to_urls": False})
        self.bold = self.book.add_format({"bold": True, "bottom": 1})
        self.bold_right = self.book.add_format({"bold": True, "bottom": 1, "align": "right"})
        self.title_format = self.book.add_format({"bold": True, "font_size": 12})
        self.money = self.book.add_format({"num_format": money_format})
        self.money_decimals = len(money_format.rpartition(".")[2]) if "." in money_format else 0
        self.integer = self.book.add_format({"num_format": "0"})

    def __enter__(self) -> _Book:
        return self

    def __exit__(self, *exc) -> None:
        self.book.close()

    def frame(self, name: str, df: pd.DataFrame, title: str) -> None:
        """A result table: title row, frozen header row, typed and formatted columns."""
        ws = self.book.add_worksheet(name[:31])
        header = [str(c) for c in df.columns]
        kinds, widths = [], []
        for col, label in zip(df.columns, header, strict=True):
            values = df[col]
            if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
                kinds.append("text")
                shown = values.dropna().astype(str)
                width = int((shown.str.len() + shown.str.count(_WIDE.pattern)).max()) \
                    if len(shown) else 0
            elif pd.api.types.is_integer_dtype(values):
                kinds.append("integer")
                width = max((len(str(v)) for v in (values.min(), values.max())), default=0) \
                    if len(values) else 0
            else:
                kinds.append("money")
                finite = values[np.isfinite(values)]
                width = max((len(f"{v:,.{self.money_decimals}f}")
                             for v in (finite.min(), finite.max())), default=0) \
                    if len(finite) else 0
            widths.append(max(width, text_width(label)))
        ws.write_string(0, 0, title, self.title_format)
        for c, (label, kind) in enumerate(zip(header, kinds, strict=True)):
            ws.write_string(1, c, label, self.bold if kind == "text" else self.bold_right)
        for c, (kind, width) in enumerate(zip(kinds, widths, strict=True)):
            ws.set_column(c, c, min(width + 2, MAX_COLUMN_WIDTH),
                          {"money": self.money, "integer": self.integer}.get(kind))
        ws.freeze_panes(2, 0)
        ws.autofilter(1, 0, max(len(df), 1) + 1, max(len(header) - 1, 0))
        writers = {"text": self._text, "integer": self._number, "money": self._money}
        cells = [writers[k] for k in kinds]
        for r, row in enumerate(df.itertuples(index=False, name=None), start=2):
            for c, value in enumerate(row):
                cells[c](ws, r, c, value)

    def records(self, name: str, header: list[str], rows: Iterable[Iterable[Any]]) -> None:
        """A plain table with its header in row 1 (scenario sheets: import reads them)."""
        rows = [[_cell(v) for v in row] for row in rows]
        ws = self.book.add_worksheet(name[:31])
        ws.write_row(0, 0, header, self.bold)
        for c, label in enumerate(header):
            width = max([text_width(label), *(text_width(str(r[c])) for r in rows
                                              if c < len(r) and r[c] is not None)])
            ws.set_column(c, c, min(width + 2, MAX_COLUMN_WIDTH))
        ws.freeze_panes(1, 0)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, bool):
                    ws.write_boolean(r, c, value)
                elif isinstance(value, int | float):
                    ws.write_number(r, c, value)
                else:
                    ws.write_string(r, c, str(value))

    @staticmethod
    def _text(ws, r: int, c: int, value: Any) -> None:
        if isinstance(value, str):
            ws.write_string(r, c, value)
        elif not pd.isna(value):
            ws.write_string(r, c, str(value))

    @staticmethod
    def _number(ws, r: int, c: int, value: Any) -> None:
        ws.write_number(r, c, value)

    @staticmethod
    def _money(ws, r: int, c: int, value: Any) -> None:
        if np.isfinite(value):
            ws.write_number(r, c, value)


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not np.isfinite(value):
            return None
        if float(f"{value:.16g}") != value:
            # Excel keeps 16 significant digits; keep e.g. 1/6 exact as text
            return repr(value)
    return value


# ---------------------------------------------------------------------------------------------
# Scenario <-> workbook

LIST_SHEETS = ("sources", "assumptions", "jurisdictions", "parks", "firms", "streams", "costs",
               "agreements")
NESTED = {"parks": ("sites",), "costs": ("rule",), "agreements": ("rule", "statistics")}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list | tuple):
        if all(not isinstance(v, dict | list | tuple) for v in value):
            return {prefix: yaml.safe_dump(list(value), default_flow_style=True,
                                           allow_unicode=True).strip()}
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _unflatten(flat: dict[str, Any], sheet: str = "", where: str = "") -> dict:
    """Nested data from dotted key paths (``taxes.vat.base``, ``stages[0].shares.a``).

    A list index is bounded by the number of cells given (each list item holds at least one),
    so a header ``x[100000000]`` cannot pad a list to that length; a path that puts an index
    where there is no list, a name inside a list or a value where another column has keys
    below it is refused, naming the sheet and the column."""
    root: dict = {}
    limit = len(flat)

    def refuse(key: str, path: str, **params: Any) -> ScenarioError:
        return ScenarioError([Problem(key, {"sheet": sheet, "key": path, **params},
                                      where=where)])

    for path, value in flat.items():
        tokens = [int(i) if i else k for k, i in _TOKEN.findall(path)]
        if not tokens:
            raise refuse("bounds.key_empty", path)
        node: Any = root
        for tok, nxt in zip(tokens, [*tokens[1:], None], strict=True):
            empty: Any = [] if isinstance(nxt, int) else {}
            if isinstance(tok, int):
                if not isinstance(node, list):
                    raise refuse("bounds.key_list", path, index=tok)
                if tok >= limit:
                    raise refuse("bounds.key_index", path, index=tok, limit=limit)
                while len(node) <= tok:
                    node.append(None)
                if nxt is None:
                    node[tok] = value
                    continue
                if node[tok] is None:
                    node[tok] = empty
                node = node[tok]
            else:
                if not isinstance(node, dict):
                    raise refuse("bounds.key_mapping", path, name=tok)
                if nxt is None:
                    if tok in node:
                        raise refuse("bounds.key_clash", path)
                    node[tok] = value
                    continue
                node = node.setdefault(tok, empty)
            if not isinstance(node, list | dict) or isinstance(node, list) != isinstance(
                    nxt, int):
                raise refuse("bounds.key_clash", path)
    return root


def _parse_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            parsed = safe_yaml(value)
        except (yaml.YAMLError, RecursionError):
            return value
        if isinstance(parsed, list):
            return parsed
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    return value


def _scenario_dict(sc: Scenario) -> dict:
    data = sc.model_dump(mode="python", exclude_none=True)
    data.pop("firms_csv", None)  # the workbook carries the firms themselves
    return data


# A sheet without items still gets these headers, so that a user sees what to fill in.
EMPTY_HEADERS: dict[str, list[str]] = {
    "sources": ["title", "url", "date", "note"],
    "assumptions": ["path", "note"],
    "jurisdictions": ["id", "name", "name_en", "province"],
    "parks": ["id", "name", "name_en", "partners"],
    "firms": ["id", "name", "name_en", "origin", "destination", "move_year", "production_year",
              "growth",
              "pre_move.vat", "pre_move.eit", "illustrative"],
    "streams": ["id", "host", "tax", "base", "base_year", "growth", "start", "end"],
    "costs": ["id", "name", "name_en", "park", "parties", "paid_by", "illustrative"],
    "agreements": ["id", "name", "name_en", "covers.park", "base", "compliance", "reference"],
    "sites": ["park", "site", "host", "illustrative"],
    "statistics": ["agreement", "index", "indicator", "base", "base_year", "growth"],
}
INPUT_SHEET_NAMES: dict[str, str] = {
    "scenario": "情景", "sources": "来源", "assumptions": "假设", "jurisdictions": "辖区",
    "parks": "园区", "firms": "企业", "streams": "税源", "costs": "成本", "agreements": "协议",
    "sites": "片区", "rules": "规则", "statistics": "统计分算", "contributions": "投入要素",
    "standalone": "不合作", "retention": "留成",
}
_YEAR_KEY = re.compile(r"^(.*)\.(\d{4})$")


def _columns(rows: list[dict]) -> list[str]:
    """Columns in order of first appearance, with year keys (``by_year.2024``) in year order
    inside their group."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    groups: dict[str, list[str]] = {}
    for c in columns:
        match = _YEAR_KEY.match(c)
        groups.setdefault(match[1] + ".<year>" if match else c, []).append(c)
    return [c for cs in groups.values()
            for c in sorted(cs, key=lambda c: int(_YEAR_KEY.match(c)[2])
                            if _YEAR_KEY.match(c) else 0)]


def _write_scenario_sheets(book: _Book, sc: Scenario, lang: str = "en",
                           prefix: bool = False) -> None:
    data = _scenario_dict(sc)

    def sheet(section: str, rows: list[dict], header: list[str] | None = None) -> None:
        columns = header or _columns(rows) or EMPTY_HEADERS[section]
        name = section
        if prefix:
            name = f"输入_{INPUT_SHEET_NAMES[section]}" if lang == "zh" else f"input_{section}"
        book.records(name, columns, ([r.get(c) for c in columns] for r in rows))

    top = {k: v for k, v in data.items() if k not in LIST_SHEETS
           and k not in ("retention", "contributions", "standalone")}
    if data["retention"].get("reference"):
        top["retention.reference"] = data["retention"]["reference"]
    sheet("scenario", [{"key": k, "value": v} for k, v in _flatten(top).items()],
          ["key", "value"])
    rules, sites, statistics = [], [], []
    for section in LIST_SHEETS:
        rows = []
        for item in data.get(section, []):
            item = dict(item)
            if section == "parks":
                for s, site in enumerate(item.pop("sites")):
                    sites.append({"park": item["id"], "site": s, **_flatten(site)})
            if section in ("costs", "agreements") and "rule" in item:
                rules.extend({"owner": f"{section}:{item['id']}", "path": p, "value": v}
                             for p, v in _flatten(item.pop("rule")).items())
            if section == "agreements":
                for k, stat in enumerate(item.pop("statistics", [])):
                    statistics.append({"agreement": item["id"], "index": k, **_flatten(stat)})
            rows.append(_flatten(item))
        sheet(section, rows)
    sheet("sites", sites)
    sheet("rules", rules, ["owner", "path", "value"])
    sheet("statistics", statistics)
    sheet("contributions", [
        {"owner": o, "factor": f, "jurisdiction": j, "value": v}
        for o, factors in data["contributions"].items() for f, values in factors.items()
        for j, v in values.items()], ["owner", "factor", "jurisdiction", "value"])
    sheet("standalone", [
        {"park": p, "jurisdiction": j, "share": v}
        for p, shares in data["standalone"].items() for j, v in shares.items()],
        ["park", "jurisdiction", "share"])
    ret = data["retention"]
    levels = [("default", "", ret["default"])] + [
        (level, k, taxes) for level in ("provinces", "jurisdictions")
        for k, taxes in ret[level].items()]
    sheet("retention", [
        {"level": level, "key": key, "tax": t, "year": year, "share": share}
        for level, key, taxes in levels for t, v in taxes.items()
        for year, share in (sorted(v.items()) if isinstance(v, dict) else [(None, v)])],
        ["level", "key", "tax", "year", "share"])


def export_scenario_xlsx(sc: Scenario, target: Target) -> Target:
    """Write a scenario as a workbook of plain tables (see the module docstring) to a path
    or a binary file; returns ``target``."""
    with _Book(target) as book:
        _write_scenario_sheets(book, sc)
    return target


WORKBOOK_LIMITS = {"bytes": 20 * 2**20, "uncompressed": 100 * 2**20, "ratio": 100,
                   "members": 1000, "cells": 200_000}
"""Limits on a scenario workbook, checked with :mod:`zipfile` before openpyxl reads anything
(a 1 MB workbook can hold 1 GB of whitespace): the file size, the uncompressed size, the
compression ratio of each large part, the number of parts; then the cells read (empty cells
inside a row count). A longer firm list goes into a ``firms_csv`` file."""
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*\bref="([^"]+)"')

define({
    "bounds.workbook_not_zip": ("不是可读的 .xlsx 工作簿（{error}）",
                                "not a readable .xlsx workbook ({error})"),
    "bounds.workbook_uncompressed": (
        "工作簿解压后超过 {limit} MB（“压缩炸弹”？），不予读取",
        "the workbook unpacks to more than {limit} MB (a zip bomb?); it is not read"),
    "bounds.workbook_ratio": (
        "工作簿中的 {part} 压缩比为 {ratio:.0f}:1，超过 {limit}:1（“压缩炸弹”？），不予读取",
        "part {part} of the workbook is compressed {ratio:.0f}:1, more than {limit}:1 "
        "(a zip bomb?); it is not read"),
    "bounds.workbook_members": ("工作簿含 {n} 个部件，超过 {limit} 个，不予读取",
                                "the workbook has {n} parts, more than {limit}; it is not read"),
    "bounds.workbook_cells": (
        "工作簿超过 {limit} 个单元格（含行内空单元格），不予读取；较长的企业名单请放入 "
        "firms_csv 文件",
        "the workbook has more than {limit} cells (empty cells inside rows count); it is not "
        "read: put a long firm list in a firms_csv file"),
    "bounds.key_index": (
        "表 {sheet} 的列名 {key!r}：序号 [{index}] 超过本行最多 {limit} 项",
        "sheet {sheet}, column name {key!r}: index [{index}] is beyond the {limit} items the "
        "row can hold"),
    "bounds.key_list": ("表 {sheet} 的列名 {key!r}：[{index}] 用在不是列表的地方",
                        "sheet {sheet}, column name {key!r}: [{index}] where there is no list"),
    "bounds.key_mapping": ("表 {sheet} 的列名 {key!r}：{name!r} 用在列表中（应写 [序号]）",
                           "sheet {sheet}, column name {key!r}: {name!r} inside a list (write "
                           "an [index])"),
    "bounds.key_clash": ("表 {sheet} 的列名 {key!r} 与同一行的另一列冲突（一处是值，一处有下级键）",
                         "sheet {sheet}, column name {key!r} clashes with another column of the "
                         "row (a value in one, keys below it in the other)"),
    "bounds.key_empty": ("表 {sheet} 的列名 {key!r} 不是键路径", "sheet {sheet}: the column name "
                         "{key!r} is not a key path"),
    "bounds.bad_cell": (
        "表 {sheet} 第 {row} 行 {column} 列：{value} 不是{what_zh}",
        "sheet {sheet}, row {row}, column {column}: {value} is not {what_en}"),
    "bounds.workbook_shape": (
        "表 {sheet} 第 {row} 行与工作簿其他部分不一致，无法组装情景（{detail}）",
        "sheet {sheet}, row {row} does not fit the rest of the workbook, so the scenario "
        "cannot be assembled ({detail})"),
})


def _check_zip(path: Path, raw: bytes) -> None:
    """Refuse a workbook whose parts unpack too large or too well (zip bombs)."""
    where = str(path)
    try:
        with zipfile.ZipFile(io_module.BytesIO(raw)) as zf:
            parts = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise ScenarioError([Problem("bounds.workbook_not_zip", {"error": str(e)},
                                     where=where)]) from None
    limits = WORKBOOK_LIMITS
    if len(parts) > limits["members"]:
        raise ScenarioError([Problem("bounds.workbook_members", {
            "n": len(parts), "limit": limits["members"]}, where=where)])
    if sum(p.file_size for p in parts) > limits["uncompressed"]:
        raise ScenarioError([Problem("bounds.workbook_uncompressed", {
            "limit": limits["uncompressed"] // 2**20}, where=where)])
    for p in parts:
        ratio = p.file_size / max(p.compress_size, 1)
        if p.file_size > 2**20 and ratio > limits["ratio"]:
            raise ScenarioError([Problem("bounds.workbook_ratio", {
                "part": p.filename, "ratio": ratio, "limit": limits["ratio"]}, where=where)])


class _Sheets:
    """Read a scenario workbook, remembering where each key path came from.

    The file is checked before openpyxl sees it (:data:`WORKBOOK_LIMITS`), then read in
    read-only (streaming) mode, counting the cells it reads."""

    def __init__(self, path: Path):
        self.path = path
        raw = read_bytes(path, WORKBOOK_LIMITS["bytes"])
        _check_zip(path, raw)
        try:
            self.book = load_workbook(io_module.BytesIO(raw), read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises many types for a file that is not xlsx
            raise ScenarioError([Problem("io.not_xlsx", {"error": str(e)}, where=str(path))]) \
                from None
        self.cells = 0
        self.origin: dict[str, tuple[str, int, str]] = {}
        self.ids: dict[str, tuple[str, int, str]] = {}
        self.rows: dict[str, int] = {}
        problems = []
        with zipfile.ZipFile(io_module.BytesIO(raw)) as zf:
            for ws in self.book.worksheets:
                try:
                    xml = zf.read(ws._worksheet_path.lstrip("/"))
                except (KeyError, AttributeError):
                    continue
                merged = sorted(m.decode("ascii", "replace") for m in _MERGE.findall(xml))
                if merged:
                    problems.append(Problem("io.merged", {"cells": merged[0]}, where=str(path),
                                            sheet=ws.title))
        if problems:
            raise ScenarioError(problems)

    def _rows(self, title: str) -> list[tuple]:
        ws = self.book[title]
        ws.reset_dimensions()  # a declared size (A1:XFD1048576) must not pad every row
        rows = []
        for row in ws.iter_rows(values_only=True):
            self.cells += len(row)
            if self.cells > WORKBOOK_LIMITS["cells"]:
                raise ScenarioError([Problem("bounds.workbook_cells", {
                    "limit": f"{WORKBOOK_LIMITS['cells']:,}"}, where=str(self.path))])
            rows.append(row)
        return rows

    def records(self, title: str, required: bool = False) -> list[tuple[int, dict]]:
        if title not in self.book.sheetnames:
            if required:
                raise ScenarioError([Problem(
                    "io.missing_sheet", {"title": title, "sheets": ", ".join(
                        self.book.sheetnames)}, where=str(self.path),
                    close=tuple(did_you_mean(title, self.book.sheetnames)))])
            return []
        rows = self._rows(title)
        self.rows[title] = len(rows)
        if not rows:
            return []
        header = [str(h).strip() if h is not None else "" for h in rows[0]]
        for col, name in enumerate(header):
            if not name and any(r[col] is not None for r in rows[1:] if col < len(r)):
                raise ScenarioError([Problem("io.empty_header", where=str(self.path),
                                             sheet=title, column=get_column_letter(col + 1))])
        out = []
        for r, row in enumerate(rows[1:], start=2):
            rec = {h: _parse_cell(v) for h, v in zip(header, row, strict=False)
                   if h and v is not None and v != ""}
            if rec:
                out.append((r, rec))
        return out

    def remember(self, key_path: str, sheet: str, row: int, column: str) -> None:
        """``key_path``'s value came from this cell."""
        self.origin.setdefault(key_path, (sheet, row, column))

    def remember_id(self, key_path: str, sheet: str, row: int, column: str) -> None:
        """The last part of ``key_path`` (an id used as a key) came from this cell."""
        self.ids.setdefault(key_path, (sheet, row, column))

    def place(self, problem: Problem) -> Problem:
        """``problem`` placed where its key path came from: sheet, row and column. A problem
        with an id (an unknown jurisdiction, say) is placed at the cell holding that id."""
        key_path = problem.path
        ident = problem.params.get("id", problem.params.get("value"))
        found = None
        if isinstance(ident, str):
            found = next((cell for k, cell in self.ids.items()
                          if (k == key_path or k.startswith((key_path + ".", key_path + "[")))
                          and k.rsplit(".", 1)[-1] == ident), None)
        if found is None:
            found = self.origin.get(key_path) or next(
                (cell for k, cell in self.origin.items()
                 if k.startswith((key_path + ".", key_path + "["))), None)
        if found is None:
            above = sorted((k for k in self.origin if key_path.startswith(k)), key=len,
                           reverse=True)
            found = self.origin[above[0]] if above else None
        if found is None:
            return problem.at(where=str(self.path))
        sheet, row, column = found
        return problem.at(where=str(self.path), sheet=sheet, row=row, column=column)


CELL_KINDS = {"id": ("合法的 id", "a valid id"), "tax": ("合法的税种", "a valid tax"),
              "year": ("整数年份", "a whole year")}


def _scalar(value: Any, sheet: str, row: int, column: str, what: str,
            kinds: tuple[type, ...] = (str,)) -> Any:
    """A cell used as a key or an index: of one of ``kinds`` (never a list, never a bool);
    ``what`` names what belongs there (:data:`CELL_KINDS`)."""
    if isinstance(value, kinds) and not isinstance(value, bool):
        return value
    zh, en = CELL_KINDS.get(what, (what, what))
    raise ScenarioError([Problem("bounds.bad_cell", {
        "sheet": sheet, "row": row, "column": column, "value": repr(value)[:80],
        "what_zh": zh, "what_en": en})])


def _child(node: Any, key: Any, kind: type, sheet: str, row: int) -> Any:
    """``node[key]``, created empty (a ``kind``) when missing; refused when another sheet
    or column put something else there."""
    if not isinstance(node, dict):
        raise ScenarioError([Problem("bounds.workbook_shape", {
            "sheet": sheet, "row": row, "detail": f"{key!r}"})])
    child = node.setdefault(key, kind())
    if not isinstance(child, kind):
        raise ScenarioError([Problem("bounds.workbook_shape", {
            "sheet": sheet, "row": row, "detail": f"{key!r}: {type(child).__name__}"})])
    return child


def import_scenario_xlsx(path: str | Path) -> dict:
    """Read a scenario workbook into scenario data (validated; raises ScenarioError naming
    sheet, row and column). Nothing is returned unless the whole workbook is valid.

    The workbook is refused before it is read when it breaks :data:`WORKBOOK_LIMITS`."""
    path = Path(path)
    where = str(path)
    sheets = _Sheets(path)
    data: dict[str, Any] = {}
    flat_top = {}
    for row, rec in sheets.records("scenario", required=True):
        if "key" not in rec:
            raise ScenarioError([Problem("io.key_value", where=str(path), sheet="scenario",
                                         row=row)])
        flat_top[str(rec["key"])] = rec.get("value")
        sheets.remember(str(rec["key"]), "scenario", row, "value")
    data.update(_unflatten(flat_top, "scenario", where))
    if "firms_csv" in data:
        raise ScenarioError([Problem("safety.firms_csv_no_folder", {"name": data["firms_csv"]},
                                     where=where, path="firms_csv")])
    for section in LIST_SHEETS:
        items = []
        for i, (row, rec) in enumerate(sheets.records(section, required=section ==
                                                      "jurisdictions")):
            for key in rec:
                sheets.remember(f"{section}[{i}].{key}".replace(".[", "["), section, row, key)
            sheets.remember(f"{section}[{i}]", section, row, "A")
            items.append(_unflatten(rec, section, where))
        if items:
            data[section] = items
    index = {s: {item["id"]: i for i, item in enumerate(data.get(s, []))
                 if isinstance(item, dict) and isinstance(item.get("id"), str)}
             for s in ("parks", "costs", "agreements")}
    site_records = sheets.records("sites")
    site_rows = sheets.rows.get("sites", 0)
    for row, rec in site_records:
        park, site = rec.pop("park", None), rec.pop("site", None)
        p = index["parks"].get(park) if isinstance(park, str) else None
        if p is None or not isinstance(site, int) or isinstance(site, bool) or \
                not 0 <= site < site_rows:
            raise ScenarioError([Problem("io.site_row", {"park": park, "site": site},
                                         where=str(path), sheet="sites", row=row)])
        sites = _child(data["parks"][p], "sites", list, "sites", row)
        while len(sites) <= site:
            sites.append({})
        sites[site] = _unflatten(rec, "sites", where)
        for key in rec:
            sheets.remember(f"parks[{p}].sites[{site}].{key}", "sites", row, key)
    rules: dict[str, dict[str, Any]] = {}
    for row, rec in sheets.records("rules"):
        owner, key = rec.get("owner"), rec.get("path")
        section, _, ident = str(owner).partition(":")
        if section not in ("costs", "agreements") or ident not in index[section] or not key:
            owners = [f"{s}:{i}" for s in ("agreements", "costs") for i in index[s]]
            raise ScenarioError([Problem("io.rule_owner", {"owner": owner}, where=str(path),
                                         sheet="rules", row=row, column="owner",
                                         close=tuple(did_you_mean(str(owner), owners)))])
        rules.setdefault(owner, {})[str(key)] = rec.get("value")
        sheets.remember(f"{section}[{index[section][ident]}].rule.{key}", "rules", row, "value")
        sheets.remember(f"{section}[{index[section][ident]}].rule", "rules", row, "path")
        sheets.remember_id(f"{section}[{index[section][ident]}].rule.{key}", "rules", row,
                           "path")
    for owner, flat in rules.items():
        section, _, ident = owner.partition(":")
        data[section][index[section][ident]]["rule"] = _unflatten(flat, "rules", where)
    stat_records = sheets.records("statistics")
    stat_rows = sheets.rows.get("statistics", 0)
    for row, rec in stat_records:
        agreement = rec.pop("agreement", None)
        a = index["agreements"].get(agreement) if isinstance(agreement, str) else None
        k = rec.pop("index", 0)
        if a is None:
            raise ScenarioError([Problem("io.statistics_agreement", {"id": agreement},
                                         where=str(path), sheet="statistics", row=row,
                                         column="agreement", close=tuple(did_you_mean(
                                             str(agreement), [str(i) for i in
                                                              index["agreements"]])))])
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < max(stat_rows - 1, 1):
            raise ScenarioError([Problem("bounds.bad_cell", {
                "sheet": "statistics", "row": row, "column": "index", "value": repr(k)[:80],
                "what_zh": f" 0 到 {max(stat_rows - 2, 0)} 之间的整数序号",
                "what_en": f"a whole index from 0 to {max(stat_rows - 2, 0)}"})])
        stats = _child(data["agreements"][a], "statistics", list, "statistics", row)
        while len(stats) <= k:
            stats.append({})
        stats[k] = _unflatten(rec, "statistics", where)
        sheets.remember(f"agreements[{a}].statistics[{k}]", "statistics", row, "A")
    for sheet, key, cols in (("contributions", "contributions", ("owner", "factor",
                                                                 "jurisdiction")),
                             ("standalone", "standalone", ("park", "jurisdiction"))):
        for row, rec in sheets.records(sheet):
            node = _child(data, key, dict, sheet, row)
            for c in cols[:-1]:
                node = _child(node, _scalar(rec.get(c), sheet, row, c, "id"), dict, sheet, row)
            last = _scalar(rec.get(cols[-1]), sheet, row, cols[-1], "id")
            node[last] = rec.get("value", rec.get("share"))
            sheets.remember(f"{key}.{'.'.join(str(rec.get(c)) for c in cols)}", sheet, row,
                            "value" if key == "contributions" else "share")
            for n, c in enumerate(cols, start=1):  # the cells naming ids: owner, park, ...
                sheets.remember_id(f"{key}.{'.'.join(str(rec.get(c)) for c in cols[:n])}",
                                   sheet, row, c)
    for row, rec in sheets.records("retention"):
        retention = _child(data, "retention", dict, "retention", row)
        level, tax, year = rec.get("level"), rec.get("tax"), rec.get("year")
        if level == "default":
            taxes = _child(retention, "default", dict, "retention", row)
        elif level in ("provinces", "jurisdictions"):
            taxes = _child(_child(retention, level, dict, "retention", row),
                           _scalar(rec.get("key"), "retention", row, "key", "id"), dict,
                           "retention", row)
        else:
            levels = ["default", "provinces", "jurisdictions"]
            raise ScenarioError([Problem("io.retention_level", {"level": level},
                                         where=str(path), sheet="retention", row=row,
                                         column="level",
                                         close=tuple(did_you_mean(str(level), levels)))])
        tax = _scalar(tax, "retention", row, "tax", "tax")
        if year is None:
            taxes[tax] = rec.get("share")
        else:
            year = _scalar(year, "retention", row, "year", "year", (int,))
            _child(taxes, tax, dict, "retention", row)[year] = rec.get("share")
        sheets.remember(f"retention.{level}", "retention", row, "share")
        if level != "default":
            sheets.remember_id(f"retention.{level}.{rec.get('key')}", "retention", row, "key")
    try:
        Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError([sheets.place(p) for p in validation_items(err, data)]) from None
    parse_scenario(data, where)
    return data


def scenario_yaml(data: dict) -> str:
    """Scenario data as YAML text (UTF-8, Chinese kept readable)."""
    # libyaml's safe dumper when PyYAML has it: ten times faster for a long firm list.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, allow_unicode=True, sort_keys=False, width=100)


def dump_scenario(sc: Scenario) -> str:
    """A scenario as YAML text that loads back to an equal scenario (firms read from a
    ``firms_csv`` are written out in ``firms``)."""
    return scenario_yaml(_plain(_scenario_dict(sc)))


def _plain(value: Any) -> Any:
    """Plain dicts and lists for yaml.safe_dump (the models' frozen mappings are not)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def firms_template() -> str:
    """A CSV template for ``firms_csv`` with its columns and two example rows."""
    example = {"id": "f1", "name": "示例企业", "name_en": "Example firm", "origin": "yubei",
               "destination": "guangan", "move_year": 2025, "production_year": 2026,
               "growth": 0.05, "pre_move_vat": 800, "pre_move_eit": 300, "illustrative": "true"}
    df = pd.DataFrame([example, {**example, "id": "f2", "name": "示例企业二",
                                 "name_en": "Second example", "move_year": 2026,
                                 "production_year": ""}],
                      columns=FIRM_COLUMNS)
    return df.to_csv(index=False)


__all__ = [
    "compare_table", "csv_bytes", "dump_scenario", "export_scenario_xlsx", "export_summary",
    "export_tables",
    "firms_template", "import_scenario_xlsx", "neutralise", "result_csv_bytes",
    "round_reconciled", "safe_frame", "scenario_yaml", "text_width", "translate", "write_csv",
    "write_result_csv", "write_result_xlsx", "write_tables_xlsx",
]
