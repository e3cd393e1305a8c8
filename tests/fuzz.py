"""Fuzz the loaders and exports through the CLI, in-process: seeded mutations of the shipped
scenarios, of scenario workbooks (``export-xlsx``) and of firm CSVs (``firms_csv``).

Each case mutates one input (deletes a key, gives a value the wrong type, puts in NaN, inf or
a huge number, duplicates an item and so its id, cuts the text, re-encodes it, adds a stray
byte or a control character), then runs ``validate``, ``run`` (CSV or xlsx) or
``import-xlsx`` through :func:`sharing.cli.main`. A case is *bad* when the CLI

- exits with anything but 0 (done) or 2 (bad input, with the bilingual heading), e.g. 1 for
  "internal error", or lets an exception out;
- prints a traceback or a numpy warning;
- writes a non-finite number (``inf``, ``nan``) into an export (the console shows the
  summary.csv numbers);
- takes longer than :data:`CASE_SECONDS`.

``pytest`` runs a few hundred cases (``tests/test_fuzz.py``); the full campaign is::

    python tests/fuzz.py --cases 10000 [--seed 0] [--shard 0/2]

which prints one line per bad case and a count at the end (exit 1 when any case is bad).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import math
import random
import re
import signal
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from sharing.cli import main
from sharing.scenario import builtin_scenarios

CASE_SECONDS = 30
"""CPU seconds one command may take (CPU time, not wall-clock: the machine may be shared);
a command blocked without using the CPU (a FIFO) is stopped after :data:`WALL_SECONDS`."""
WALL_SECONDS = 300
CLEAN_EXITS = (0, 2)
WEIRD_VALUES = [None, "", "x", "=1+1", " =cmd|' /C calc'!A0", "\x01", "a\x00b", [], {}, [1],
                {"x": 1}, True, -1, 0, 1, 0.5, 2024.9, 1e30, -1e30, 1e308, float("nan"),
                float("inf"), -float("inf"), 2**63, -(2**63), 10**30, "1e999", "NaN", "2024",
                "[0]", "0.6", 60, "０.５", "四川", "a" * 5000]
HOT_KEYS = {"move_year", "production_year", "start", "end", "base_year", "years", "preset",
            "base", "growth", "by_year", "shares", "id", "name", "firms_csv", "amount", "cap"}
FIRM_COLUMNS = ["id", "name", "name_en", "origin", "destination", "move_year",
                "production_year", "growth", "pre_move_vat", "pre_move_eit", "illustrative"]


class CaseTimeout(BaseException):
    """Raised by the alarm inside a case that runs too long (not an Exception, so the CLI's
    own ``except Exception`` cannot swallow it)."""


@dataclass
class Outcome:
    case: int
    kind: str
    command: str
    problem: str


def _walk(node, path=()):
    """Every (path, value) inside nested dicts and lists."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, i))


def _get(root, path):
    for p in path:
        root = root[p]
    return root


def mutate_data(data, rng: random.Random):
    """One structural mutation of parsed YAML data (in place; returns the data)."""
    places = [(p, v) for p, v in _walk(data) if p]
    if not places:
        return data
    if rng.random() < 0.2:  # a key where hostile values did harm before
        hot = [(p, v) for p, v in places if p[-1] in HOT_KEYS]
        places = hot or places
    path, value = rng.choice(places)
    parent = _get(data, path[:-1])
    key = path[-1]
    op = rng.randrange(6)
    if op == 0:  # delete
        del parent[key]
    elif op == 1 and isinstance(value, list) and value:  # duplicate an item (and its id)
        value.append(copy.deepcopy(rng.choice(value)))
    elif op == 2 and isinstance(value, dict):  # an unknown key
        value[rng.choice(["x", "bogus", "shares", "years", "preset"])] = rng.choice(WEIRD_VALUES)
    elif op == 3 and isinstance(value, int | float) and not isinstance(value, bool):
        parent[key] = rng.choice([value * 10**rng.randrange(1, 40), -value, value + 0.5,
                                  2**63, 1e30, 1e308, float("nan"), float("inf")])
    elif op == 4 and isinstance(value, str):
        parent[key] = rng.choice(["\x01" + value, value + "\x00", "=" + value, "",
                                  value * 200, " \n=1", "＝1", "|x"])
    else:
        parent[key] = copy.deepcopy(rng.choice(WEIRD_VALUES))
    return data


def mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    """One textual mutation: cut, stray byte, re-encoding, control character, deep nesting."""
    op = rng.randrange(6)
    if op == 0:
        return raw[: rng.randrange(len(raw) + 1)]
    if op == 1:
        at = rng.randrange(len(raw) + 1)
        return raw[:at] + bytes([rng.choice([0x80, 0xff, 0xc3, 0x00, 0x01, 0x1b])]) + raw[at:]
    if op == 2:
        text = raw.decode("utf-8", "replace")
        return text.encode(rng.choice(["gb18030", "utf-16", "latin-1"]), "replace")
    if op == 3:
        depth = rng.choice([100, 1000, 5000])
        return raw + b"\nx: " + b"[" * depth + b"]" * depth + b"\n"
    if op == 4:
        lines = raw.split(b"\n")
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        return b"\n".join(lines)
    at = rng.randrange(len(raw) + 1)
    return raw[:at] + rng.choice([b"\t", b"\r", b"&a", b"*a", b"!!python/object:os.system",
                                  b": :", b"- "]) + raw[at:]


def _check_exports(out: Path) -> str | None:
    """A non-finite number in any CSV or workbook under ``out``: in a CSV, an ``inf`` or
    ``nan`` in a column of numbers (a firm may be named "NaN")."""
    import pandas as pd
    for csv in out.rglob("*.csv"):
        df = pd.read_csv(csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        for col in df.columns:
            numbers = pd.to_numeric(df[col], errors="coerce")
            finite = numbers[numbers.notna() & (numbers.abs() != float("inf"))]
            if len(finite) and (~numbers.isna() & ~numbers.isin(finite)).any() | \
                    df[col].str.lower().isin(["nan", "inf", "-inf"]).any():
                return f"{csv.name}, column {col} holds a non-finite number"
    for book in out.rglob("*.xlsx"):
        from openpyxl import load_workbook
        wb = load_workbook(book, read_only=True)
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                for v in row:
                    if isinstance(v, float) and not math.isfinite(v):
                        return f"{book.name} holds {v}"
        wb.close()
    return None


def run_cli(argv: list[str], seconds: float = CASE_SECONDS) -> tuple[int | str, str, str,
                                                                       float]:
    """(exit status or the escaped exception, stdout, stderr, CPU seconds) of one CLI call."""
    out, err = io.StringIO(), io.StringIO()

    fired = []

    def alarm(*_):
        fired.append(True)  # noticed even where the exception is swallowed (a finaliser)
        raise CaseTimeout

    old = signal.signal(signal.SIGALRM, alarm), signal.signal(signal.SIGPROF, alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, WALL_SECONDS)
    start = time.process_time()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                status: int | str = main(argv)
            except CaseTimeout:
                status = "timeout"
            except SystemExit as e:
                status = e.code if isinstance(e.code, int) else 2
            except BaseException as e:
                status = f"{type(e).__name__}: {e}"[:300]
        if fired:
            status = "timeout"
        for w in caught:
            err.write(f"warning: {w.category.__name__}: {w.message}\n")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGALRM, old[0])
        signal.signal(signal.SIGPROF, old[1])
    return status, out.getvalue(), err.getvalue(), time.process_time() - start


def judge(argv: list[str], out_dir: Path | None = None) -> tuple[str | None, int | str]:
    """Run one command and say what is wrong with its outcome (None: clean)."""
    status, stdout, stderr, _ = run_cli(argv)
    if status not in CLEAN_EXITS:
        return f"exit {status}: {stderr.strip()[-300:]}", status
    if "Traceback" in stdout + stderr:
        return "traceback printed", status
    if "warning:" in stderr:
        return f"warning printed: {stderr.strip()[-300:]}", status
    if status == 2 and not ("输入有误" in stderr or "无法" in stderr):
        return f"exit 2 without the bilingual heading: {stderr.strip()[-200:]}", status
    if status == 0:
        # The console prints what summary.csv holds: its numbers are checked there (a name
        # may be "NaN", so the console's text cannot tell).
        if out_dir is not None and out_dir.exists():
            bad = _check_exports(out_dir)
            if bad:
                return bad, status
    return None, status


class Corpus:
    """The seeds: shipped scenarios (parsed), their workbooks and a firm CSV."""

    def __init__(self, work: Path):
        self.work = work
        self.scenarios = {}
        for name, path in builtin_scenarios().items():
            self.scenarios[name] = yaml.safe_load(path.read_text(encoding="utf-8"))
        jjj = self.scenarios["jjj_2015_relocation"]
        rows = []
        for f in jjj.get("firms", []):
            if "origin" not in f:
                continue
            rows.append({"id": f["id"], "name": f.get("name", ""),
                         "name_en": f.get("name_en", ""), "origin": f["origin"],
                         "destination": f["destination"], "move_year": f["move_year"],
                         "production_year": f.get("production_year", ""),
                         "growth": f.get("growth", 0),
                         "pre_move_vat": f["pre_move"].get("vat", 0),
                         "pre_move_eit": f["pre_move"].get("eit", 0), "illustrative": "true"})
        lines = [",".join(FIRM_COLUMNS)]
        lines += [",".join(str(r[c]) for c in FIRM_COLUMNS) for r in rows]
        self.firms_csv = ("\n".join(lines) + "\n").encode("utf-8")
        self.with_csv = {k: v for k, v in jjj.items() if k != "firms"}
        self.with_csv["firms_csv"] = "firms.csv"
        self.workbooks: dict[str, bytes] = {}
        for name in ("gaozhu", "jjj_2015_relocation", "formulary/eu_ccctb", "mingyueshan"):
            target = work / "seed.xlsx"
            status, *_ = run_cli(["export-xlsx", name, "-o", str(target)])
            assert status == 0, f"cannot export {name}"
            self.workbooks[name] = target.read_bytes()


def _mutate_workbook(raw: bytes, path: Path, rng: random.Random) -> None:
    from openpyxl import load_workbook
    wb = load_workbook(io.BytesIO(raw))
    for _ in range(rng.randrange(1, 4)):
        ws = rng.choice(wb.worksheets)
        if ws.max_row < 1:
            continue
        row = rng.randrange(1, ws.max_row + 2)
        col = rng.randrange(1, max(ws.max_column, 1) + 2)
        op = rng.randrange(5)
        if op == 0 and ws.max_row > 1:
            ws.delete_rows(rng.randrange(2, ws.max_row + 1))
        elif op == 1:
            ws.cell(1, col).value = rng.choice(["[0]", "x[100000000]", "id", "x.[3]", "rule",
                                                "a..b", "shares.[5e7]", "", "by_year.99999"])
        elif op == 2 and ws.max_row > 1:
            ws.append([c.value for c in ws[rng.randrange(2, ws.max_row + 1)]])
        else:
            value = rng.choice(WEIRD_VALUES)
            if isinstance(value, list | dict):
                value = repr(value)
            if isinstance(value, str):
                value = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", value)
            elif isinstance(value, int) and abs(value) > 2**53:
                value = float(value)
            ws.cell(row, col).value = value
    wb.save(path)


def run_case(corpus: Corpus, case: int, seed: int) -> list[Outcome]:
    """One seeded case; the bad outcomes (an empty list when clean)."""
    rng = random.Random(f"{seed}:{case}")
    folder = Path(tempfile.mkdtemp(dir=corpus.work))
    kind = rng.choices(["yaml", "text", "workbook", "firms_csv"], weights=[4, 2, 2, 2])[0]
    commands: list[list[str]] = []
    if kind in ("yaml", "text"):
        name = rng.choice(sorted(corpus.scenarios))
        data = copy.deepcopy(corpus.scenarios[name])
        for _ in range(rng.choice([1, 1, 2, 3])):
            mutate_data(data, rng)
        try:
            raw = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")
        except (yaml.YAMLError, ValueError):
            raw = b"x: 1\n"
        if kind == "text":
            raw = mutate_bytes(raw, rng)
        target = folder / "s.yaml"
        target.write_bytes(raw)
        commands.append(["validate", str(target)])
        commands.append(["run", str(target), "-o", str(folder / "out")])
        commands.append(["run", str(target), "--format", "xlsx", "-o",
                         str(folder / "out" / "r.xlsx")])
    elif kind == "firms_csv":
        data = copy.deepcopy(corpus.with_csv)
        raw = corpus.firms_csv
        if rng.random() < 0.7:
            rows = [line.split(",") for line in raw.decode("utf-8").splitlines()]
            for _ in range(rng.randrange(1, 4)):
                r = rng.randrange(len(rows))
                c = rng.randrange(len(rows[r]))
                value = rng.choice(WEIRD_VALUES)
                rows[r][c] = str(value).replace(",", ";").replace("\n", " ")
            raw = ("\n".join(",".join(r) for r in rows) + "\n").encode("utf-8")
        if rng.random() < 0.5:
            raw = mutate_bytes(raw, rng)
        if rng.random() < 0.2:
            data["firms_csv"] = rng.choice(["/etc/passwd", "../firms.csv", "/dev/zero",
                                            "/proc/self/environ", ".", "firms.csv\x00"])
        (folder / "firms.csv").write_bytes(raw)
        target = folder / "s.yaml"
        target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                          encoding="utf-8")
        commands.append(["validate", str(target)])
        commands.append(["run", str(target), "-o", str(folder / "out")])
        commands.append(["run", str(target), "--format", "xlsx", "-o",
                         str(folder / "out" / "r.xlsx")])
    else:
        name = rng.choice(sorted(corpus.workbooks))
        target = folder / "b.xlsx"
        _mutate_workbook(corpus.workbooks[name], target, rng)
        out_yaml = folder / "b.yaml"
        commands.append(["import-xlsx", str(target), "-o", str(out_yaml)])
        commands.append(["validate", str(out_yaml)])
    bad = []
    for argv in commands:
        problem, status = judge(argv, folder / "out" if argv[0] == "run" else None)
        if problem:
            bad.append(Outcome(case, kind, argv[0], problem))
            break
        if status != 0:
            break  # the input was refused: the later commands would refuse it too
    return bad


def campaign(cases: int, seed: int = 0, shard: tuple[int, int] = (0, 1),
             report=print) -> tuple[int, list[Outcome], Counter]:
    """Run ``cases`` cases (those of this shard); returns (cases run, bad outcomes, kinds)."""
    with tempfile.TemporaryDirectory() as work:
        corpus = Corpus(Path(work))
        bad: list[Outcome] = []
        kinds: Counter = Counter()
        ran = 0
        for case in range(shard[0], cases, shard[1]):
            outcomes = run_case(corpus, case, seed)
            ran += 1
            kinds["bad" if outcomes else "clean"] += 1
            for o in outcomes:
                report(f"BAD case {o.case} ({o.kind}, {o.command}): {o.problem}")
            bad.extend(outcomes)
            if ran % 500 == 0:
                report(f"... {ran} cases, {len(bad)} bad")
        return ran, bad, kinds


def _cli() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard", default="0/1", help="i/n: run cases i, i+n, i+2n, ...")
    args = p.parse_args()
    i, n = (int(x) for x in args.shard.split("/"))
    start = time.perf_counter()
    ran, bad, _ = campaign(args.cases, args.seed, (i, n),
                           report=lambda s: print(s, flush=True))
    print(f"{ran} cases, {len(bad)} bad, {time.perf_counter() - start:.0f} s", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(_cli())
