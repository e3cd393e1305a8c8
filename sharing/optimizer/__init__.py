"""The fairness optimizer: shares every side can sign, explained and written back.

::

    opt = sharing.optimize(scenario, objective="maximin_gain")
    opt = sharing.optimize(scenario, spec)     # a dict or an OptimizationSpec, see docs/optimize.md
    opt.status, opt.shares, opt.payoffs, opt.binding, opt.relaxation, opt.scenario
    opt.compare(); opt.explain()

How it works: the engine derives the exact affine map ``payoff = c + A·w`` from decided shares
``w`` to every jurisdiction's PV net benefit (and to each year's allocation), from the compiled
model (:func:`sharing.engine.affine_map`); :mod:`sharing.optimizer.problem` builds the LP on it
(PuLP, HiGHS by default, CBC as the fallback); the shares are rounded to 1e-6, written back as
``optimized`` rules (:mod:`sharing.writeback`), simulated again and checked against the map's
prediction, once more at a random feasible point. The payoffs reported are those of the
written scenario, so ``sharing.simulate(opt.scenario)`` reproduces them exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from sharing.coalitions import subset_sums
from sharing.engine import AffineMap, compile_scenario
from sharing.engine import affine_map as build_map
from sharing.i18n import Lang, Problem, define, message
from sharing.optimizer import explain as words
from sharing.optimizer.problem import FairnessLP, Outcome
from sharing.optimizer.spec import OBJECTIVES, OptimizationSpec, Plan, plan
from sharing.scenario import Scenario, ScenarioError
from sharing.writeback import Provenance, SharesWrite, round_shares, write_shares

__all__ = ["OBJECTIVES", "OptimizationResult", "OptimizationSpec", "optimize"]

SHARE_COLUMNS = ["agreement", "path", "stage_start", "stage_end", "jurisdiction", "share",
                 "current_share"]
PAYOFF_COLUMNS = ["jurisdiction", "pv_net_benefit", "standalone_pv", "gain", "gain_share",
                  "current_gain"]
BINDING_COLUMNS = ["constraint", "kind", "jurisdiction", "dual", "explanation_zh",
                   "explanation_en"]
RELAXATION_COLUMNS = ["constraint", "requested", "feasible_at", "change", "explanation_zh",
                      "explanation_en"]
CHECK_RTOL = 1e-6

define({
    "optimize.not_affine": (
        "校验失败：按写回的份额重新模拟，{who}的收益与线性预测相差 {gap:.6g} 万元（{point}）；"
        "这些份额所在的规则不是线性的，请报告此问题",
        "check failed: simulating the written-back shares, {who_en}'s payoff differs from the "
        "linear prediction by {gap:.6g} 万元 ({point_en}); the rules around these shares are not "
        "linear; please report this"),
    "optimize.point.solution": ("最优解处", "at the solution"),
    "optimize.point.random": ("随机可行点处", "at a random feasible point"),
})


@dataclass(frozen=True)
class OptimizationResult:
    """What :func:`optimize` found. See the module docstring and docs/optimize.md.

    ``status`` is ``optimal``, ``infeasible``, ``unbounded``, ``time_limit`` or ``error``.
    ``shares``, ``payoffs``, ``binding`` and ``relaxation`` are DataFrames (empty where they
    do not apply); ``scenario`` is the input with the decided rules written back as
    ``optimized`` rules (None when there is no solution; at ``time_limit`` the best split
    found in time, not proven optimal, when the solver had one); ``writes`` and
    ``provenance`` are what
    :func:`sharing.writeback.edit_yaml` needs to write the user's own file.
    """

    status: str
    objective: str
    spec: OptimizationSpec
    shares: pd.DataFrame
    payoffs: pd.DataFrame
    binding: pd.DataFrame
    relaxation: pd.DataFrame
    scenario: Scenario | None
    input_scenario: Scenario
    objective_value: float
    solver: str
    timings: dict[str, float]
    writes: tuple[SharesWrite, ...] = ()
    provenance: Provenance | None = None
    notes: tuple[tuple[str, dict], ...] = ()
    level: tuple[int, ...] = ()
    relaxed: dict[str, float] = field(default_factory=dict)

    def compare(self) -> pd.DataFrame:
        """PV payoffs side by side: standalone, current, optimal, and the Shapley value and
        nucleolus of ``Game.from_scenario`` (NaN where a solution does not exist)."""
        from sharing import games

        sc = self.input_scenario
        out = pd.DataFrame({"jurisdiction": sc.jurisdiction_ids,
                            "name": [j.name for j in sc.jurisdictions]})
        current = self.payoffs.set_index("jurisdiction")
        out["standalone_pv"] = current.loc[out["jurisdiction"], "standalone_pv"].to_numpy()
        out["current"] = (current.loc[out["jurisdiction"], "current_gain"]
                          + current.loc[out["jurisdiction"], "standalone_pv"]).to_numpy()
        out["optimal"] = current.loc[out["jurisdiction"], "pv_net_benefit"].to_numpy() \
            if self.status == "optimal" else np.nan
        game = games.Game.from_scenario(sc)
        for name, solve in (("shapley", games.shapley), ("nucleolus", games.nucleolus)):
            try:
                x = solve(game)
                out[name] = [x[j] for j in out["jurisdiction"]]
            except games.GameError:
                out[name] = np.nan
        return out

    def explain(self, lang: Lang | None = None) -> str:
        """One paragraph: the objective, the result, what binds (or the smallest relaxation);
        in ``lang``, or 中文 then English."""
        if lang is None:
            return self.explain("zh") + "\n" + self.explain("en")
        sc = self.input_scenario
        who = words.names(sc)
        (goal_zh, goal_en), (value_zh, value_en), unit = words.OBJECTIVES[self.objective]
        weights = self.spec.weights
        weight_text = message("optimize.weights.equal", lang) if weights == "equal" else \
            message("optimize.weights.given", lang, weights=weights)
        if self.status == "optimal":
            value = self._value_text(unit)
            if self.level and self.objective in ("maximin_gain", "lexmaximin_gain"):
                people = ("、" if lang == "zh" else ", ").join(
                    who[j][0 if lang == "zh" else 1] for j in self.level)
                value += "（" if lang == "zh" else " ("
                value += message("optimize.outcome.level", lang, who=people, who_en=people)
                value += "）" if lang == "zh" else ")"
            shares = words.shares(self.shares, sc, lang)
            gains = "; ".join(
                f"{who[i][0 if lang == 'zh' else 1]} {r.current_gain:,.2f} → {r.gain:,.2f}"
                for i, r in enumerate(self.payoffs.itertuples()))
            column = "explanation_zh" if lang == "zh" else "explanation_en"
            sentences = ("；" if lang == "zh" else "; ").join(self.binding[column])
            binding = message("optimize.outcome.binding", lang, sentences=sentences) \
                if sentences else message("optimize.outcome.no_binding", lang)
            outcome = message("optimize.outcome.optimal", lang,
                              value_name=value_zh if lang == "zh" else value_en, value=value,
                              shares=shares, gains=gains, binding=binding)
        elif self.status == "infeasible" and len(self.relaxation):
            column = "explanation_zh" if lang == "zh" else "explanation_en"
            outcome = message("optimize.outcome.infeasible", lang,
                              relaxation=("；" if lang == "zh" else "; ").join(
                                  self.relaxation[column]))
        elif self.status == "infeasible":
            outcome = message("optimize.outcome.infeasible_hard", lang)
        elif self.status == "time_limit":
            outcome = message("optimize.outcome.time_limit", lang, seconds=self.spec.time_limit)
            if self.scenario is not None:
                outcome += " " + message("optimize.outcome.best_found", lang,
                                         value_name=value_zh if lang == "zh" else value_en,
                                         value=self._value_text(unit))
        elif self.status == "unbounded":
            outcome = message("optimize.outcome.unbounded", lang)
        else:
            outcome = message("optimize.outcome.error", lang, notes=" ".join(
                self.note_texts(lang)))
        text = message("optimize.paragraph", lang, goal=goal_zh if lang == "zh" else goal_en,
                       weights=weight_text, outcome=outcome)
        notes = self.note_texts(lang)
        return text + (" " + " ".join(notes) if notes and self.status != "error" else "")

    def note_texts(self, lang: Lang) -> list[str]:
        who = words.names(self.input_scenario)
        out = []
        for key, params in self.notes:
            if isinstance(key, Problem):
                out.append(key.message(lang))
                continue
            params = dict(params)
            if "j" in params:
                params["who"], params["who_en"] = who[params.pop("j")]
            for k in ("gain", "level"):
                if k in params:
                    params[k] = words.money(params[k])
            out.append(message(key, lang, **params))
        return out

    def _value_text(self, unit: str) -> str:
        if unit == "money":
            return words.money(self.objective_value)
        if unit == "share":
            return message("optimize.unit.points", "en",
                           value=f"{self.objective_value * 100:,.4g}")
        return f"{self.objective_value:.6g}"

    def relaxed_spec(self) -> OptimizationSpec:
        """The spec with the relaxation applied (each relaxed demand at its feasible value)."""
        if not self.relaxed:
            return self.spec
        data = self.spec.model_dump(mode="json")
        c = data["constraints"]
        ids = self.input_scenario.jurisdiction_ids
        for name, value in self.relaxed.items():
            kind, _, rest = name.partition(".")
            if kind == "participation":
                margin = c["participation"]["margin"] if isinstance(c["participation"], dict) \
                    else 0.0
                if not isinstance(margin, dict):
                    margin = dict.fromkeys(ids, margin)
                margin[rest] = value
                c["participation"] = {"margin": margin}
            elif kind == "bounds":
                j, side = rest.rsplit(".", 1)
                c["bounds"][j][0 if side == "lower" else 1] = value
            elif kind == "host_minimum":
                c["host_minimum"] = value
            elif kind == "yearly_floor" and isinstance(c[kind][rest], dict):
                c[kind][rest]["minimum"] = value
            else:
                c[kind][rest] = value
        return OptimizationSpec.parse(data)


def optimize(scenario: Scenario, spec: OptimizationSpec | dict[str, Any] | None = None,
             objective: str | None = None, where: str = "") -> OptimizationResult:
    """Find the decided shares that best meet ``objective`` under the spec's constraints.

    Parameters
    ----------
    scenario : sharing.Scenario
    spec : OptimizationSpec or dict, optional
        Objective, weights, decided splits, constraints, solver and time limit (see
        docs/optimize.md); every key is optional.
    objective : str, optional
        Overrides the spec's objective.
    where : str
        The spec's file name, for the problems' messages.

    Returns
    -------
    OptimizationResult

    Raises
    ------
    ScenarioError
        Bad spec (unknown agreement, path, jurisdiction or objective, bounds with lo > hi,
        overlapping stages, a step that does not divide 1, nothing to decide), or a decided
        split inside a rule that is not linear (floor, capped, tiered, claims, a cost shared
        by benefit with a refund year), each with the key path and the linear alternative.
    """
    started = time.perf_counter()
    spec = OptimizationSpec.parse(spec, where)
    if objective is not None:
        spec = OptimizationSpec.parse({**spec.model_dump(exclude_unset=True),
                                       "objective": objective}, where)
    the_plan = plan(spec, scenario, where)
    # Where a floor sits above decided splits, the plan keeps it from topping up; the map is
    # that of the scenario without the floor (the same payoffs wherever the floor is idle).
    planned = time.perf_counter()
    model = compile_scenario(_without_floors(scenario, the_plan))
    amap = build_map(model, _map_splits(the_plan))
    mapped = time.perf_counter()
    problem = FairnessLP(the_plan, amap, model)
    missing = problem.missing_weights()
    if missing:
        who = words.names(scenario)
        players = ", ".join(scenario.jurisdiction_ids[j] for j in problem.players)
        raise ScenarioError([Problem("optimize.weight_missing",
                                     {"who": who[j][0], "who_en": who[j][1],
                                      "players": players}, where=where, path="weights")
                             for j in missing])
    built = time.perf_counter()
    outcome = problem.solve(built + spec.time_limit)
    solved = time.perf_counter()
    result = _result(the_plan, amap, problem, outcome,
                     compile_scenario(scenario) if the_plan.floors else model)
    verified = time.perf_counter()
    timings = {"build": built - started, "map": mapped - planned, "solve": solved - built,
               "verify": verified - solved, "total": verified - started}
    return OptimizationResult(**result, timings=timings)


def _result(the_plan: Plan, amap: AffineMap, problem: FairnessLP, outcome: Outcome,
            model) -> dict:
    sc, spec = the_plan.scenario, the_plan.spec
    who = words.names(sc)
    ids = list(amap.jurisdictions)
    current_payoff = amap.payoff_const + amap.payoff @ amap.current
    current_gain = current_payoff - amap.standalone
    common = dict(status=outcome.status, objective=spec.objective, spec=spec,
                  input_scenario=sc, objective_value=outcome.objective, solver=outcome.solver,
                  notes=(*problem.notes, *outcome.notes))
    empty_binding = pd.DataFrame(columns=BINDING_COLUMNS)
    if outcome.x is None:
        relaxation, relaxed = _relaxation(outcome, who)
        payoffs = pd.DataFrame({"jurisdiction": ids, "pv_net_benefit": np.nan,
                                "standalone_pv": amap.standalone, "gain": np.nan,
                                "gain_share": np.nan, "current_gain": current_gain})
        return dict(**common, shares=pd.DataFrame(columns=SHARE_COLUMNS), payoffs=payoffs,
                    binding=empty_binding, relaxation=relaxation, scenario=None,
                    relaxed=relaxed)
    w = _rounded(amap, problem.E @ outcome.x)
    provenance = _provenance(spec, outcome.solver)
    writes = _writes(the_plan, amap, w)
    written = write_shares(sc, writes, provenance)
    res = _check(model, written, amap, w, "optimize.point.solution", who)
    w_random = _random_point(problem, outcome.x)
    _check(model, write_shares(sc, _writes(the_plan, amap, w_random), provenance), amap,
           w_random, "optimize.point.random", who)
    gain = res.pv_net_benefit - res.standalone_pv
    total = gain.sum()
    common["objective_value"] = _achieved(problem, res.pv_net_benefit, gain, w, outcome)
    payoffs = pd.DataFrame({"jurisdiction": ids, "pv_net_benefit": res.pv_net_benefit,
                            "standalone_pv": res.standalone_pv, "gain": gain,
                            "gain_share": gain / total if total else np.nan,
                            "current_gain": current_gain})
    # Per column: its split's agreement, path and party, its stage's years (there is at
    # least one split: a spec with nothing to decide is refused).
    starts, ends = _blocks(amap)
    spans = np.array([amap.splits[i].stages[s] for i, s in zip(
        amap.column_split[starts].tolist(), amap.column_stage[starts].tolist(), strict=True)],
        dtype=int).repeat(ends - starts, axis=0)
    first_party = np.cumsum([0, *(len(d.parties) for d in amap.splits)])[:-1]
    shares = pd.DataFrame({
        "agreement": np.array([sc.agreements[d.position].id for d in amap.splits],
                              dtype=object)[amap.column_split],
        "path": np.array([d.path for d in the_plan.splits], dtype=object)[amap.column_split],
        "stage_start": spans[:, 0], "stage_end": spans[:, 1],
        "jurisdiction": np.array([p for d in amap.splits for p in d.parties], dtype=object)[
            first_party[amap.column_split] + amap.column_party],
        "share": w, "current_share": amap.current}, columns=SHARE_COLUMNS)
    return dict(**common, shares=shares, payoffs=payoffs,
                binding=_binding(problem, outcome, who, sc),
                relaxation=pd.DataFrame(columns=RELAXATION_COLUMNS), scenario=written,
                writes=tuple(writes), provenance=provenance, level=tuple(outcome.level))


def _without_floors(sc: Scenario, the_plan: Plan) -> Scenario:
    if not the_plan.floors:
        return sc
    agreements = list(sc.agreements)
    for guard in the_plan.floors:
        ag = agreements[guard.position]
        agreements[guard.position] = ag.model_copy(update={"rule": ag.rule.rule})
    return sc.model_copy(update={"agreements": agreements})


def _map_splits(the_plan: Plan) -> list:
    guarded = {i for guard in the_plan.floors for i in guard.splits}
    return [replace(d, path="rule" + d.path.removeprefix("rule.rule")) if i in guarded else d
            for i, d in enumerate(the_plan.splits)]


def _achieved(problem: FairnessLP, payoff: np.ndarray, gain: np.ndarray, w: np.ndarray,
              outcome: Outcome) -> float:
    """The objective's value for the shares as written (rounded), from the re-simulation."""
    objective = problem.spec.objective
    players = problem.players
    if objective in ("maximin_gain", "lexmaximin_gain"):
        members = problem._objective_players()
        return float((gain[members] / problem._norm_weights(members)).min())
    if objective == "proportional":
        weights = problem.weights[players]
        target = weights / weights.sum() if weights.sum() > 0 else \
            np.full(len(players), 1 / len(players))
        return float(np.abs(gain[players] - target * gain[players].sum()).sum())
    if objective == "closest_to_current":
        return float(np.abs(w - problem.amap.current).sum())
    if objective == "nash":
        members = problem._objective_players()
        omega = problem.weights[members] / problem.weights[members].sum()
        return float(omega @ np.log(np.maximum(gain[members], 1e-300)))
    if objective == "least_core":
        values = problem._coalition_values()
        excess = subset_sums(payoff) - values
        return float(excess[1:-1].min())
    return outcome.objective


def _blocks(amap: AffineMap) -> tuple[np.ndarray, np.ndarray]:
    """The columns of each (split, stage), in the map's order: contiguous, from ``starts``
    to ``ends`` (exclusive)."""
    key = amap.column_split * (1 + int(amap.column_stage.max(initial=0))) + amap.column_stage
    starts = np.r_[0, np.flatnonzero(np.diff(key)) + 1] if len(key) else np.zeros(0, int)
    return starts, np.r_[starts[1:], len(key)].astype(int)


def _rounded(amap: AffineMap, w: np.ndarray) -> np.ndarray:
    """Each (split, stage) block of shares rounded to 1e-6, summing to exactly 1 (the blocks
    of each size at once)."""
    out = np.asarray(w, dtype=float).copy()
    starts, ends = _blocks(amap)
    for size in np.unique(ends - starts).tolist():
        cols = starts[ends - starts == size][:, None] + np.arange(size)
        out[cols] = round_shares(out[cols])
    return out


def _writes(the_plan: Plan, amap: AffineMap, w: np.ndarray) -> list[SharesWrite]:
    starts, ends = _blocks(amap)
    shares, party = w.tolist(), amap.column_party.tolist()
    stages: list[list] = [[] for _ in the_plan.splits]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        split = the_plan.splits[int(amap.column_split[a])]
        span = tuple(split.stages[int(amap.column_stage[a])])
        stages[int(amap.column_split[a])].append(
            (span, {split.parties[p]: x for p, x in zip(party[a:b], shares[a:b], strict=True)}))
    return [SharesWrite(split.position, split.path, tuple(mine))
            for split, mine in zip(the_plan.splits, stages, strict=True)]


def _random_point(problem: FairnessLP, x: np.ndarray) -> np.ndarray:
    """A random point of the share simplices (uniform: exponential draws normalised per
    block), rounded like a write. The splits under a floor keep the solution's shares: the
    map holds only where the floor does not top up."""
    rng = np.random.default_rng(12345)
    guarded = {i for guard in problem.plan.floors for i in guard.splits}
    blocks = [m for m in problem.blocks() if problem.var_key[m[0]][0] not in guarded]
    xr = x.copy()
    if blocks:
        members = np.concatenate(blocks)
        block = np.repeat(np.arange(len(blocks)), [len(m) for m in blocks])
        draw = rng.standard_exponential(len(members))
        xr[members] = draw / np.bincount(block, draw)[block]
    return _rounded(problem.amap, problem.E @ xr)


def _check(model, written: Scenario, amap: AffineMap, w: np.ndarray, point: str, who):
    """Simulate the written scenario; its payoffs and yearly allocations must be the map's
    prediction to 1e-6 of the scale. The write changes agreements' rules and titles only, so
    the scenario's compiled streams, pools and costs serve it as they are."""
    res = replace(model, scenario=written).run()
    payoff, allocated = amap.predict(w)
    scale = max(1.0, float(np.abs(payoff).max()), float(np.abs(allocated).max()))
    gaps = np.maximum(np.abs(res.pv_net_benefit - payoff),
                      np.abs(res.allocated - allocated).max(axis=1))
    if gaps.max() > CHECK_RTOL * scale:
        j = int(np.argmax(gaps))
        raise ScenarioError([Problem("optimize.not_affine", {
            "who": who[j][0], "who_en": who[j][1], "gap": float(gaps[j]),
            "point": message(point, "zh"), "point_en": message(point, "en")})])
    return res


def _provenance(spec: OptimizationSpec, solver: str) -> Provenance:
    (goal_zh, goal_en), _, _ = words.OBJECTIVES[spec.objective]
    constraints = spec.constraints.model_dump(mode="json", exclude_defaults=True)
    if spec.constraints.participation is not False:
        part = spec.constraints.participation
        margin = part.margin if not isinstance(part, bool) else 0.0
        constraints = {"participation": {"margin": margin}, **constraints}
    shown = "; ".join(f"{k} {v}" for k, v in constraints.items())
    weights = spec.weights if isinstance(spec.weights, str) else \
        ", ".join(f"{k} {v:g}" for k, v in spec.weights.items())
    reference = (f"sharing optimize: {spec.objective} ({goal_zh} / {goal_en}); weights "
                 f"{weights}; {shown or 'no constraints'}; solver {solver or spec.solver}")
    return Provenance(method="optimize", label_zh=f"份额经优化：{goal_zh}",
                      label_en=f"shares optimized: {goal_en}", reference=reference,
                      objective=spec.objective, constraints=constraints)


def _binding(problem: FairnessLP, outcome: Outcome, who, sc) -> pd.DataFrame:
    """The constraints whose dual is not zero (numerical noise: below 1e-7 of the largest)."""
    rows = []
    largest = max((abs(v) for v in outcome.effects.values()), default=0.0)
    for g in problem.groups:
        value = outcome.effects.get(g.name, 0.0)
        if abs(value) <= max(1e-7 * largest, 1e-12):
            continue
        zh, en = words.effect(g, value, problem.spec.objective, who, sc)
        rows.append({"constraint": g.name, "kind": g.kind,
                     "jurisdiction": sc.jurisdiction_ids[g.jurisdiction]
                     if g.jurisdiction is not None else "",
                     "dual": value, "explanation_zh": zh, "explanation_en": en})
    return pd.DataFrame(rows, columns=BINDING_COLUMNS)


def _relaxation(outcome: Outcome, who) -> tuple[pd.DataFrame, dict[str, float]]:
    rows, relaxed = [], {}
    for g, amount in outcome.relaxation:
        at = g.requested - g.tighten * amount * abs(g.rhs_per_param)
        zh, en = words.relaxation(g, at, who)
        rows.append({"constraint": g.name, "requested": g.requested, "feasible_at": at,
                     "change": at - g.requested, "explanation_zh": zh, "explanation_en": en})
        # Applied, it goes a hair further, past the solvers' feasibility tolerance.
        margin = 1e-9 if g.unit == "share" else 1e-7 * max(1.0, abs(at), abs(g.requested))
        at = at - g.tighten * margin
        relaxed[g.name] = float(np.clip(at, 0.0, 1.0)) if g.unit == "share" else at
    return pd.DataFrame(rows, columns=RELAXATION_COLUMNS), relaxed
