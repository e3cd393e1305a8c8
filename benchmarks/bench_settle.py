"""Settlement benchmark: ``sharing.settle`` end to end on a synthetic scenario (migrated firms
under ``jjj_2015`` and parks under stock/increment, actuals for every stream-year), and the
ledger's closed form (``run_accounts``) against the plain FIFO queue kept in
``tests/reference_settlement.py``, on the same random books.

Run: ``.venv/bin/python benchmarks/bench_settle.py [--firms N] [--pairs P --years T]``.
Prints times and ratios; asserts nothing about time (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import reference_settlement  # noqa: E402  (the oracle lives with the tests)

import sharing  # noqa: E402
from sharing.engine import compile_scenario  # noqa: E402
from sharing.settlement import run_accounts  # noqa: E402
from sharing.synth import synthetic_scenario  # noqa: E402


def wall(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=2_000)
    parser.add_argument("--pairs", type=int, default=190)
    parser.add_argument("--years", type=int, default=30)
    args = parser.parse_args()

    sc = synthetic_scenario(args.firms, 10, 10)
    model = compile_scenario(sc)
    s = model.streams
    rows, cols = np.nonzero(s.gross)
    rng = np.random.default_rng(0)
    actual = s.gross[rows, cols] * rng.uniform(0.7, 1.2, len(rows))
    frame = pd.DataFrame({"stream": s.ids[rows], "year": model.years[cols].astype(str),
                          "amount": [repr(float(v)) for v in actual]})
    seconds, led = wall(lambda: sharing.settle(sc, actuals=frame))
    print(f"settle: {args.firms:,} firms + 10 parks, {len(frame):,} actual rows, "
          f"{len(led.pairs)} pairs × {len(led.years)} years")
    print(f"  read + run + due + ledger   {seconds:7.2f} s   "
          f"{seconds / len(frame) * 1e6:6.1f} µs per actual row")
    tables, _ = wall(lambda: (led.ledger, led.arrears, led.variance, led.compliance()))
    print(f"  ledger, arrears, variance, compliance tables  {tables:6.2f} s")

    dues = rng.normal(50, 80, (args.pairs, args.years)).round(2)
    paid = np.where(rng.random(dues.shape) < 0.7, np.maximum(dues, 0) * rng.uniform(
        0, 1.2, dues.shape), 0.0).round(2)
    rate = np.full(args.pairs, 0.05)
    fast, accounts = wall(lambda: run_accounts(dues, paid, rate))
    slow, books = wall(lambda: [reference_settlement.ledger(list(d), [[x] for x in p], 0.05)
                                for d, p in zip(dues, paid, strict=True)])
    gap = max(abs(accounts.arrears_end[i, t] - books[i][t]["arrears_end"])
              for i in range(args.pairs) for t in range(args.years))
    print(f"\nledger: {args.pairs} pairs × {args.years} years, 5% late interest")
    print(f"  reference (FIFO queue)  {slow * 1e3:8.1f} ms")
    print(f"  run_accounts            {fast * 1e3:8.1f} ms   ratio {slow / fast:6.1f}×")
    print(f"  max |fast − reference| arrears_end: {gap:.2e} 万元")


if __name__ == "__main__":
    main()
