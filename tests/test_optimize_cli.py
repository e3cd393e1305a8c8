"""``sharing optimize`` as a user runs it: exit codes, and ``sharing run`` on the written file
printing the same payoffs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GAOZHU = ROOT / "scenarios" / "gaozhu.yaml"


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sharing", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, encoding="utf-8", timeout=300,
                          stdin=subprocess.DEVNULL)


def pv_column(text: str, header: str) -> dict[str, str]:
    """The printed values of one column of a table, by jurisdiction."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if header in line and "jurisdiction" in line)
    head = lines[start]
    cells = re.split(r"\s{2,}", head.strip())
    col = next(k for k, c in enumerate(cells) if c.startswith(header))
    out = {}
    for line in lines[start + 1:]:
        parts = line.split()
        if not parts or parts[0] not in ("guangan", "yubei"):
            break
        numbers = [p for p in parts if re.fullmatch(r"-?[\d,]+\.\d\d", p)]
        out[parts[0]] = numbers[col - (len(cells) - len(numbers))]
    return out


def test_optimize_then_run_prints_the_same_payoffs(tmp_path):
    out = tmp_path / "optimized.yaml"
    opt = cli("optimize", GAOZHU, "--objective", "nash", "-o", out)
    assert opt.returncode == 0, opt.stderr
    assert "份额 shares" in opt.stdout and "说明 explanation" in opt.stdout
    assert "目标：纳什议价" in opt.stdout and "Objective: Nash bargaining" in opt.stdout
    run = cli("run", out)
    assert run.returncode == 0, run.stderr
    printed = pv_column(opt.stdout, "净收益现值 PV net benefit")
    assert printed == pv_column(run.stdout, "净收益现值 PV net benefit")
    assert len(printed) == 2


def test_infeasible_exits_3_after_the_relaxation(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("objective: maximin_gain\nconstraints:\n  bounds: {guangan: [0.6, 0.8]}\n",
                    encoding="utf-8")
    proc = cli("optimize", GAOZHU, "--spec", spec, "-o", tmp_path / "x.yaml")
    assert proc.returncode == 3, proc.stderr
    assert "最小放宽 smallest relaxation" in proc.stdout
    assert "把广安市(邻水县)的份额下限从 60% 降到" in proc.stdout
    assert "lower Guang'an (Linshui County)'s minimum share from 60% to" in proc.stdout
    assert not (tmp_path / "x.yaml").exists()


def test_bad_spec_exits_2_naming_file_line_and_key(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("objective: maximin_gain\nconstraints:\n  bounds:\n"
                    "    guangam: [0.3, 0.7]\n", encoding="utf-8")
    proc = cli("optimize", GAOZHU, "--spec", spec)
    assert proc.returncode == 2
    assert f"{spec}:4: constraints.bounds.guangam: 未知辖区 'guangam'" in proc.stderr
    assert "did you mean 'guangan'" in proc.stderr and "Traceback" not in proc.stderr


def test_non_linear_split_exits_2_with_the_linear_alternative():
    proc = cli("optimize", ROOT / "scenarios" / "qingchuan_guangyuan.yaml")
    assert proc.returncode == 2
    assert "yearly_floor: {qingchuan: {minimum: 500, from_year: 2013}}" in proc.stderr
    assert "青川县的保底" in proc.stderr and "the floor of Qingchuan County" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_objective_exits_2_with_did_you_mean():
    proc = cli("optimize", GAOZHU, "--objective", "maximin")
    assert proc.returncode == 2
    assert "未知目标 'maximin'" in proc.stderr and "did you mean 'maximin_gain'" in proc.stderr
