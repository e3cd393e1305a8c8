"""Linear programmes for the optimizer and the games: one matrix form, two ways to solve it.

A :class:`LinearProgram` holds a problem as numpy and scipy.sparse arrays::

    minimise (or maximise)  c·x
    subject to              row_lo ≤ A x ≤ row_hi,   col_lo ≤ x ≤ col_hi,   x_j integer where asked

:func:`solve` hands it to PuLP: HiGHS (through highspy) by default, CBC as the fallback.
Every solve has a time limit, a missing or failing solver falls back to the other one and
says so, and the :class:`Solution` carries the row duals. For HiGHS the arrays go to HiGHS
whole through PuLP's own HiGHS solver class (columns, costs and bounds one call each, the rows
from scipy.sparse in one call, the solution read back as arrays); for CBC each row becomes one
PuLP affine expression built from a dict of its non-zeros (never a sum of products).

:class:`IncrementalLP` keeps one small LP inside a HiGHS instance and solves it again after
rows are added or bounds and costs change, starting from the last basis (a warm start). The
nucleolus solves dozens of LPs of a few variables each: there the overhead of each solve is
what counts, not the simplex iterations.

Duals are sensitivities: ``duals[r]`` is the change of the optimal objective (in the
problem's own sense, so for a maximisation the gain in the maximum) per unit increase of the
active bound of row r (its lower bound for a ``≥`` row, its upper bound for a ``≤`` row).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from functools import cache

import highspy
import numpy as np
import pulp
from scipy import sparse

from sharing.i18n import Problem, define

SOLVERS = ("highs", "cbc")
STATUSES = ("optimal", "infeasible", "unbounded", "time_limit", "error")
DEFAULT_TIME_LIMIT = 30.0
INF = highspy.kHighsInf
HIGHS_THREADS = 1  # small LPs gain nothing from threads, and thread start-up costs per solve

define({
    "lp.fallback": ("求解器 {failed} 不可用或出错（{reason}），已改用 {used}",
                    "solver {failed} is missing or failed ({reason}); solved with {used} "
                    "instead"),
    "lp.all_failed": ("所有求解器都失败了：{reasons}", "every solver failed: {reasons}"),
})


@dataclass(frozen=True)
class LinearProgram:
    """``min`` (or ``max``) ``cost·x`` s.t. ``row_lo ≤ matrix·x ≤ row_hi``,
    ``col_lo ≤ x ≤ col_hi``; ``integer[j]`` marks integer columns. Infinite bounds are
    ``±np.inf``."""

    cost: np.ndarray
    matrix: sparse.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray | None = None
    maximize: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def is_mip(self) -> bool:
        return self.integer is not None and bool(self.integer.any())


@dataclass(frozen=True)
class Solution:
    """What a solver returned: ``status`` is one of :data:`STATUSES`; ``x`` and ``duals``
    are None when there is no solution (duals also for a MIP)."""

    status: str
    x: np.ndarray | None = None
    objective: float = float("nan")
    duals: np.ndarray | None = None
    solver: str = ""
    seconds: float = 0.0
    notes: tuple[Problem, ...] = field(default_factory=tuple)


def solve(lp: LinearProgram, solver: str = "highs",
          time_limit: float | None = DEFAULT_TIME_LIMIT,
          tolerance: float | None = None) -> Solution:
    """Solve with PuLP, ``solver`` first (``highs`` or ``cbc``), the other one if it is
    missing or fails. Never hangs: ``time_limit`` seconds at most per solver. ``tolerance``
    sets the primal and dual feasibility tolerances (the solvers' default is 1e-7)."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; use {' or '.join(SOLVERS)}")
    notes: list[Problem] = []
    failures: list[str] = []
    for name in (solver, *(s for s in SOLVERS if s != solver)):
        try:
            sol = _solve_pulp(lp, name, time_limit, tolerance)
        except Exception as err:  # a solver that is missing or crashes: try the next one
            reason = f"{type(err).__name__}: {err}"
        else:
            if sol.status != "error":
                notes.extend(Problem("lp.fallback", {"failed": f, "reason": r, "used": name})
                             for f, r in (p.split("\0") for p in failures))
                return Solution(sol.status, sol.x, sol.objective, sol.duals, sol.solver,
                                sol.seconds, tuple(notes))
            reason = "solver error"
        failures.append(f"{name}\0{reason}")
    reasons = "; ".join(p.replace("\0", ": ") for p in failures)
    return Solution("error", notes=(Problem("lp.all_failed", {"reasons": reasons}),))


def _solve_pulp(lp: LinearProgram, name: str, time_limit: float | None,
                tolerance: float | None) -> Solution:
    start = time.perf_counter()
    _quiet_banner()
    rows = None
    if name == "highs":
        options = {} if tolerance is None else {"primal_feasibility_tolerance": tolerance,
                                                "dual_feasibility_tolerance": tolerance}
        prob = pulp.LpProblem("sharing", pulp.LpMinimize)  # the matrices go in whole
        backend = _MatrixHiGHS(lp, msg=False, timeLimit=time_limit, threads=HIGHS_THREADS,
                               mip=lp.is_mip, **options)
    else:
        options = [] if tolerance is None else [f"primalT {tolerance}", f"dualT {tolerance}"]
        prob, variables, rows = _pulp_problem(lp)
        with warnings.catch_warnings():  # PuLP 3 announces that PuLP 4 renames this class
            warnings.simplefilter("ignore", DeprecationWarning)
            backend = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, mip=lp.is_mip,
                                        options=options)
        if not backend.available():
            raise RuntimeError("CBC is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        prob.solve(backend)
    status = _status(prob, name, time_limit, time.perf_counter() - start)
    if status == "error" and name == "highs" and _scheduler_mismatch(prob):
        # HiGHS fixes its thread count at the first solve in the process; another library
        # may have chosen a different one.
        backend = _MatrixHiGHS(lp, msg=False, timeLimit=time_limit, mip=lp.is_mip, **options)
        prob.solve(backend)
        status = _status(prob, name, time_limit, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if name == "highs":
        solution = prob.solverModel.getSolution()
        x = np.array(solution.col_value) if solution.value_valid else None
    else:
        x = None if any(v.varValue is None for v in variables) else \
            np.array([v.varValue for v in variables], dtype=float)
    if status not in ("optimal", "time_limit") or x is None \
            or (status == "time_limit" and not _has_incumbent(prob, name)):
        return Solution(status, solver=name, seconds=seconds)
    sign = -1.0 if lp.maximize else 1.0
    objective = float(lp.cost @ x)
    duals = None
    if not lp.is_mip and status == "optimal":
        if rows is None:
            duals = sign * np.array(solution.row_dual)
        else:
            duals = np.zeros(lp.shape[0])
            for r, constraints in rows:
                duals[r] = sign * sum(c.pi or 0.0 for c in constraints)
    return Solution(status, x, objective, duals, name, seconds)


class _MatrixHiGHS(pulp.HiGHS):
    """PuLP's HiGHS solver (its options, time limit and threads, its ``highspy`` model) fed
    the whole LP as arrays: columns, costs and bounds in one call each, the rows in one
    ``addRows`` with the CSR arrays, and the solution and row duals read back as arrays.
    PuLP objects per variable and per row (what CBC needs) would cost more than solving the
    LP: 6,000 variables take ~30 ms to create and as long again to read back."""

    def __init__(self, lp: LinearProgram, **options):
        super().__init__(**options)
        self.program = lp

    def actualSolve(self, prob):
        self.createAndConfigureSolver(prob)
        self.buildSolverModel(prob)
        self.callSolver(prob)
        return prob.status

    def buildSolverModel(self, prob):
        lp, h = self.program, prob.solverModel
        n, m = lp.shape[1], lp.shape[0]
        cols = np.arange(n, dtype=np.int32)
        h.addVars(n, _inf(lp.col_lo), _inf(lp.col_hi))
        h.changeColsCost(n, cols, (-1.0 if lp.maximize else 1.0) * lp.cost)
        if lp.is_mip and self.mip:
            kinds = np.where(lp.integer, highspy.HighsVarType.kInteger,
                             highspy.HighsVarType.kContinuous)
            h.changeColsIntegrality(n, cols, kinds)
        a = lp.matrix.tocsr()
        if m:
            h.addRows(m, _inf(lp.row_lo), _inf(lp.row_hi), a.nnz,
                      a.indptr[:-1].astype(np.int32), a.indices.astype(np.int32),
                      a.data.astype(float))


def _pulp_problem(lp: LinearProgram):
    """The PuLP problem of ``lp`` (for CBC), always a minimisation (so that both solvers
    report duals with the same sign); rows built from dicts of their non-zeros."""
    n = lp.shape[1]
    prob = pulp.LpProblem("sharing", pulp.LpMinimize)
    integer = lp.integer if lp.integer is not None else np.zeros(n, dtype=bool)
    width = len(str(max(n - 1, 0)))
    variables = [
        prob.add_variable(f"x{j:0{width}d}", _finite(lo), _finite(hi),
                          pulp.LpInteger if integer[j] else pulp.LpContinuous)
        for j, (lo, hi) in enumerate(zip(lp.col_lo.tolist(), lp.col_hi.tolist(), strict=True))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        prob.addVariables(variables)
    sign = -1.0 if lp.maximize else 1.0
    cost = (sign * lp.cost).tolist()
    # never a constant objective: PuLP would add a dummy variable
    terms = {variables[j]: cost[j] for j in np.flatnonzero(lp.cost).tolist()} or \
        {variables[0]: 0.0}
    prob.setObjective(pulp.LpAffineExpression(terms))
    a = lp.matrix.tocsr()
    indptr, indices, data = a.indptr, a.indices.tolist(), a.data.tolist()
    rows = []
    for r, (lo, hi) in enumerate(zip(lp.row_lo.tolist(), lp.row_hi.tolist(), strict=True)):
        terms = {variables[j]: v for j, v in zip(indices[indptr[r]:indptr[r + 1]],
                                                 data[indptr[r]:indptr[r + 1]], strict=True)}
        made = []
        if lo == hi:
            made.append((pulp.LpConstraintEQ, lo))
        else:
            if np.isfinite(lo):
                made.append((pulp.LpConstraintGE, lo))
            if np.isfinite(hi):
                made.append((pulp.LpConstraintLE, hi))
        constraints = []
        for k, (sense, rhs) in enumerate(made):
            c = pulp.LpConstraint(pulp.LpAffineExpression(terms), sense, rhs=rhs)
            prob.addConstraint(c, f"r{r}_{k}")
            constraints.append(c)
        rows.append((r, constraints))
    return prob, variables, rows


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


_HIGHS_STATUS = {
    "kOptimal": "optimal", "kInfeasible": "infeasible", "kUnbounded": "unbounded",
    "kTimeLimit": "time_limit", "kIterationLimit": "time_limit",
    "kSolutionLimit": "time_limit", "kInterrupt": "time_limit",
}


def _status(prob, name: str, time_limit: float | None, elapsed: float) -> str:
    if name == "highs":
        model_status = prob.solverModel.getModelStatus().name
        if model_status == "kUnboundedOrInfeasible":
            return _resolve_ambiguous(prob)
        return _HIGHS_STATUS.get(model_status, "error")
    if prob.sol_status == pulp.LpSolutionOptimal:
        return "optimal"
    if prob.sol_status == pulp.LpSolutionIntegerFeasible:
        return "time_limit"
    if prob.status == pulp.LpStatusInfeasible:
        return "infeasible"
    if prob.status == pulp.LpStatusUnbounded:
        return "unbounded"
    if time_limit is not None and elapsed >= time_limit:
        return "time_limit"
    return "error"


def _has_incumbent(prob, name: str) -> bool:
    """Whether a solve stopped by the time limit holds a feasible point."""
    if name == "highs":
        return prob.solverModel.getInfo().primal_solution_status == 2  # feasible
    return prob.sol_status == pulp.LpSolutionIntegerFeasible


def _resolve_ambiguous(prob) -> str:
    """HiGHS' presolve sometimes cannot tell infeasible from unbounded; the simplex can."""
    highs = prob.solverModel
    highs.setOptionValue("presolve", "off")
    highs.run()
    return _HIGHS_STATUS.get(highs.getModelStatus().name, "infeasible")


def _scheduler_mismatch(prob) -> bool:
    return prob.solverModel.getModelStatus().name == "kNotset"


# ---------------------------------------------------------------------------------------------
# Small LPs solved again and again: HiGHS directly, warm-started

_TOLERANCES = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


@cache
def _quiet_banner() -> None:
    """highspy prints its licence banner on stdout at the first ``Highs()`` of a process;
    take it while stdout points nowhere, so that the CLI's output stays a table."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def highs_instance() -> highspy.Highs:
    """A quiet HiGHS instance on one thread (or on the process' existing thread count, if
    HiGHS was started with another one)."""
    _quiet_banner()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")
    for key, value in _TOLERANCES.items():
        h.setOptionValue(key, value)
    h.setOptionValue("threads", HIGHS_THREADS)
    return h


class IncrementalLP:
    """``min cost·x`` s.t. ``lo ≤ A x ≤ hi`` kept in one HiGHS instance between solves.

    Rows are added (:meth:`add_rows`), bounds and costs changed, and :meth:`solve` starts
    from the previous basis. Raises RuntimeError when a solve does not reach optimality:
    callers use it for LPs that are feasible and bounded by construction.
    """

    def __init__(self, cost: np.ndarray, col_lo: np.ndarray, col_hi: np.ndarray):
        self.n = len(cost)
        self.m = 0
        self._h = highs_instance()
        self._h.addVars(self.n, _inf(col_lo), _inf(col_hi))
        self.set_cost(cost)
        self.solves = 0

    def set_cost(self, cost: np.ndarray) -> None:
        self._h.changeColsCost(self.n, np.arange(self.n, dtype=np.int32),
                               np.asarray(cost, dtype=float))

    def set_col_bounds(self, cols, lo, hi) -> None:
        cols = np.atleast_1d(np.asarray(cols, dtype=np.int32))
        lo = np.broadcast_to(np.asarray(lo, dtype=float), cols.shape)
        hi = np.broadcast_to(np.asarray(hi, dtype=float), cols.shape)
        self._h.changeColsBounds(len(cols), cols, _inf(lo), _inf(hi))

    def add_rows(self, rows: np.ndarray, lo, hi) -> np.ndarray:
        """Add dense rows ``(k, n)``; returns their indices."""
        rows = np.atleast_2d(np.asarray(rows, dtype=float))
        k = rows.shape[0]
        if k == 0:
            return np.zeros(0, dtype=int)
        lo = np.broadcast_to(np.asarray(lo, dtype=float), (k,))
        hi = np.broadcast_to(np.asarray(hi, dtype=float), (k,))
        r, c = np.nonzero(rows)
        starts = np.searchsorted(r, np.arange(k)).astype(np.int32)
        self._h.addRows(k, _inf(lo), _inf(hi), len(c), starts, c.astype(np.int32), rows[r, c])
        self.m += k
        return np.arange(self.m - k, self.m)

    def set_row_bounds(self, rows, lo, hi) -> None:
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int32))
        lo = np.broadcast_to(np.asarray(lo, dtype=float), rows.shape)
        hi = np.broadcast_to(np.asarray(hi, dtype=float), rows.shape)
        self._h.changeRowsBounds(len(rows), rows, _inf(lo), _inf(hi))

    def solve(self) -> tuple[np.ndarray, np.ndarray]:
        """The optimal ``x`` and the row duals (``d objective / d active bound``)."""
        h = self._h
        h.run()
        self.solves += 1
        status = h.getModelStatus().name
        if status == "kNotset" and h.getOptionValue("threads")[1] != 0:
            h.setOptionValue("threads", 0)  # see highs_instance
            h.run()
            status = h.getModelStatus().name
        if status != "kOptimal":
            raise RuntimeError(f"LP not solved to optimality (HiGHS: {status})")
        sol = h.getSolution()
        return np.array(sol.col_value), np.array(sol.row_dual)


def _inf(values) -> np.ndarray:
    return np.clip(np.asarray(values, dtype=float), -INF, INF)
