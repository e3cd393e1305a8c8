"""Shares written back: rounded to 1e-6 summing to 1, and the user's YAML file kept as it was
written except for the decided rules and the provenance lines."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import sharing
from sharing.writeback import (
    Provenance,
    SharesWrite,
    edit_yaml,
    round_shares,
    write_file,
    write_shares,
)

ROOT = Path(__file__).resolve().parents[1]
GAOZHU = ROOT / "scenarios" / "gaozhu.yaml"
MADE = Provenance("optimize", "份额经优化：测试", "shares optimized: test",
                  "sharing optimize: test", "maximin_gain", {"participation": {"margin": 0.0}})


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12).filter(lambda v: sum(v) > 1e-3))
@settings(max_examples=200, deadline=None)
def test_rounded_shares_sum_to_one_on_the_grid(values):
    w = np.array(values) / sum(values)
    r = round_shares(w)
    assert r.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(r * 1e6, np.round(r * 1e6), atol=1e-6)
    assert np.abs(r - w).max() < 1e-6 + 1e-12
    assert (r >= 0).all()


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    removed = [d[1:] for d in diff if d.startswith("-") and not d.startswith("---")]
    added = [d[1:] for d in diff if d.startswith("+") and not d.startswith("+++")]
    return removed, added


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sharing", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, encoding="utf-8", timeout=300,
                          stdin=subprocess.DEVNULL)


def test_optimize_changes_only_the_decided_rule_and_the_provenance(tmp_path):
    out = tmp_path / "optimized.yaml"
    proc = cli("optimize", GAOZHU, "-o", out)
    assert proc.returncode == 0, proc.stderr
    before, after = GAOZHU.read_text("utf-8"), out.read_text("utf-8")
    removed, added = changed_lines(before, after)
    assert removed == [
        "name: 川渝高竹新区 — 存量各自、增量五五",
        "name_en: Chuanyu Gaozhu New Area — stock stays with each side, increment split 50:50",
        "    name: 高竹新区税收分享",
        "    name_en: Gaozhu tax sharing",
        "      increment: {type: fixed, shares: {guangan: 0.5, yubei: 0.5}}",
        "    reference: 川渝高竹新区 利益分享 (中新网 2021-12-27):存量各自、增量五五",
    ]
    assert added[0] == "name: 川渝高竹新区 — 存量各自、增量五五（份额经优化：最大化最小收益）"
    assert "      increment:" in added and "        type: optimized" in added
    assert any(line.startswith("    reference: '份额经优化：最大化最小收益 / shares optimized")
               and "formerly: 川渝高竹新区" in line for line in added)
    # every comment of the user's file is still there, in order
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in after.splitlines() if line.lstrip().startswith("#")] == comments
    rule = sharing.load_scenario(out).agreements[0].rule
    assert rule.increment.method == "optimize" and rule.increment.objective == "maximin_gain"
    assert rule.increment.constraints == {"participation": {"margin": 0.0}}


def test_game_write_back_keeps_the_file(tmp_path):
    out = tmp_path / "fair.yaml"
    proc = cli("game", GAOZHU, "--write-back", "gaozhu_revenue", "--solution", "nucleolus",
               "-o", out)
    assert proc.returncode == 0, proc.stderr
    removed, _ = changed_lines(GAOZHU.read_text("utf-8"), out.read_text("utf-8"))
    # the whole rule (stock/increment, 4 lines) becomes the nucleolus split
    assert removed[4:8] == ["      type: stock_increment", "      base_year: 2023",
                            "      stock: {type: host}",
                            "      increment: {type: fixed, shares: {guangan: 0.5, yubei: 0.5}}"]
    assert len(removed) == 9
    fair = sharing.load_scenario(out)
    assert fair.agreements[0].rule.method == "nucleolus"
    assert "份额按核仁" in fair.agreements[0].name and "nucleolus" in fair.agreements[0].name_en
    assert "存量各自、增量五五" not in fair.agreements[0].name


FLOW = """\
# a tiny scenario, written in flow style
scenario: 1
name: 小例
name_en: tiny
years: {start: 2021, end: 2022}
jurisdictions:
  - {id: a, name: 甲, name_en: A, province: other}   # first
  - {id: b, name: 乙, name_en: B, province: other}
retention: {default: {vat: 1.0}}
parks:
  - {id: P, partners: [a, b], sites: [{host: a, taxes: {vat: {by_year: {2021: 100, 2022: 100}}}}]}
agreements:
  - {id: deal, covers: {park: P}, rule: {type: fixed, shares: {a: 0.5, b: 0.5}}}  # 五五
"""


def test_flow_style_agreement_stays_flow_and_gains_a_reference():
    sc = sharing.parse_scenario(yaml.safe_load(FLOW))
    write = SharesWrite(0, "rule", (((2021, 2022), {"a": 0.25, "b": 0.75}),))
    text = edit_yaml(FLOW, sc, [write], MADE)
    removed, added = changed_lines(FLOW, text)
    assert removed == ["name: 小例", "name_en: tiny",
                       "  - {id: deal, covers: {park: P}, rule: {type: fixed, shares: {a: 0.5, "
                       "b: 0.5}}}  # 五五"]
    assert added[-1].startswith("  - {id: deal, covers: {park: P}, rule: {type: optimized, ")
    assert added[-1].endswith(", reference: '份额经优化：测试 / shares optimized: test'}  # 五五")
    again = sharing.parse_scenario(yaml.safe_load(text))
    assert again.agreements == write_shares(sc, [write], MADE).agreements
    assert again.agreements[0].rule.stages[0].shares == {"a": 0.25, "b": 0.75}


def test_a_file_written_elsewhere_gets_a_copy_of_its_firms_csv(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "firms.csv").write_text("id,origin,destination,move_year,pre_move_vat\n"
                                   "f1,a,b,2022,10\n", encoding="utf-8")
    text = FLOW + "firms_csv: firms.csv\n"
    (src / "s.yaml").write_text(text, encoding="utf-8")
    sc = sharing.load_scenario(src / "s.yaml")
    write = SharesWrite(0, "rule", (((2021, 2022), {"a": 0.4, "b": 0.6}),))
    target = write_file(src / "s.yaml", tmp_path / "out" / "t.yaml", sc, [write], MADE)
    moved = sharing.load_scenario(target)
    assert moved.firms_csv == "firms.csv" and [f.id for f in moved.firms] == ["f1"]
    assert (tmp_path / "out" / "firms.csv").read_bytes() == (src / "firms.csv").read_bytes()
    (tmp_path / "out" / "firms.csv").write_text("other", encoding="utf-8")
    again = write_file(src / "s.yaml", tmp_path / "out" / "t.yaml", sc, [write], MADE)
    assert sharing.load_scenario(again).firms_csv == "t_firms.csv"
    assert (tmp_path / "out" / "firms.csv").read_text(encoding="utf-8") == "other"
