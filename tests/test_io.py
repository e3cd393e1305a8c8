"""Data in and out: reconciled rounding, safe exports, workbook round trips, firm CSVs."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from bilingual import says
from hypothesis import given, settings
from hypothesis import strategies as st

import sharing
from sharing import io
from sharing.cli import main
from sharing.synth import synthetic_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))
GAOZHU = ROOT / "scenarios" / "gaozhu.yaml"


# --- rounding -----------------------------------------------------------------------------


def test_round_reconciled_hand_worked():
    # 3 × 33.3333… = 100: plain rounding gives 33.33 × 3 = 99.99; the largest remainder
    # method gives the missing cent to the largest remainder (ties: first).
    out = io.round_reconciled(np.array([100 / 3] * 3))
    assert out.tolist() == [33.34, 33.33, 33.33]
    assert round(out.sum(), 2) == 100.00


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e7, 1e7, allow_nan=False), min_size=1, max_size=40),
       st.integers(1, 4))
def test_round_reconciled_groups_add_up(values, n_groups):
    values = np.array(values)
    groups = np.arange(len(values)) % n_groups
    out = io.round_reconciled(values, groups)
    cents = np.round(out * 100).astype(np.int64)
    assert np.allclose(out * 100, cents, atol=1e-6)
    for g in range(n_groups):
        mask = groups == g
        assert cents[mask].sum() == round(values[mask].sum() * 100)
        assert np.all(np.abs(out[mask] - values[mask]) < 0.01 + 1e-9)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_exported_tables_reconcile(path, tmp_path):
    res = sharing.simulate(sharing.load_scenario(path))
    written = io.write_result_csv(res, tmp_path)
    assert {p.name for p in written} >= {"summary.csv", "flows.csv", "by_year.csv"}
    with open(tmp_path / "summary.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    total = rows[-1]
    assert total["jurisdiction"] == io.TOTAL
    for col in ("collected", "retained", "allocated", "cost_share", "pv_net_benefit"):
        cents = sum(round(float(r[col]) * 100) for r in rows[:-1])
        assert cents == round(float(total[col]) * 100), col
    with open(tmp_path / "by_year.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    for year in {r["year"] for r in rows}:
        group = [r for r in rows if r["year"] == year]
        total = next(r for r in group if r["jurisdiction"] == io.TOTAL)
        parts = [r for r in group if r is not total]
        for col in ("allocated", "net_benefit"):
            assert sum(round(float(r[col]) * 100) for r in parts) == round(float(total[col]) * 100)


def test_csv_has_bom_and_chinese_headers(tmp_path):
    res = sharing.simulate(sharing.load_scenario(GAOZHU))
    io.write_result_csv(res, tmp_path, lang="zh")
    raw = (tmp_path / "summary.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[:4] == ["辖区", "名称", "英文名", "征收额"]
    assert "广安市(邻水县)" in raw.decode("utf-8-sig")


# --- formula injection ----------------------------------------------------------------------


EVIL = "=HYPERLINK(\"http://x\",\"y\")"


def _evil_scenario():
    sc = sharing.load_scenario(GAOZHU)
    jur = [sc.jurisdictions[0].model_copy(update={"name": EVIL}), sc.jurisdictions[1]]
    return sc.model_copy(update={"jurisdictions": jur})


def test_csv_neutralises_formulas(tmp_path):
    io.write_result_csv(sharing.simulate(_evil_scenario()), tmp_path)
    text = (tmp_path / "summary.csv").read_text(encoding="utf-8-sig")
    assert "'" + EVIL.replace('"', '""') in text
    for line in text.splitlines():
        for cell in next(csv.reader([line])):
            assert not cell.startswith(("=", "+", "@")) or cell.startswith("'")
    assert io.neutralise("-1+2") == "'-1+2"
    assert io.neutralise(-3.5) == -3.5
    assert io.neutralise("\tcmd") == "'\tcmd"


def test_xlsx_stores_formula_text_as_text(tmp_path):
    path = io.write_result_xlsx(sharing.simulate(_evil_scenario()), tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(path)
    cells = [c for row in book["summary"].iter_rows() for c in row if c.value == EVIL]
    assert cells and all(c.data_type == "s" for c in cells)
    assert {"summary", "flows", "by_year", "statistics", "input_sources"} <= set(book.sheetnames)


# --- scenario workbook round trip ------------------------------------------------------------


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_yaml_xlsx_yaml_round_trip(path, tmp_path):
    sc = sharing.load_scenario(path)
    book = io.export_scenario_xlsx(sc, tmp_path / "book.xlsx")
    back = tmp_path / "back.yaml"
    assert main(["import-xlsx", str(book), "-o", str(back)]) == 0
    assert sharing.load_scenario(back) == sc


def _book(tmp_path) -> Path:
    return io.export_scenario_xlsx(sharing.load_scenario(GAOZHU), tmp_path / "book.xlsx")


def _import_problems(path: Path) -> str:
    with pytest.raises(sharing.ScenarioError) as err:
        io.import_scenario_xlsx(path)
    return "\n".join(err.value.problems)


def test_workbook_missing_sheet(tmp_path):
    path = _book(tmp_path)
    book = openpyxl.load_workbook(path)
    del book["jurisdictions"]
    book.save(path)
    text = _import_problems(path)
    assert "缺少工作表 'jurisdictions'（现有：" in text and "missing sheet 'jurisdictions'" in text


def test_workbook_text_in_number_column(tmp_path):
    path = _book(tmp_path)
    book = openpyxl.load_workbook(path)
    ws = book["sites"]
    header = [c.value for c in ws[1]]
    col = header.index("taxes.vat.growth") + 1
    ws.cell(row=3, column=col, value="twelve percent")
    book.save(path)
    message = _import_problems(path)
    assert "sheet sites, row 3, column taxes.vat.growth" in message
    assert "parks[0].sites[1].taxes.vat.growth" in message
    assert "'twelve percent' 不是数 / 'twelve percent' is not a number" in message


def test_workbook_wrong_column(tmp_path):
    path = _book(tmp_path)
    book = openpyxl.load_workbook(path)
    ws = book["jurisdictions"]
    ws.cell(row=1, column=ws.max_column + 1, value="populaton")
    ws.cell(row=2, column=ws.max_column, value=5)
    book.save(path)
    message = _import_problems(path)
    assert "sheet jurisdictions, row 2, column populaton" in message
    assert "未知的键 'populaton'" in message and "unknown key 'populaton'" in message


def test_workbook_merged_cells(tmp_path):
    path = _book(tmp_path)
    book = openpyxl.load_workbook(path)
    book["jurisdictions"].merge_cells("A2:B2")
    book.save(path)
    assert "sheet jurisdictions: 合并单元格 A2:B2；请取消合并（每个值单独一格） / merged cells " \
           "A2:B2; unmerge them (each value in its own cell)" in _import_problems(path)


def test_workbook_not_xlsx(tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_text("hello")
    text = _import_problems(path)
    assert "不是可读的 .xlsx 工作簿" in text and "not a readable .xlsx workbook" in text


# --- firm lists from CSV -------------------------------------------------------------------


SCENARIO_WITH_CSV = """\
scenario: 1
name: 迁移企业
name_en: migrated firms
years: {start: 2021, end: 2030}
jurisdictions:
  - {id: yubei, name: 渝北区, name_en: Yubei, province: chongqing}
  - {id: guangan, name: 广安市, name_en: Guang'an, province: sichuan}
firms_csv: firms.csv
agreements:
  - {id: relocation, covers: {kind: firm}, rule: {type: capped, preset: jjj_2015}}
"""


def _csv_scenario(tmp_path, csv_text: str, encoding: str = "utf-8") -> Path:
    (tmp_path / "firms.csv").write_bytes(csv_text.encode(encoding))
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO_WITH_CSV, encoding="utf-8")
    return path


def test_template_loads(tmp_path):
    path = _csv_scenario(tmp_path, io.firms_template())
    res = sharing.simulate(sharing.load_scenario(path))
    assert res.summary["allocated"].sum() == pytest.approx(res.summary["retained"].sum())
    assert len(sharing.load_scenario(path).firms) == 2


def test_template_production_year(tmp_path):
    # f1 moves in 2025 and reaches production (达产) in 2026; f2's column is blank: its move
    # year. Under jjj_2015 f1 shares from 2026, f2 from its move in 2026.
    template = io.firms_template()
    assert "production_year" in template.splitlines()[0]
    firms = sharing.load_scenario(_csv_scenario(tmp_path, template)).firms
    assert [(f.id, f.move_year, f.production_year, f.producing_from) for f in firms] == [
        ("f1", 2025, 2026, 2026), ("f2", 2026, None, 2026)]


def test_gbk_csv_is_read(tmp_path):
    path = _csv_scenario(tmp_path, io.firms_template(), encoding="gbk")
    firms = sharing.load_scenario(path).firms
    assert firms[0].name == "示例企业"


@pytest.mark.parametrize(
    ("edit", "zh", "en"),
    [
        (lambda t: t.replace("f2,", "f1,"),
         "第 3 行，id 列: 重复的企业 id 'f1'（另见第 2 行）",
         "row 3, column id: duplicate firm id 'f1' (also row 2)"),
        (lambda t: t.replace("f2,示例企业二,Second example,yubei", "f2,示例企业二,Second example,"
                             "wanzhou"),
         "第 3 行，origin 列: 未知辖区 'wanzhou'（已有：guangan, yubei）",
         "row 3, column origin: unknown jurisdiction 'wanzhou' (known: guangan, yubei)"),
        (lambda t: t.replace("f2,示例企业二,Second example,yubei", "f2,示例企业二,Second example,"
                             "yubie"),
         "origin 列: 未知辖区 'yubie'（已有：guangan, yubei）；您是否指 'yubei'？",
         "column origin: unknown jurisdiction 'yubie' (known: guangan, yubei); did you mean "
         "'yubei'?"),
        (lambda t: t.replace(",2026,", ",next year,"), "第 3 行，move_year 列: 'next year' 不是数",
         "row 3, column move_year: 'next year' is not a number"),
        (lambda t: t.replace("pre_move_vat", "pre_mov_vat"),
         "第 1 行，pre_mov_vat 列: 未知列 'pre_mov_vat'（应有：id, name",
         "row 1, column pre_mov_vat: unknown column 'pre_mov_vat' (expected: id, name"),
        (lambda t: t.replace("pre_move_vat", "pre_mov_vat"), "；您是否指 'pre_move_vat'",
         "; did you mean 'pre_move_vat'"),
        (lambda t: t.replace("origin", "from"), "缺少列 origin（应有：id",
         "missing column(s) origin (expected: id"),
        (lambda t: t.replace(",2025,2026,", ",2025,soon,"), "第 2 行，production_year 列: "
                                                            "'soon' 不是数",
         "row 2, column production_year: 'soon' is not a number"),
        (lambda t: t.replace(",2025,2026,", ",2025,2024,"),
         "第 2 行: production_year: 达产年份 2024 早于迁移年份 2025",
         "row 2: production_year: production_year 2024 is before move_year 2025"),
    ],
    ids=["duplicate id", "unknown origin", "misspelt origin", "text in a number column",
         "wrong column", "wrong column, did you mean", "missing column", "text production year",
         "production before move"],
)
def test_bad_firm_csv(tmp_path, edit, zh, en):
    path = _csv_scenario(tmp_path, edit(io.firms_template()))
    with pytest.raises(sharing.ScenarioError) as err:
        sharing.load_scenario(path)
    says(err.value, zh, en, "firms.csv")


def test_100k_firm_csv_loads_in_seconds(tmp_path):
    sc = synthetic_scenario(100_000, 0, 10)
    rows = ["id,origin,destination,move_year,growth,pre_move_vat,pre_move_eit"]
    rows += [f"{f.id},{f.origin},{f.destination},{f.move_year},{f.growth},"
             f"{f.pre_move['vat']},{f.pre_move['eit']}" for f in sc.firms]
    (tmp_path / "firms.csv").write_text("\n".join(rows), encoding="utf-8")
    jur = "\n".join(f"  - {{id: {j.id}, name: {j.name}, name_en: {j.name_en}, "
                    f"province: {j.province}}}" for j in sc.jurisdictions)
    path = tmp_path / "big.yaml"
    path.write_text(f"scenario: 1\nname: 大\nname_en: big\nyears: {{start: 2021, end: 2035}}\n"
                    f"jurisdictions:\n{jur}\nfirms_csv: firms.csv\n", encoding="utf-8")
    start = time.perf_counter()
    loaded = sharing.load_scenario(path)
    elapsed = time.perf_counter() - start
    assert len(loaded.firms) == 100_000
    print(f"100,000-row firm CSV loaded in {elapsed:.2f} s")


def test_cli_run_xlsx_and_zh(tmp_path, capsys):
    assert main(["run", str(GAOZHU), "--format", "xlsx", "-o", str(tmp_path / "r.xlsx"),
                 "--lang", "zh"]) == 0
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert [c.value for c in book["汇总"][2]][:2] == ["辖区", "名称"]
    assert main(["template", "firms"]) == 0
    assert capsys.readouterr().out.count("\n") >= 3


# --- exports an Excel user is happy with ----------------------------------------------------


def test_zh_workbook_is_chinese_formatted_and_frozen(tmp_path):
    res = sharing.simulate(sharing.load_scenario(GAOZHU))
    book = openpyxl.load_workbook(io.write_result_xlsx(res, tmp_path / "r.xlsx", "zh"))
    assert book.sheetnames[:4] == ["汇总", "资金流", "分年", "统计分算"]
    assert "输入_辖区" in book.sheetnames
    ws = book["资金流"]
    assert ws["A1"].value == "川渝高竹新区 — 存量各自、增量五五：资金流，单位：万元"
    header = [c.value for c in ws[2]]
    assert header == ["年份", "辖区", "税源", "来源", "税种", "类型", "金额"]
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert {r[4] for r in rows} >= {"增值税", "企业所得税", "城市维护建设税"}
    assert {r[5] for r in rows} >= {"征收额", "留成", "分享后收入", "成本分担"}
    assert ws.freeze_panes == "A3"
    assert ws.auto_filter.ref.startswith("A2:G")
    amount = ws.cell(row=3, column=7)
    assert amount.number_format == "#,##0.00" and amount.value == 9900
    assert ws.cell(row=3, column=1).number_format == "0"  # years without a separator
    summary = book["汇总"]
    width = summary.column_dimensions["B"].width  # 名称: 广安市(邻水县) is 14 columns wide
    assert int(width) == io.text_width("广安市(邻水县)") + 2 == 16  # xlsxwriter adds padding


def test_en_workbook_states_the_unit(tmp_path):
    res = sharing.simulate(sharing.load_scenario(GAOZHU))
    book = openpyxl.load_workbook(io.write_result_xlsx(res, tmp_path / "r.xlsx"))
    ws = book["summary"]
    assert "万元 (10,000 CNY)" in ws["A1"].value
    assert [c.value for c in ws[2]][:4] == ["jurisdiction", "name", "name_en", "collected"]
    assert {r[4] for r in book["flows"].iter_rows(min_row=3, values_only=True)} >= {"vat"}


def test_workbook_amounts_match_csv_to_the_cent(tmp_path):
    res = sharing.simulate(sharing.load_scenario(GAOZHU))
    book = openpyxl.load_workbook(io.write_result_xlsx(res, tmp_path / "r.xlsx"))
    csv_rows = list(csv.reader(io.result_csv_bytes(res)["by_year.csv"].decode("utf-8-sig")
                               .splitlines()))
    xlsx_rows = list(book["by_year"].iter_rows(min_row=2, values_only=True))
    assert len(csv_rows) == len(xlsx_rows)
    for a, b in zip(csv_rows[1:], xlsx_rows[1:], strict=True):
        assert [float(x) for x in a[2:]] == [float(x) for x in b[2:]]


def test_workbook_to_a_buffer_and_csv_bytes(tmp_path):
    from io import BytesIO

    res = sharing.simulate(sharing.load_scenario(GAOZHU))
    buffer = io.write_result_xlsx(res, BytesIO(), "zh")
    buffer.seek(0)
    assert openpyxl.load_workbook(buffer)["汇总"]["A3"].value == "guangan"
    files = io.result_csv_bytes(res, "zh")
    assert list(files) == ["summary.csv", "flows.csv", "by_year.csv", "statistics.csv"]
    written = io.write_result_csv(res, tmp_path, "zh")
    assert [p.read_bytes() for p in written] == list(files.values())
    flows = files["flows.csv"].decode("utf-8-sig")
    assert flows.startswith("年份,辖区,税源,来源,税种,类型,金额")
    assert ",增值税,分享后收入," in flows and ",vat," not in flows


def test_workbook_keeps_inexact_floats_exact(tmp_path):
    path = tmp_path / "sixth.yaml"
    path.write_text(GAOZHU.read_text(encoding="utf-8").replace(
        "shares: {guangan: 0.5, yubei: 0.5}",
        "shares: {guangan: 0.16666666666666666, yubei: 0.8333333333333334}"), encoding="utf-8")
    sc = sharing.load_scenario(path)
    book = io.export_scenario_xlsx(sc, tmp_path / "book.xlsx")
    values = [r[2] for r in openpyxl.load_workbook(book)["rules"].iter_rows(values_only=True)]
    assert "0.16666666666666666" in values  # 16 digits would lose it: kept as exact text
    assert 0.8333333333333334 in values
    back = tmp_path / "back.yaml"
    assert main(["import-xlsx", str(book), "-o", str(back)]) == 0
    assert sharing.load_scenario(back) == sc


def test_too_many_rows_for_excel_is_refused_in_both_languages(tmp_path, monkeypatch):
    res = sharing.simulate(sharing.load_scenario(GAOZHU))
    monkeypatch.setattr(io, "EXCEL_MAX_ROWS", 100)
    with pytest.raises(sharing.ScenarioError) as err:
        io.write_result_xlsx(res, tmp_path / "r.xlsx")
    assert not (tmp_path / "r.xlsx").exists()
    (text,) = err.value.problems
    assert "超过 Excel 工作表的上限 98 行；请改为导出 CSV" in text
    assert "more than an Excel sheet holds (98); export CSV instead" in text
    assert err.value.text("zh")[0].startswith("表 资金流 有 ")


def test_scenario_workbook_years_in_order_and_empty_sheets_keep_headers(tmp_path):
    text = GAOZHU.read_text(encoding="utf-8").replace(
        "by_year: {2023: 20000, 2024: 20000, 2025: 15000,",
        "by_year: {2025: 15000, 2023: 20000, 2024: 20000,")
    path = tmp_path / "g.yaml"
    path.write_text(text, encoding="utf-8")
    sc = sharing.load_scenario(path)
    book = openpyxl.load_workbook(io.export_scenario_xlsx(sc, tmp_path / "book.xlsx"))
    header = [c.value for c in book["costs"][1]]
    years = [h for h in header if h.startswith("by_year.")]
    assert years == [f"by_year.{y}" for y in range(2023, 2036)]
    assert [c.value for c in book["firms"][1]][:5] == ["id", "name", "name_en", "origin",
                                                        "destination"]
    assert book["firms"].max_row == 1 and book["streams"].max_row == 1
    assert book["jurisdictions"].freeze_panes == "A2"
    back = tmp_path / "back.yaml"
    assert main(["import-xlsx", str(tmp_path / "book.xlsx"), "-o", str(back)]) == 0
    assert sharing.load_scenario(back) == sc


def test_text_width_counts_cjk_double():
    assert io.text_width("abc") == 3
    assert io.text_width("广安市") == 6
    assert io.text_width("ＡＢ（x）") == 9


def test_scenario_workbook_years_in_order_and_empty_sheets_with_headers(tmp_path):
    sc = sharing.load_scenario(GAOZHU).replace(
        {"costs.infrastructure.by_year": {2027: 1, 2023: 5, 2025: 3}})
    path = io.export_scenario_xlsx(sc, tmp_path / "s.xlsx")
    book = openpyxl.load_workbook(path)
    costs = [c.value for c in book["costs"][1]]
    years = [c for c in costs if c.startswith("by_year.")]
    assert years == sorted(years, key=lambda c: int(c.split(".")[1]))
    assert years[0] == "by_year.2023"
    # gaozhu has no firms and no streams: those sheets still say what to fill in.
    assert [c.value for c in book["firms"][1]][:7] == [
        "id", "name", "name_en", "origin", "destination", "move_year", "production_year"]
    assert book["streams"].max_row == 1 and book["streams"]["A1"].value == "id"
