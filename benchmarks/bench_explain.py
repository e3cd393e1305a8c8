"""Explain and agreement-text benchmark, against the simulation it explains (same process).

A synthetic scenario (``sharing.synth``: N migrated firms under ``jjj_2015``, parks under
stock/increment 50:50) is simulated once; then every jurisdiction's allocated revenue in one
year is explained (each trace holds every stream that gives the jurisdiction anything), one
stream's trace is built, and the draft agreement is written as Word. Times are wall-clock
best of ``--repeat``; ratios are against one ``simulate``. Asserts nothing (shared machines are
noisy).

Run: ``.venv/bin/python benchmarks/bench_explain.py [--firms N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import sharing
from sharing.synth import synthetic_scenario


def best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--firms", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    sc = synthetic_scenario(n_firms=args.firms, n_parks=10, n_jurisdictions=10)
    year = sc.years.start + 5

    t_sim, res = best(lambda: sharing.simulate(sc), args.repeat)
    ids = list(res.model.jurisdictions)
    t_all, traces = best(lambda: [res.explain(j, year=year) for j in ids], args.repeat)
    steps = sum(len(t.items) for t in traces)
    stream = str(res.model.streams.ids[-1])
    t_one, _ = best(lambda: res.explain(res.model.jurisdictions[0], year=year, stream=stream),
                    args.repeat)
    t_pv, _ = best(lambda: res.explain(ids[0], column="gain"), args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        t_doc, _ = best(lambda: sharing.agreement_text(sc, "zh").to_docx(Path(tmp) / "d.docx"),
                        args.repeat)
    tracemalloc.start()
    res.explain(ids[0], year=year)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    print(f"scenario: {args.firms:,} firms, {len(res.model.streams):,} streams, "
          f"{len(res.years)} years, {len(ids)} jurisdictions; best of {args.repeat}")
    print(f"simulate                             {t_sim * 1e3:9.1f} ms   1.00×")
    print(f"explain allocated, all {len(ids)} jurisdictions {t_all * 1e3:9.1f} ms "
          f"{t_all / t_sim:7.2f}×   ({steps:,} steps, {steps / t_all:,.0f} steps/s)")
    print(f"explain one stream                   {t_one * 1e3:9.1f} ms {t_one / t_sim:7.2f}×")
    print(f"explain gain (PV, standalone)        {t_pv * 1e3:9.1f} ms {t_pv / t_sim:7.2f}×")
    print(f"agreement text → .docx               {t_doc * 1e3:9.1f} ms {t_doc / t_sim:7.2f}×")
    print(f"peak memory of one trace             {peak:9.1f} MiB")


if __name__ == "__main__":
    main()
