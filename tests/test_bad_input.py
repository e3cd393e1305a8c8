"""Bad input gets one clear message naming the file, key path, line and problem; never a
traceback; ``sharing validate`` exits 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bilingual import says

import sharing
from sharing.cli import main

BASE = """\
scenario: 1
name: 测试
name_en: test
years: {start: 2021, end: 2030}
jurisdictions:
  - {id: a, name: 甲, name_en: A, province: sichuan}
  - {id: b, name: 乙, name_en: B, province: chongqing}
streams:
  - {id: s1, host: a, tax: vat, base: 100, growth: 0.1}
  - {id: s2, host: b, tax: eit, base: 50}
"""

GOOD_AGREEMENT = """\
agreements:
  - id: deal
    covers: {stream: s1}
    rule: {type: fixed, shares: {a: 0.6, b: 0.4}}
"""


def write(tmp_path: Path, text: str, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(sharing.ScenarioError) as err:
        sharing.simulate(sharing.load_scenario(path))
    return err.value.problems


def validate(path: Path, capsys) -> tuple[int, str]:
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_good_file_is_ok(tmp_path, capsys):
    path = write(tmp_path, BASE + GOOD_AGREEMENT)
    assert main(["validate", str(path)]) == 0
    assert "ok" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "place", "zh", "en"),
    [
        pytest.param(BASE.replace("name_en: test\n", ""), ["bad.yaml:", "name_en"],
                     "缺少必填的键", "required key is missing", id="missing key"),
        pytest.param(BASE.replace("host: b", "host: c"), ["bad.yaml:10:", "streams[1].host"],
                     "未知辖区 'c'（已有：a, b）", "unknown jurisdiction 'c' (known: a, b)",
                     id="unknown jurisdiction"),
        pytest.param(BASE.replace("host: b", "host: bb"), ["streams[1].host"],
                     "未知辖区 'bb'（已有：a, b）；您是否指 'b'？",
                     "unknown jurisdiction 'bb' (known: a, b); did you mean 'b'?",
                     id="unknown jurisdiction, did you mean"),
        pytest.param(BASE + GOOD_AGREEMENT.replace("b: 0.4", "b: 0.3"),
                     ["bad.yaml:14:", "agreements[0].rule.shares"],
                     "各份额之和须为 1，现为 0.9", "shares must sum to 1, got 0.9",
                     id="shares not summing to 1"),
        pytest.param(BASE + GOOD_AGREEMENT.replace("{a: 0.6, b: 0.4}", "{a: 60, b: 40}"),
                     ["bad.yaml:14:", "agreements[0].rule.shares.a"],
                     "60 像是百分数，请写 0.6", "60 looks like a percentage; write 0.6",
                     id="a percentage for a share"),
        pytest.param(BASE + """\
agreements:
  - id: staged
    covers: {stream: s1}
    rule:
      type: schedule
      stages:
        - {years: [2021, 2025], rule: {type: fixed, shares: {a: 0.5, b: 0.5}}}
        - {years: [2024, 2030], rule: {type: host}}
""", ["bad.yaml:17:", "agreements[0].rule.stages[0]: "],
            "年份 2021-2025 与 stages[1]（2024-2030）重叠",
            "years 2021-2025 overlap stages[1] (2024-2030)", id="overlapping stages"),
        pytest.param(BASE + GOOD_AGREEMENT + """\
  - id: again
    covers: {host: a}
    rule: {type: host}
""", ["agreements[1].covers"], "税源 's1' 已被协议 'deal' 覆盖",
            "stream 's1' is already covered by agreement 'deal'", id="stream in two agreements"),
        pytest.param(BASE.replace("base: 100", "base: .nan"), ["bad.yaml:9:", "streams[0].base"],
                     "必须是有限数", "finite number", id="NaN"),
        pytest.param(BASE.replace("base: 50", "base: .inf"), ["bad.yaml:10:", "streams[1].base"],
                     "必须是有限数（不能是 NaN 或无穷大）",
                     "must be a finite number (not NaN or infinity)", id="inf"),
        pytest.param(BASE.replace("end: 2030", "end: 2020"), ["bad.yaml:4:", "years.end"],
                     "年份范围 2021-2020 起止颠倒", "year range 2021-2020 runs backwards",
                     id="negative year range"),
        pytest.param(BASE.replace("start: 2021", "start: soon"), ["bad.yaml:4:", "years.start"],
                     "'soon' 不是整数", "'soon' is not a whole number", id="text for a year"),
        pytest.param(BASE + GOOD_AGREEMENT.replace("fixed,", "fixd,"), ["agreements[0].rule"],
                     "未知的类型 'fixd'；可选：host, fixed",
                     "unknown type 'fixd'; valid: host, fixed",
                     id="unknown rule type"),
        pytest.param(BASE + GOOD_AGREEMENT.replace("fixed,", "fixd,"), ["agreements[0].rule"],
                     "；您是否指 'fixed'？", "; did you mean 'fixed'?",
                     id="unknown rule type, did you mean"),
        pytest.param(BASE + "colour: red\n", ["colour"], "未知的键 'colour'（请检查拼写",
                     "unknown key 'colour' (check the spelling", id="unknown key"),
        pytest.param(BASE + "discount_rat: 0.03\n", ["discount_rat"],
                     "未知的键 'discount_rat'（请检查拼写；参见 docs/scenario-format.md）；"
                     "您是否指 'discount_rate'？",
                     "unknown key 'discount_rat' (check the spelling; see docs/scenario-format.md)"
                     "; did you mean 'discount_rate'?", id="unknown key, did you mean"),
        pytest.param(BASE.replace("province: sichuan", "province: sichaun"),
                     ["jurisdictions[0].province"],
                     "'sichaun' 不是可选值之一：sichuan, chongqing, other；您是否指 'sichuan'？",
                     "'sichaun' is not one of sichuan, chongqing, other; did you mean 'sichuan'?",
                     id="unknown province"),
        pytest.param(BASE + "agreements: [{id: x, covers: {park: nowhere}, rule: {type: host}}]\n",
                     ["agreements[0].covers.park"], "未知的园区 'nowhere'",
                     "unknown park 'nowhere'", id="unknown park"),
        pytest.param(BASE + GOOD_AGREEMENT.replace("{a: 0.6, b: 0.4}", "{origin: 1.0}"),
                     ["agreements[0].rule"], "规则使用了角色 'origin'，但税源 's1' 没有 origin",
                     "rule uses role 'origin' but stream 's1' has no origin",
                     id="role a stream does not have"),
        pytest.param(BASE + GOOD_AGREEMENT.replace("{a: 0.6, b: 0.4}", "{a: 0.6, hots: 0.4}"),
                     ["bad.yaml:14:", "agreements[0].rule"],
                     "未知的辖区或角色 'hots'（辖区：a, b；角色：host, origin, destination）；"
                     "您是否指 'host'？",
                     "unknown jurisdiction or role 'hots' (jurisdictions: a, b; roles: host, "
                     "origin, destination); did you mean 'host'?", id="unknown id in a rule"),
        pytest.param(BASE + "agreements: [{id: x, covers: {stream: s1}, "
                     "rule: {type: factors, preset: us_uditp}}]\n",
                     ["agreements[0].rule.preset"],
                     "未知的 factors 预设 'us_uditp'；可选：ca_provincial",
                     "unknown factors preset 'us_uditp'; valid: ca_provincial",
                     id="unknown preset"),
        pytest.param(BASE + "agreements: [{id: x, covers: {stream: s1}, "
                     "rule: {type: factors, preset: us_uditp}}]\n",
                     ["agreements[0].rule.preset"], "您是否指 'us_uditpa'？",
                     "did you mean 'us_uditpa'?", id="unknown preset, did you mean"),
        pytest.param("jurisdictions: [oops\n", ["bad.yaml:"], "不是有效的 YAML",
                     "not valid YAML", id="broken YAML"),
        pytest.param("- just\n- a list\n", [], "文件须是键值映射", "must be a mapping",
                     id="not a mapping"),
    ],
)
def test_bad_scenario(tmp_path, capsys, text, place, zh, en):
    path = write(tmp_path, text)
    with pytest.raises(sharing.ScenarioError) as err:
        sharing.simulate(sharing.load_scenario(path))
    says(err.value, zh, en, *place)
    code, out = validate(path, capsys)
    assert code == 2
    assert zh in out and en in out, out


def test_non_utf8_file(tmp_path, capsys):
    path = tmp_path / "gbk.yaml"
    path.write_bytes((BASE + "description: 高竹新区\n").encode("gbk"))
    code, err = validate(path, capsys)
    assert code == 2
    assert "gbk.yaml: 不是 UTF-8 文本：第 2 行第 7 个字符处的字节 0xB2" in err
    assert "not UTF-8 text: row 2, character 7, byte 0xB2; save the file as UTF-8" in err


def test_missing_and_unreadable_files(tmp_path, capsys):
    code, err = validate(tmp_path / "nope.yaml", capsys)
    assert code == 2 and "nope.yaml: 没有这个文件，也不是内置情景" in err
    assert "/ no such file, and not a built-in scenario" in err
    code, err = validate(tmp_path, capsys)
    assert code == 2 and "这是文件夹，不是情景文件 / is a directory, not a scenario file" in err


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_unreadable_file(capsys):
    code, err = validate(Path("/proc/self/mem"), capsys)
    assert code == 2 and "/proc/self/mem: 无法读取（" in err and "/ cannot read (" in err


def test_huge_file(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    code, err = validate(path, capsys)
    assert code == 2
    assert "huge.yaml: 文件大小 50.0 MB，超过上限 2 MB" in err
    assert "file is 50.0 MB; the limit is 2 MB" in err


def test_all_problems_are_listed_once(tmp_path):
    text = BASE.replace("base: 100", "base: .nan").replace("base: 50", "base: .inf")
    messages = problems(write(tmp_path, text))
    assert len(messages) == 2


def test_no_traceback_through_the_console_script(tmp_path):
    path = write(tmp_path, BASE + GOOD_AGREEMENT.replace("b: 0.4", "b: 0.3"))
    proc = subprocess.run([sys.executable, "-m", "sharing", "validate", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "输入有误 / bad input" in proc.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(BASE + """\
agreements:
  - id: rent
    covers: {stream: s1}
    rule: {type: fixed_return, payer: host, beneficiary: b, rate: 0.1, capital: 100}
""", ["bad.yaml:14:", "agreements[0].rule.payer", "payer 须是辖区 id",
      "must be a jurisdiction id"], id="fixed_return payer is a role"),
        pytest.param(BASE + """\
agreements:
  - id: si
    covers: {stream: s1}
    rule: {type: stock_increment, base_year: 2021, baseline: {host: 5},
           increment: {type: fixed, shares: {a: 0.5, b: 0.5}}}
""", ["agreements[0].rule.baseline.host", "存量基数按承载辖区 id 填写",
      "per host jurisdiction id"], id="baseline role"),
        pytest.param(BASE + GOOD_AGREEMENT + """\
costs:
  - {id: k, parties: [a, b], by_year: {2021: 10}, paid_by: a,
     rule: {type: by_benefit, agreement: deal, parties: [a, yubie]}}
""", ["costs[0].rule.parties[1]", "未知辖区 'yubie'", "unknown jurisdiction 'yubie'"],
            id="by_benefit party"),
        pytest.param(BASE + GOOD_AGREEMENT + """\
costs:
  - {id: deal, parties: [a, b], by_year: {2021: 10}, paid_by: a}
contributions:
  deal: {capital: {a: 1, b: 1}}
""", ["contributions.deal", "'deal' 同时是协议和成本的 id",
      "is the id of an agreement and of a cost"], id="ambiguous owner"),
        pytest.param(BASE + "agreements:\n  - {id: x, covers: {stream: s1, tax: eit}, "
                     "rule: {type: host}}\n",
                     ["bad.yaml:12:", "agreements[0].covers", "协议 'x' 没有覆盖任何税源",
                      "covers no stream"],
                     id="covers nothing (found by the engine, still located)"),
    ],
)
def test_more_bad_scenarios(tmp_path, capsys, text, expected):
    path = write(tmp_path, text)
    code, err = validate(path, capsys)
    assert code == 2
    for fragment in expected:
        assert fragment in err, err


def test_every_unknown_id_is_reported_at_once(tmp_path, capsys):
    text = BASE.replace("host: a", "host: x").replace("host: b", "host: y")
    code, err = validate(write(tmp_path, text), capsys)
    assert code == 2
    assert "unknown jurisdiction 'x'" in err and "unknown jurisdiction 'y'" in err
    assert "未知辖区 'x'" in err and "未知辖区 'y'" in err


def test_unknown_firm_with_firms_csv(tmp_path, capsys):
    (tmp_path / "firms.csv").write_text(
        "id,origin,destination,move_year,pre_move_vat\nf1,a,b,2022,100\n", encoding="utf-8")
    text = BASE + "firms_csv: firms.csv\nagreements:\n  - {id: m, covers: {firm: [f1, f9]}, " \
                  "rule: {type: host}}\n"
    code, err = validate(write(tmp_path, text), capsys)
    assert code == 2
    assert "agreements[0].covers.firm: 未知的企业 'f9'（已有：f1） / " \
           "unknown firm 'f9' (known: f1)" in err
