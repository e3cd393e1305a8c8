"""Brute-force oracles for small games, written for clarity rather than speed.

They work on plain lists indexed by bitmask (player ``i`` is bit ``i``) and share no code with
``sharing.games``.
"""

from fractions import Fraction
from itertools import permutations

import numpy as np


def shapley_by_permutations(v, n):
    """Shapley value as the average marginal contribution over all ``n!`` orders (exact)."""
    totals = [Fraction(0)] * n
    orders = list(permutations(range(n)))
    for order in orders:
        mask = 0
        for i in order:
            totals[i] += Fraction(v[mask | 1 << i]) - Fraction(v[mask])
            mask |= 1 << i
    return [t / len(orders) for t in totals]


def nucleolus_on_grid_n3(v, step, per_capita=False, imputation=True):
    """Lexicographic minimiser of the sorted excess vector over a grid, for 3 players.

    ``v`` holds 8 integers (bitmask order).  Points are ``x = step * (i, j, k)`` with integers
    ``i, j`` and ``x3 = v(N) - x1 - x2``; ``v(N) / step`` must be an integer.  For the nucleolus
    the grid covers the imputation set, for the prenucleolus a box that contains the least core.
    Excesses are compared exactly as integers (scaled by ``6 / step``, which also clears the
    per-capita divisions by 1, 2 and 3).  Returns the minimiser and how many grid points attain
    the minimum (1 when the grid contains the true (pre)nucleolus, which is unique).
    """
    vn = v[7]
    units = Fraction(vn) / Fraction(step)
    assert units.denominator == 1, "v(N) must be a multiple of the grid step"
    units = int(units)
    vals = [Fraction(a) / Fraction(step) for a in v]
    assert all(a.denominator == 1 for a in vals), "values must be multiples of the step"
    vals = [int(a) for a in vals]
    if imputation:
        lo = vals[1], vals[2]
        hi = units - vals[2] - vals[4], units - vals[1] - vals[4]
    else:
        bound = 3 * max(abs(a) for a in vals)
        lo, hi = (-bound, -bound), (bound, bound)
    x1, x2 = np.meshgrid(
        np.arange(lo[0], hi[0] + 1, dtype=np.int64),
        np.arange(lo[1], hi[1] + 1, dtype=np.int64),
        indexing="ij",
    )
    x1, x2 = x1.ravel(), x2.ravel()
    x3 = units - x1 - x2
    if imputation:
        keep = x3 >= vals[4]
        x1, x2, x3 = x1[keep], x2[keep], x3[keep]
    xs = (x1, x2, x3)
    columns = []
    for mask in range(1, 7):
        members = [i for i in range(3) if mask >> i & 1]
        weight = 6 // len(members) if per_capita else 6
        columns.append(weight * (vals[mask] - sum(xs[i] for i in members)))
    excess = -np.sort(-np.stack(columns, axis=1), axis=1)  # each row sorted decreasingly
    order = np.lexsort(excess.T[::-1])
    best = excess[order[0]]
    ties = int(np.sum(np.all(excess == best, axis=1)))
    k = order[0]
    point = [Fraction(int(c)) * Fraction(step) for c in (x1[k], x2[k], x3[k])]
    return point, ties


def sorted_excesses(v, n, x, per_capita=False):
    """The excess vector of all proper non-empty coalitions, sorted decreasingly."""
    out = []
    for mask in range(1, (1 << n) - 1):
        members = [i for i in range(n) if mask >> i & 1]
        e = v[mask] - sum(x[i] for i in members)
        out.append(e / len(members) if per_capita else e)
    return sorted(out, reverse=True)
