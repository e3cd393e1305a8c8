"""Files in and out: result tables as CSV or Excel, and scenarios through plain workbooks.

Exports are what a finance officer pastes into a report, so they are safe and they add up:

- text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR)
  are neutralised — in CSV by a leading apostrophe (OWASP's advice), in xlsx by storing them
  as text;
- amounts are rounded to 0.01 万元 with the largest-remainder (Hamilton) method, so the rounded
  rows of every table still sum exactly to its exported total;
- CSV is UTF-8 with a BOM, so Excel on a Chinese Windows opens it correctly; headers are
  English, or Chinese with ``lang="zh"``.

A scenario round-trips YAML → workbook → YAML: each list section is a sheet with one row per
item and dotted column names (``covers.park``, ``taxes.vat.base``); rules are flattened to
rows (owner, path, value); lists of ids are written as ``[a, b]``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from pydantic import ValidationError

from sharing.result import LABELS
from sharing.scenario import (
    FIRM_COLUMNS,
    Scenario,
    ScenarioError,
    parse_scenario,
    validation_items,
)

if TYPE_CHECKING:
    from sharing.result import Result

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DECIMALS = 2
EXCEL_MAX_ROWS = 1_048_576
TOTAL = "total 合计"

def neutralise(value: object) -> object:
    """Prefix a formula-looking text cell with an apostrophe so it stays text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _text_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns
            if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell neutralised (numbers untouched)."""
    out = df.copy()
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
    totals = df.groupby(by, sort=False)[numeric].sum().reset_index() if by else \
        df[numeric].sum().to_frame().T
    totals[label_col] = TOTAL
    out = df.copy()
    for col in numeric:
        out[col] = round_reconciled(out[col].to_numpy(), keys)
        per_group = pd.Series(out[col].to_numpy()).groupby(keys, sort=False).sum()
        totals[col] = np.round(per_group.to_numpy(), DECIMALS)
    merged = pd.concat([out, totals.reindex(columns=out.columns)], ignore_index=True)
    if by:
        merged = merged.sort_values(by, kind="stable", ignore_index=True)
    return merged


def export_summary(result: Result) -> pd.DataFrame:
    """The summary with a total row, rounded to 0.01 万元 so that the rows add up to the
    total: what summary.csv holds and what ``sharing run`` prints."""
    money = [c for c in result.summary.columns if c not in ("jurisdiction", "name", "name_en")]
    return _with_total(result.summary, "jurisdiction", money)


def export_tables(result: Result, lang: str = "en") -> dict[str, pd.DataFrame]:
    """The tables a user exports, rounded to 0.01 万元 and reconciled, with headers in
    English or Chinese (``lang="zh"``)."""
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
    if lang == "zh":
        chinese = {k: zh for k, (zh, _) in LABELS.items()}
        tables = {k: v.rename(columns=chinese) for k, v in tables.items()}
    elif lang != "en":
        raise ValueError(f"unknown language {lang!r}; use en or zh")
    return tables


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


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as UTF-8 CSV with BOM (Excel on a Chinese Windows reads it)."""
    path = Path(path)
    safe_frame(df).to_csv(path, index=False, encoding="utf-8-sig", float_format="%.2f")
    return path


def write_result_csv(result: Result, directory: str | Path, lang: str = "en") -> list[Path]:
    """summary.csv, flows.csv, by_year.csv and statistics.csv in ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    return [write_csv(df, out / f"{name}.csv") for name, df in export_tables(result, lang).items()]


def write_result_xlsx(result: Result, path: str | Path, lang: str = "en") -> Path:
    """One workbook: summary, flows, by_year, statistics, the scenario's inputs, sources."""
    tables = export_tables(result, lang)
    too_long = [k for k, df in tables.items() if len(df) >= EXCEL_MAX_ROWS]
    if too_long:
        raise ValueError(f"table {too_long[0]} has {len(tables[too_long[0]]):,} rows, more "
                         f"than Excel's {EXCEL_MAX_ROWS:,}; export CSV instead (--format csv)")
    book = Workbook()
    book.remove(book.active)
    for name, df in tables.items():
        _write_sheet(book, name, list(df.columns), df.itertuples(index=False))
    _write_scenario_sheets(book, result.scenario, prefix="input_")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def _write_sheet(book: Workbook, title: str, header: list[str], rows: Iterable) -> None:
    ws = book.create_sheet(title[:31])
    ws.append(header)
    for row in rows:
        ws.append([_cell(v) for v in row])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula (see FORMULA_PREFIXES)


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not np.isfinite(value):
            return None
        if float(f"{value:.16g}") != value:
            # openpyxl writes 16 significant digits; keep e.g. 1/6 exact as text
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


def _unflatten(flat: dict[str, Any]) -> dict:
    root: dict = {}
    for path, value in flat.items():
        tokens = [int(i) if i else k for k, i in _TOKEN.findall(path)]
        node: Any = root
        for tok, nxt in zip(tokens, [*tokens[1:], None], strict=True):
            empty: Any = [] if isinstance(nxt, int) else {}
            if isinstance(tok, int):
                while len(node) <= tok:
                    node.append(None)
                if nxt is None:
                    node[tok] = value
                elif node[tok] is None:
                    node[tok] = empty
                node = node[tok] if nxt is not None else node
            else:
                if nxt is None:
                    node[tok] = value
                else:
                    node = node.setdefault(tok, empty)
    return root


def _parse_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
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


def _write_scenario_sheets(book: Workbook, sc: Scenario, prefix: str = "") -> None:
    data = _scenario_dict(sc)
    top = {k: v for k, v in data.items() if k not in LIST_SHEETS
           and k not in ("retention", "contributions", "standalone")}
    if data["retention"].get("reference"):
        top["retention.reference"] = data["retention"]["reference"]
    _write_sheet(book, f"{prefix}scenario", ["key", "value"], _flatten(top).items())
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
        _write_records(book, f"{prefix}{section}", rows)
    _write_records(book, f"{prefix}sites", sites)
    _write_records(book, f"{prefix}rules", rules, ["owner", "path", "value"])
    _write_records(book, f"{prefix}statistics", statistics)
    _write_records(book, f"{prefix}contributions", [
        {"owner": o, "factor": f, "jurisdiction": j, "value": v}
        for o, factors in data["contributions"].items() for f, values in factors.items()
        for j, v in values.items()], ["owner", "factor", "jurisdiction", "value"])
    _write_records(book, f"{prefix}standalone", [
        {"park": p, "jurisdiction": j, "share": v}
        for p, shares in data["standalone"].items() for j, v in shares.items()],
        ["park", "jurisdiction", "share"])
    ret = data["retention"]
    levels = [("default", "", ret["default"])] + [
        (level, k, taxes) for level in ("provinces", "jurisdictions")
        for k, taxes in ret[level].items()]
    _write_records(book, f"{prefix}retention", [
        {"level": level, "key": key, "tax": t, "year": year, "share": share}
        for level, key, taxes in levels for t, v in taxes.items()
        for year, share in (v.items() if isinstance(v, dict) else [(None, v)])],
        ["level", "key", "tax", "year", "share"])


def _write_records(book: Workbook, title: str, rows: list[dict],
                   header: list[str] | None = None) -> None:
    columns = header or list(dict.fromkeys(k for r in rows for k in r))
    _write_sheet(book, title, columns, ([r.get(c) for c in columns] for r in rows))


def export_scenario_xlsx(sc: Scenario, path: str | Path) -> Path:
    """Write a scenario as a workbook of plain tables (see the module docstring)."""
    book = Workbook()
    book.remove(book.active)
    _write_scenario_sheets(book, sc)
    path = Path(path)
    book.save(path)
    return path


class _Sheets:
    """Read a scenario workbook, remembering where each key path came from."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.book = load_workbook(path, read_only=False, data_only=True)
        except Exception as e:  # openpyxl raises many types for a file that is not xlsx
            raise ScenarioError([f"{path}: not a readable .xlsx workbook ({e})"]) from None
        self.origin: dict[str, tuple[str, int, str]] = {}
        problems = []
        for ws in self.book.worksheets:
            merged = sorted(r.coord for r in ws.merged_cells.ranges)
            if merged:
                problems.append(f"{path}: sheet {ws.title}: merged cells {merged[0]}; unmerge "
                                "them (each value in its own cell)")
        if problems:
            raise ScenarioError(problems)

    def records(self, title: str, required: bool = False) -> list[tuple[int, dict]]:
        if title not in self.book.sheetnames:
            if required:
                raise ScenarioError([f"{self.path}: missing sheet {title!r} (sheets: "
                                     f"{', '.join(self.book.sheetnames)})"])
            return []
        rows = list(self.book[title].iter_rows(values_only=True))
        if not rows:
            return []
        header = [str(h).strip() if h is not None else "" for h in rows[0]]
        for col, name in enumerate(header):
            if not name and any(r[col] is not None for r in rows[1:] if col < len(r)):
                raise ScenarioError([f"{self.path}: sheet {title}, column "
                                     f"{get_column_letter(col + 1)}: values under an empty "
                                     "header"])
        out = []
        for r, row in enumerate(rows[1:], start=2):
            rec = {h: _parse_cell(v) for h, v in zip(header, row, strict=False)
                   if h and v is not None and v != ""}
            if rec:
                out.append((r, rec))
        return out

    def remember(self, key_path: str, sheet: str, row: int, column: str) -> None:
        self.origin.setdefault(key_path, (sheet, row, column))

    def place(self, key_path: str) -> str:
        """Where a key path came from: ``sheet X, row N, column C``."""
        candidates = [k for k in self.origin if k == key_path or k.startswith(key_path + ".")
                      or k.startswith(key_path + "[")]
        if not candidates:
            candidates = [k for k in self.origin if key_path.startswith(k)]
            candidates.sort(key=len, reverse=True)
        if not candidates:
            return f"{self.path}"
        sheet, row, column = self.origin[candidates[0]]
        return f"{self.path}: sheet {sheet}, row {row}, column {column}"


def import_scenario_xlsx(path: str | Path) -> dict:
    """Read a scenario workbook into scenario data (validated; raises ScenarioError naming
    sheet, row and column). Nothing is returned unless the whole workbook is valid."""
    sheets = _Sheets(Path(path))
    data: dict[str, Any] = {}
    flat_top = {}
    for row, rec in sheets.records("scenario", required=True):
        if "key" not in rec:
            raise ScenarioError([f"{path}: sheet scenario, row {row}: needs columns key, value"])
        flat_top[str(rec["key"])] = rec.get("value")
        sheets.remember(str(rec["key"]), "scenario", row, "value")
    data.update(_unflatten(flat_top))
    for section in LIST_SHEETS:
        items = []
        for i, (row, rec) in enumerate(sheets.records(section, required=section ==
                                                      "jurisdictions")):
            for key in rec:
                sheets.remember(f"{section}[{i}].{key}".replace(".[", "["), section, row, key)
            sheets.remember(f"{section}[{i}]", section, row, "A")
            items.append(_unflatten(rec))
        if items:
            data[section] = items
    index = {s: {item.get("id"): i for i, item in enumerate(data.get(s, []))}
             for s in ("parks", "costs", "agreements")}
    for row, rec in sheets.records("sites"):
        park, site = rec.pop("park", None), rec.pop("site", None)
        p = index["parks"].get(park)
        if p is None or not isinstance(site, int):
            raise ScenarioError([f"{path}: sheet sites, row {row}: park {park!r} / site "
                                 f"{site!r} does not match a row of sheet parks"])
        sites = data["parks"][p].setdefault("sites", [])
        while len(sites) <= site:
            sites.append({})
        sites[site] = _unflatten(rec)
        for key in rec:
            sheets.remember(f"parks[{p}].sites[{site}].{key}", "sites", row, key)
    rules: dict[str, dict[str, Any]] = {}
    for row, rec in sheets.records("rules"):
        owner, key = rec.get("owner"), rec.get("path")
        section, _, ident = str(owner).partition(":")
        if section not in ("costs", "agreements") or ident not in index[section] or not key:
            raise ScenarioError([f"{path}: sheet rules, row {row}: owner {owner!r} is not "
                                 "agreements:<id> or costs:<id> of this workbook"])
        rules.setdefault(owner, {})[str(key)] = rec.get("value")
        sheets.remember(f"{section}[{index[section][ident]}].rule.{key}", "rules", row, "value")
        sheets.remember(f"{section}[{index[section][ident]}].rule", "rules", row, "path")
    for owner, flat in rules.items():
        section, _, ident = owner.partition(":")
        data[section][index[section][ident]]["rule"] = _unflatten(flat)
    for row, rec in sheets.records("statistics"):
        a = index["agreements"].get(rec.pop("agreement", None))
        k = rec.pop("index", 0)
        if a is None:
            raise ScenarioError([f"{path}: sheet statistics, row {row}: unknown agreement"])
        stats = data["agreements"][a].setdefault("statistics", [])
        while len(stats) <= k:
            stats.append({})
        stats[k] = _unflatten(rec)
        sheets.remember(f"agreements[{a}].statistics[{k}]", "statistics", row, "A")
    for sheet, key, cols in (("contributions", "contributions", ("owner", "factor",
                                                                 "jurisdiction")),
                             ("standalone", "standalone", ("park", "jurisdiction"))):
        for row, rec in sheets.records(sheet):
            node = data.setdefault(key, {})
            for c in cols[:-1]:
                node = node.setdefault(rec.get(c), {})
            node[rec.get(cols[-1])] = rec.get("value", rec.get("share"))
            sheets.remember(f"{key}.{'.'.join(str(rec.get(c)) for c in cols)}", sheet, row,
                            "value" if key == "contributions" else "share")
    retention = data.setdefault("retention", {})
    for row, rec in sheets.records("retention"):
        level, tax, year = rec.get("level"), rec.get("tax"), rec.get("year")
        if level == "default":
            taxes = retention.setdefault("default", {})
        elif level in ("provinces", "jurisdictions"):
            taxes = retention.setdefault(level, {}).setdefault(rec.get("key"), {})
        else:
            raise ScenarioError([f"{path}: sheet retention, row {row}, column level: "
                                 f"{level!r} is not default, provinces or jurisdictions"])
        if year is None:
            taxes[tax] = rec.get("share")
        else:
            taxes.setdefault(tax, {})[year] = rec.get("share")
        sheets.remember(f"retention.{level}", "retention", row, "share")
    try:
        Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError([f"{sheets.place(p)}: {p}: {m}"
                             for p, m in validation_items(err, data)]) from None
    parse_scenario(data, str(path))
    return data


def scenario_yaml(data: dict) -> str:
    """Scenario data as YAML text (UTF-8, Chinese kept readable)."""
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


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
    "compare_table", "export_scenario_xlsx", "export_summary", "export_tables",
    "firms_template", "import_scenario_xlsx",
    "neutralise", "round_reconciled", "safe_frame", "scenario_yaml", "write_csv",
    "write_result_csv", "write_result_xlsx",
]
