"""The fairness LP: decision variables, named constraints, the six objectives, and the elastic
relaxation of an infeasible model.

Variables ``x`` are the decided shares, one per (split, stage, party), or per (split, party)
with ``same_across_stages``; ``w = E x`` maps them onto the affine map's columns. With the map
``payoff = c + A w`` from the engine, the gain of jurisdiction j is
``G_j(x) = c_j − s_j + (A E x)_j`` (s: its standalone value) and every constraint is a row in
``x``. Rows come in named groups (``participation.yubei``, ``bounds.guangan.lower`` ...), so
that duals and slacks can be told in words.

Rows on payoffs or yearly amounts are tightened by the most the rounding of the written
shares to 1e-6 can move them (``1e-6 · Σ|a|``), so that the shares as written meet them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from sharing.coalitions import subset_sums
from sharing.engine import AffineMap, Model, coalition_values, rule_allocation
from sharing.lp import LinearProgram, Solution, solve
from sharing.optimizer.spec import Plan
from sharing.writeback import SHARE_DECIMALS

ROUNDING = 10.0**-SHARE_DECIMALS
MONEY, SHARE = "money", "share"
ALL_COALITIONS_UP_TO = 12  # above this many jurisdictions, coalition rows are generated lazily
NASH_GAP = 1e-9
BRACKET = (0.0, -1e-2, 1e-2, -1e-4, 1e-4, -1e-6, 1e-6, -1e-8, 1e-8)
MAX_ROUNDS = 500


@dataclass
class Group:
    """A named constraint: its rows, and how its parameter (the number the user asked for)
    moves its rows' bound: ``bound = rhs_per_param · parameter + constant``.

    ``tighten`` is +1 when raising the parameter makes the demand stricter (a minimum) and −1
    when lowering it does (a maximum); ``unit`` is money (万元) or share.
    """

    name: str
    kind: str
    rows: np.ndarray
    requested: float
    rhs_per_param: float
    tighten: int
    unit: str
    relaxable: bool
    jurisdiction: int | None = None
    detail: dict = field(default_factory=dict)


@dataclass
class Outcome:
    status: str
    x: np.ndarray | None = None
    objective: float = float("nan")
    effects: dict[str, float] = field(default_factory=dict)
    relaxation: list[tuple[Group, float]] = field(default_factory=list)
    relaxable: bool = True
    solver: str = ""
    notes: list = field(default_factory=list)
    rounds: int = 0
    level: dict[int, float] = field(default_factory=dict)


class FairnessLP:
    """The LP of one plan on one affine map; :meth:`solve` runs the objective's sequence."""

    def __init__(self, plan: Plan, amap: AffineMap, model: Model):
        self.plan, self.amap, self.model = plan, amap, model
        self.spec = plan.spec
        n_j = len(amap.jurisdictions)
        self.n_j, self.n_t = n_j, len(amap.years)
        merge = plan.constraints.same_across_stages
        # One variable per (split, party, stage), or per (split, party) with merged stages,
        # numbered in the order of their first column.
        stage = np.full(amap.n_columns, -1) if merge else amap.column_stage
        parties = 1 + int(amap.column_party.max(initial=0))
        self.var_of, first = _first_seen(
            (amap.column_split * parties + amap.column_party) * (2 + int(stage.max(initial=0)))
            + stage + 1)
        self.var_key = list(zip(amap.column_split[first].tolist(),
                                amap.column_party[first].tolist(), stage[first].tolist(),
                                strict=True))
        self.n_x = len(first)
        self.E = sparse.csr_matrix((np.ones(amap.n_columns), (np.arange(amap.n_columns),
                                                              self.var_of)),
                                   shape=(amap.n_columns, self.n_x))
        self.P = np.asarray(amap.payoff @ self.E)
        self.g0 = amap.payoff_const - amap.standalone
        self.scale = max(1.0, float(np.abs(amap.payoff_const).max()),
                         float(np.abs(amap.standalone).max()), float(np.abs(amap.payoff).max()))
        self.players = np.flatnonzero(np.abs(self.P).max(axis=1, initial=0.0)
                                      > 1e-9 * self.scale)
        self.weights = self._weights()
        self.values = None  # v(S) for every coalition, built on demand
        self.groups: list[Group] = []
        self._rows: list[sparse.csr_matrix] = []
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self.m = 0
        self.notes: list[tuple[str, dict]] = []
        self._constraints()

    # -- rows -------------------------------------------------------------------------------

    def _add(self, rows, lo, hi, group: Group | None = None, tighten_rounding=False):
        rows = sparse.csr_matrix(rows)
        k = rows.shape[0]
        lo = np.broadcast_to(np.asarray(lo, dtype=float), (k,)).copy()
        hi = np.broadcast_to(np.asarray(hi, dtype=float), (k,)).copy()
        if tighten_rounding:
            slack = ROUNDING * np.asarray(abs(rows).sum(axis=1)).ravel()
            lo = np.where(np.isfinite(lo), lo + slack, lo)
            hi = np.where(np.isfinite(hi), hi - slack, hi)
        idx = np.arange(self.m, self.m + k)
        self._rows.append(rows)
        self._lo.append(lo)
        self._hi.append(hi)
        self.m += k
        if group is not None:
            group.rows = idx
            self.groups.append(group)
        return idx

    def _constraints(self) -> None:
        plan, amap = self.plan, self.amap
        c = plan.constraints
        ids = amap.jurisdictions
        # Shares of each split and stage sum to 1.
        stage = np.full(amap.n_columns, -1) if c.same_across_stages else amap.column_stage
        block_of, _ = _first_seen(amap.column_split * (2 + int(stage.max(initial=0))) + stage)
        pair = np.unique(block_of * self.n_x + self.var_of)  # by block, then var
        block, var = pair // max(self.n_x, 1), pair % max(self.n_x, 1)
        self._blocks = np.split(var, np.flatnonzero(np.diff(block)) + 1) if var.size else []
        ones = sparse.csr_matrix((np.ones(var.size), (block, var)),
                                 shape=(len(self._blocks), self.n_x))
        self.structure = self._add(ones, 1.0, 1.0)
        party_of = np.array([amap.splits[s].parties[p] for s, p, _ in self.var_key], dtype=object)
        if plan.margins is not None:
            # Every side of a decided split (and everyone the shares move) must gain at least
            # its margin; a jurisdiction the shares do not touch gets a note instead.
            named = {ids.index(k) for d in amap.splits for k in d.parties if k in ids}
            sides = set(self.players.tolist()) | named
            for j in range(self.n_j):
                if j not in sides:
                    if self.g0[j] < plan.margins[j] - 1e-9 * self.scale:
                        self.notes.append(("optimize.note_constant_gain",
                                           {"j": j, "gain": self.g0[j]}))
                    continue
                self._add(self.P[j][None], plan.margins[j] - self.g0[j], np.inf,
                          Group(f"participation.{ids[j]}", "participation", None,
                                plan.margins[j], 1.0, 1, MONEY, True, j), True)
        for j, (lo, hi) in plan.bounds.items():
            mine = np.flatnonzero(party_of == ids[j])
            if not mine.size:
                self.notes.append(("optimize.note_not_party", {"j": j}))
                continue
            rows = sparse.csr_matrix((np.ones(mine.size), (np.arange(mine.size), mine)),
                                     shape=(mine.size, self.n_x))
            self._add(rows, lo, np.inf, Group(f"bounds.{ids[j]}.lower", "bounds_lower", None,
                                              lo, 1.0, 1, SHARE, True, j))
            self._add(rows, -np.inf, hi, Group(f"bounds.{ids[j]}.upper", "bounds_upper", None,
                                               hi, 1.0, -1, SHARE, True, j))
        if c.host_minimum is not None:
            rows = []
            for (i, s), hosts in amap.hosts.items():
                for members in hosts.values():
                    row = np.zeros(self.n_x)
                    for p in members:
                        col = self._column(i, s, p)
                        row[self.var_of[col]] = 1.0
                    rows.append(row)
            if rows:
                self._add(np.array(rows), c.host_minimum, np.inf,
                          Group("host_minimum", "host_minimum", None, c.host_minimum, 1.0, 1,
                                SHARE, True))
        if plan.yearly_floor or plan.net_transfer_max:
            allocated = (amap.allocated @ self.E).tocsr()
        for j, (floor, start) in plan.yearly_floor.items():
            years = np.flatnonzero(amap.years >= start)
            rows = allocated[j * self.n_t + years]
            self._add(rows, floor - amap.allocated_const[j, years], np.inf,
                      Group(f"yearly_floor.{ids[j]}", "yearly_floor", None, floor, 1.0, 1,
                            MONEY, True, j, {"from_year": start}), True)
        for j, most in plan.net_transfer_max.items():
            rows = allocated[j * self.n_t:(j + 1) * self.n_t]
            pv = sparse.csr_matrix(amap.discount[None]) @ rows
            constant = (amap.retained[j] - amap.allocated_const[j]) @ amap.discount
            self._add(pv, constant - most, np.inf,
                      Group(f"net_transfer_max.{ids[j]}", "net_transfer_max", None, most, -1.0,
                            -1, MONEY, True, j), True)
        for j, direction in plan.monotone.items():
            self._monotone(j, direction, party_of)
        for guard in plan.floors:
            self._floor(guard)
        if isinstance(plan.core, list):
            for mask in plan.core:
                self._core_row(mask)
        elif plan.core == "all":
            full = (1 << self.n_j) - 1
            # above 12 jurisdictions: the singletons and their complements now, the rest as
            # they are violated (see solve)
            masks = range(1, full) if self.n_j <= ALL_COALITIONS_UP_TO else sorted(
                {1 << j for j in range(self.n_j)} | {full ^ (1 << j) for j in range(self.n_j)})
            for mask in masks:
                self._core_row(mask)

    def _column(self, split: int, stage: int, party: int) -> int:
        amap = self.amap
        hit = np.flatnonzero((amap.column_split == split) & (amap.column_stage == stage)
                             & (amap.column_party == party))
        return int(hit[0])

    def _monotone(self, j: int, direction: str, party_of: np.ndarray) -> None:
        if self.plan.constraints.same_across_stages:
            return
        sign = 1.0 if direction == "increasing" else -1.0
        rows = []
        for i, split in enumerate(self.amap.splits):
            for p, key in enumerate(split.parties):
                if key != self.amap.jurisdictions[j]:
                    continue
                for s in range(len(split.stages) - 1):
                    row = np.zeros(self.n_x)
                    row[self.var_of[self._column(i, s + 1, p)]] = sign
                    row[self.var_of[self._column(i, s, p)]] = -sign
                    rows.append(row)
        if rows:
            self._add(np.array(rows), 0.0, np.inf,
                      Group(f"monotone.{self.amap.jurisdictions[j]}", "monotone", None, 0.0,
                            1.0, 1, SHARE, False, j, {"direction": direction}))

    def _floor(self, guard) -> None:
        """The floor rule above decided splits never tops up: its beneficiary's allocation
        from the rule inside the floor stays at or above the minimum (in the rule's base).
        The map is built on the scenario with the floor taken out (see optimize), so the
        agreement's rule here is the floor's inner rule."""
        amap, b = self.amap, guard.beneficiary
        model_years = amap.years
        inner = rule_allocation(self.model, guard.position)[b]
        constant = inner.copy()
        rows = np.zeros((self.n_t, self.n_x))
        for i in guard.splits:
            constant -= amap.raw_now[i][b]
            for c in np.flatnonzero(amap.column_split == i):
                split = amap.splits[i]
                span = split.stages[amap.column_stage[c]]
                inside = (model_years >= span[0]) & (model_years <= span[1])
                rows[:, self.var_of[c]] += amap.units[i][amap.column_party[c], b] * inside
        years = np.flatnonzero(model_years >= guard.from_year)
        self._add(rows[years], guard.minimum - constant[years], np.inf,
                  Group(f"floor.{amap.jurisdictions[b]}", "floor", None, guard.minimum, 1.0, 1,
                        MONEY, False, b, {"position": guard.position,
                                          "from_year": guard.from_year}), True)

    def _coalition_values(self) -> np.ndarray:
        if self.values is None:
            self.values = coalition_values(self.amap.items, list(range(self.n_j)))
        return self.values

    def _coalition_row(self, mask: int) -> tuple[np.ndarray, float]:
        members = [j for j in range(self.n_j) if mask >> j & 1]
        row = self.P[members].sum(axis=0)
        return row, float(self._coalition_values()[mask]
                          - self.amap.payoff_const[members].sum())

    def _core_row(self, mask: int) -> None:
        row, rhs = self._coalition_row(mask)
        members = [j for j in range(self.n_j) if mask >> j & 1]
        name = "+".join(self.amap.jurisdictions[j] for j in members)
        self._add(row[None], rhs, np.inf,
                  Group(f"core.{name}", "core", None, float(self._coalition_values()[mask]),
                        1.0, 1, MONEY, False, None, {"members": members,
                                                     "members_mask": mask}), True)

    # -- weights ----------------------------------------------------------------------------

    def _weights(self) -> np.ndarray:
        w = self.plan.weights
        out = np.ones(self.n_j) if w is None else np.nan_to_num(np.asarray(w, dtype=float))
        return out

    def missing_weights(self) -> list[int]:
        w = self.plan.weights
        if w is None:
            return []
        return [j for j in self.players.tolist() if np.isnan(w[j])]

    # -- LP assembly ------------------------------------------------------------------------

    def program(self, extra: int, rows, lo, hi, cost, extra_lo, extra_hi,
                maximize: bool, fix_steps: np.ndarray | None = None) -> LinearProgram:
        """The LP with the constraint rows, the step columns and ``extra`` objective columns
        (their rows ``rows`` span ``[x, steps, extra]``)."""
        step = self.plan.constraints.step
        n_u = self.n_x if step else 0
        width = self.n_x + n_u + extra
        base = sparse.vstack(self._rows, format="csr") if self._rows else \
            sparse.csr_matrix((0, self.n_x))
        blocks = [sparse.hstack([base, sparse.csr_matrix((self.m, n_u + extra))])]
        lo_all, hi_all = [*self._lo], [*self._hi]
        if n_u:
            link = sparse.hstack([sparse.identity(self.n_x), -step * sparse.identity(self.n_x),
                                  sparse.csr_matrix((self.n_x, extra))])
            blocks.append(link)
            lo_all.append(np.zeros(self.n_x))
            hi_all.append(np.zeros(self.n_x))
        if rows is not None and rows.shape[0]:
            rows = sparse.csr_matrix(rows)
            blocks.append(sparse.hstack([rows[:, :self.n_x],
                                         sparse.csr_matrix((rows.shape[0], n_u)),
                                         rows[:, self.n_x:]]))
            lo_all.append(np.broadcast_to(np.asarray(lo, dtype=float), (rows.shape[0],)))
            hi_all.append(np.broadcast_to(np.asarray(hi, dtype=float), (rows.shape[0],)))
        col_lo = np.concatenate([np.zeros(self.n_x), np.zeros(n_u), extra_lo])
        col_hi = np.concatenate([np.ones(self.n_x), np.full(n_u, round(1 / step) if step else 0),
                                 extra_hi])
        full_cost = np.zeros(width)
        full_cost[:self.n_x] = cost[:self.n_x]
        full_cost[self.n_x + n_u:] = cost[self.n_x:]
        integer = None
        if n_u:
            integer = np.zeros(width, dtype=bool)
            if fix_steps is None:
                integer[self.n_x:self.n_x + n_u] = True
            else:
                col_lo[self.n_x:self.n_x + n_u] = fix_steps
                col_hi[self.n_x:self.n_x + n_u] = fix_steps
        return LinearProgram(full_cost, sparse.vstack(blocks, format="csr"),
                             np.concatenate(lo_all), np.concatenate(hi_all), col_lo, col_hi,
                             integer, maximize)

    def _cols(self, program: LinearProgram, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split a solution into the shares and the objective's columns."""
        n_u = self.n_x if self.plan.constraints.step else 0
        return x[:self.n_x], x[self.n_x + n_u:]

    # -- solving ----------------------------------------------------------------------------

    def solve(self, deadline: float) -> Outcome:
        method = getattr(self, f"_{self.spec.objective}")
        while True:
            outcome = method(deadline)
            if outcome.status != "optimal" or not self._core_rows_violated(outcome.x):
                break
        if outcome.status == "infeasible" and outcome.relaxable:
            outcome.relaxation, outcome.relaxable = self.relax(deadline)
        return outcome

    def _core_rows_violated(self, x: np.ndarray) -> bool:
        """With ``core: all`` above 12 jurisdictions, add the most violated coalition rows
        (at most 2n) at the solution ``x``; True when there were any (solve again)."""
        if self.plan.core != "all" or self.n_j <= ALL_COALITIONS_UP_TO:
            return False
        full = (1 << self.n_j) - 1
        payoff = self.amap.payoff_const + self.P @ x
        excess = subset_sums(payoff) - self._coalition_values()
        excess[[0, full]] = np.inf
        have = {g.detail["members_mask"] for g in self.groups if g.kind == "core"}
        violated = [m for m in np.flatnonzero(excess < -1e-9 * self.scale).tolist()
                    if m not in have]
        for mask in sorted(violated, key=lambda m: excess[m])[:2 * self.n_j]:
            self._core_row(mask)
        return bool(violated)

    def _run(self, program: LinearProgram, deadline: float,
             tolerance: float | None = None) -> Solution:
        left = deadline - time.perf_counter()
        if left <= 0:
            return Solution("time_limit")
        sol = solve(program, self.spec.solver, time_limit=left, tolerance=tolerance)
        if sol.status == "optimal" and program.is_mip:
            steps = np.round(sol.x[self.n_x:2 * self.n_x])
            fixed = LinearProgram(program.cost, program.matrix, program.row_lo, program.row_hi,
                                  np.where(program.integer, np.r_[np.zeros(self.n_x), steps,
                                           np.zeros(len(program.cost) - 2 * self.n_x)],
                                           program.col_lo),
                                  np.where(program.integer, np.r_[np.zeros(self.n_x), steps,
                                           np.zeros(len(program.cost) - 2 * self.n_x)],
                                           program.col_hi),
                                  None, program.maximize)
            again = solve(fixed, self.spec.solver,
                          time_limit=max(deadline - time.perf_counter(), 1.0))
            if again.status == "optimal":
                sol = Solution("optimal", again.x, again.objective, again.duals, sol.solver,
                               sol.seconds + again.seconds, sol.notes + again.notes)
        return sol

    def _effects(self, sol: Solution) -> dict[str, float]:
        """Change of the objective per unit tightening of each named constraint."""
        if sol.duals is None:
            return {}
        return {g.name: g.tighten * g.rhs_per_param * float(sol.duals[g.rows].sum())
                for g in self.groups}

    def _finish(self, sol: Solution, x, objective, rounds=1, level=None) -> Outcome:
        return Outcome("optimal", x, objective, self._effects(sol), solver=sol.solver,
                       notes=list(sol.notes), rounds=rounds, level=level or {})

    def _failed(self, sol: Solution, program: LinearProgram | None = None) -> Outcome:
        out = Outcome(sol.status, solver=sol.solver, notes=list(sol.notes),
                      relaxable=sol.status == "infeasible")
        if sol.status == "time_limit" and sol.x is not None and program is not None:
            out.x, extra = self._cols(program, sol.x)  # the best split found in time
            out.objective = float(extra[0]) if extra.size else sol.objective
        return out

    def _gain_rows(self, members, weights, level_col: bool):
        """Rows ``P_j x − ω_j t`` (t the last column when ``level_col``)."""
        rows = self.P[members]
        if level_col:
            rows = np.hstack([rows, -weights[:, None]])
        return rows

    def _objective_players(self) -> np.ndarray:
        return np.array([j for j in self.players.tolist() if self.weights[j] > 0], dtype=int)

    def _norm_weights(self, members: np.ndarray) -> np.ndarray:
        w = self.weights[members]
        return w / w.mean() if w.size and w.mean() > 0 else w

    def _maximin(self, deadline, fixed: dict[int, float] | None = None, free=None):
        members = self._objective_players() if free is None else free
        w = self._norm_weights(self._objective_players())
        weight = dict(zip(self._objective_players().tolist(), w.tolist(), strict=True))
        omega = np.array([weight[j] for j in members.tolist()])
        rows = [self._gain_rows(members, omega, True)]
        lo = [-self.g0[members]]
        for j, level in (fixed or {}).items():
            rows.append(np.r_[self.P[j], 0.0][None])
            lo.append(np.array([weight[j] * level - self.g0[j] - 1e-9 * self.scale]))
        cost = np.zeros(self.n_x + 1)
        cost[-1] = 1.0
        program = self.program(1, np.vstack(rows), np.concatenate(lo), np.inf, cost,
                               np.array([-np.inf]), np.array([np.inf]), maximize=True)
        sol = self._run(program, deadline)
        return program, sol, members, omega

    def _maximin_gain(self, deadline) -> Outcome:
        if not self._objective_players().size:
            return self._no_players()
        program, sol, members, _ = self._maximin(deadline)
        if sol.status != "optimal":
            return self._failed(sol, program)
        x, extra = self._cols(program, sol.x)
        out = self._finish(sol, x, float(extra[0]))
        out.level = self._tight(sol, members, program)
        return out

    def _tight(self, sol, members, program) -> dict[int, float]:
        """The players whose (weighted) gain sets the level: positive duals on their rows."""
        if sol.duals is None:
            return {}
        start = self.m + (self.n_x if self.plan.constraints.step else 0)
        duals = sol.duals[start:start + len(members)]
        # Raising a player's row lowers the maximum: a negative dual marks a binding row.
        return {int(j): -float(d) for j, d in zip(members, duals, strict=True) if d < -1e-9}

    def _lexmaximin_gain(self, deadline) -> Outcome:
        free = self._objective_players()
        if not free.size:
            return self._no_players()
        fixed: dict[int, float] = {}
        first = None
        rounds = 0
        while free.size:
            program, sol, members, omega = self._maximin(deadline, fixed, free)
            rounds += 1
            if sol.status != "optimal":
                return self._failed(sol) if first is None else Outcome(
                    sol.status, solver=sol.solver, notes=list(sol.notes), relaxable=False)
            x, extra = self._cols(program, sol.x)
            level = float(extra[0])
            if first is None:
                first = (sol, x, level, self._tight(sol, members, program))
            tight = self._tight(sol, members, program)
            if not tight:  # numerical trouble: fix the lowest weighted gains
                gains = (self.g0[members] + self.P[members] @ x) / omega
                tight = {int(j): 0.0 for j in members[gains <= gains.min() + 1e-9 * self.scale]}
            for j in tight:
                fixed[j] = level
            free = np.array([j for j in free.tolist() if j not in fixed], dtype=int)
        sol0, _, level0, tight0 = first
        out = self._finish(sol0, x, level0, rounds, tight0)
        out.effects = self._effects(sol0)
        return out

    def _proportional(self, deadline) -> Outcome:
        members = self.players
        if not members.size:
            return self._no_players()
        target = self.weights[members] / self.weights[members].sum() \
            if self.weights[members].sum() > 0 else np.full(len(members), 1 / len(members))
        total = float(self.g0[members].sum() + (self.P[members] @ self._uniform()).sum())
        k = len(members)
        eye = np.eye(k)
        rows = np.vstack([np.hstack([self.P[members], -eye]), np.hstack([self.P[members], eye])])
        goal = target * total - self.g0[members]
        lo = np.r_[np.full(k, -np.inf), goal]
        hi = np.r_[goal, np.full(k, np.inf)]
        cost = np.r_[np.zeros(self.n_x), np.ones(k)]
        program = self.program(k, rows, lo, hi, cost, np.zeros(k), np.full(k, np.inf), False)
        sol = self._run(program, deadline)
        if sol.status != "optimal":
            return self._failed(sol, program)
        x, _ = self._cols(program, sol.x)
        return self._finish(sol, x, sol.objective)

    def blocks(self) -> list[np.ndarray]:
        """The variables of each share vector that sums to 1."""
        return self._blocks

    def _uniform(self) -> np.ndarray:
        """A point with every block's shares summing to 1."""
        x = np.zeros(self.n_x)
        for members in self._blocks:
            x[members] = 1.0 / len(members)
        return x

    def _closest_to_current(self, deadline) -> Outcome:
        n_c = self.amap.n_columns
        e = self.E.toarray()
        rows = np.vstack([np.hstack([e, -np.eye(n_c)]), np.hstack([e, np.eye(n_c)])])
        w0 = self.amap.current
        lo = np.r_[np.full(n_c, -np.inf), w0]
        hi = np.r_[w0, np.full(n_c, np.inf)]
        cost = np.r_[np.zeros(self.n_x), np.ones(n_c)]
        program = self.program(n_c, rows, lo, hi, cost, np.zeros(n_c), np.full(n_c, np.inf),
                               False)
        sol = self._run(program, deadline)
        if sol.status != "optimal":
            return self._failed(sol, program)
        x, _ = self._cols(program, sol.x)
        return self._finish(sol, x, sol.objective)

    def _nash(self, deadline) -> Outcome:
        """max Σ ω̂_j log G_j by tangent cuts: z_j ≤ log ĝ + (G_j − ĝ)/ĝ at points ĝ, added
        at and around each LP solution until the LP bound and the true value agree to 1e-9
        (relative) and the gains stop moving."""
        members = self._objective_players()
        if not members.size:
            return self._no_players()
        program, sol, _, _ = self._maximin(deadline)
        if sol.status != "optimal":
            return self._failed(sol)
        x0, extra = self._cols(program, sol.x)
        if extra[0] <= 1e-9 * self.scale:
            out = Outcome("infeasible", solver=sol.solver, notes=list(sol.notes),
                          relaxable=False)
            out.notes.append(("optimize.note_nash_undefined", {"level": float(extra[0])}))
            return out
        omega = self.weights[members] / self.weights[members].sum()
        k = len(members)
        gains = self.g0[members] + self.P[members] @ x0
        total = float(self.g0[members].sum() + (self.P[members] @ x0).sum())
        points = [[g, extra[0] * w, max(total, g)] for g, w in
                  zip(gains, self._norm_weights(members), strict=True)]
        floor = 1e-6 * float(extra[0]) * min(self._norm_weights(members))
        best = (float(omega @ np.log(np.maximum(gains, floor))), x0, sol)
        rounds = 0
        while True:
            rows, lo, hi = [], [], []
            for m, j in enumerate(members.tolist()):
                for g in points[m]:
                    row = np.zeros(self.n_x + k)
                    row[:self.n_x] = -self.P[j] / g
                    row[self.n_x + m] = 1.0
                    rows.append(row)
                    hi.append(math.log(g) - 1.0 + self.g0[j] / g)
                    lo.append(-np.inf)
            for j in members.tolist():
                rows.append(np.r_[self.P[j], np.zeros(k)])
                lo.append(floor - self.g0[j])
                hi.append(np.inf)
            cost = np.r_[np.zeros(self.n_x), omega]
            program = self.program(k, np.array(rows), lo, hi, cost, np.full(k, -np.inf),
                                   np.full(k, np.inf), True)
            sol = self._run(program, deadline, tolerance=1e-10)
            rounds += 1
            if sol.status != "optimal":
                return self._failed(sol)
            x, z = self._cols(program, sol.x)
            gains = np.maximum(self.g0[members] + self.P[members] @ x, floor)
            true = float(omega @ np.log(gains))
            if true > best[0]:
                best = (true, x, sol)
            # The LP's optimum bounds the true one; the best point seen is within the gap.
            bound = float(omega @ z)
            if bound - best[0] <= NASH_GAP * max(1.0, abs(best[0])) or rounds >= MAX_ROUNDS:
                out = self._finish(best[2], best[1], best[0], rounds)
                if rounds >= MAX_ROUNDS:
                    out.notes.append(("optimize.note_nash_gap", {"gap": bound - best[0]}))
                return out
            # Cuts at the solution and bracketing it closer and closer: the LP's optimum lies
            # between two cut points, so the bracket pins the gains down in a few rounds.
            for m in range(k):
                for step in BRACKET:
                    g = float(gains[m]) * (1.0 + step)
                    if g > floor and min(abs(p - g) for p in points[m]) > 1e-12 * g:
                        points[m].append(g)

    def _least_core(self, deadline) -> Outcome:
        """max ε s.t. Σ_{i∈S} payoff_i − v(S) ≥ ε for every proper coalition S; above 12
        jurisdictions the coalition rows are generated: the most violated are added until
        none is."""
        n = self.n_j
        full = (1 << n) - 1
        if n < 2:
            return self._no_players()
        lazy = n > ALL_COALITIONS_UP_TO
        active = sorted({1 << j for j in range(n)} | {full ^ (1 << j) for j in range(n)}) \
            if lazy else list(range(1, full))
        values = self._coalition_values()
        rounds = 0
        while True:
            rows, lo = [], []
            for mask in active:
                row, rhs = self._coalition_row(mask)
                rows.append(np.r_[row, -1.0])
                lo.append(rhs)
            cost = np.r_[np.zeros(self.n_x), 1.0]
            program = self.program(1, np.array(rows), lo, np.inf, cost, np.array([-np.inf]),
                                   np.array([np.inf]), True)
            sol = self._run(program, deadline)
            rounds += 1
            if sol.status != "optimal":
                return self._failed(sol)
            x, extra = self._cols(program, sol.x)
            eps = float(extra[0])
            if not lazy:
                break
            payoff = self.amap.payoff_const + self.P @ x
            excess = subset_sums(payoff) - values
            excess[[0, full]] = np.inf
            violated = np.flatnonzero(excess < eps - 1e-9 * self.scale)
            if not violated.size:
                break
            worst = violated[np.argsort(excess[violated])[:2 * n]]
            active = sorted(set(active) | set(worst.tolist()))
        return self._finish(sol, x, eps, rounds)

    def _no_players(self) -> Outcome:
        out = Outcome("infeasible", relaxable=False)
        out.notes.append(("optimize.note_no_players", {}))
        return out

    # -- infeasibility ----------------------------------------------------------------------

    def relax(self, deadline) -> tuple[list[tuple[Group, float]], bool]:
        """The elastic LP: one slack per relaxable named constraint, the weighted sum of
        slacks minimised (money per payoff scale, shares as they are). Returns each relaxed
        constraint with its slack (in the constraint's units), and whether it found one."""
        groups = [g for g in self.groups if g.relaxable]
        if not groups:
            return [], False
        k = len(groups)
        slack = sparse.lil_matrix((self.m, k))
        for c, g in enumerate(groups):
            # A ≥ row is relaxed by adding the slack, a ≤ row by subtracting it.
            sign = 1.0 if np.isfinite(self._lo_all()[g.rows]).all() else -1.0
            slack[g.rows, c] = sign
        rows = sparse.hstack([sparse.vstack(self._rows), slack.tocsr()], format="csr")
        step = self.plan.constraints.step
        n_u = self.n_x if step else 0
        width = self.n_x + n_u + k
        blocks = [sparse.hstack([rows[:, :self.n_x], sparse.csr_matrix((self.m, n_u)),
                                 rows[:, self.n_x:]])]
        lo, hi = [self._lo_all()], [self._hi_all()]
        if n_u:
            blocks.append(sparse.hstack([sparse.identity(self.n_x),
                                         -step * sparse.identity(self.n_x),
                                         sparse.csr_matrix((self.n_x, k))]))
            lo.append(np.zeros(self.n_x))
            hi.append(np.zeros(self.n_x))
        cost = np.zeros(width)
        cost[self.n_x + n_u:] = [1.0 / self.scale if g.unit == MONEY else 1.0 for g in groups]
        integer = None
        if n_u:
            integer = np.zeros(width, dtype=bool)
            integer[self.n_x:self.n_x + n_u] = True
        program = LinearProgram(
            cost, sparse.vstack(blocks, format="csr"), np.concatenate(lo), np.concatenate(hi),
            np.zeros(width), np.r_[np.ones(self.n_x), np.full(n_u, round(1 / step) if step
                                                            else 0), np.full(k, np.inf)],
            integer, False)
        sol = self._run(program, deadline)
        if sol.status != "optimal":
            return [], False
        amounts = sol.x[self.n_x + n_u:]
        tol = [1e-9 * self.scale if g.unit == MONEY else 1e-9 for g in groups]
        return [(g, float(a)) for g, a, t in zip(groups, amounts, tol, strict=True) if a > t], True

    def _lo_all(self) -> np.ndarray:
        return np.concatenate(self._lo) if self._lo else np.zeros(0)

    def _hi_all(self) -> np.ndarray:
        return np.concatenate(self._hi) if self._hi else np.zeros(0)


def _first_seen(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct values of ``keys`` in the order they first appear: each key's
    number, and the first position of each number."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.ravel()], first[order]
