"""The command line, run as a user runs it: ``python -m sharing ...`` and the ``sharing`` script."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import sharing
from sharing.io import TOTAL
from sharing.result import SUMMARY_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
GAOZHU = ROOT / "scenarios" / "gaozhu.yaml"
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))
SCRIPT = Path(sys.executable).parent / "sharing"
BOM = b"\xef\xbb\xbf"


def cli(*args, script: bool = False) -> subprocess.CompletedProcess:
    command = [str(SCRIPT)] if script else [sys.executable, "-m", "sharing"]
    return subprocess.run([*command, *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, encoding="utf-8", timeout=120, stdin=subprocess.DEVNULL)


def test_validate_prints_ok():
    out = cli("validate", "scenarios/gaozhu.yaml")
    assert out.returncode == 0, out.stderr
    assert "scenarios/gaozhu.yaml: ok" in out.stdout
    assert out.stderr == ""


def test_every_scenario_validates():
    out = cli("validate", *SCENARIOS)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(": ok") == len(SCENARIOS)


@pytest.mark.parametrize("path", SCENARIOS,
                         ids=[p.relative_to(ROOT / "scenarios").as_posix() for p in SCENARIOS])
def test_every_scenario_runs(path, tmp_path):
    out = cli("run", path, "-o", tmp_path)
    assert out.returncode == 0, out.stderr
    expected = sharing.simulate(sharing.load_scenario(path)).summary
    written = pd.read_csv(tmp_path / "summary.csv", encoding="utf-8-sig",
                          dtype={"jurisdiction": str})
    assert list(written.columns) == SUMMARY_COLUMNS
    total = written[written["jurisdiction"] == TOTAL]
    rows = written[written["jurisdiction"] != TOTAL].reset_index(drop=True)
    assert list(rows["jurisdiction"]) == list(expected["jurisdiction"])
    money = [c for c in SUMMARY_COLUMNS if c not in ("jurisdiction", "name", "name_en")]
    # amounts are rounded to 0.01 万元 so that the rows add up exactly to the total row
    pd.testing.assert_frame_equal(rows[money], expected[money], check_dtype=False,
                                  rtol=0, atol=0.0101)
    assert len(total) == 1
    np.testing.assert_allclose(total[money].to_numpy()[0], rows[money].sum().to_numpy(),
                               rtol=0, atol=1e-6)
    for jid in expected["jurisdiction"]:
        assert jid in out.stdout


def test_run_writes_csv_and_prints_table(tmp_path):
    out = cli("run", "scenarios/gaozhu.yaml", "-o", tmp_path / "out")
    assert out.returncode == 0, out.stderr
    for name in ("flows.csv", "summary.csv"):
        path = tmp_path / "out" / name
        assert path.read_bytes().startswith(BOM), f"{name} has no UTF-8 BOM for Excel"
    flows = pd.read_csv(tmp_path / "out" / "flows.csv", encoding="utf-8-sig")
    assert {"year", "jurisdiction", "stream", "tax", "kind", "amount"} <= set(flows.columns)
    assert {"collected", "retained", "allocated"} <= set(flows["kind"])
    lines = out.stdout.splitlines()
    assert "川渝高竹新区" in lines[0]
    header = next(line for line in lines if "jurisdiction" in line)
    assert "净收益现值" in header and "PV net benefit" in header
    assert any(line.split()[:1] == ["guangan"] and "广安" in line for line in lines)
    assert any(line.split()[:1] == ["yubei"] and "渝北" in line for line in lines)


def test_compare_same_file(tmp_path):
    out = cli("compare", "scenarios/gaozhu.yaml", "scenarios/gaozhu.yaml")
    assert out.returncode == 0, out.stderr
    assert "广安市(邻水县)" in out.stdout and "渝北区" in out.stdout
    assert "scenarios/gaozhu.yaml #2" in out.stdout


def test_compare_identical_scenarios_has_zero_differences(tmp_path):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_bytes(GAOZHU.read_bytes())
    out = cli("compare", tmp_path / "a.yaml", tmp_path / "b.yaml", "-o", tmp_path / "c.csv")
    assert out.returncode == 0, out.stderr
    assert "广安市(邻水县)" in out.stdout and "渝北区" in out.stdout
    table = pd.read_csv(tmp_path / "c.csv", encoding="utf-8-sig")
    assert set(table["jurisdiction"]) == {"guangan", "yubei"}
    assert "PV net benefit [a]" in table.columns and "PV net benefit [b]" in table.columns
    diffs = [c for c in table.columns if "−" in c]
    assert diffs, f"no difference columns in {list(table.columns)}"
    assert (table[diffs].abs() < 1e-6).all().all()


def test_compare_two_scenarios_matches_library(tmp_path):
    other = ROOT / "scenarios" / "gaozhu_fixed_5050.yaml"
    out = cli("compare", GAOZHU, other, "-o", tmp_path / "c.csv")
    assert out.returncode == 0, out.stderr
    table = pd.read_csv(tmp_path / "c.csv", encoding="utf-8-sig").set_index("jurisdiction")
    a = sharing.simulate(sharing.load_scenario(GAOZHU)).summary.set_index("jurisdiction")
    b = sharing.simulate(sharing.load_scenario(other)).summary.set_index("jurisdiction")
    diff = table["PV net benefit [gaozhu_fixed_5050 − gaozhu]"]
    expected = (b["pv_net_benefit"] - a["pv_net_benefit"]).reindex(diff.index)
    pd.testing.assert_series_equal(diff, expected, check_names=False, rtol=0, atol=0.005)


def test_compare_many_files_with_a_baseline_and_a_language(tmp_path):
    # Three built-in scenarios by name, differences against the second, in Chinese.
    names = ["gaozhu", "gaozhu_fixed_5050", "suitong"]
    out = cli("compare", *names, "--baseline", "gaozhu_fixed_5050", "--lang", "zh",
              "-o", tmp_path / "c.csv")
    assert out.returncode == 0, out.stderr
    assert "净收益现值（万元，基准：gaozhu_fixed_5050）" in out.stdout
    assert "PV net benefit" not in out.stdout  # Chinese only
    assert max(len(line) for line in out.stdout.splitlines()) < 100  # narrow: long format
    results = {n: sharing.simulate(sharing.load_scenario(ROOT / "scenarios" / f"{n}.yaml"))
               for n in names}
    line = next(ln for ln in out.stdout.split("净收益现值（")[1].splitlines()
                if ln.split()[:2] == ["广安市(邻水县)", "gaozhu"])
    value, difference = (float(x.replace(",", "")) for x in line.split()[2:4])
    pv = {n: r.summary.set_index("jurisdiction").at["guangan", "pv_net_benefit"]
          for n, r in results.items() if n != "suitong"}
    assert value == pytest.approx(pv["gaozhu"], abs=0.005)
    assert difference == pytest.approx(pv["gaozhu"] - pv["gaozhu_fixed_5050"], abs=0.005)
    table = pd.read_csv(tmp_path / "c.csv", encoding="utf-8-sig")
    assert list(table.columns[:2]) == ["辖区", "名称"]
    assert "净收益现值 [gaozhu − gaozhu_fixed_5050]" in table.columns
    assert "净收益现值 [suitong − gaozhu_fixed_5050]" in table.columns
    assert not any("[gaozhu_fixed_5050 − " in c for c in table.columns)
    # English
    out = cli("compare", *names[:2], "--lang", "en")
    assert "PV net benefit (10,000 CNY; baseline: gaozhu)" in out.stdout
    assert "广安" not in out.stdout and "Guang'an (Linshui County)" in out.stdout


def test_compare_unknown_baseline_says_so_in_both_languages():
    out = cli("compare", "gaozhu", "gaozhu_fixed_5050", "--baseline", "gaozu")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert ("基准情景 'gaozu' 不在对比之列（可选：gaozhu, gaozhu_fixed_5050）；您是否指 'gaozhu'？"
            in out.stderr)
    assert ("baseline 'gaozu' is not one of the scenarios compared (valid: gaozhu, "
            "gaozhu_fixed_5050); did you mean 'gaozhu'?" in out.stderr)


def test_builtin_scenario_by_name_from_any_folder(tmp_path):
    for name in ("gaozhu", "gaozhu.yaml", "formulary/eu_ccctb"):
        out = subprocess.run([sys.executable, "-m", "sharing", "run", name, "-o", "out"],
                             cwd=tmp_path, capture_output=True, text=True, encoding="utf-8",
                             timeout=120)
        assert out.returncode == 0, (name, out.stderr)
        assert (tmp_path / "out" / "summary.csv").exists()
    listed = subprocess.run([sys.executable, "-m", "sharing", "list"], cwd=tmp_path,
                            capture_output=True, text=True, encoding="utf-8", timeout=120)
    names = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert names == sorted(p.relative_to(ROOT / "scenarios").with_suffix("").as_posix()
                           for p in SCENARIOS)
    assert "gaozhu" in names and "formulary/eu_ccctb" in names


def test_unknown_builtin_name_suggests_the_closest():
    out = cli("run", "gaozu")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert ("gaozu: 没有这个文件，也不是内置情景（`sharing list` 列出内置情景）；"
            "您是否指 'gaozhu'？ / no such file, and not a built-in scenario (`sharing list` "
            "shows them); did you mean 'gaozhu'?") in out.stderr


def test_every_subpackage_is_installed():
    # pyproject.toml lists the packages (it maps scenarios/ to sharing.scenarios): a new
    # subpackage missing from the list would be missing from a wheel.
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "sharing").rglob("__init__.py")}
    found |= {".".join(("sharing", *p.relative_to(ROOT).parts))
              for p in [ROOT / "scenarios", *(ROOT / "scenarios").rglob("*")]
              if p.is_dir() and p.name != "__pycache__"}
    assert found <= listed, sorted(found - listed)
    assert {"sharing.scenarios", "sharing.scenarios.formulary"} <= listed


def test_terminal_and_csv_agree_to_the_cent(tmp_path):
    # The terminal prints the reconciled summary that summary.csv holds: 广安's allocated is
    # 219,949.755… 万元, 219,949.76 in both (so that the rows add up to the total row).
    out = cli("run", "gaozhu", "-o", tmp_path)
    assert out.returncode == 0, out.stderr
    written = pd.read_csv(tmp_path / "summary.csv", encoding="utf-8-sig", dtype=str,
                          keep_default_na=False)
    lines = out.stdout.splitlines()
    money = [c for c in SUMMARY_COLUMNS if c not in ("jurisdiction", "name", "name_en")]
    for _, row in written.iterrows():
        line = next(ln for ln in lines if ln.strip().startswith(row["jurisdiction"]))
        printed = [x.replace(",", "") for x in line.split()[-len(money):]]
        assert printed == [row[c] for c in money], (row["jurisdiction"], printed)
    assert "219,949.76" in out.stdout and "-0.00" not in out.stdout
    assert "中央补助 central subsidy" in out.stdout


def test_game_prints_names_scrb_and_no_negative_zero():
    out = cli("game", "gaozhu")
    assert out.returncode == 0, out.stderr
    assert "广安市(邻水县) Guang'an (Linshui County) + 渝北区 Yubei District" in out.stdout
    assert "可分成本剩余收益 SCRB" in out.stdout and "guangan" not in out.stdout
    assert "联盟价值 v(S)，现值（万元） / coalition values v(S), PV (10,000 CNY)" in out.stdout
    assert "分配方案，现值（万元） / allocations, PV (10,000 CNY)" in out.stdout
    assert "-0.00" not in out.stdout
    english = cli("game", "jjj_2015_relocation", "--lang", "en")
    assert english.returncode == 0, english.stderr
    assert "Beijing + Hebei" in english.stdout and "北京" not in english.stdout
    assert "coalition values v(S), PV (10,000 CNY)" in english.stdout
    assert "联盟价值" not in english.stdout
    assert "-0.00" not in english.stdout
    assert "SCRB" in english.stdout


def test_schema_prints_json_schema():
    out = cli("schema")
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    for key in ("years", "jurisdictions", "parks", "firms", "agreements", "costs"):
        assert key in schema["properties"]
    assert set(schema["required"]) >= {"name", "name_en", "years", "jurisdictions"}


def test_console_script_runs(tmp_path):
    if not SCRIPT.exists():
        pytest.skip(f"no console script at {SCRIPT} (package not installed in this venv)")
    out = cli("run", GAOZHU, "-o", tmp_path, script=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "summary.csv").exists()
    assert "guangan" in out.stdout


BAD_FILES = {
    "missing_key": ("scenario: 1\nname: 坏\nyears: {start: 2023, end: 2025}\n"
                    "jurisdictions:\n  - {id: a, name: 甲, name_en: A, province: sichuan}\n",
                    ["name_en: 缺少必填的键 / required key is missing"]),
    "bad_value": ("scenario: 1\nname: 坏\nname_en: bad\nyears: {start: 2023, end: 2025}\n"
                  "jurisdictions:\n  - {id: a, name: 甲, name_en: A, province: mars}\n",
                  [":6: jurisdictions[0].province: 'mars' 不是可选值之一：sichuan, chongqing, "
                   "other / 'mars' is not one of sichuan, chongqing, other"]),
    "not_yaml": ("scenario: 1\nname: [unclosed\n", ["不是有效的 YAML", "/ not valid YAML"]),
    "not_utf8": (b"name: \xd7\xf7\n", ["不是 UTF-8 文本", "/ not UTF-8"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_exits_2_with_message(case, tmp_path):
    content, expected = BAD_FILES[case]
    path = tmp_path / f"{case}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    for command in ("validate", "run"):
        out = cli(command, path)
        assert out.returncode == 2, (out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        assert str(path) in out.stderr
        for text in expected:
            assert text in out.stderr


def test_missing_file_exits_2(tmp_path):
    out = cli("run", tmp_path / "nope.yaml")
    assert out.returncode == 2
    assert "没有这个文件" in out.stderr and "no such file" in out.stderr
    assert "Traceback" not in out.stderr


DOCS = ROOT / "docs" / "scenario-format.md"


def doc_blocks(lang: str) -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    return [b.split("```", 1)[0] for b in text.split(f"```{lang}\n")[1:]]


def test_documented_scenarios_run(tmp_path):
    scenarios = [b for b in doc_blocks("yaml") if b.startswith("scenario: 1")]
    assert scenarios, "docs/scenario-format.md has no complete example"
    for k, block in enumerate(scenarios):
        path = tmp_path / f"doc{k}.yaml"
        path.write_text(block, encoding="utf-8")
        out = cli("run", path)
        assert out.returncode == 0, out.stderr


def test_documented_rules_validate():
    from pydantic import TypeAdapter

    from sharing.rules import Rule

    adapter = TypeAdapter(Rule)
    rules = [chunk for block in doc_blocks("yaml") if block.startswith("rule:")
             for chunk in re.split(r"^(?=rule:)", block, flags=re.MULTILINE) if chunk]
    assert len(rules) >= 10
    types = set()
    for text in rules:
        rule = adapter.validate_python(yaml.safe_load(text)["rule"])
        types.add(rule.type)
    assert types >= {"host", "fixed", "factors", "stock_increment", "schedule", "capped",
                     "floor", "tiered", "fixed_return", "claims", "optimized"}


def test_documented_firms_csv_runs(tmp_path):
    csv = next(b for b in doc_blocks("text") if b.startswith("id,"))
    (tmp_path / "firms.csv").write_text(csv, encoding="utf-8")
    jjj = ROOT / "scenarios" / "jjj_2015_relocation.yaml"
    if not jjj.exists():
        pytest.skip("scenarios/jjj_2015_relocation.yaml not there")
    path = tmp_path / "with_csv.yaml"
    path.write_text(jjj.read_text(encoding="utf-8") + "\nfirms_csv: firms.csv\n",
                    encoding="utf-8")
    out = cli("run", path, "-o", tmp_path / "out")
    assert out.returncode == 0, out.stderr
    flows = pd.read_csv(tmp_path / "out" / "flows.csv", encoding="utf-8-sig")
    assert {"f001", "f002"} <= set(flows["source"])


def test_game_prints_solutions_and_writes_back(tmp_path):
    out = tmp_path / "fair.yaml"
    proc = cli("game", str(GAOZHU), "--write-back", "gaozhu_revenue", "--solution",
               "scrb", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "广安市(邻水县)" in proc.stdout and "nucleolus" in proc.stdout
    fair = sharing.load_scenario(out)
    assert fair.agreements[0].rule.type == "optimized"
    summary = sharing.simulate(fair).summary.set_index("jurisdiction")
    # Two players: Shapley = standalone + half the surplus each, so the gains are equal (up
    # to the shares' rounding to 1e-6: at most 1e-6 of the pool, about 0.2 万元 here).
    assert summary.loc["guangan", "gain"] == pytest.approx(summary.loc["yubei", "gain"], abs=0.5)
    # The user's file is kept: its comments are still there.
    assert "# Share of the zone's revenue each side would reach" in out.read_text("utf-8")


def test_game_unknown_player_suggests_the_closest():
    proc = cli("game", str(GAOZHU), "--players", "guangan", "yubie")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "未知辖区 'yubie'；情景中有：guangan, yubei；您是否指 'yubei'？" in proc.stderr
    assert "unknown jurisdiction(s) 'yubie'; the scenario has guangan, yubei; did you mean " \
           "'yubei'?" in proc.stderr


def test_game_bad_agreement_exits_2(tmp_path):
    proc = cli("game", str(GAOZHU), "--write-back", "nope", "-o", str(tmp_path / "x.yaml"))
    assert proc.returncode == 2
    assert "未知协议 'nope'；情景中有：gaozhu_revenue" in proc.stderr
    assert "unknown agreement 'nope'; the scenario has gaozhu_revenue" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_library_compare_with_a_baseline():
    a = sharing.load_scenario(GAOZHU)
    b = sharing.load_scenario(ROOT / "scenarios" / "gaozhu_fixed_5050.yaml")
    table = sharing.compare({"a": a, "b": b}, baseline="b")
    diff = table[("gain", "a − b")]
    gains = {n: sharing.simulate(s).summary.set_index("jurisdiction")["gain"]
             for n, s in (("a", a), ("b", b))}
    pd.testing.assert_series_equal(diff, gains["a"] - gains["b"], check_names=False)
    assert ("gain", "b − a") not in table.columns
    with pytest.raises(sharing.ScenarioError) as err:
        sharing.compare({"a": a, "b": b}, baseline="c")
    [problem] = err.value.problems
    assert "基准情景 'c' 不在对比之列（可选：a, b）" in problem
    assert "baseline 'c' is not one of the scenarios compared (valid: a, b)" in problem
