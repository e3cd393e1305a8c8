"""Monte Carlo benchmark (issue 9): 10,000 draws of a synthetic scenario with 50 parks under
stock/increment (50:50 of the increment), 10 jurisdictions and 20 years, with growth noise
(σ = 0.1 per stream and year), park-site survival (3 % exit a year) and compliance
(Beta(8, 2) per agreement).

Prints, for ``sharing.monte_carlo``:

- time and peak RSS of a fresh process that runs it (targets < 2 s, < 300 MB);
- the ratio to a hand-written, chunked numpy kernel of the same model, run in this process
  (same random numbers, same results; target within 2×);
- the ratio to the per-draw loop (one ``Model.run`` per draw, timed on 300 draws);
- 1,000,000 draws through a 2-worker ``dask.distributed.LocalCluster``: time and peak RSS
  of each worker (``--no-dask`` to skip).

Run: ``.venv/bin/python benchmarks/bench_montecarlo.py [--draws N] [--no-dask]``. Asserts
nothing about time (shared machines are noisy); it does check that the hand kernel and the
engine agree.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import sharing
from sharing.engine import compile_scenario
from sharing.risk import BLOCK
from sharing.synth import synthetic_scenario

SEED = 7
SIGMA, EXIT, BETA = 0.1, 0.03, (8.0, 2.0)


def scenario() -> sharing.Scenario:
    sc = synthetic_scenario(0, 50, 10, n_years=20)
    return sc.replace({
        "standalone": {p.id: {p.partners[0]: 0.4, p.partners[1]: 0.4} for p in sc.parks},
        "uncertainty": {"growth": {"sigma": SIGMA},
                        "survival": {"parks": {"annual_exit": EXIT}},
                        "compliance": {a.id: {"beta": list(BETA)} for a in sc.agreements}}})


def hwm_mib() -> float:
    """Peak RSS of this process (VmHWM), MiB."""
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text())[1]) / 1024


class HandKernel:
    """The same model written directly in numpy, chunk by chunk: lognormal growth noise
    accumulated over the years, survival per park site, Beta compliance per park, the
    stock (the first year's level) kept by the host, the increment split 50:50 with the
    partner paid at compliance c, PV at the scenario's discount rate; the no-cooperation
    value is 0.4 of each park's retained PV per partner. Random numbers are drawn in the
    same blocks and order as ``sharing.risk`` (growth normals, exit uniforms, Beta compliance
    per block of 64 draws), so the results are the same."""

    def __init__(self, sc: sharing.Scenario):
        model = compile_scenario(sc)
        s = model.streams
        self.g0, self.ret, self.disc = s.gross, s.retention, model.discount
        k, n_j = len(s), len(model.jurisdictions)
        self.n_years = s.gross.shape[1]
        # Each park has two sites (one per partner), each with two taxes.
        partners = np.array([[model.index[j] for j in p.partners] for p in sc.parks])
        self.park = s.park
        self.other = np.where(partners[s.park, 0] == s.host, partners[s.park, 1],
                              partners[s.park, 0])
        self.host = s.host
        site_key = s.park * n_j + s.host
        self.site = np.unique(site_key, return_inverse=True)[1]
        self.n_sites = self.site.max() + 1
        self.to_host = np.zeros((n_j, k))
        self.to_host[s.host, np.arange(k)] = 1.0
        self.to_other = np.zeros((n_j, k))
        self.to_other[self.other, np.arange(k)] = 1.0
        self.alone = np.zeros((k, n_j))
        self.alone[np.arange(k), partners[s.park, 0]] = 0.4
        self.alone[np.arange(k), partners[s.park, 1]] = 0.4
        self.n_parks = len(sc.parks)
        self.n_j = n_j

    def chunk(self, lo: int, hi: int, seed: int):
        n, k, t = hi - lo, len(self.g0), self.n_years
        z = np.empty((n, k, t))  # year 0's normal is drawn and not used
        u_exit = np.empty((n, self.n_sites))
        comp = np.empty((n, self.n_parks))
        for b in range(lo // BLOCK, -(-hi // BLOCK)):
            a0, a1 = b * BLOCK - lo, min((b + 1) * BLOCK, hi) - lo
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed,
                                                                             spawn_key=(b,))))
            if a1 - a0 == BLOCK:
                rng.standard_normal(out=z[a0:a1])
            else:
                z[a0:a1] = rng.standard_normal((BLOCK, k, t))[:a1 - a0]
            u_exit[a0:a1] = rng.random((BLOCK, self.n_sites))[:a1 - a0]
            comp[a0:a1] = rng.beta(*BETA, (BLOCK, self.n_parks))[:a1 - a0]
        z *= SIGMA
        z -= 0.5 * SIGMA ** 2
        z[:, :, 0] = 0.0
        gross = np.cumsum(z, axis=2, out=z)
        np.exp(gross, out=gross)
        leaves = np.floor(np.log1p(-u_exit) / np.log1p(-EXIT)) + 1.0
        gross *= np.arange(t)[None, None, :] < leaves[:, self.site, None]
        gross *= self.g0 * self.ret  # retained
        stock = np.minimum(np.maximum(gross, 0.0), np.maximum(gross[:, :, :1], 0.0))
        np.copyto(stock, gross, where=gross < 0)
        c = comp[:, self.park]
        moved = (gross - stock) * (0.5 * c)[:, :, None]
        kept = gross - moved
        allocated = self.to_host @ kept + self.to_other @ moved  # (n, j, t)
        pv = allocated @ self.disc
        standalone = (gross @ self.disc) @ self.alone
        return pv, standalone, allocated

    def run(self, draws: int, seed: int, chunk: int):
        parts = [self.chunk(lo, min(lo + chunk, draws), seed) for lo in range(0, draws, chunk)]
        return tuple(np.concatenate(x) for x in zip(*parts, strict=True))


CHILD = """
import re, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import bench_montecarlo as b
import sharing
sc = b.scenario()
sharing.monte_carlo(sc, draws=64, seed=1)  # warm: imports, first compile
before = b.hwm_mib()
t, c = time.perf_counter(), time.process_time()
mc = sharing.monte_carlo(sc, draws=int(sys.argv[1]), seed=b.SEED)
wall, cpu = time.perf_counter() - t, time.process_time() - c
assert len(mc.summary)
print(wall, cpu, before, b.hwm_mib())
"""


def fresh_process(draws: int) -> tuple[float, float, float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(draws),
                          str(Path(__file__).resolve().parent)],
                         capture_output=True, text=True, check=True).stdout.split()
    return tuple(float(x) for x in out)


def best(fn, repeat: int = 3):
    """Best wall and CPU time of ``repeat`` calls, and the last result (CPU time counts
    this process only: on a shared machine it is the steadier number)."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), out


def per_draw_loop(sc: sharing.Scenario, draws: int) -> float:
    """Seconds per draw of the old way: one Model.run (and its counterfactual) per draw."""
    model = compile_scenario(sc)
    plan = sharing.risk.make_plan(sc)
    smp = sharing.risk.sample(plan, 0, draws, SEED)
    gross, _ = sharing.risk.inputs(plan, plan.model, smp)
    ids = [a.id for a in sc.agreements]
    t = time.perf_counter()
    gains = [(res.pv_net_benefit - res.standalone_pv)
             for res in (model.run(np.asarray(gross[d]),
                                   dict(zip(ids, smp.compliance[d], strict=True)))
                         for d in range(draws))]
    assert len(gains) == draws
    return (time.perf_counter() - t) / draws


def dask_million(sc: sharing.Scenario, draws: int) -> None:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("\n1M draws on dask: skipped (pip install 'sharing[dask]')")
        return
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.run(lambda: None)
        t = time.perf_counter()
        mc = sharing.monte_carlo(sc, draws=draws, seed=SEED, executor=client.get_executor(),
                                 chunk=1024)
        wall = time.perf_counter() - t
        peaks = client.run(hwm_mib)
    print(f"\n{draws:,} draws through a 2-worker dask LocalCluster (chunks of 1,024 draws)")
    print(f"  time                        {wall:8.2f} s   ({wall / draws * 1e6:.2f} µs/draw)")
    for worker, peak in sorted(peaks.items()):
        print(f"  peak RSS of worker          {peak:8.0f} MiB  ({worker})")
    print(f"  mean PV net benefit, j0     {mc.summary['mean'].iloc[0]:12,.2f} 万元 "
          f"(se {mc.summary['se_mean'].iloc[0]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--dask-draws", type=int, default=1_000_000)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    sc = scenario()
    model = compile_scenario(sc)
    print(f"Monte Carlo benchmark: {args.draws:,} draws, {len(sc.parks)} parks "
          f"(stock_increment), {len(sc.jurisdictions)} jurisdictions, "
          f"{len(model.years)} years, {len(model.streams)} streams; growth σ {SIGMA}, "
          f"site exit {EXIT:.0%}/year, compliance Beta{BETA}")

    wall, cpu, before, peak = fresh_process(args.draws)
    print(f"  sharing.monte_carlo, fresh process   {wall:8.3f} s wall, {cpu:.3f} s CPU "
          "(target < 2 s)")
    print(f"  peak RSS, fresh process              {peak:8.0f} MiB (target < 300; "
          f"{before:.0f} MiB after imports and a warm-up run)")

    engine_wall, engine_cpu, mc = best(lambda: sharing.monte_carlo(sc, draws=args.draws,
                                                                   seed=SEED))
    chunk = sharing.risk.CHUNK_BYTES // (8 * len(model.streams) * len(model.years))
    chunk = -(-chunk // BLOCK) * BLOCK
    hand = HandKernel(sc)
    hand_wall, hand_cpu, (pv, alone, allocated) = best(lambda: hand.run(args.draws, SEED,
                                                                         chunk))
    gap = max(np.abs(mc.pv - pv).max(), np.abs(mc.standalone - alone).max(),
              np.abs(mc.allocated - allocated[:len(mc.allocated)]).max())
    print(f"  sharing.monte_carlo, this process    {engine_wall:8.3f} s wall, "
          f"{engine_cpu:.3f} s CPU (best of 3)")
    print(f"  hand-written chunked numpy kernel    {hand_wall:8.3f} s wall, {hand_cpu:.3f} s "
          f"CPU (best of 3; chunk {chunk} draws)")
    print(f"  ratio engine / hand kernel           {engine_wall / hand_wall:8.2f}× wall, "
          f"{engine_cpu / hand_cpu:.2f}× CPU (target ≤ 2×)")
    print(f"  max |engine − hand kernel|           {gap:8.2e} 万元")
    loop = per_draw_loop(sc, 300)
    print(f"  per-draw loop (Model.run)            {loop * 1e3:8.2f} ms/draw → "
          f"{loop * args.draws:.1f} s for {args.draws:,} (timed on 300)")
    print(f"  ratio per-draw loop / engine         {loop * args.draws / engine_wall:8.1f}×")
    if not args.no_dask:
        dask_million(sc, args.dask_draws)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
