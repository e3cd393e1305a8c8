"""Every message a user reads is in 中文 and English, from the one catalogue; problems suggest
the closest valid spelling; pydantic's errors are translated by type, for every field."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import openpyxl
import pytest
import yaml
from bilingual import says

import sharing
from sharing import io
from sharing.i18n import MESSAGES, Problem

ROOT = Path(__file__).resolve().parent.parent
GAOZHU = ROOT / "scenarios" / "gaozhu.yaml"
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")
# The Chinese column names already say 现值 (present value); the English heading adds it.
EMPTY_ZH = {"explain.when_pv"}


def _all_messages() -> dict:
    for module in pkgutil.walk_packages(sharing.__path__, "sharing."):
        if not module.name.startswith(("sharing.ui", "sharing.__main__")):
            importlib.import_module(module.name)
    return MESSAGES


def test_every_message_has_chinese_and_english():
    messages = _all_messages()
    assert len(messages) > 300
    for key, text in messages.items():
        assert text.en.strip(), key
        if key in EMPTY_ZH:
            continue
        assert text.zh.strip(), key
        # A message with words has Chinese words; a pure template ("{label}：{name}") has
        # only placeholders and punctuation.
        words = PLACEHOLDER.sub("", text.zh)
        assert CJK.search(text.zh) or not re.search(r"[A-Za-z]{2,}", words), (key, text.zh)


def test_problem_in_one_language_or_both():
    problem = Problem("scenario.unknown_jurisdiction", {"id": "yubie", "known": "guangan, yubei"},
                      where="book.xlsx", sheet="contributions", row=3, column="jurisdiction",
                      close=("yubei",))
    assert problem.text("zh") == (
        "book.xlsx: 工作表 contributions，第 3 行，jurisdiction 列: 未知辖区 'yubie'"
        "（已有：guangan, yubei）；您是否指 'yubei'？")
    assert problem.text("en") == (
        "book.xlsx: sheet contributions, row 3, column jurisdiction: unknown jurisdiction "
        "'yubie' (known: guangan, yubei); did you mean 'yubei'?")
    assert problem.text() == (
        "book.xlsx: sheet contributions, row 3, column jurisdiction: 未知辖区 'yubie'（已有："
        "guangan, yubei）；您是否指 'yubei'？ / unknown jurisdiction 'yubie' (known: guangan, "
        "yubei); did you mean 'yubei'?")
    err = sharing.ScenarioError([problem])
    assert err.text("zh") == [problem.text("zh")] and err.problems == [problem.text()]


def _data() -> dict:
    return yaml.safe_load(GAOZHU.read_text(encoding="utf-8"))


def _refused(data: dict) -> sharing.ScenarioError:
    with pytest.raises(sharing.ScenarioError) as err:
        sharing.parse_scenario(data)
    return err.value


def _set(path: str, value):
    def edit(data):
        node = data
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        for p in parents:
            node = node[p]
        node[last] = value
        return data
    return edit


SHARES = "agreements.0.rule.increment.shares"


@pytest.mark.parametrize(("edit", "path", "zh", "en"), [
    (_set(SHARES + ".guangan", 60), "agreements[0].rule.increment.shares.guangan",
     "60 像是百分数，请写 0.6", "60 looks like a percentage; write 0.6"),
    (_set("discount_rate", 3), "discount_rate", "3 像是百分数，请写 0.03",
     "3 looks like a percentage; write 0.03"),
    (_set("parks.0.sites.0.taxes.vat.growth", 12), "parks[0].sites[0].taxes.vat.growth",
     "12 像是百分数，请写 0.12", "12 looks like a percentage; write 0.12"),
    (_set("parks.0.sites.0.taxes.vat.growth", 500), "parks[0].sites[0].taxes.vat.growth",
     "500 大于上限 5", "500 is above the maximum 5"),
    (_set("agreements.0.compliance", 120), "agreements[0].compliance",
     "120 大于上限 1", "120 is above the maximum 1"),
    (_set("agreements.0.compliance", -0.5), "agreements[0].compliance",
     "-0.5 小于下限 0", "-0.5 is below the minimum 0"),
    (_set("costs.0.by_year.2023", "lots"), "costs[0].by_year.2023",
     "'lots' 不是数", "'lots' is not a number"),
    (_set("parks.0.sites.0.illustrative", "maybe"), "parks[0].sites[0].illustrative",
     "'maybe' 不是 true 或 false", "'maybe' is not true or false"),
    (_set("jurisdictions.0.id", "广安"), "jurisdictions[0].id",
     "'广安' 不是有效的 id", "'广安' is not a valid id"),
    (_set("parks.0.partners", []), "parks[0].partners",
     "至少需要 1 项", "at least 1 item(s) are needed"),
    (_set("parks.0.partners", "guangan"), "parks[0].partners",
     "应是列表 [..]，而不是 'guangan'", "should be a list [...], not 'guangan'"),
    (_set("years", 2023), "years", "应是键值映射（键: 值），而不是 2023",
     "should be a mapping (key: value), not 2023"),
    (_set("agreements.0.covers", {"tx": "vat"}), "agreements[0].covers.tx",
     "未知的键 'tx'（请检查拼写；参见 docs/scenario-format.md）；您是否指 'tax'？",
     "unknown key 'tx' (check the spelling; see docs/scenario-format.md); did you mean 'tax'?"),
    (_set("agreements.0.rule.increment.type", "fixd"), "agreements[0].rule.increment",
     "您是否指 'fixed'？", "did you mean 'fixed'?"),
    (_set("agreements.0.rule.increment", {"shares": {"guangan": 1}}),
     "agreements[0].rule.increment", "缺少 `type`；可选：host, fixed, factors",
     "`type` is missing; valid: host, fixed, factors"),
    (_set("agreements.0.settlement.channel", "centrl_clearing"), "agreements[0].settlement.channel",
     "'centrl_clearing' 不是可选值之一：direct, via_superior, central_clearing；您是否指 "
     "'central_clearing'？", "did you mean 'central_clearing'?"),
    (_set("agreements.0.covers.park", 5), "agreements[0].covers.park",
     "5 不是文本", "5 is not text"),
    (_set("costs.0.paid_by", {"guangan": 0.5, "yubei": 0.4}), "costs[0].paid_by",
     "各份额之和须为 1，现为 0.9（guangan 0.5, yubei 0.4）",
     "shares must sum to 1, got 0.9 (guangan 0.5, yubei 0.4)"),
    (_set("agreements.0.rule.increment.shares", {"guangan": 0.5, "yubei": 0.5, "yubie": 0}),
     "agreements[0].rule", "未知的辖区或角色 'yubie'（辖区：guangan, yubei；角色：host, origin, "
     "destination）；您是否指 'yubei'？",
     "unknown jurisdiction or role 'yubie' (jurisdictions: guangan, yubei; roles: host, origin, "
     "destination); did you mean 'yubei'?"),
    (_set("costs.0.park", "gaozu"), "costs[0].park", "未知的园区 'gaozu'（已有：gaozhu）；您是否指 "
     "'gaozhu'？", "unknown park 'gaozu' (known: gaozhu); did you mean 'gaozhu'?"),
    (_set("contributions.infrastructur", {"capital": {"guangan": 1}}),
     "contributions.infrastructur", "投入要素须属于某个协议、园区或成本的 id",
     "did you mean 'infrastructure'?"),
])
def test_scenario_problems_in_both_languages(edit, path, zh, en):
    says(_refused(edit(_data())), zh, en, path)


def test_at_most_one_problem_per_key_path_for_a_union():
    # covers.park takes a name or a list of names: 5 is neither, said once.
    err = _refused(_set("agreements.0.covers.park", 5)(_data()))
    assert [p.path for p in err.items] == ["agreements[0].covers.park"]
    # paid_by takes a name or shares: with shares, only the share that is wrong is named.
    err = _refused(_set("costs.0.paid_by", {"guangan": 50, "yubei": 50})(_data()))
    assert sorted(p.path for p in err.items) == ["costs[0].paid_by.guangan",
                                                 "costs[0].paid_by.yubei"]
    says(err, "50 像是百分数，请写 0.5", "50 looks like a percentage; write 0.5")
    # a retention fraction is a number or {year: number}: a year's value is named by its year.
    data = _data()
    data["retention"]["default"] = {"vat": {2024: 60}}
    err = _refused(data)
    assert [p.path for p in err.items] == ["retention.default.vat.2024"]
    says(err, "60 像是百分数，请写 0.6", "60 looks like a percentage; write 0.6")


@pytest.mark.parametrize("spelling", ["Sichuan", " SICHUAN ", "四川", "四川省"])
def test_provinces_in_any_case_and_in_chinese(spelling):
    data = _data()
    data["jurisdictions"][0]["province"] = spelling
    data["jurisdictions"][1]["province"] = {"Sichuan": "Chongqing", " SICHUAN ": "CHONGQING",
                                            "四川": "重庆", "四川省": "重庆市"}[spelling]
    data["retention"]["provinces"] = {spelling: {"vat": 0.4}}
    sc = sharing.parse_scenario(data)
    assert [j.province for j in sc.jurisdictions] == ["sichuan", "chongqing"]
    assert dict(sc.retention.provinces) == {"sichuan": {"vat": 0.4}}
    reference = _data()
    reference["retention"]["provinces"] = {"sichuan": {"vat": 0.4}}
    assert sharing.simulate(sc).summary.equals(
        sharing.simulate(sharing.parse_scenario(reference)).summary)


def test_optimizer_spec_values_are_translated_by_type():
    sc = sharing.load_scenario(GAOZHU)
    with pytest.raises(sharing.ScenarioError) as err:
        sharing.optimize(sc, {"constraints": {"monotone": {"guangan": "increasng"}}})
    says(err.value, "'increasng' 不是可选值之一：increasing, decreasing；您是否指 'increasing'",
         "'increasng' is not one of increasing, decreasing; did you mean 'increasing'",
         "constraints.monotone.guangan")


# ---------------------------------------------------------------------------------------------
# The scenario workbook: a wrong id names the cell that holds it


def _book(tmp_path: Path) -> Path:
    path = tmp_path / "gaozhu.xlsx"
    io.export_scenario_xlsx(sharing.load_scenario(GAOZHU), path)
    return path


def _cell(path: Path, sheet: str, column: str, value) -> int:
    book = openpyxl.load_workbook(path)
    ws = book[sheet]
    header = [c.value for c in ws[1]]
    ws.cell(row=2, column=header.index(column) + 1, value=value)
    book.save(path)
    return 2


def _import_error(path: Path) -> sharing.ScenarioError:
    with pytest.raises(sharing.ScenarioError) as err:
        io.import_scenario_xlsx(path)
    return err.value


@pytest.mark.parametrize(("sheet", "column", "value", "zh", "en"), [
    ("contributions", "jurisdiction", "yubie", "未知辖区 'yubie'（已有：guangan, yubei）；您是否指 "
     "'yubei'？", "unknown jurisdiction 'yubie' (known: guangan, yubei); did you mean 'yubei'?"),
    ("contributions", "owner", "infrastructur", "投入要素须属于某个协议、园区或成本的 id",
     "did you mean 'infrastructure'?"),
    ("standalone", "jurisdiction", "guangn", "未知辖区 'guangn'", "did you mean 'guangan'?"),
    ("standalone", "park", "gaozu", "未知的园区 'gaozu'", "unknown park 'gaozu'"),
    ("rules", "owner", "agreements:gaozhu_revenu",
     "owner 'agreements:gaozhu_revenu' 不是本工作簿中的",
     "did you mean 'agreements:gaozhu_revenue'?"),
])
def test_workbook_wrong_id_names_its_column(tmp_path, sheet, column, value, zh, en):
    path = _book(tmp_path)
    row = _cell(path, sheet, column, value)
    says(_import_error(path), zh, en, "gaozhu.xlsx", f"sheet {sheet}, row {row}, column {column}")


def test_workbook_wrong_id_in_a_rule_names_the_path_column(tmp_path):
    path = _book(tmp_path)
    book = openpyxl.load_workbook(path)
    ws = book["rules"]
    for row in ws.iter_rows(min_row=2):
        if row[1].value == "increment.shares.yubei":
            row[1].value = "increment.shares.yubie"
            at = row[1].row
    book.save(path)
    err = _import_error(path)
    says(err, "未知的辖区或角色 'yubie'", "unknown jurisdiction or role 'yubie'",
         f"sheet rules, row {at}, column path", "agreements[0].rule")
    zh = err.text("zh")[0]
    assert f"工作表 rules，第 {at} 行，path 列" in zh and "unknown" not in zh


def test_workbook_value_problems_still_name_the_value_column(tmp_path):
    path = _book(tmp_path)
    row = _cell(path, "standalone", "share", 55)
    says(_import_error(path), "55 像是百分数，请写 0.55", "55 looks like a percentage; write 0.55",
         f"sheet standalone, row {row}, column share")
