"""Risk: Monte Carlo over the scenario's ``uncertainty:`` section, and one-at-a-time
sensitivity.

:func:`monte_carlo` draws the uncertain inputs (growth noise, a macro factor, correlation
within a park or firm, survival, move delays, compliance, any numeric parameter) and runs
every draw through the engine in batches (:func:`sharing.engine.run_batch`), exactly: the
rules are applied to each draw's own numbers, and each draw is compared with its own
no-cooperation counterfactual. Draws are split into blocks of :data:`BLOCK`; block b draws
from ``SeedSequence(seed, spawn_key=(b,))`` (the b-th child of ``SeedSequence(seed)``), so
the numbers do not depend on the chunk size, the executor or the number of workers.

The model of each input (formulas in ``docs/risk.md``):

- growth: stream s in year index i ≥ 1 is multiplied by
  ``M[s, i] = exp(Σ_{u=1..i} (σ_s z[s, u] + σ_m m[u] − (σ_s² + σ_m²)/2))`` where z is the
  stream's shock (correlated ``rho`` within a park or firm: ``z = α e + β Σ_group e`` with
  ``α = √(1 − rho)``, ``β = (√(1 − rho + n rho) − α) / n``, which gives unit variance and
  correlation rho for n members) and m the macro factor; ``E[M] = 1``. A firm's taxes at
  origin and destination, and what it would pay had it stayed, share the same shocks.
- survival: each year after the first, a firm (park site) exits with probability p and
  pays nothing from then on: it is alive in year index i with probability ``(1 − p)^i``.
- move delay: the move (or production) year slips by d years with probability
  ``probabilities[d]``; the firm's tax path, its pre-move base (the retention and the
  realised gross of the year before its new move year) and the capped rule's clock follow.
- compliance: Beta(a, b) per agreement, per draw.
- parameters: drawn values set by key path (:meth:`Scenario.replace`, validated); the
  discount rate is applied in the batch, any other path compiles the draw's scenario.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize as sopt
from scipy import sparse, special, stats

from sharing.engine import Facts, Model, compile_scenario, run_batch
from sharing.i18n import Lang, Problem, define, message
from sharing.scenario import Scenario, ScenarioError, checked, value_at
from sharing.taxes import TAXES, retention_table
from sharing.uncertainty import Uncertainty

BLOCK = 64  # draws per random stream: chunks are whole blocks
MAX_DRAWS = 10_000_000
MAX_PATH_DRAWS = 100_000  # fan charts are computed from at most this many draws
IN_FLIGHT = 16  # chunks submitted to an executor and not yet read
CHUNK_BYTES = 16_000_000  # the size of one chunk's gross array, by default
QUANTILES = (5, 25, 50, 75, 95)
TAIL = 0.05  # expected shortfall: the mean of the worst 5 % of draws
LOSS_TOLERANCE = 1e-9  # relative: a gain of -1e-12 is rounding, not a loss

define({
    "risk.draws": ("抽样次数 draws 须为 1 到 {limit:,} 之间的整数，现为 {value!r}",
                   "draws must be a whole number from 1 to {limit:,}, got {value!r}"),
    "risk.chunk": ("每批次数 chunk 须为正整数，现为 {value!r}",
                   "chunk must be a positive whole number, got {value!r}"),
    "risk.threads": ("线程数 threads 须为正整数，现为 {value!r}",
                     "threads must be a positive whole number, got {value!r}"),
    "risk.antithetic_odd": ("对偶抽样需要偶数次抽样，现为 {value}",
                            "antithetic draws need an even number of draws, got {value}"),
    "risk.bad_draw": ("第 {draw} 次抽样把 {path} 设为 {value:.6g}，该值无效：",
                      "draw {draw} sets {path} to {value:.6g}, which is not valid:"),
    "risk.structure": ("参数 {path} 改变了情景的结构（税源或年份），不能作为不确定参数",
                       "parameter {path} changes the scenario's structure (streams or years); "
                       "it cannot be an uncertain parameter"),
    "risk.no_parameters": ("没有可做敏感性分析的参数：请在 parameters 中给出键路径",
                           "no parameter to vary: give key paths in `parameters`"),
    "risk.delta": ("变动幅度 delta 须在 (0, 1) 之内，现为 {value!r}",
                   "delta must be within (0, 1), got {value!r}"),
    "risk.explain_risk": (
        "{n:,} 次抽样中，{name} 承担的风险最大：净收益现值标准差 {std:,.2f} 万元，"
        "5%–95% 区间 {p5:,.2f} 至 {p95:,.2f} 万元；有 {prob:.1%} 的可能比不合作更差"
        "（最差 5% 的平均为 {es:,.2f} 万元）。",
        "Over {n:,} draws, {name} carries the most risk: its PV net benefit has a standard "
        "deviation of {std:,.2f} (10,000 CNY), 5%–95% range {p5:,.2f} to {p95:,.2f}; it is "
        "worse off than without cooperation in {prob:.1%} of draws (mean of the worst 5%: "
        "{es:,.2f})."),
    "risk.explain_likely": ("最可能比不合作更差的是{name}：概率 {prob:.1%}。",
                            "The side most likely to be worse off than without cooperation is "
                            "{name}: {prob:.1%} of draws."),
    "risk.explain_line": ("{name}：亏损概率 {prob:.1%}，均值 {mean:,.2f}，标准差 {std:,.2f}",
                          "{name}: probability of loss {prob:.1%}, mean {mean:,.2f}, "
                          "std {std:,.2f}"),
    "risk.explain_no_spread": ("情景没有给出不确定性（uncertainty 为空）：所有抽样与确定性结果"
                               "相同。",
                               "The scenario gives no uncertainty: every draw equals the "
                               "deterministic result."),
})


def _lang_name(sc: Scenario, jid: str, lang: Lang | None) -> str:
    j = next(x for x in sc.jurisdictions if x.id == jid)
    return j.name_en if lang == "en" else j.name


# ---------------------------------------------------------------------------------------------
# The sampler: which random numbers each draw uses, and how they become engine inputs


@dataclass(frozen=True)
class Plan:
    """The uncertain inputs of one scenario, compiled once: noise units (a stream, or a
    firm's tax at origin, destination and at home alike), their spreads and correlation
    groups, exit units, the delayed firms, the agreements with uncertain compliance and the
    parameters."""

    scenario: Scenario
    uncertainty: Uncertainty
    model: Model
    unit_of_row: np.ndarray
    sigma: np.ndarray
    group: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    macro: float
    exit_of_row: np.ndarray
    exit_p: np.ndarray
    delayed: np.ndarray
    delay_cum: np.ndarray
    compliance: tuple[tuple[int, float, float], ...]
    parameters: tuple[Any, ...]
    base_values: tuple[float, ...]
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_years(self) -> int:
        return len(self.model.years)

    @property
    def compliance_beta(self) -> tuple[np.ndarray, np.ndarray]:
        """The Beta(a, b) parameters of the agreements with uncertain compliance."""
        return (np.array([c[1] for c in self.compliance], dtype=float),
                np.array([c[2] for c in self.compliance], dtype=float))

    @property
    def batched_parameters(self) -> bool:
        return all(p.path == "discount_rate" for p in self.parameters)


def make_plan(sc: Scenario) -> Plan:
    """Compile ``sc`` (with a stream on both sides of every move when moves may slip) and
    its ``uncertainty:`` section into a :class:`Plan`."""
    u = sc.uncertainty or Uncertainty()
    model = compile_scenario(sc, both_sides=u.move_delay is not None)
    s = model.streams
    k = len(s)
    # Noise units: a firm's tax is one unit wherever it is paid (at origin, at destination,
    # and at home in the counterfactual); any other stream is a unit of its own.
    firm_tax = np.where(s.firm >= 0, s.firm * len(TAXES) + s.tax, -1)
    keys = np.unique(firm_tax[firm_tax >= 0])
    own = firm_tax < 0
    unit_of_row = np.where(own, len(keys) + np.cumsum(own) - 1,
                           np.searchsorted(keys, np.maximum(firm_tax, 0)))
    n_units = len(keys) + int(own.sum())
    unit_row = np.zeros(n_units, dtype=int)  # a representative row of each unit
    unit_row[unit_of_row] = np.arange(k)
    unit_firm, unit_park, unit_spec = s.firm[unit_row], s.park[unit_row], s.spec[unit_row]
    g = u.growth
    sigma = np.full(n_units, g.sigma if g else 0.0)
    if g:
        for i, park in enumerate(sc.parks):
            if park.id in g.parks:
                sigma[unit_park == i] = g.parks[park.id].sigma
        for i, firm in enumerate(sc.firms):
            if firm.id in g.firms:
                sigma[unit_firm == i] = g.firms[firm.id].sigma
        for i, spec in enumerate(sc.streams):
            if spec.id in g.streams:
                sigma[unit_spec == i] = g.streams[spec.id].sigma
    # Correlation groups: the units of one park (or one firm).
    group = np.full(n_units, -1)
    alpha, beta = np.ones(n_units), np.zeros(n_units)
    if u.correlation is not None:
        owner = unit_park if u.correlation.within == "park" else unit_firm
        group = owner.copy()
        rho = u.correlation.rho
        sizes = np.bincount(owner[owner >= 0], minlength=max(owner.max() + 1, 0) + 1)
        n = np.where(owner >= 0, sizes[np.maximum(owner, 0)], 1).astype(float)
        a = math.sqrt(1.0 - rho)
        alpha = np.full(n_units, a)
        beta = np.where(owner >= 0, (np.sqrt(np.maximum(1.0 - rho + n * rho, 0.0)) - a) / n, 0.0)
        alpha[owner < 0] = 1.0
    # Exit units: a firm, or a park site.
    exit_of_row = np.full(k, -1)
    exit_p: list[float] = []
    surv = u.survival
    if surv is not None and surv.firms is not None:
        p = [surv.firms.by_id.get(f.id, surv.firms.annual_exit) for f in sc.firms]
        exit_of_row = np.where(s.firm >= 0, s.firm, -1)
        exit_p.extend(p)
    if surv is not None and surv.parks is not None:
        site = np.array([s.suffixes[x].rsplit("/", 1)[0] for x in s.suffix], dtype=object)
        key = np.where(s.park >= 0, s.park.astype(str) + site, "")
        sites, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        rank = np.empty(len(sites), dtype=int)  # sites in the order the scenario lists them
        rank[np.argsort(first)] = np.arange(len(sites))
        inverse = rank[inverse]
        sites = sites[np.argsort(first)]
        offset = len(exit_p)
        for name in sites:
            if name:
                park = sc.parks[int(name.split("/", 1)[0])]
                exit_p.append(surv.parks.by_id.get(park.id, surv.parks.annual_exit))
            else:
                exit_p.append(0.0)
        exit_of_row = np.where(s.park >= 0, offset + inverse, exit_of_row)
    # Move delays: one per migrated firm.
    delayed = np.array([i for i, f in enumerate(sc.firms) if f.move_year is not None], int)
    delay_cum = np.zeros((0, 1))
    if u.move_delay is not None:
        spec = u.move_delay.firms
        longest = max([len(spec.probabilities), *map(len, spec.by_id.values())])
        probs = np.zeros((len(delayed), longest))
        for r, f in enumerate(delayed):
            row = spec.by_id.get(sc.firms[f].id, spec.probabilities)
            probs[r, :len(row)] = row
        delay_cum = np.cumsum(probs, axis=1)
        delay_cum[:, -1] = 1.0
    else:
        delayed = delayed[:0]
    positions = {a.id: i for i, a in enumerate(sc.agreements)}
    compliance = tuple((positions[aid], *spread.beta) for aid, spread in u.compliance.items())
    base_values = tuple(float(value_at(sc, p.path)) for p in u.parameters)
    return Plan(sc, u, model, unit_of_row.astype(int), sigma, group, alpha, beta,
                u.macro.sigma if u.macro else 0.0, exit_of_row,
                np.array(exit_p, dtype=float), delayed, delay_cum, compliance, u.parameters,
                base_values)


@dataclass
class Sample:
    """The random inputs of some draws: growth multipliers per unit ``(D, U, T)`` (None:
    no noise), the year index each exit unit leaves ``(D, E)``, each delayed firm's delay
    ``(D, F)``, compliance ``(D, agreements)``, parameter values ``(D, P)``."""

    multiplier: np.ndarray | None
    exit_at: np.ndarray | None
    delay: np.ndarray | None
    compliance: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.compliance)


def _block_variates(plan: Plan, block: int, size: int, seed: int, antithetic: bool,
                    z: np.ndarray | None):
    """The variates of one block of ``size`` draws, in a fixed order: normals for growth
    (units × years, written into ``z``; year 0's are not used) and the macro factor
    (years − 1), uniforms for exits and delays, compliance, uniforms for parameters.
    Compliance is drawn from numpy's Beta generator; with ``antithetic`` the second half of
    the block mirrors the first (z → −z, u → 1 − u) and compliance comes from mirrored
    uniforms through the Beta inverse CDF instead. A whole block of :data:`BLOCK` is always
    drawn, so that a draw does not depend on how many follow it."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block,))))
    full, n = (BLOCK // 2, size // 2) if antithetic else (BLOCK, size)
    steps = plan.n_years - 1
    if z is not None:  # (draws, units, years): written in place
        if n == full:
            rng.standard_normal(out=z[:n])
        else:
            z[:n] = rng.standard_normal((full, *z.shape[1:]))[:n]
        if antithetic:
            np.negative(z[:n], out=z[n:])
    m = rng.standard_normal((full, steps))[:n] if plan.macro > 0 else None
    a, b = plan.compliance_beta
    exits, delays = (rng.random((full, c))[:n] for c in (len(plan.exit_p), len(plan.delayed)))
    comp = (rng.random if antithetic else partial(rng.beta, a, b))((full, len(a)))[:n]
    values = rng.random((full, len(plan.parameters)))[:n]
    uniforms = [exits, delays, comp, values]
    if antithetic:
        m = None if m is None else np.concatenate([m, -m])
        uniforms = [np.concatenate([x, 1.0 - x]) for x in uniforms]
        uniforms[2] = special.betaincinv(a[None], b[None], uniforms[2])  # Beta(a, b) ppf
    return m, uniforms


def sample(plan: Plan, start: int, stop: int, seed: int, antithetic: bool = False,
           total: int | None = None) -> Sample:
    """The inputs of draws ``start`` to ``stop`` of a run of ``total`` draws (default
    ``stop``; the last block of a run may be short, which antithetic pairs depend on)."""
    total = stop if total is None else total
    n = stop - start
    n_units = len(plan.sigma)
    # One buffer (draws, units, years) holds the shocks, then log M, then M: year 0 has no
    # shock (its normal is drawn and not used, so that the buffer is filled in one go).
    z = np.empty((n, n_units, plan.n_years)) if np.any(plan.sigma > 0) else None
    parts = []
    for block in range(start // BLOCK, -(-stop // BLOCK)):
        first = block * BLOCK
        size = min(BLOCK, total - first)
        lo, hi = max(start, first) - first, min(stop, first + size) - first
        inside = lo == 0 and hi == size
        rows = None if z is None else (z[first - start:first - start + size] if inside
                                       else np.empty((size, n_units, plan.n_years)))
        m, uniforms = _block_variates(plan, block, size, seed, antithetic, rows)
        if rows is not None and not inside:
            z[first + lo - start:first + hi - start] = rows[lo:hi]
        parts.append((None if m is None else m[lo:hi], [u[lo:hi] for u in uniforms]))
    m = None if parts[0][0] is None else np.concatenate([p[0] for p in parts])
    u_exit, u_delay, drawn, u_par = (np.concatenate([p[1][i] for p in parts])
                                     for i in range(4))
    multiplier = None
    if z is not None or m is not None:
        # log M[:, :, i] = σ Σ_{1 ≤ u ≤ i} z_u + σ_m Σ_{1 ≤ u ≤ i} m_u − i (σ² + σ_m²)/2, in
        # place and in contiguous passes.
        if z is None:
            multiplier = np.zeros((n, n_units, plan.n_years))
        else:
            multiplier = _correlate(plan, z) if np.any(plan.group >= 0) else z
            multiplier[:, :, 0] = 0.0
            np.cumsum(multiplier, axis=2, out=multiplier)
            multiplier *= plan.sigma[None, :, None]
        if m is not None:
            macro = np.zeros((n, plan.n_years))
            np.cumsum(plan.macro * m, axis=1, out=macro[:, 1:])
            multiplier += macro[:, None, :]
        multiplier -= (0.5 * (plan.sigma ** 2 + plan.macro ** 2)[:, None]
                       * np.arange(plan.n_years)[None, :])[None]
        np.exp(multiplier, out=multiplier)
    exit_at = None
    if len(plan.exit_p):
        p = plan.exit_p[None, :]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            years = np.floor(np.log1p(-u_exit) / np.log1p(-p)) + 1.0
        years = np.where(p >= 1.0, 1.0, np.where(p <= 0.0, np.inf, years))
        exit_at = np.minimum(np.nan_to_num(years, nan=np.inf, posinf=np.inf),
                             plan.n_years).astype(int)
    delay = None
    if len(plan.delayed):
        delay = (u_delay[:, :, None] >= plan.delay_cum[None]).sum(axis=2)
    comp = np.tile([a.compliance for a in plan.scenario.agreements], (n, 1)).astype(float)
    if plan.compliance:
        comp[:, [c[0] for c in plan.compliance]] = drawn
    values = np.zeros((n, len(plan.parameters)))
    for i, (p, base) in enumerate(zip(plan.parameters, plan.base_values, strict=True)):
        values[:, i] = _parameter_values(p, base, u_par[:, i])
    return Sample(multiplier, exit_at, delay, comp, values)


def _correlate(plan: Plan, e: np.ndarray) -> np.ndarray:
    """``z = α e + β Σ_group e``: equicorrelated shocks within each group."""
    grouped = np.flatnonzero(plan.group >= 0)
    n, n_units, steps = e.shape
    n_groups = plan.group.max() + 1
    indicator = sparse.csr_matrix((np.ones(len(grouped)), (plan.group[grouped], grouped)),
                                  shape=(n_groups, n_units))
    sums = (indicator @ e.transpose(1, 0, 2).reshape(n_units, -1)).reshape(n_groups, n, steps)
    out = plan.alpha[None, :, None] * e
    out[:, grouped] += plan.beta[grouped][None, :, None] * sums[plan.group[grouped]].transpose(
        1, 0, 2)
    return out


def _parameter_values(p, base: float, u: np.ndarray) -> np.ndarray:
    """Inverse CDFs, so that antithetic uniforms give antithetic values."""
    u = np.clip(u, 1e-12, 1.0 - 1e-12)
    if p.dist == "normal":
        return (p.mean if p.mean is not None else base) + p.sd * stats.norm.ppf(u)
    if p.dist == "lognormal":
        return base * np.exp(p.sigma * stats.norm.ppf(u))
    if p.dist == "uniform":
        return p.low + (p.high - p.low) * u
    mode = p.mode if p.mode is not None else min(max(base, p.low), p.high)
    width = p.high - p.low
    return stats.triang.ppf(u, (mode - p.low) / width, loc=p.low, scale=width)


def inputs(plan: Plan, model: Model, smp: Sample, rows: slice = slice(None),
           consume: bool = False):
    """Engine inputs for the draws ``rows`` of ``smp`` on ``model`` (the plan's model, or a
    draw's own when a parameter changes it): gross ``(D, streams, years)`` and the firm facts
    (None when no draw moves them). What firms would pay had they stayed follows from the
    gross amounts (:meth:`Model.stay_gross`). With ``consume`` the sample's multiplier
    buffer becomes the gross amounts (no copy; the sample is not used again)."""
    s, years = model.streams, model.years
    mult = None if smp.multiplier is None else smp.multiplier[rows]
    delay = None if smp.delay is None else smp.delay[rows]
    n = len(smp.compliance[rows])
    gross = np.broadcast_to(s.gross, (n, *s.gross.shape))
    facts = None
    if delay is not None:
        gross, facts = _delayed(plan, model, delay, mult)
    if mult is not None:
        k = len(s)
        same = mult.shape[1] == k and np.array_equal(plan.unit_of_row, np.arange(k))
        if facts is None and np.any(s.pre_move_gross > 0):
            facts = _facts(model, mult, plan, np.zeros((n, 0), int))
        if same and consume and delay is None:
            gross = np.multiply(mult, s.gross, out=mult)
        else:
            gross = gross * (mult if same else mult[:, plan.unit_of_row])
    if smp.exit_at is not None:
        exit_at = smp.exit_at[rows]
        t = np.arange(len(years))
        alive = _alive(exit_at, plan.exit_of_row, t)
        if gross.flags.writeable:  # ours (a product, or the consumed buffer)
            gross *= alive
        else:
            gross = gross * alive
    return gross, facts


def _alive(exit_at: np.ndarray, unit: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(D, rows, T)``: whether each row's exit unit is still there (rows without one
    always are)."""
    last = np.where(unit[None] >= 0, exit_at[:, np.maximum(unit, 0)], len(t))
    return t[None, None, :] < last[:, :, None]


def _firm_table(model: Model):
    """Per stream row of a migrated firm: the firm, its pre-move amount of the row's tax,
    growth, move and production years, and whether it is the destination row."""
    s, sc = model.streams, model.scenario
    rows = np.flatnonzero((s.firm >= 0) & (s.move_year >= 0))
    firms = s.firm[rows]
    pre = np.array([sc.firms[f].pre_move.get(TAXES[t], 0.0)
                    for f, t in zip(firms, s.tax[rows], strict=True)])
    growth = np.array([sc.firms[f].growth for f in firms])
    dest = s.host[rows] == s.destination[rows]
    return rows, firms, pre, growth, dest


def _delayed(plan: Plan, model: Model, delay: np.ndarray, mult: np.ndarray | None):
    """Gross and facts with each delayed firm's move (or production) shifted."""
    s, years = model.streams, model.years
    n = len(delay)
    shift = np.zeros((n, len(model.scenario.firms)), dtype=int)
    shift[:, plan.delayed] = delay
    gross = np.repeat(s.gross[None], n, axis=0)
    if plan.uncertainty.move_delay.firms.of == "move":
        rows, firms, pre, growth, dest = _firm_table(model)
        move = s.move_year[rows][None] + shift[:, firms]  # (D, rows)
        level = pre[None, :, None] * (1.0 + growth[None, :, None]) ** (
            years[None, None, :] - move[:, :, None] + 1)
        after = years[None, None, :] >= move[:, :, None]
        gross[:, rows] = np.where(dest[None, :, None], level * after, level * ~after)
    return gross, _facts(model, mult, plan, shift)


def _facts(model: Model, mult: np.ndarray | None, plan: Plan, shift: np.ndarray) -> Facts:
    """Per draw: move and production years, and the pre-move base (the firm's gross in the
    year before its move, as the draw realised it, at that year's retention)."""
    s, sc, years = model.streams, model.scenario, model.years
    n = len(mult) if mult is not None else len(shift)
    move = np.repeat(s.move_year[None], n, axis=0)
    production = np.repeat(s.production_year[None], n, axis=0)
    pre_gross = np.repeat(s.pre_move_gross[None], n, axis=0)
    pre_ret = np.repeat(s.pre_move_retention[None], n, axis=0)
    rows = np.flatnonzero((s.firm >= 0) & (s.move_year >= 0))
    if rows.size and shift.shape[1]:
        d = shift[:, s.firm[rows]]
        of = plan.uncertainty.move_delay.firms.of
        production[:, rows] += d
        if of == "move":
            move[:, rows] += d
            before = move[:, rows] - 1
            wanted = np.unique(before)
            table = retention_table([(j.id, j.province) for j in sc.jurisdictions], wanted,
                                    sc.retention.default, sc.retention.provinces,
                                    sc.retention.jurisdictions)
            col = np.searchsorted(wanted, before)
            with_pre = s.pre_move_gross[rows] > 0
            looked = table[s.host[rows][None], s.tax[rows][None], col]
            pre_ret[:, rows] = np.where(with_pre[None], looked, 0.0)
    if mult is not None and rows.size:
        before = np.clip(move[:, rows] - 1 - years[0], 0, len(years) - 1)
        at = mult[np.arange(n)[:, None], plan.unit_of_row[rows][None], before]
        historic = move[:, rows] - 1 < years[0]
        pre_gross[:, rows] = s.pre_move_gross[rows][None] * np.where(historic, 1.0, at)
    return Facts(move, production, pre_gross, pre_ret)


# ---------------------------------------------------------------------------------------------
# Running chunks


@dataclass(frozen=True)
class ChunkResult:
    start: int
    pv: np.ndarray
    standalone: np.ndarray
    allocated: np.ndarray | None


def run_chunk(plan: Plan, start: int, stop: int, seed: int, antithetic: bool,
              keep_paths: bool, total: int | None = None) -> ChunkResult:
    """Draws ``start`` to ``stop`` of ``total``: sample, build the inputs, run the batch."""
    smp = sample(plan, start, stop, seed, antithetic, total)
    model = plan.model
    if plan.batched_parameters:
        discount = None
        if plan.parameters:
            rate = smp.values[:, 0]
            bad = np.flatnonzero(~((rate >= 0) & (rate <= 1)))
            if bad.size:  # the scenario's own check says what is wrong, with the draw
                _draw_model(plan, smp.values[bad[0]], start + int(bad[0]))
            discount = (1.0 + rate[:, None]) ** -(model.years - model.years[0])[None, :]
        gross, facts = inputs(plan, model, smp, consume=True)
        batch = run_batch(model, gross, smp.compliance, facts=facts,
                          discount=discount, cache=plan.cache)
        pv, alone, alloc = batch.pv_net_benefit, batch.standalone_pv, batch.allocated
    else:
        pv = np.zeros((len(smp), len(model.jurisdictions)))
        alone = np.zeros_like(pv)
        alloc = np.zeros((len(smp), len(model.jurisdictions), len(model.years)))
        for d in range(len(smp)):
            own = _draw_model(plan, smp.values[d], start + d)
            gross, facts = inputs(plan, own, smp, slice(d, d + 1))
            batch = run_batch(own, gross, smp.compliance[d:d + 1], facts=facts)
            pv[d], alone[d], alloc[d] = (batch.pv_net_benefit[0], batch.standalone_pv[0],
                                         batch.allocated[0])
    return ChunkResult(start, pv, alone, alloc if keep_paths else None)


def _draw_model(plan: Plan, values: np.ndarray, draw: int) -> Model:
    changes = {p.path: float(v) for p, v in zip(plan.parameters, values, strict=True)}
    try:
        sc = plan.scenario.replace(changes)
    except ScenarioError as err:
        path, value = next(iter(changes.items()))
        for p, v in changes.items():
            if any(item.path.startswith(p.split(".")[0]) for item in err.items):
                path, value = p, v
                break
        raise ScenarioError([Problem("risk.bad_draw", {"draw": draw, "path": path,
                                                       "value": value}, path="uncertainty"),
                             *err.items]) from None
    model = compile_scenario(sc, both_sides=plan.uncertainty.move_delay is not None)
    base = plan.model
    if len(model.streams) != len(base.streams) or len(model.years) != len(base.years):
        raise ScenarioError([Problem("risk.structure", {"path": ", ".join(changes)},
                                     path="uncertainty.parameters")])
    return model


@lru_cache(maxsize=4)
def _cached_plan(key: str) -> Plan:
    return make_plan(Scenario.model_validate_json(key, context={"firms_loaded": True}))


def _remote_chunk(key: str, start: int, stop: int, seed: int, antithetic: bool,
                  keep_paths: bool, total: int) -> ChunkResult:
    """A chunk in another process: the scenario travels as JSON, compiled once per worker."""
    return run_chunk(_cached_plan(key), start, stop, seed, antithetic, keep_paths, total)


# ---------------------------------------------------------------------------------------------
# The public API


@dataclass(frozen=True)
class MonteCarloResult:
    """What :func:`monte_carlo` returns; see its docstring for the columns."""

    scenario: Scenario
    n_draws: int
    seed: int
    antithetic: bool
    pv: np.ndarray
    standalone: np.ndarray
    allocated: np.ndarray | None

    @property
    def jurisdictions(self) -> list[str]:
        return self.scenario.jurisdiction_ids

    @property
    def draws(self) -> pd.DataFrame:
        """One row per draw and jurisdiction: ``draw, jurisdiction, pv_net_benefit,
        standalone_pv, gain``."""
        n, n_j = self.pv.shape
        return pd.DataFrame({
            "draw": np.repeat(np.arange(n), n_j),
            "jurisdiction": np.tile(self.jurisdictions, n),
            "pv_net_benefit": self.pv.ravel(),
            "standalone_pv": self.standalone.ravel(),
            "gain": (self.pv - self.standalone).ravel(),
        })

    @property
    def summary(self) -> pd.DataFrame:
        """Per jurisdiction, of the PV net benefit: ``mean, std, p5 … p95``; ``prob_loss``
        the share of draws worse than that draw's own no-cooperation value (gain < 0);
        ``expected_shortfall`` the mean of the worst 5 % of draws; ``mean_gain``;
        ``se_mean`` the standard error of the mean as if draws were independent, and
        ``se_mean_antithetic`` from the means of antithetic pairs (NaN without)."""
        pv, gain = self.pv, self.pv - self.standalone
        n = len(pv)
        q = np.percentile(pv, QUANTILES, axis=0)
        worst = max(1, math.floor(TAIL * n))
        tail = np.sort(pv, axis=0)[:worst].mean(axis=0)
        std = pv.std(axis=0, ddof=1) if n > 1 else np.zeros(pv.shape[1])
        se_pairs = np.full(pv.shape[1], np.nan)
        if self.antithetic:
            pairs = _pair_means(pv)
            if len(pairs) > 1:
                se_pairs = pairs.std(axis=0, ddof=1) / math.sqrt(len(pairs))
        out = pd.DataFrame({"jurisdiction": self.jurisdictions, "mean": pv.mean(axis=0),
                            "std": std})
        for p, row in zip(QUANTILES, q, strict=True):
            out[f"p{p}"] = row
        # Worse off than its own counterfactual, beyond rounding.
        tol = LOSS_TOLERANCE * np.maximum(1.0, np.abs(self.standalone))
        out["prob_loss"] = (gain < -tol).mean(axis=0)
        out["expected_shortfall"] = tail
        out["mean_gain"] = gain.mean(axis=0)
        out["se_mean"] = std / math.sqrt(n)
        out["se_mean_antithetic"] = se_pairs
        return out

    @property
    def paths(self) -> pd.DataFrame:
        """Fan charts: ``year, jurisdiction, p5 … p95`` of allocated revenue per year, from
        the first :data:`MAX_PATH_DRAWS` draws."""
        if self.allocated is None:
            return pd.DataFrame(columns=["year", "jurisdiction", *(f"p{p}" for p in QUANTILES)])
        years = np.arange(self.scenario.years.start, self.scenario.years.end + 1)
        q = np.percentile(self.allocated, QUANTILES, axis=0)  # (q, j, t)
        n_j = len(self.jurisdictions)
        out = pd.DataFrame({"year": np.tile(years, n_j),
                            "jurisdiction": np.repeat(self.jurisdictions, len(years))})
        for p, grid in zip(QUANTILES, q, strict=True):
            out[f"p{p}"] = grid.ravel()
        return out

    def explain(self, lang: Lang | None = None) -> str:
        """Which side carries the risk (the largest spread of PV net benefit), and each
        side's probability of being worse off than without cooperation; in ``lang``, or
        中文 then English."""
        if lang is None:
            return self.explain("zh") + "\n\n" + self.explain("en")
        sm = self.summary
        u = self.scenario.uncertainty
        lines = []
        if u is None or u == Uncertainty():
            lines.append(message("risk.explain_no_spread", lang))
        top = sm.sort_values(["std", "prob_loss"], ascending=False).iloc[0]
        lines.append(message("risk.explain_risk", lang, n=self.n_draws,
                             name=_lang_name(self.scenario, top.jurisdiction, lang),
                             std=top["std"], p5=top.p5, p95=top.p95, prob=top.prob_loss,
                             es=top.expected_shortfall))
        likely = sm.sort_values("prob_loss", ascending=False).iloc[0]
        if likely.jurisdiction != top.jurisdiction and likely.prob_loss > top.prob_loss:
            lines.append(message("risk.explain_likely", lang, prob=likely.prob_loss,
                                 name=_lang_name(self.scenario, likely.jurisdiction, lang)))
        for row in sm.itertuples():
            lines.append(message("risk.explain_line", lang,
                                 name=_lang_name(self.scenario, row.jurisdiction, lang),
                                 prob=row.prob_loss, mean=row.mean, std=row.std))
        return "\n".join(lines)


def _pair_means(x: np.ndarray) -> np.ndarray:
    """Means of antithetic pairs: in each block the second half mirrors the first."""
    out = []
    for lo in range(0, len(x), BLOCK):
        block = x[lo:lo + BLOCK]
        half = len(block) // 2
        out.append(0.5 * (block[:half] + block[half:2 * half]))
    return np.concatenate(out)


def _with_uncertainty(sc: Scenario, uncertainty: Mapping[str, Any] | Uncertainty | None):
    sc = checked(sc)
    if uncertainty is None:
        return sc
    return sc.replace({"uncertainty": uncertainty})


def _check_count(name: str, value: Any, limit: int | None = None) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1
    if ok and limit is not None:
        ok = value <= limit
    if not ok:
        key = f"risk.{name}"
        raise ScenarioError([Problem(key, {"value": value, "limit": limit or 0}, path=name)])
    return int(value)


def _cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _gather(executor: cf.Executor, task: Callable[[int, int], tuple], ranges, draws: int,
            progress: Callable[[int, int], Any] | None) -> list[ChunkResult]:
    """Run the chunks ``ranges`` on ``executor``, a window of them in flight: a finished
    chunk's future is dropped as soon as it is read, so that workers (dask keeps a result
    while its future lives) and the scheduler hold a few chunks at a time, not all."""
    results: list[ChunkResult] = []
    done = 0
    todo = iter(ranges)
    pending: dict[cf.Future, int] = {}
    while True:
        for lo, hi in itertools.islice(todo, IN_FLIGHT - len(pending)):
            pending[executor.submit(*task(lo, hi))] = hi - lo
        if not pending:
            return results
        finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        for future in finished:
            results.append(future.result())
            done += pending.pop(future)
            if progress is not None:
                progress(done, draws)
        del finished


def monte_carlo(scenario: Scenario, draws: int = 10_000, seed: int = 0,
                uncertainty: Mapping[str, Any] | None = None,
                progress: Callable[[int, int], Any] | None = None,
                executor: cf.Executor | None = None, chunk: int | None = None,
                antithetic: bool = False, threads: int | None = None) -> MonteCarloResult:
    """Monte Carlo over the scenario's uncertain inputs (see the module docstring).

    ``uncertainty`` takes the keys of the scenario's ``uncertainty:`` section (None: the
    scenario's own; validated with key paths). Draws run in chunks of ``chunk`` draws
    (default: about 16 MB of tax amounts each, in whole blocks of :data:`BLOCK`),
    on ``threads`` threads of this process (default: one per CPU core it may use), or on
    ``executor`` (any ``concurrent.futures.Executor``: a ``ProcessPoolExecutor``, or a
    ``dask.distributed`` client's ``get_executor()``).
    ``progress(done, total)`` is called after each chunk. The same ``seed`` gives the same
    numbers whatever the chunk size, executor or number of workers; ``antithetic`` pairs
    each draw with its mirror image (z → −z, u → 1 − u).

    Raises ScenarioError (bilingual, with the key) on bad input: draws outside 1 …
    10,000,000, a chunk or threads below 1, a bad ``uncertainty`` entry, a drawn parameter
    value that does not validate.
    """
    draws = _check_count("draws", draws, MAX_DRAWS)
    if antithetic and draws % 2:
        raise ScenarioError([Problem("risk.antithetic_odd", {"value": draws}, path="draws")])
    sc = _with_uncertainty(scenario, uncertainty)
    plan = make_plan(sc)
    streams, years = len(plan.model.streams), len(plan.model.years)
    if chunk is None:
        chunk = max(1, CHUNK_BYTES // (8 * max(streams, 1) * years))
        if chunk >= BLOCK:
            chunk -= chunk % BLOCK
    chunk = _check_count("chunk", chunk)
    ranges = [(lo, min(lo + chunk, draws)) for lo in range(0, draws, chunk)]
    keep = lambda lo: lo < MAX_PATH_DRAWS  # noqa: E731
    threads = _check_count("threads", _cores() if threads is None else threads)
    if executor is None and (threads == 1 or len(ranges) == 1):
        results, done = [], 0
        for lo, hi in ranges:
            results.append(run_chunk(plan, lo, hi, seed, antithetic, keep(lo), draws))
            done += hi - lo
            if progress is not None:
                progress(done, draws)
    elif executor is None:
        # Threads in this process: numpy and the random generators release the GIL.
        with cf.ThreadPoolExecutor(min(threads, len(ranges))) as pool:
            results = _gather(pool, lambda lo, hi: (run_chunk, plan, lo, hi, seed,
                                                       antithetic, keep(lo), draws),
                              ranges, draws, progress)
    else:
        key = sc.model_dump_json()
        results = _gather(executor, lambda lo, hi: (_remote_chunk, key, lo, hi, seed,
                                                    antithetic, keep(lo), draws),
                          ranges, draws, progress)
    results.sort(key=lambda r: r.start)
    paths = [r.allocated for r in results if r.allocated is not None]
    allocated = np.concatenate(paths)[:MAX_PATH_DRAWS] if paths else None
    return MonteCarloResult(sc, draws, seed, antithetic,
                            np.concatenate([r.pv for r in results]),
                            np.concatenate([r.standalone for r in results]), allocated)


# ---------------------------------------------------------------------------------------------
# Sensitivity


@dataclass(frozen=True)
class SensitivityResult:
    """``table``: ``parameter, jurisdiction, base, value_low, value_high, low, high, swing``
    (PV net benefit at the low and high value, ``swing = |high − low|``), sorted by swing,
    largest first (a tornado). ``break_even``: ``parameter, jurisdiction, value`` where the
    jurisdiction's gain crosses 0 between the low and high value (NaN if it does not)."""

    table: pd.DataFrame
    break_even: pd.DataFrame


def default_parameters(sc: Scenario) -> list[str]:
    """A sensible default set: the discount rate, every growth rate, every agreement's
    compliance and the numeric amounts of rules (floor minimums, fixed caps, fixed-return
    rates), those that are not 0."""
    paths = ["discount_rate"]
    for park in sc.parks:
        for s, site in enumerate(park.sites):
            for tax, proj in site.taxes.items():
                if proj.base is not None:
                    paths.append(f"parks.{park.id}.sites[{s}].taxes.{tax}.growth")
    for firm in sc.firms:
        if firm.move_year is not None:
            paths.append(f"firms.{firm.id}.growth")
    for spec in sc.streams:
        if spec.base is not None:
            paths.append(f"streams.{spec.id}.growth")
    for ag in sc.agreements:
        paths.append(f"agreements.{ag.id}.compliance")
        paths.extend(f"agreements.{ag.id}.{p}" for p in _rule_amounts(ag.rule, "rule"))
    return [p for p in dict.fromkeys(paths) if _number(value_at(sc, p))]


def _rule_amounts(rule, path: str):
    from sharing.rules import Capped, FixedReturn, Floor, child_paths

    if isinstance(rule, Floor):
        yield f"{path}.minimum"
    if isinstance(rule, Capped) and isinstance(rule.cap, int | float):
        yield f"{path}.cap"
    if isinstance(rule, FixedReturn):
        yield f"{path}.rate"
    for suffix, child in child_paths(rule):
        yield from _rule_amounts(child, path + suffix)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value != 0


def sensitivity(scenario: Scenario, parameters: Sequence[str | Mapping[str, Any]] | None = None,
                delta: float = 0.2,
                progress: Callable[[int, int], Any] | None = None) -> SensitivityResult:
    """One at a time, each parameter at ``value × (1 ∓ delta)`` (or its ``low``/``high``),
    the others at the scenario's values: each jurisdiction's PV net benefit, and where its
    gain crosses 0 (``scipy.optimize.brentq`` between the two values).

    ``parameters``: key paths (:meth:`Scenario.replace`), or ``{path, low, high}`` mappings;
    None: the ``parameters`` of the scenario's ``uncertainty:`` section with ``low``/``high``,
    else :func:`default_parameters`. A value is kept within what the key accepts
    (compliance and shares ≤ 1, rates ≥ 0); integer keys (years) are rounded.
    """
    sc = checked(scenario)
    if not isinstance(delta, int | float) or not 0 < delta < 1:
        raise ScenarioError([Problem("risk.delta", {"value": delta}, path="delta")])
    specs = _sensitivity_specs(sc, parameters, delta)
    if not specs:
        raise ScenarioError([Problem("risk.no_parameters", path="parameters")])
    base = _pv_gain(sc, {})
    jur = sc.jurisdiction_ids
    rows, even = [], []
    for i, (path, value, lo, hi, integer) in enumerate(specs):
        pv_lo, gain_lo = _pv_gain(sc, {path: lo})
        pv_hi, gain_hi = _pv_gain(sc, {path: hi})
        for j, jid in enumerate(jur):
            rows.append({"parameter": path, "jurisdiction": jid, "base": value,
                         "value_low": lo, "value_high": hi, "pv_base": base[0][j],
                         "low": pv_lo[j], "high": pv_hi[j],
                         "swing": abs(pv_hi[j] - pv_lo[j])})
            root = np.nan
            if not integer and gain_lo[j] * gain_hi[j] < 0:
                root = sopt.brentq(lambda x, j=j, path=path: _pv_gain(sc, {path: x})[1][j],
                                   lo, hi, xtol=1e-10 * max(1.0, abs(hi - lo)))
            elif gain_lo[j] == 0:
                root = lo
            elif gain_hi[j] == 0:
                root = hi
            even.append({"parameter": path, "jurisdiction": jid, "value": root})
        if progress is not None:
            progress(i + 1, len(specs))
    table = pd.DataFrame(rows)
    order = table.groupby("parameter")["swing"].transform("max")
    table = (table.assign(_order=order).sort_values(["_order", "swing"], ascending=False,
                                                    kind="stable")
             .drop(columns="_order").reset_index(drop=True))
    return SensitivityResult(table, pd.DataFrame(even))


def _pv_gain(sc: Scenario, changes: dict) -> tuple[np.ndarray, np.ndarray]:
    res = compile_scenario(sc.replace(changes) if changes else sc).run()
    pv = res.pv_net_benefit
    return pv, pv - res.standalone_pv


def _sensitivity_specs(sc: Scenario, parameters, delta: float):
    if parameters is None:
        given = [p for p in (sc.uncertainty.parameters if sc.uncertainty else ())]
        parameters = ([{"path": p.path, "low": p.low, "high": p.high} if p.low is not None
                       else p.path for p in given] or default_parameters(sc))
    specs = []
    for i, p in enumerate(parameters):
        spec = {"path": p} if isinstance(p, str) else dict(p)
        path = spec.get("path")
        where = f"parameters[{i}]"
        if not isinstance(path, str):
            raise ScenarioError([Problem("uncertainty.not_numeric", {"path": path,
                                                                     "value": path},
                                         path=where)])
        try:
            value = value_at(sc, path)
        except ScenarioError as err:
            raise ScenarioError([item.at(path=where) for item in err.items]) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError([Problem("uncertainty.not_numeric", {"path": path,
                                                                     "value": value},
                                         path=where)])
        lo = spec.get("low")
        hi = spec.get("high")
        lo = value * (1 - delta) if lo is None else lo
        hi = value * (1 + delta) if hi is None else hi
        lo, hi = _within_range(path, min(lo, hi), max(lo, hi))
        integer = isinstance(value, int)
        if integer:
            lo, hi = round(lo), round(hi)
        specs.append((path, value, lo, hi, integer))
    return specs


def _within_range(path: str, lo: float, hi: float) -> tuple[float, float]:
    """Fractions (compliance, shares, rates, retention) stay in [0, 1]; rates ≥ 0."""
    last = path.rsplit(".", 1)[-1]
    if last in ("compliance", "share", "rate", "discount_rate") or ".shares." in path:
        return max(lo, 0.0), min(hi, 1.0)
    return lo, hi
