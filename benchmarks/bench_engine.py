"""Engine benchmark: 100,000 migrated firms × 15 years × 3 taxes under the capped rule
(``jjj_2015``) plus 50 parks under stock/increment, against the slow reference implementation
kept in ``tests/reference.py`` (run on a 1,000-firm subset, compared per firm-year).

Run: ``.venv/bin/python benchmarks/bench_engine.py [--firms N]``. Prints times (wall and CPU),
peak memory and ratios; asserts nothing about time (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import reference  # noqa: E402  (the oracle lives with the tests)

import sharing  # noqa: E402
from sharing.engine import compile_scenario  # noqa: E402
from sharing.synth import synthetic_scenario  # noqa: E402

YEARS = 15


def timed(fn, repeat: int = 1):
    """Best wall and CPU time over ``repeat`` calls, and the last result."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), out


def peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


CHILD = """
import re, sys
from pathlib import Path
from sharing.engine import compile_scenario
from sharing.synth import synthetic_scenario

def hwm():  # peak RSS of this process image (ru_maxrss would include the parent's, via exec)
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1])

sc = synthetic_scenario(int(sys.argv[1]), 50, 20, n_years=15)
before = hwm()
compile_scenario(sc).run().summary
print(before / 1024, hwm() / 1024)
"""


def rss_mib(n_firms: int) -> tuple[float, float]:
    """Max RSS of a fresh process after building the scenario, and after simulating it."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(n_firms)], capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=100_000)
    parser.add_argument("--subset", type=int, default=1_000)
    args = parser.parse_args()

    print(f"engine benchmark: {args.firms:,} firms × {YEARS} years × 3 taxes (jjj_2015) "
          f"+ 50 parks (stock_increment), 20 jurisdictions")
    build_wall, _, sc = timed(lambda: synthetic_scenario(args.firms, 50, 20, n_years=YEARS))
    print(f"  build + validate scenario   {build_wall:8.3f} s wall")

    def simulate():
        return compile_scenario(sc).run()

    wall, cpu, res = timed(simulate, repeat=3)
    compile_wall, _, model = timed(lambda: compile_scenario(sc), repeat=3)
    run_wall, _, _ = timed(model.run, repeat=3)
    print(f"  simulate (compile + run)    {wall:8.3f} s wall  {cpu:8.3f} s CPU  (best of 3; "
          f"target < 2 s)")
    print(f"    compile                   {compile_wall:8.3f} s wall")
    print(f"    run                       {run_wall:8.3f} s wall")
    print(f"  streams                     {len(model.streams):8,d}")
    print(f"  peak traced memory          {peak_mib(simulate):8.0f} MiB (target < 2048)")
    built, simulated = rss_mib(args.firms)
    print(f"  peak RSS, fresh process     {simulated:8.0f} MiB after simulate "
          f"({built:.0f} MiB after building the scenario; target < 2048)")
    conservation = abs(res.summary["allocated"].sum() - res.summary["retained"].sum())
    print(f"  |Σ allocated − Σ retained|  {conservation:8.2e} 万元")

    small = synthetic_scenario(args.subset, 5, 20, n_years=YEARS)
    ref_wall, _, ref = timed(lambda: reference.simulate(small))
    eng_wall, _, eng = timed(lambda: sharing.simulate(small), repeat=3)
    per_ref = ref_wall / (args.subset * YEARS)
    per_big = wall / (args.firms * YEARS)
    per_small = eng_wall / (args.subset * YEARS)
    print(f"\nreference implementation on a {args.subset:,}-firm subset (5 parks)")
    print(f"  reference                   {ref_wall:8.3f} s   {per_ref * 1e6:9.2f} µs/firm-year")
    print(f"  engine, same subset         {eng_wall:8.3f} s   {per_small * 1e6:9.2f} µs/firm-year"
          f"   ratio {per_ref / per_small:8.1f}×")
    print(f"  engine, {args.firms:,} firms        {wall:8.3f} s   {per_big * 1e6:9.2f} µs/firm-year"
          f"   ratio {per_ref / per_big:8.1f}×")
    gap = np.max(np.abs(eng.allocated - np.array(
        [[ref.allocated[j][int(y)] for y in eng.years] for j in eng.model.jurisdictions])))
    print(f"  max |engine − reference| allocated on the subset: {gap:.2e} 万元")

    default = sharing.load_scenario(ROOT / "scenarios" / "gaozhu.yaml")
    model = compile_scenario(default)
    rule = default.agreements[0].rule
    edited_rule = rule.model_copy(update={"increment": rule.increment.model_copy(
        update={"shares": {"guangan": 0.55, "yubei": 0.45}})})
    edited = default.model_copy(update={"agreements": [
        default.agreements[0].model_copy(update={"rule": edited_rule})]})
    times = [timed(lambda: compile_scenario(edited).run().summary)[0] for _ in range(30)]
    print("\ndefault scenario (gaozhu.yaml)")
    print(f"  edit one share, re-simulate + summary  {statistics.median(times) * 1e3:7.2f} ms "
          "(median of 30)")
    rng = np.random.default_rng(0)
    draws = [model.streams.gross * rng.lognormal(0, 0.1, model.streams.gross.shape)
             for _ in range(200)]
    w = time.perf_counter()
    payoffs = np.array([model.run(gross=g).pv_net_benefit for g in draws])
    per_draw = (time.perf_counter() - w) / len(draws)
    print(f"  Monte Carlo re-run (perturbed gross, no re-parse)  {per_draw * 1e3:7.2f} ms/draw"
          f"  (PV net benefit sd {payoffs.std(axis=0).round(1).tolist()})")


if __name__ == "__main__":
    main()
