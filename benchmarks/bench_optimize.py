"""Benchmark of the fairness optimizer on synthetic scenarios.

Run as ``.venv/bin/python benchmarks/bench_optimize.py``. The model: A agreements, each a park
of two sites whose retained revenue is split by a fixed ratio among J jurisdictions, decided
over 3 stages (A × J × 3 share variables), maximin gain under participation and a yearly floor
for every jurisdiction. It prints the optimizer's build, solve and verify times, and the time
of a raw highspy solve of the same LP built directly from the engine's affine map in the same
process (numpy/scipy.sparse straight into ``Highs.passModel``), and the ratios of the totals
and of the solves alone, wall and CPU time, best of five after one warm-up run of each; then
the same model 10× larger (one run), and the step MILP (shares on a 5% grid) at 1,000
variables.
"""

from __future__ import annotations

import resource
import sys
import time

import highspy
import numpy as np
from scipy import sparse

from sharing.engine import affine_map, compile_scenario
from sharing.optimizer import optimize
from sharing.optimizer.spec import OptimizationSpec, plan
from sharing.scenario import Scenario

TARGET_SECONDS, TARGET_RATIO = 1.0, 1.5
REPEATS = 5


def synthetic(n_agreements: int, n_jurisdictions: int = 10, n_years: int = 15,
              seed: int = 0) -> Scenario:
    rng = np.random.default_rng(seed)
    jur = [f"j{i}" for i in range(n_jurisdictions)]
    parks, agreements = [], []
    for a in range(n_agreements):
        hosts = rng.choice(n_jurisdictions, 2, replace=False)
        sites = [{"host": jur[h], "taxes": {
            "vat": {"base": float(rng.uniform(500, 5000)), "base_year": 2021,
                    "growth": float(rng.uniform(0.0, 0.12))},
            "eit": {"base": float(rng.uniform(200, 2000)), "base_year": 2021,
                    "growth": float(rng.uniform(0.0, 0.1))}}} for h in hosts]
        parks.append({"id": f"park{a}", "partners": jur, "sites": sites})
        shares = dict.fromkeys(jur, 1 / n_jurisdictions)
        shares[jur[-1]] = 1 - (n_jurisdictions - 1) / n_jurisdictions
        agreements.append({"id": f"deal{a}", "covers": {"park": f"park{a}"},
                           "rule": {"type": "fixed", "shares": shares}})
    return Scenario.model_validate({
        "name": "合成", "name_en": "synthetic", "years": {"start": 2021,
                                                         "end": 2020 + n_years},
        "discount_rate": 0.03,
        "jurisdictions": [{"id": j, "name": j, "name_en": j, "province": "sichuan"}
                          for j in jur],
        "parks": parks, "agreements": agreements,
        "standalone": {p["id"]: dict.fromkeys(jur, 0.02) for p in parks}})


def spec_for(sc: Scenario, step: float | None = None, stages: int = 3) -> dict:
    first, last = sc.years.start, sc.years.end
    cut = np.linspace(first, last + 1, stages + 1).astype(int)
    spans = [[int(cut[k]), int(cut[k + 1] - 1)] for k in range(stages)]
    floors = {j: 100.0 for j in sc.jurisdiction_ids}
    constraints: dict = {"yearly_floor": floors}
    if step:
        constraints["step"] = step
    return {"objective": "maximin_gain", "constraints": constraints,
            "decide": [{"agreement": a.id, "stages": spans} for a in sc.agreements]}


def raw_solve(sc: Scenario, spec: dict) -> tuple[float, float, float, float]:
    """The same LP built directly from the affine map and solved by highspy: returns
    (build seconds, solve seconds, their CPU seconds, objective)."""
    the_plan = plan(OptimizationSpec.parse(spec), sc)
    amap = affine_map(compile_scenario(sc), the_plan.splits)
    start, cpu = time.perf_counter(), time.process_time()
    n_j, n_t, n_w = len(amap.jurisdictions), len(amap.years), amap.n_columns
    gain0 = amap.payoff_const - amap.standalone
    blocks = amap.column_split * 100 + amap.column_stage
    _, block = np.unique(blocks, return_inverse=True)
    sum_one = sparse.csr_matrix((np.ones(n_w), (block, np.arange(n_w))))
    a = sparse.vstack([
        sparse.hstack([sum_one, sparse.csr_matrix((sum_one.shape[0], 1))]),
        sparse.hstack([sparse.csr_matrix(amap.payoff), -np.ones((n_j, 1))]),   # G_j ≥ t
        sparse.hstack([sparse.csr_matrix(amap.payoff), np.zeros((n_j, 1))]),   # G_j ≥ 0
        sparse.hstack([amap.allocated, sparse.csr_matrix((n_j * n_t, 1))]),    # floors
    ]).tocsc()
    lo = np.r_[np.ones(sum_one.shape[0]), -gain0, -gain0,
               100.0 - amap.allocated_const.ravel()]
    hi = np.r_[np.ones(sum_one.shape[0]), np.full(2 * n_j + n_j * n_t, np.inf)]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_w + 1, a.shape[0]
    lp.col_cost_ = np.r_[np.zeros(n_w), -1.0]
    lp.col_lower_ = np.r_[np.zeros(n_w), -highspy.kHighsInf]
    lp.col_upper_ = np.r_[np.ones(n_w), highspy.kHighsInf]
    lp.row_lower_ = np.clip(lo, -highspy.kHighsInf, highspy.kHighsInf)
    lp.row_upper_ = np.clip(hi, -highspy.kHighsInf, highspy.kHighsInf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    built = time.perf_counter()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    h.run()
    solved = time.perf_counter()
    return (built - start, solved - built, time.process_time() - cpu,
            -h.getInfo().objective_function_value)


def timed_optimize(sc: Scenario, spec: dict):
    """optimize(sc, spec) and its CPU seconds."""
    cpu = time.process_time()
    opt = optimize(sc, spec)
    return opt, time.process_time() - cpu


def report(label: str, sc: Scenario, spec: dict, repeats: int) -> list[str]:
    """Best of ``repeats`` (least wall time) for the optimizer and for the raw solve, each
    measured the same way in the same process."""
    opt, cpu = min((timed_optimize(sc, spec) for _ in range(repeats)),
                   key=lambda r: r[0].timings["total"])
    t = opt.timings
    runs = f"best of {repeats}" if repeats > 1 else "one run"
    print(f"{label:<34} vars {len(opt.shares):>6}  status {opt.status:<8} "
          f"build {t['build']:7.3f} s (compile + map {t['map']:.3f} s)  "
          f"solve {t['solve']:7.3f} s  verify {t['verify']:7.3f} s  "
          f"total {t['total']:7.3f} s  (CPU {cpu:.3f} s; {runs})")
    raw_build, raw_solve_s, raw_cpu, raw_obj = min(
        (raw_solve(sc, spec) for _ in range(repeats)), key=lambda r: r[0] + r[1])
    ratio = t["total"] / (raw_build + raw_solve_s)
    print(f"{'':<34} raw highspy: build {raw_build:7.3f} s  solve {raw_solve_s:7.3f} s  "
          f"total {raw_build + raw_solve_s:7.3f} s  (CPU {raw_cpu:.3f} s)  objective "
          f"{raw_obj:,.4f} vs ours {opt.objective_value:,.4f} (after rounding)")
    print(f"{'':<34} ratio ours/raw: total {ratio:5.2f} (CPU {cpu / raw_cpu:5.2f})  "
          f"solve only {t['solve'] / raw_solve_s:5.2f}")
    failures = []
    if label.startswith("model") and t["total"] > TARGET_SECONDS:
        failures.append(f"{label}: {t['total']:.2f} s exceeds the {TARGET_SECONDS} s target")
    if label.startswith("model") and ratio > TARGET_RATIO:
        failures.append(f"{label}: {ratio:.2f}x the raw solve exceeds {TARGET_RATIO}x")
    return failures


def main() -> int:
    print(f"sharing.optimize benchmark (numpy {np.__version__}, highspy, "
          f"Python {sys.version.split()[0]})")
    failures = []
    small = synthetic(200)
    timed_optimize(small, spec_for(small))  # warm up both (imports, HiGHS' first start)
    raw_solve(small, spec_for(small))
    failures += report("model 200 x 10 x 3", small, spec_for(small), REPEATS)
    large = synthetic(2000)
    report("10x larger: 2000 x 10 x 3", large, spec_for(large), 1)
    milp = synthetic(100)
    relaxed = optimize(milp, spec_for(milp, stages=1))
    spec = {**spec_for(milp, step=0.05, stages=1), "time_limit": 20.0}
    opt = optimize(milp, spec)
    t = opt.timings
    gap = (relaxed.objective_value - opt.objective_value) / abs(relaxed.objective_value)
    print(f"{'step MILP 100 x 10 x 1 (5% grid)':<34} vars {len(opt.shares):>6}  status "
          f"{opt.status:<8} build {t['build']:7.3f} s  solve {t['solve']:7.3f} s  verify "
          f"{t['verify']:7.3f} s  total {t['total']:7.3f} s")
    print(f"{'':<34} best minimum gain {opt.objective_value:,.2f} vs the LP without steps "
          f"{relaxed.objective_value:,.2f} (gap {gap:.3%}; time limit {spec['time_limit']:g} s)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the whole run: {rss:.0f} MiB")
    print("build = spec check + compile + affine map + LP rows (the raw solve starts from the "
          "map: its build is the LP rows only); verify = rounding, write-back and two "
          "re-simulations (the solution and a random point)")
    for f in failures:
        print("MISSED:", f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
