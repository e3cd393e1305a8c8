"""Loader and export hardening (issue 7 §4): one regression test per class the fuzz campaign
and the hostile files found. Every refusal is a clean exit 2 with the problem in 中文 and
English, no traceback, and nothing of a refused file's contents echoed."""

from __future__ import annotations

import csv as csv_module
import io as stdio
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from openpyxl import load_workbook

import sharing
from sharing import engine, games, io
from sharing.cli import main
from sharing.rules import MAX_SPLIT_CELLS, RuleError, split_by_shares
from sharing.scenario import ScenarioError, _composed, find_scenario, read_bytes

BASE = """\
scenario: 1
name: 测试
name_en: test
years: {start: 2021, end: 2030}
jurisdictions:
  - {id: a, name: 甲, name_en: A, province: sichuan}
  - {id: b, name: 乙, name_en: B, province: chongqing}
"""
STREAMS = """\
streams:
  - {id: s1, host: a, tax: vat, base: 100, growth: 0.1}
  - {id: s2, host: b, tax: eit, base: 50}
"""
GAOZHU = find_scenario("gaozhu")
FIRMS_CSV = ("id,name,origin,destination,move_year,pre_move_vat\n"
             "f1,企业一,a,b,2024,100\nf2,企业二,b,a,2025,80\n")


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def refused(argv: list[str], capsys, *fragments: str) -> str:
    """Run the CLI; it must exit 2 with every fragment on stderr."""
    code, _, err = run(argv, capsys)
    assert code == 2, err
    assert "输入有误" in err or "无法" in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def scenario(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- firms_csv confinement ------------------------------------------------------------------


SECRET = "TOP_SECRET_VALUE_42"


@pytest.fixture
def secret(tmp_path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    path = outside / "secret.csv"
    path.write_text(f"id,origin,destination,move_year\n{SECRET},a,b,2024\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ", "../outside/secret.csv",
                                    "link.csv", "sub/../../outside/secret.csv"])
def test_firms_csv_outside_the_folder_is_refused_unread(tmp_path, capsys, secret, target):
    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "link.csv").symlink_to(secret)
    path = scenario(folder, BASE + STREAMS + f"firms_csv: {target}\n")
    err = refused(["validate", path], capsys, "firms_csv",
                  "不在情景文件所在的文件夹", "is outside the scenario's folder")
    assert SECRET not in err and "PATH=" not in err and "root:" not in err


def test_firms_csv_in_an_allowed_data_root(tmp_path, capsys, secret, monkeypatch):
    folder = tmp_path / "scenario"
    folder.mkdir()
    text = BASE + STREAMS + f"firms_csv: {secret}\n"
    path = scenario(folder, text.replace(SECRET, "f1"))
    secret.write_text(FIRMS_CSV, encoding="utf-8")
    monkeypatch.setenv("SHARING_DATA_ROOTS", str(secret.parent))
    assert run(["validate", path], capsys)[0] == 0
    assert [f.id for f in sharing.load_scenario(path).firms] == ["f1", "f2"]


def test_firms_csv_inside_the_folder_still_works(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "firms.csv").write_text(FIRMS_CSV, encoding="utf-8")
    path = scenario(tmp_path, BASE + "firms_csv: data/firms.csv\n")
    assert run(["validate", path], capsys)[0] == 0


def test_workbook_cannot_name_a_firms_csv(tmp_path, capsys):
    sc = sharing.load_scenario(GAOZHU)
    book = io.export_scenario_xlsx(sc, tmp_path / "b.xlsx")
    wb = load_workbook(book)
    wb["scenario"].append(["firms_csv", "/etc/passwd"])
    wb.save(book)
    refused(["import-xlsx", book, "-o", tmp_path / "x.yaml"], capsys,
            "不能引用 firms_csv", "cannot name a firms_csv")


# --- devices, FIFOs, reading at most limit + 1 bytes ----------------------------------------


def test_devices_and_fifos_are_refused(tmp_path, capsys):
    refused(["validate", "/dev/zero"], capsys, "不是普通文件", "not a regular file")
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    refused(["validate", fifo], capsys, "不是普通文件", "not a regular file")  # no blocking
    (tmp_path / "dev.csv").symlink_to("/dev/zero")
    path = scenario(tmp_path, BASE + "firms_csv: dev.csv\n")
    refused(["validate", path], capsys, "firms_csv")


def test_never_more_than_limit_plus_one_byte(tmp_path):
    with pytest.raises(ScenarioError) as err:
        read_bytes("/proc/self/status", limit=10)  # st_size says 0
    assert "超过 9.53674e-06 MB" in err.value.text("zh")[0]
    assert "larger than the limit" in err.value.text("en")[0]


# --- workbooks: zip bombs, cells, indexes, odd cells -----------------------------------------


@pytest.fixture
def book(tmp_path) -> Path:
    return io.export_scenario_xlsx(sharing.load_scenario(GAOZHU), tmp_path / "b.xlsx")


def test_zip_bomb_is_refused_before_reading(tmp_path, capsys, book):
    with zipfile.ZipFile(book, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/padding.xml", b" " * (20 * 2**20))
    refused(["import-xlsx", book, "-o", tmp_path / "x.yaml"], capsys,
            "压缩比", "zip bomb")


def test_uncompressed_size_and_cells_are_limited(tmp_path, capsys, book, monkeypatch):
    monkeypatch.setitem(io.WORKBOOK_LIMITS, "uncompressed", 1000)
    refused(["import-xlsx", book, "-o", tmp_path / "x.yaml"], capsys, "解压后超过",
            "unpacks to more than")
    monkeypatch.setitem(io.WORKBOOK_LIMITS, "uncompressed", 2**30)
    monkeypatch.setitem(io.WORKBOOK_LIMITS, "cells", 50)
    refused(["import-xlsx", book, "-o", tmp_path / "x.yaml"], capsys, "个单元格",
            "more than 50 cells")


def test_declared_sheet_size_does_not_pad_rows(tmp_path, capsys, book):
    with zipfile.ZipFile(book) as zf:  # claim a sheet of 1,048,576 × 16,384 cells
        parts = {n: zf.read(n) for n in zf.namelist()}
    for name, data in parts.items():
        if name.startswith("xl/worksheets/sheet"):
            parts[name] = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"',
                                 data)
            assert b"XFD1048576" in parts[name]
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    assert run(["import-xlsx", book, "-o", tmp_path / "x.yaml"], capsys)[0] == 0


@pytest.mark.parametrize(("header", "fragments"), [
    ("x[100000000]", ("序号 [100000000] 超过", "index [100000000] is beyond")),
    ("[0]", ("[0] 用在不是列表的地方", "[0] where there is no list")),
    ("name.x", ("冲突", "clashes")),
])
def test_bad_headers(tmp_path, capsys, book, header, fragments):
    wb = load_workbook(book)
    ws = wb["jurisdictions"]
    ws.cell(1, ws.max_column + 1).value = header
    ws.cell(2, ws.max_column).value = 1
    wb.save(book)
    refused(["import-xlsx", book, "-o", tmp_path / "x.yaml"], capsys, *fragments)


@pytest.mark.parametrize(("sheet", "column", "value"), [
    ("agreements", "id", "[a, b]"),
    ("sites", "park", "[a, b]"),
    ("standalone", "park", "[a, b]"),
    ("retention", "tax", "[a]"),
    ("retention", "year", "x"),
])
def test_lists_and_text_where_ids_or_years_belong(tmp_path, capsys, book, sheet, column, value):
    wb = load_workbook(book)
    ws = wb[sheet]
    header = [c.value for c in ws[1]]
    if ws.max_row < 2:
        ws.append(["default", None, "vat", None, 0.5] if sheet == "retention" else [])
    ws.cell(2, header.index(column) + 1).value = value
    wb.save(book)
    code, _, err = run(["import-xlsx", book, "-o", tmp_path / "x.yaml"], capsys)
    assert code == 2 and "输入有误" in err


def test_statistics_index_must_be_a_small_whole_number(tmp_path, capsys):
    sc = sharing.load_scenario(GAOZHU)
    book = io.export_scenario_xlsx(sc, tmp_path / "b.xlsx")
    wb = load_workbook(book)
    ws = wb["statistics"]
    ws.append([sc.agreements[0].id, "x", "gdp", 100])
    wb.save(book)
    refused(["import-xlsx", book, "-o", tmp_path / "x.yaml"], capsys, "column index",
            "index 列")
    ws.cell(ws.max_row, 2).value = 50_000_000
    wb.save(book)
    refused(["import-xlsx", book, "-o", tmp_path / "x.yaml"], capsys, "column index")


# --- dense arrays ----------------------------------------------------------------------------


def test_split_refuses_past_its_size_and_drops_zero_shares():
    amounts = np.ones((MAX_SPLIT_CELLS // 13 // 10_000 + 1, 13))
    with pytest.raises(RuleError) as err:
        split_by_shares(amounts, np.full(10_000, 1e-4))
    assert "请把协议拆小" in str(err.value) and "split the agreement" in str(err.value)


def _many(n: int, shares: dict | None = None, firms: bool = True) -> dict:
    jur = [{"id": f"j{i}", "name": f"地{i}", "name_en": f"J{i}", "province": "other"}
           for i in range(n)]
    data = {"scenario": 1, "name": "多", "name_en": "many",
            "years": {"start": 2024, "end": 2026}, "jurisdictions": jur}
    if firms:
        data["firms"] = [{"id": f"f{i}", "origin": f"j{i}", "destination": f"j{(i + 1) % n}",
                          "move_year": 2025, "pre_move": {"vat": 100}} for i in range(n)]
        data["agreements"] = [{"id": "a", "covers": {"kind": "firm"}, "rule": {
            "type": "fixed", "shares": shares or {"origin": 0.5, "destination": 0.5}}}]
    return data


def test_more_than_64_jurisdictions_give_exact_standalone_values():
    """Coalition bitmasks once wrapped around past 63 jurisdictions: j69 got j5's bit."""
    res = sharing.simulate(sharing.parse_scenario(_many(70)))
    assert res.summary["standalone_pv"].to_numpy() == pytest.approx(np.full(70, 150.0))


def test_ten_thousand_jurisdictions_refuse_clearly():
    data = _many(10_000, firms=False)
    data["streams"] = [{"id": f"s{i}", "host": f"j{i}", "tax": "vat", "base": 1}
                       for i in range(10_000)]
    data["agreements"] = [{"id": "a", "covers": {"kind": "stream"}, "rule": {
        "type": "fixed", "shares": {f"j{i}": 1e-4 for i in range(10_000)}}}]
    with pytest.raises(ScenarioError) as err:
        sharing.simulate(sharing.parse_scenario(data))
    assert "请把协议拆小" in err.value.text("zh")[0]
    assert "split the agreement" in err.value.text("en")[0]


def test_few_nonzero_shares_among_many_jurisdictions_run():
    data = _many(3_000, firms=False)
    data["streams"] = [{"id": "s0", "host": "j0", "tax": "vat", "base": 100}]
    data["agreements"] = [{"id": "a", "covers": {"kind": "stream"}, "rule": {
        "type": "fixed", "shares": {"j0": 0.5, "j1": 0.5, **{f"j{i}": 0 for i in range(2, 3000)}}}}]
    res = sharing.simulate(sharing.parse_scenario(data))
    assert res.summary["allocated"].iloc[:3].tolist() == pytest.approx([75.0, 75.0, 0.0])


def test_game_player_limit_and_summarised_table(tmp_path, capsys):
    many = sharing.parse_scenario(_many(games.MAX_SCENARIO_PLAYERS + 1))
    with pytest.raises(games.GameError) as err:
        games.Game.from_scenario(many)
    assert "个参与方过多" in str(err.value) and "players is too many" in str(err.value)
    path = tmp_path / "seven.yaml"
    path.write_text(yaml.safe_dump(_many(7), allow_unicode=True), encoding="utf-8")
    code, out, _ = run(["game", path, "--lang", "en"], capsys)
    assert code == 0
    assert "... 112 more coalitions not shown" in out  # 127 − (7 + 7 + 1)
    code, out, _ = run(["game", path, "--lang", "zh"], capsys)
    assert "另有 112 个联盟未列出" in out


def test_coalition_values_match_for_few_and_many_jurisdictions():
    small = engine.compile_scenario(sharing.parse_scenario(_many(5)))
    items = engine.coalition_items(small, small.run().alloc)
    values = engine.coalition_values(items, [0, 1, 2, 3, 4])
    assert values[-1] == pytest.approx(small.run().summary["pv_net_benefit"].sum())
    assert values[1] == pytest.approx(engine.standalone_values(items)[0])


# --- formula-looking text ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1",
                                  " =1+1", "  @x", "＝1+1", "|calc", "　＝1", "｜x", "＋1"])
def test_formula_looking_text_is_neutralised(text):
    assert io.neutralise(text) == "'" + text
    csv = io.csv_bytes(pd.DataFrame({text: [text], "n": [1.0]}))
    header, row = csv_module.reader(stdio.StringIO(csv.decode("utf-8-sig"), newline=""))
    assert header[0] == "'" + text and row[0] == "'" + text


@pytest.mark.parametrize("text", ["甲", "a=b", "1", "plain text", "", "100%"])
def test_ordinary_text_is_untouched(text):
    assert io.neutralise(text) == text


def test_ids_never_look_like_formulas(tmp_path, capsys):
    path = scenario(tmp_path, BASE + "streams:\n  - {id: '-1+1', host: a, tax: vat, base: 1}\n")
    refused(["validate", path], capsys, "streams[0].id")


# --- crashes that became messages -------------------------------------------------------------


@pytest.mark.parametrize(("text", "fragment"), [
    (BASE.replace("end: 2030", f"end: {2**63}") + STREAMS, "years.end"),
    (BASE.replace("start: 2021", "start: 1e30") + STREAMS, "years.start"),
    (BASE + "firms:\n  - {id: f, origin: a, destination: b, move_year: " + str(2**63)
     + ", pre_move: {vat: 1}}\n", "firms[0].move_year"),
    (BASE + "firms:\n  - {id: f, origin: a, destination: b, move_year: 1e30, "
     "pre_move: {vat: 1}}\n", "firms[0].move_year"),
    (BASE + STREAMS + "agreements:\n  - {id: x, covers: {kind: stream}, "
     "rule: {type: capped, preset: {x: 1}}}\n", "agreements[0].rule"),
    (BASE + STREAMS + "agreements:\n  - {id: x, covers: {kind: stream}, rule: {type: fixed, "
     "shares: {a: 1}, stages: [{years: [2021, 99999999999]}]}}\n", "agreements[0]"),
    (BASE + STREAMS + "agreements:\n  - id: x\n    covers: {kind: stream}\n    rule: "
     "{type: fixed, shares: {a: 1}}\n    statistics: [{indicator: gdp, base: 1, "
     f"base_year: {2**63}}}]\n", "statistics[0].base_year"),
])
def test_huge_years_and_odd_types_are_messages(tmp_path, capsys, text, fragment):
    refused(["validate", scenario(tmp_path, text)], capsys, fragment)


@pytest.mark.parametrize("char", ["\x01", "\x00", "\x1b"])
def test_control_characters_in_names_are_refused(tmp_path, capsys, char):
    text = BASE.replace("name: 甲", f"name: \"甲{char!r}\"".replace("'", "")) + STREAMS
    path = scenario(tmp_path, text.replace("\\x00", "\\0"))
    refused(["validate", path], capsys, "jurisdictions[0].name", "含有控制字符",
            "control character")


def test_deeply_nested_yaml(tmp_path, capsys):
    path = scenario(tmp_path, BASE + STREAMS + "x: " + "[" * 1000 + "]" * 1000 + "\n")
    refused(["validate", path], capsys, "嵌套层次过深", "nested too deeply")


# --- non-finite numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(("stream", "fragment"), [
    ("{id: s, host: a, tax: vat, base: 1e308}", "streams[0].base"),
    ("{id: s, host: a, tax: vat, base: 100, base_year: 100000, growth: -0.9}",
     "streams[0].base_year"),
    ("{id: s, host: a, tax: vat, by_year: {2021: 1e300}}", "streams[0].by_year"),
])
def test_amounts_are_bounded(tmp_path, capsys, stream, fragment):
    refused(["validate", scenario(tmp_path, BASE + f"streams:\n  - {stream}\n")], capsys,
            fragment)


def test_projection_past_the_bound_is_refused(tmp_path, capsys):
    text = BASE.replace("end: 2030", "end: 2200") + \
        "streams:\n  - {id: s, host: a, tax: vat, base: 1e11, base_year: 2021, growth: 5}\n"
    err = refused(["run", scenario(tmp_path, text)], capsys, "税源 s 在 2023 年",
                  "stream s reaches")
    assert "inf" not in err.lower().replace("info", "")


def test_results_are_checked_finite_before_writing():
    res = sharing.simulate(sharing.load_scenario(GAOZHU))
    broken = res.summary.copy()
    broken.loc[0, "allocated"] = np.inf
    with pytest.raises(ScenarioError) as err:
        io.check_finite(broken, "summary")
    assert "非有限数" in err.value.text("zh")[0] and "non-finite" in err.value.text("en")[0]


# --- CSV years and encodings ------------------------------------------------------------------


def test_fractional_years_in_csv_are_refused(tmp_path, capsys):
    (tmp_path / "firms.csv").write_text(FIRMS_CSV.replace("2024", "2024.9"), encoding="utf-8")
    refused(["validate", scenario(tmp_path, BASE + "firms_csv: firms.csv\n")], capsys,
            "row 2, column move_year", "年份 '2024.9' 不是整数", "year '2024.9' is not a whole")
    (tmp_path / "firms.csv").write_text(FIRMS_CSV.replace("2024", "2024.0"), encoding="utf-8")
    assert run(["validate", tmp_path / "s.yaml"], capsys)[0] == 0


def test_utf8_csv_with_a_stray_byte_names_row_and_column(tmp_path, capsys):
    raw = FIRMS_CSV.encode("utf-8").replace("企业二".encode(), "企业".encode() + b"\xff")
    (tmp_path / "firms.csv").write_bytes(raw)
    refused(["validate", scenario(tmp_path, BASE + "firms_csv: firms.csv\n")], capsys,
            "不是 UTF-8 文本：第 3 行第 6 个字符处的字节 0xFF", "row 3, character 6, byte 0xFF")


def test_gbk_csv_is_still_read(tmp_path, capsys):
    (tmp_path / "firms.csv").write_bytes(FIRMS_CSV.encode("gb18030"))
    path = scenario(tmp_path, BASE + "firms_csv: firms.csv\n")
    assert run(["validate", path], capsys)[0] == 0
    assert sharing.load_scenario(path).firms[1].name == "企业二"


# --- hangs ------------------------------------------------------------------------------------


def test_many_problems_parse_the_file_once(tmp_path, capsys):
    streams = "".join(f"  - {{id: s{i}, host: a, tax: vat, base: x}}\n" for i in range(300))
    _composed.cache_clear()
    err = refused(["validate", scenario(tmp_path, BASE + "streams:\n" + streams)], capsys,
                  "streams[299].base")
    assert err.count("s.yaml:") >= 300
    assert _composed.cache_info().misses == 1


def test_past_the_excel_row_limit_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(io, "EXCEL_MAX_ROWS", 10)
    refused(["run", "gaozhu", "--format", "xlsx", "-o", tmp_path / "r.xlsx"], capsys,
            "超过 Excel 工作表的上限", "export CSV instead")
    assert not (tmp_path / "r.xlsx").exists()


def test_result_workbook_text_cells_are_never_formulas(tmp_path):
    sc = sharing.load_scenario(GAOZHU).replace({"name_en": "=HYPERLINK(\"x\")"})
    target = stdio.BytesIO()
    io.write_result_xlsx(sharing.simulate(sc), target)
    with zipfile.ZipFile(target) as zf:
        assert not any(b"<f>" in zf.read(n) for n in zf.namelist() if n.endswith(".xml"))


def test_deeply_nested_list_in_a_workbook_cell(tmp_path, capsys, book):
    wb = load_workbook(book)
    wb["jurisdictions"]["B2"] = "[" * 3000 + "]" * 3000
    wb.save(book)
    code, _, _ = run(["import-xlsx", book, "-o", tmp_path / "x.yaml"], capsys)
    assert code == 0  # too deep to be a list: kept as the text it is
    data = yaml.safe_load((tmp_path / "x.yaml").read_text(encoding="utf-8"))
    assert data["jurisdictions"][0]["name"] == "[" * 3000 + "]" * 3000


def test_deeply_nested_optimizer_spec(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("objective: " + "[" * 3000 + "]" * 3000 + "\n", encoding="utf-8")
    code, _, err = run(["optimize", GAOZHU, "--spec", spec], capsys)
    assert code == 2 and spec.name in err
