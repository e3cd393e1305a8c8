"""The nucleolus family's LP machinery: lexicographic minimisation of excesses by sequential
LPs, and Kohlberg's balancedness check.

The LPs are many and small (``n + 1`` variables), so each of them lives in one HiGHS instance
(:class:`sharing.lp.IncrementalLP`) for the whole computation: rows are added as coalitions
enter, switched off as they leave, bounds and costs changed between stages, and every solve
starts from the previous basis.
"""

from __future__ import annotations

import math

import numpy as np

from sharing.coalitions import TOL_SPAN, bits, extend_basis, residual_norms, sizes, subset_sums
from sharing.lp import IncrementalLP

# Tolerances, relative to the game's scale max|v(S)| (values are rescaled).
TOL_VIOLATED = 1e-9  # a coalition whose excess exceeds the LP level by more is added as a row
TOL_TIGHT = 1e-9  # excess within this of the level: candidate for being fixed at the level
TOL_FREE = 1e-8  # slack above this on the optimal face: the coalition is not fixed
TOL_DUAL = 1e-9  # a dual value above this proves the row is tight on the whole optimal face
TOL_LEVEL = 1e-8  # excess values closer than this form one level in the Kohlberg check


class LexMin:
    """Lexicographic minimisation of sorted excesses ``w_S (v(S) - x(S))`` by sequential LPs.

    Each stage solves ``min t`` s.t. ``w_S (v(S) - x(S)) <= t`` for the coalitions still free,
    ``x(S)`` fixed for the coalitions fixed so far, ``x(N) = v(N)`` and (for the nucleolus)
    ``x_i >= v({i})`` (Maschler, Peleg and Shapley 1979, "Geometric properties of the kernel,
    nucleolus and related solution concepts", Math. Oper. Res. 4:303-338).  Rows are generated
    lazily: the LP holds an active set of coalitions, and the most violated of all ``2**n``
    coalitions (found with a vectorised bitmask subset sum) are added until none is violated.

    A coalition is fixed at the optimal level only if its excess cannot be lowered anywhere on
    the optimal face.  A positive dual value proves that; the other tight coalitions are tested
    with an auxiliary LP maximising their slacks over the face (Guajardo and Jörnsten 2015,
    "Common mistakes in computing the nucleolus", Eur. J. Oper. Res. 241:931-935, show that
    fixing every coalition tight at one optimum is wrong).  Coalitions whose vector lies in the
    span of the fixed ones have a constant excess from then on and are dropped.

    One LP serves every stage: columns ``x`` and ``t``; the auxiliary LP is the same rows with
    ``t`` fixed at the level plus the tolerance and another cost.
    """

    def __init__(self, v: np.ndarray, n: int, per_capita: bool, lower: np.ndarray | None):
        self.n, self.full = n, (1 << n) - 1
        self.scale = max(float(np.max(np.abs(v))), 1e-300)
        self.v = v / self.scale
        self.per_capita = per_capita
        self.w = 1.0 / np.maximum(sizes(n), 1) if per_capita else np.ones(1 << n)
        self.lower = None if lower is None else lower / self.scale
        self.free = np.ones(1 << n, dtype=bool)
        self.free[[0, self.full]] = False
        self.eq_masks = [self.full]
        self.eq_rhs = [self.v[self.full]]
        self.basis = np.full((n, 1), 1 / math.sqrt(n))  # orthonormal basis of fixed vectors
        x_lo = np.full(n, -np.inf) if self.lower is None else self.lower
        self.lp = IncrementalLP(np.r_[np.zeros(n), 1.0], np.r_[x_lo, -np.inf],
                                np.full(n + 1, np.inf))
        self.lp.add_rows(np.r_[np.ones(n), 0.0], self.v[self.full], self.v[self.full])
        self.row_of: dict[int, int] = {}
        initial = {1 << i for i in range(n)} | {self.full ^ (1 << i) for i in range(n)}
        self.active: set[int] = set()
        self._activate(sorted(m for m in initial if self.free[m]))
        self.rows = len(self.active)
        self.levels: list[tuple[float, list[int]]] = []

    @property
    def lps(self) -> int:
        return self.lp.solves

    def excess(self, x: np.ndarray) -> np.ndarray:
        e = self.v - subset_sums(x)
        if self.per_capita:
            e *= self.w
        return e

    def _activate(self, masks) -> None:
        """Coalition rows ``-w_S x(S) - t <= -w_S v(S)``, added once, switched back on."""
        masks = [int(m) for m in masks if int(m) not in self.active]
        if not masks:
            return
        back = [m for m in masks if m in self.row_of]
        if back:
            rows = [self.row_of[m] for m in back]
            self.lp.set_row_bounds(rows, -np.inf, -self.w[back] * self.v[back])
        new = np.array([m for m in masks if m not in self.row_of], dtype=np.int64)
        if new.size:
            block = np.hstack([-self.w[new, None] * bits(new, self.n), -np.ones((new.size, 1))])
            for m, r in zip(new.tolist(), self.lp.add_rows(block, -np.inf,
                                                           -self.w[new] * self.v[new]),
                            strict=True):
                self.row_of[m] = int(r)
        self.active.update(masks)

    def _deactivate(self, masks) -> None:
        masks = [int(m) for m in masks if int(m) in self.active]
        if masks:
            self.lp.set_row_bounds([self.row_of[m] for m in masks], -np.inf, np.inf)
            self.active.difference_update(masks)

    def stage(self) -> tuple[np.ndarray, float, np.ndarray, dict]:
        """Solve one stage to optimality over all coalitions; return x, level, excess, duals."""
        n = self.n
        while True:
            sol, duals = self.lp.solve()
            x, t = sol[:n], sol[n]
            e = self.excess(x)
            while True:
                e[~self.free] = -np.inf
                violated = np.flatnonzero(e > t + TOL_VIOLATED)
                if violated.size == 0:
                    return x, t, e, {m: -duals[self.row_of[m]] for m in self.active}
                k = 2 * n
                if violated.size > k:
                    violated = violated[np.argpartition(-e[violated], k)[:k]]
                # a coalition whose x(S) is implied by the fixed ones has a constant excess
                # from now on: it leaves the problem instead of becoming a row
                implied = residual_norms(self.basis, bits(violated, n)) <= TOL_SPAN
                self.free[violated[implied]] = False
                if not implied.all():
                    self._activate(violated[~implied])
                    self.rows += int((~implied).sum())
                    break

    def fix(self, t: float, e: np.ndarray, duals: dict) -> None:
        """Fix the coalitions whose excess is ``t`` on the whole optimal face."""
        candidates = np.flatnonzero(e >= t - TOL_TIGHT)
        proven = np.array([duals.get(m, 0.0) > TOL_DUAL for m in candidates.tolist()], bool)
        # x(S) is constant on the face for proven rows, hence for every vector in their span
        span, _ = extend_basis(self.basis, bits(candidates[proven], self.n))
        rest = candidates[~proven]
        implied = residual_norms(span, bits(rest, self.n)) <= TOL_SPAN
        fixed = np.concatenate([candidates[proven], rest[implied]])
        rest = rest[~implied]
        while rest.size:
            lowered = self._max_slacks(t, rest) > TOL_FREE
            if not lowered.any():
                fixed = np.concatenate([fixed, rest])
                break
            rest = rest[~lowered]
        if not fixed.size:
            raise RuntimeError("nucleolus stage fixed no coalition (numerical trouble)")
        fixed = np.sort(fixed)
        self.levels.append((t, fixed.tolist()))
        self.free[fixed] = False
        self.basis, added = extend_basis(self.basis, bits(fixed, self.n))
        for i in added:
            mask = int(fixed[i])
            rhs = self.v[mask] - t / self.w[mask]
            self.eq_masks.append(mask)
            self.eq_rhs.append(rhs)
            self.lp.add_rows(np.r_[bits([mask], self.n)[0], 0.0], rhs, rhs)
        act = np.array(sorted(m for m in self.active if self.free[m]), dtype=np.int64)
        self._deactivate([m for m in self.active if not self.free[m]])
        implied = residual_norms(self.basis, bits(act, self.n)) <= TOL_SPAN
        self.free[act[implied]] = False
        self._deactivate(act[implied])

    def _max_slacks(self, t: float, candidates: np.ndarray) -> np.ndarray:
        """Slacks ``t - e(S, x)`` of the candidates at a face point maximising their sum.

        The sum of slacks is linear in ``x`` (``sum_S w_S x(S)`` up to a constant), so this LP
        has only ``n`` variables: the stage's rows with ``t`` fixed at the level; a candidate
        with positive slack can be lowered on the face. Candidate rows enter lazily, when
        violated.
        """
        n = self.n
        cand_bits = bits(candidates, n)
        objective = -(self.w[candidates, None] * cand_bits).sum(axis=0)
        self.lp.set_col_bounds([n], t + TOL_VIOLATED, t + TOL_VIOLATED)
        self.lp.set_cost(np.r_[objective, 0.0])
        try:
            while True:
                x = self.lp.solve()[0][:n]
                slack = t - self.w[candidates] * (self.v[candidates] - cand_bits @ x)
                violated = np.flatnonzero(slack < -2 * TOL_VIOLATED)
                if not violated.size:
                    return slack
                k = 2 * n
                if violated.size > k:
                    violated = violated[np.argpartition(slack[violated], k)[:k]]
                self._activate(candidates[violated])
                self.rows += violated.size
        finally:
            self.lp.set_col_bounds([n], -np.inf, np.inf)
            self.lp.set_cost(np.r_[np.zeros(n), 1.0])

    def solve(self) -> np.ndarray:
        while self.basis.shape[1] < self.n:
            _, t, e, duals = self.stage()
            self.fix(t, e, duals)
        x = np.linalg.solve(bits(self.eq_masks, self.n), np.array(self.eq_rhs))
        return x * self.scale


def kohlberg(
    v: np.ndarray, n: int, x: np.ndarray, per_capita: bool, lower: np.ndarray | None
) -> tuple[bool, int]:
    """Kohlberg's (1971) criterion for ``x`` being the (pre)nucleolus.

    Kohlberg, "On the nucleolus of a characteristic function game", SIAM J. Appl. Math.
    20:62-66: an efficient ``x`` is the prenucleolus iff every collection
    ``D(a) = {S proper, non-empty : e(S, x) >= a}`` is balanced; an imputation is the nucleolus
    iff each ``D(a)`` together with the singletons ``{i}`` with ``x_i = v({i})`` is balanced with
    positive weights on ``D(a)`` (Peleg and Sudhölter 2007, "Introduction to the Theory of
    Cooperative Games", section 5.1).  Only the sets of coalitions matter, so the same test holds
    for the per-capita excess.  If ``D(a)`` is balanced and a coalition's vector lies in the span
    of ``D(a) ∪ {N}``, adding it keeps the collection balanced (perturb the weights along the
    span), so only the levels where that span grows need an LP: at most ``n - 1`` of them, all
    on one LP whose rows only grow.  Returns ``(passed, collections checked)``.
    """
    scale = max(float(np.max(np.abs(v))), 1e-300)
    full = (1 << n) - 1
    w = 1.0 / np.maximum(sizes(n), 1) if per_capita else np.ones(1 << n)
    e = w * (v - subset_sums(x)) / scale
    masks = np.arange(1, full)
    optional: list[int] = []
    if lower is not None:
        optional = [1 << i for i in range(n) if abs(x[i] - lower[i]) <= TOL_LEVEL * scale]
    check = Balance(n)
    # the top levels nearly always reach rank n: sort a chunk first, everything if needed
    k = min(masks.size, 64 * n)
    while True:
        top = masks if k >= masks.size else masks[np.argpartition(-e[masks], k - 1)[:k]]
        order = top[np.argsort(-e[top], kind="stable")]
        es = e[order]
        level_end = np.r_[np.flatnonzero(np.diff(es) < -TOL_LEVEL), es.size - 1]
        if top.size < masks.size:
            level_end = level_end[:-1]  # the chunk's last level may go on beyond it
        basis = np.full((n, 1), 1 / math.sqrt(n))
        start, checked = 0, 0
        for end in level_end:
            basis, added = extend_basis(basis, bits(order[start : end + 1], n))
            start = end + 1
            if added:
                checked += 1
                required = order[:start]
                extra = [m for m in optional if m not in set(required.tolist())]
                if not check(required, extra):
                    return False, checked
            if basis.shape[1] == n:
                return True, checked
        if top.size == masks.size:
            return True, checked
        k = masks.size


class Balance:
    """Balancedness tests of growing collections on one LP (see :func:`balanced`)."""

    def __init__(self, n: int):
        self.n = n
        self.lp = IncrementalLP(np.zeros(n), np.full(n, -1.0), np.full(n, 1.0))
        self.lp.add_rows(np.ones(n), 0.0, 0.0)
        self.rows: set[int] = set()

    def __call__(self, required: np.ndarray, optional: list[int]) -> bool:
        n = self.n
        optional_masks = np.array(optional, dtype=np.int64)
        masks = np.concatenate([np.asarray(required, dtype=np.int64), optional_masks])
        self.lp.set_cost(-bits(required, n).sum(axis=0))
        self._add(masks[: 4 * n].tolist() + list(optional))
        while True:
            y = self.lp.solve()[0]
            y_sums = subset_sums(y)[masks]
            violated = np.flatnonzero(y_sums < -TOL_SPAN)
            if not violated.size:
                return bool(y_sums[: len(required)].max() <= 1e-7)
            self._add(masks[violated[np.argsort(y_sums[violated])[: 2 * n]]].tolist())

    def _add(self, masks: list[int]) -> None:
        new = sorted({int(m) for m in masks} - self.rows)
        if new:
            self.lp.add_rows(bits(np.array(new, dtype=np.int64), self.n), 0.0, np.inf)
            self.rows.update(new)


def balanced(required: np.ndarray, optional: list[int], n: int) -> bool:
    """Is there ``delta`` with ``sum delta_S 1_S = 1_N``, ``delta > 0`` on ``required`` and
    ``delta >= 0`` on ``optional``?

    By LP duality this holds iff no direction ``y`` with ``y(N) = 0`` and ``y(S) >= 0`` on all
    these coalitions has ``y(S) > 0`` for a required one (Kohlberg's improving direction):
    maximise ``sum_{S required} y(S)`` over ``-1 <= y_i <= 1``.  The LP has ``n`` variables, so
    the rows ``y(S) >= 0`` are generated lazily even for a collection of 10**5 coalitions.
    """
    return Balance(n)(required, optional)
