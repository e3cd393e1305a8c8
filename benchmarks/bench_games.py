"""Benchmark of sharing.games against coopgame-py on seeded random games.

Run as ``.venv/bin/python benchmarks/bench_games.py``.  For each size it prints our time, the
time of coopgame-py in the same process (if installed), their ratio, our LP statistics and our
peak traced memory (tracemalloc, measured in a separate run so it does not slow the timing).
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc

import numpy as np

from sharing.games import Game, nucleolus, shapley

try:
    import coopgame
except ImportError:
    coopgame = None

SHAPLEY_SIZES = (10, 15, 20)
NUCLEOLUS_SIZES = (8, 12, 16, 20)
TARGETS = {("shapley", 20): 0.5, ("nucleolus", 8): 0.002, ("nucleolus", 16): 1.0,
           ("nucleolus", 20): 20.0}
RATIO_TARGETS = {("nucleolus", 12): 2.0}  # our time / coopgame-py's


def sizes_of(n: int) -> np.ndarray:
    s = np.zeros(1 << n)
    for i in range(n):
        s[1 << i : 2 << i] = s[: 1 << i] + 1
    return s


def random_game(n: int, family: str, rng: np.random.Generator) -> np.ndarray:
    size = sizes_of(n)
    if family == "random":  # v(S) = |S| U(0, 1): generic values, no ties
        v = size * rng.uniform(0, 1, 1 << n)
    elif family == "integer":  # v(S) = |S| k with k in {0, 1, 2, 3}: huge ties
        v = size * rng.integers(0, 4, 1 << n)
    else:  # "convex-ish": v(S) = |S|^2 + |S| U(0, 1), supermodular up to the noise
        v = size**2 + size * rng.uniform(0, 1, 1 << n)
    v[0] = 0.0
    v[-1] = max(v[-1], v[1 << np.arange(n)].sum())  # non-empty imputation set
    return v


def best_time(fn, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def row(cells, widths):
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))


def main() -> int:
    print(f"sharing.games benchmark (numpy {np.__version__}, Python {sys.version.split()[0]})")
    if coopgame is None:
        print("note: coopgame-py is not installed; its columns are left blank")
    head = ("concept", "n", "game", "ours s", "coopgame s", "ratio", "LPs", "rows", "peak MiB")
    widths = (10, 3, 11, 9, 11, 6, 5, 7, 9)
    print(row(head, widths))
    failures = []
    players = {n: [f"J{i}" for i in range(n)] for n in (*SHAPLEY_SIZES, *NUCLEOLUS_SIZES)}

    for n in SHAPLEY_SIZES:
        v = random_game(n, "random", np.random.default_rng(n))

        def ours(v=v, n=n):
            return shapley(Game.from_values(players[n], v))  # includes building the game

        t, _ = best_time(ours, 3)
        tc = None
        if coopgame is not None:
            tc = best_time(lambda v=v: coopgame.shapley(coopgame.Game(v[1:])), 3)[0]
        failures += report("shapley", n, "random", t, tc, None, peak_mib(ours), widths)

    for n in NUCLEOLUS_SIZES:
        for family in ("random", "integer", "convex-ish"):
            v = random_game(n, family, np.random.default_rng(1000 + n))
            g = Game.from_values(players[n], v)
            repeats = 3 if n <= 12 else 1
            t, x = best_time(lambda g=g: nucleolus(g), repeats)
            tc = None
            if coopgame is not None:
                cg = coopgame.Game(v[1:])
                tc, theirs = best_time(lambda cg=cg: coopgame.nucleolus(cg), repeats)
                gap = np.abs(np.array(list(x.values())) - theirs["allocation"]).max()
                if gap > 1e-6:
                    failures.append(f"nucleolus n={n} {family}: differs from coopgame by {gap:g}")
            stats = (x.explanation["lps_solved"], x.explanation["rows_generated"])
            if not x.explanation["kohlberg"]["passed"]:
                failures.append(f"nucleolus n={n} {family}: Kohlberg check failed")
            failures += report(
                "nucleolus", n, family, t, tc, stats, peak_mib(lambda g=g: nucleolus(g)), widths
            )

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the whole run: {rss:.0f} MiB")
    print("our nucleolus time includes the Kohlberg verification; coopgame's does not verify")
    print("'rows' = coalitions ever added to our LPs, out of 2**n - 2")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        met = ", ".join(f"{c} n={n} < {s:g} s" for (c, n), s in TARGETS.items())
        ratios = ", ".join(f"{c} n={n} within {r:g}x" for (c, n), r in RATIO_TARGETS.items())
        print(f"all targets met: {met}, {ratios}")
    return 1 if failures else 0


def report(concept, n, family, t, tc, stats, peak, widths) -> list[str]:
    ratio = f"{t / tc:.2f}" if tc else ""
    lps, rows = stats if stats else ("", "")
    cells = (concept, n, family, f"{t:.4f}", f"{tc:.4f}" if tc else "", ratio, lps, rows)
    print(row((*cells, f"{peak:.2f}"), widths))
    missed = []
    target = TARGETS.get((concept, n))
    if target is not None and t > target:
        missed.append(f"{concept} n={n} {family}: {t:.4f} s exceeds the {target:g} s target")
    target = RATIO_TARGETS.get((concept, n))
    if target is not None and tc and t / tc > target:
        missed.append(f"{concept} n={n} {family}: {t / tc:.2f}x coopgame-py exceeds the "
                      f"{target:g}x target")
    return missed


if __name__ == "__main__":
    sys.exit(main())
