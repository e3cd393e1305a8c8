"""What the optimizer is asked, and its check against a scenario.

:class:`OptimizationSpec` is the spec as a pydantic model, with the same keys as the YAML file
(``docs/optimize.md``). :func:`plan` checks it against a scenario and turns it into a
:class:`Plan`: the decided splits (agreement, rule path, parties, stages) and every
constraint in jurisdiction indices. Every problem is a bilingual
:class:`~sharing.i18n.Problem` that names the key (``constraints.bounds.guangan``) and, for a
misspelt id, the closest valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sharing.engine import DecidedSplit
from sharing.errors import problem_of
from sharing.i18n import Problem, define, did_you_mean, message
from sharing.rules import (
    RATIO_SPLITS,
    ROLES,
    Capped,
    Claims,
    Fixed,
    Floor,
    Optimized,
    Tiered,
    walk_paths,
)
from sharing.scenario import Scenario, ScenarioError, _line_of, read_text, safe_yaml

OBJECTIVES = ("maximin_gain", "lexmaximin_gain", "proportional", "closest_to_current", "nash",
              "least_core")
SOLVERS = ("highs", "cbc")

define({
    "optimize.unknown_objective": ("未知目标 {name!r}（可选：{valid}）",
                                   "unknown objective {name!r} (valid: {valid})"),
    "optimize.unknown_solver": ("未知求解器 {name!r}（可选：{valid}）",
                                "unknown solver {name!r} (valid: {valid})"),
    "optimize.unknown_key": ("未知的键 {key!r}（可选：{valid}）",
                             "unknown key {key!r} (valid: {valid})"),
    "optimize.missing": ("缺少必填的键", "required key is missing"),
    "optimize.not_yaml": ("不是有效的 YAML：{problem}", "not valid YAML: {problem}"),
    "optimize.bad_type": ("{value!r} 不是{expected_zh}", "{value!r} is not {expected_en}"),
    "optimize.not_mapping": ("优化设定须是键值映射（objective、decide、constraints ……），"
                             "而不是 {kind}",
                             "the spec must be a mapping of keys (objective, decide, constraints "
                             "...), not {kind}"),
    "optimize.unknown_agreement": ("未知协议 {id!r}（可选：{valid}）",
                                   "unknown agreement {id!r} (valid: {valid})"),
    "optimize.unknown_path": ("协议 {agreement!r} 中没有规则路径 {path!r}（可选：{valid}）",
                              "agreement {agreement!r} has no rule at path {path!r} "
                              "(valid: {valid})"),
    "optimize.unknown_jurisdiction": ("未知辖区 {id!r}（可选：{valid}）",
                                      "unknown jurisdiction {id!r} (valid: {valid})"),
    "optimize.unknown_party": ("未知参与方 {id!r}：须是辖区或角色（可选：{valid}）",
                               "unknown party {id!r}: a jurisdiction id or a role "
                               "(valid: {valid})"),
    "optimize.not_ratio": ("{path} 是 {type} 规则，不是比例分成，无法决定其份额；可决定：{valid}",
                           "{path} is a {type} rule, not a ratio split, so it has no shares to "
                           "decide; ratio splits here: {valid}"),
    "optimize.floor": (
        "{path} 处{who}的保底（每年 {minimum:g} 万元）使收益不再是这些份额的线性函数；"
        "请改写为约束 `yearly_floor: {{{id}: {suggestion}}}`",
        "the floor of {who_en} ({minimum:g} 万元 a year, {path}) makes payoffs non-linear in "
        "these shares; express it as `yearly_floor: {{{id}: {suggestion}}}` instead"),
    "optimize.floor_nested": (
        "{path} 处{who}的保底嵌在其他规则之内，使收益不再是这些份额的线性函数；请把保底放在协议"
        "规则的最外层，或改用约束 `yearly_floor: {{{id}: {suggestion}}}` 并去掉该保底",
        "the floor of {who_en} at {path} sits inside another rule and makes payoffs non-linear "
        "in these shares; put the floor at the top of the agreement's rule, or drop it and use "
        "`yearly_floor: {{{id}: {suggestion}}}` instead"),
    "optimize.capped": (
        "{path} 是限期限额规则：其上限使收益不再是份额的线性函数；请改为决定一个固定比例，"
        "并用 `net_transfer_max` 限制转移额",
        "{path} is a capped rule: its cap makes payoffs non-linear in its share; decide a "
        "fixed split instead and limit the transfer with `net_transfer_max`"),
    "optimize.tiered": (
        "{path} 是分档规则：各档比例使收益不再是份额的线性函数；请改为决定固定比例，用 `stages` "
        "分阶段",
        "{path} is a tiered rule: its bands make payoffs non-linear in the shares; decide a "
        "fixed split per stage (`stages`) instead"),
    "optimize.claims": (
        "{path} 按债权规则分配：结果不是份额的线性函数；请改为决定固定比例，用 `bounds` 限定份额",
        "{path} divides claims: the result is not linear in shares; decide a fixed split with "
        "`bounds` instead"),
    "optimize.floor_year": ("年份 {year} 不在模拟年份 {first}–{last} 之内",
                            "year {year} is outside the simulated years {first}-{last}"),
    "optimize.decided_twice": ("{path} 被决定了两次（另见 {other}）",
                               "{path} is decided twice (also {other})"),
    "optimize.stage_order": ("阶段 {start}–{end} 的起始年晚于结束年",
                             "stage {start}-{end}: the first year is after the last"),
    "optimize.stage_outside": ("阶段 {start}–{end} 超出模拟年份 {first}–{last}",
                               "stage {start}-{end} leaves the simulated years {first}-{last}"),
    "optimize.stage_overlap": ("阶段 {a} 与阶段 {b} 重叠", "stage {a} overlaps stage {b}"),
    "optimize.stage_gap": ("各阶段须覆盖该分成适用的每一年（{first}–{last}）；{year} 年未覆盖",
                           "the stages must cover every year the split applies ({first}-{last}); "
                           "{year} is not covered"),
    "optimize.stage_empty": ("阶段 {start}–{end} 不含该分成适用的任何年份（{first}–{last}）",
                             "stage {start}-{end} holds none of the years the split applies "
                             "({first}-{last})"),
    "optimize.bounds_order": ("下限 {lo:g} 大于上限 {hi:g}", "lower bound {lo:g} is above the "
                              "upper bound {hi:g}"),
    "optimize.share_range": ("{value:g} 须在 0 到 1 之间", "{value:g} must lie between 0 and 1"),
    "optimize.negative": ("{value:g} 不能为负", "{value:g} cannot be negative"),
    "optimize.step": ("步长 {step:g} 须整除 1（如 0.05、0.1、0.25）",
                      "step {step:g} must divide 1 (e.g. 0.05, 0.1, 0.25)"),
    "optimize.time_limit": ("时间上限须为正数（秒），而不是 {value:g}",
                            "the time limit must be a positive number of seconds, not {value:g}"),
    "optimize.weights": ("权重须为 equal、{{辖区: 权重}} 或 contributions:<归属>.<要素>，而不是 "
                         "{value!r}", "weights are equal, {{jurisdiction: weight}} or "
                         "contributions:<owner>.<factor>, not {value!r}"),
    "optimize.unknown_owner": ("contributions 中没有 {owner!r}（可选：{valid}）",
                               "contributions has no {owner!r} (valid: {valid})"),
    "optimize.unknown_factor": ("{owner!r} 的贡献中没有要素 {factor!r}（可选：{valid}）",
                                "{owner!r} has no contribution factor {factor!r} "
                                "(valid: {valid})"),
    "optimize.weights_zero": ("权重之和须为正数", "the weights must have a positive sum"),
    "optimize.weight_missing": ("缺少{who}的权重：权重须覆盖份额会影响的每个辖区（{players}）",
                                "no weight for {who_en}: weights must cover every jurisdiction "
                                "whose payoff the shares change ({players})"),
    "optimize.coalition": ("联盟须是若干辖区（非空、不重复、不是全体），而不是 {value!r}",
                           "a coalition is a list of distinct jurisdictions, non-empty and not "
                           "all of them, not {value!r}"),
    "optimize.no_variables": (
        "没有可决定的份额：{reason}",
        "no decision variables: {reason}"),
    "optimize.no_ratio_split": (
        "没有协议含有可决定的比例分成（限期限额、分档与债权规则不是线性的）",
        "no agreement has a ratio split to decide (capped, tiered and claims rules are not "
        "linear)"),
    "optimize.no_parties": ("{path} 没有参与方", "{path} has no parties"),
    "optimize.nothing_decided": ("所选分成在模拟年份内不起作用",
                                 "the chosen splits apply in none of the simulated years"),
})


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Decide(_Spec):
    """One decided split: ``path`` in ``agreement`` (default: each of its ratio splits),
    ``stages`` (default: one over the years it applies; an optimized rule's own stages)
    and ``parties`` (default: its current parties)."""

    agreement: str
    path: str | None = None
    stages: list[tuple[int, int]] | None = None
    parties: list[str] | None = None


class Participation(_Spec):
    """Every gain ≥ ``margin`` (万元; one number or per jurisdiction)."""

    margin: float | dict[str, float] = 0.0


class YearlyFloor(_Spec):
    """A yearly floor from ``from_year`` on (default: every simulated year)."""

    minimum: float
    from_year: int | None = None


class Constraints(_Spec):
    """The constraints of docs/optimize.md, all optional but participation (on by default;
    ``participation: false`` switches it off)."""

    participation: Participation | bool = Field(default_factory=Participation)
    bounds: dict[str, tuple[float, float]] = Field(default_factory=dict)
    host_minimum: float | None = None
    yearly_floor: dict[str, float | YearlyFloor] = Field(default_factory=dict)
    net_transfer_max: dict[str, float] = Field(default_factory=dict)
    same_across_stages: bool = False
    monotone: dict[str, Literal["increasing", "decreasing"]] = Field(default_factory=dict)
    step: float | None = None
    core: Literal["all"] | list[list[str]] | None = None


class OptimizationSpec(_Spec):
    """What to optimize: see docs/optimize.md. Build it from a dict (or YAML) with
    :meth:`parse` to get bilingual problems that name the key."""

    objective: str = "maximin_gain"
    weights: str | dict[str, float] = "equal"
    decide: list[Decide] | None = None
    constraints: Constraints = Field(default_factory=Constraints)
    solver: str = "highs"
    time_limit: float = 30.0

    @classmethod
    def parse(cls, data: Any, where: str = "") -> OptimizationSpec:
        """Validate a spec given as a dict (None means every default)."""
        if isinstance(data, OptimizationSpec):
            return data
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ScenarioError([Problem("optimize.not_mapping", {"kind": type(data).__name__},
                                         where=where)])
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ScenarioError(_problems(err, data, where)) from None


def load_spec(path: str | Path) -> OptimizationSpec:
    """Read a spec YAML file (a safe loader, :func:`sharing.scenario.safe_yaml`); every
    problem names the file and line."""
    text = read_text(path)
    try:
        data = safe_yaml(text)
    except RecursionError:
        raise ScenarioError([Problem("safety.too_deep", where=str(path))]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ScenarioError([Problem("optimize.not_yaml", {"problem": getattr(e, "problem", None)
                                                           or str(e)}, where=str(path),
                                     line=mark.line + 1 if mark else None)]) from None
    try:
        return OptimizationSpec.parse(data, str(path))
    except ScenarioError as err:
        raise with_lines(err, path) from None


def with_lines(err: ScenarioError, path: str | Path) -> ScenarioError:
    """The same problems, those placed in the file ``path`` given their line in it."""
    try:
        text = read_text(path)
    except ScenarioError:
        return err
    return ScenarioError([p.at(line=_line_of(text, p.path)) if p.where == str(path) and p.path
                          else p for p in err.items])


_TYPES = {
    "float": ("数", "a number"), "int": ("整数", "a whole number"),
    "bool": ("true 或 false", "true or false"), "list": ("列表", "a list"),
    "tuple": ("[下限, 上限] 这样的两个数", "a pair such as [low, high]"),
    "dict": ("键值映射", "a mapping"), "string": ("文本", "text"),
}


def _problems(err: ValidationError, data: Any, where: str) -> list[Problem]:
    out: dict[str, Problem] = {}
    for e in err.errors():
        path, node, keys = _place(e["loc"], data)
        if path in out:
            continue
        kind = e["type"]
        if kind == "missing":
            out[path] = Problem("optimize.missing", where=where, path=path)
        elif kind == "extra_forbidden":
            key = str(e["loc"][-1])
            out[path] = Problem("optimize.unknown_key", {"key": key, "valid": ", ".join(keys)},
                                where=where, path=path, close=tuple(did_you_mean(key, keys)))
        elif kind.split("_")[0] in _TYPES:
            expected = _TYPES[kind.split("_")[0]]
            out[path] = Problem("optimize.bad_type", {
                "value": node, "expected_zh": expected[0], "expected_en": expected[1]},
                where=where, path=path)
        else:  # values out of range, not one of the choices, not finite ...
            out[path] = problem_of(e, OptimizationSpec).at(where=where, path=path)
    return list(out.values())


_MODELS = {"": OptimizationSpec, "constraints": Constraints, "decide": Decide,
           "participation": Participation}
_FLOOR_KEYS = sorted(YearlyFloor.model_fields)


def _place(loc: tuple, data: Any) -> tuple[str, Any, list[str]]:
    """The key path of a pydantic location in the data (union member names dropped), the
    value there and the valid keys of the model the last key belongs to."""
    out, node, model = "", data, OptimizationSpec
    for part in loc:
        if isinstance(node, dict) and part in node:
            out += f".{part}" if out else str(part)
            if part in _MODELS and isinstance(node[part], dict | list):
                model = _MODELS[part]
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out += f"[{part}]"
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part not in node \
                and part == loc[-1]:
            out += f".{part}" if out else str(part)
            node = None
    return out, node, sorted(model.model_fields)


# ---------------------------------------------------------------------------------------------
# The plan: the spec resolved against a scenario


@dataclass(frozen=True)
class FloorGuard:
    """A floor rule at the top of agreement ``position`` above decided splits: the plan holds
    its beneficiary at or above the minimum from ``from_year`` on, so that it never tops up
    and payoffs stay linear (the user asked for it with ``yearly_floor``)."""

    position: int
    beneficiary: int
    minimum: float
    from_year: int
    splits: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    """A spec checked against a scenario, in jurisdiction indices."""

    spec: OptimizationSpec
    scenario: Scenario
    splits: tuple[DecidedSplit, ...]
    floors: tuple[FloorGuard, ...]
    weights: np.ndarray | None
    margins: np.ndarray | None
    bounds: dict[int, tuple[float, float]]
    yearly_floor: dict[int, tuple[float, int]]
    net_transfer_max: dict[int, float]
    monotone: dict[int, str]
    core: list[int] | str | None

    @property
    def constraints(self) -> Constraints:
        return self.spec.constraints


def plan(spec: OptimizationSpec, scenario: Scenario, where: str = "") -> Plan:
    """Check ``spec`` against ``scenario``; raises ScenarioError with every problem found."""
    problems: list[Problem] = []
    ids = scenario.jurisdiction_ids
    index = {j: i for i, j in enumerate(ids)}
    names = {j.id: (j.name, j.name_en) for j in scenario.jurisdictions}

    def say(key: str, at: str, close=(), **params):
        problems.append(Problem(key, params, where=where, path=at, close=tuple(close)))

    def jurisdiction(value: str, path: str) -> int | None:
        if value in index:
            return index[value]
        say("optimize.unknown_jurisdiction", path, did_you_mean(value, ids), id=value,
            valid=", ".join(ids))
        return None

    if spec.objective not in OBJECTIVES:
        say("optimize.unknown_objective", "objective", did_you_mean(spec.objective, OBJECTIVES),
            name=spec.objective, valid=", ".join(OBJECTIVES))
    if spec.solver not in SOLVERS:
        say("optimize.unknown_solver", "solver", did_you_mean(spec.solver, SOLVERS),
            name=spec.solver, valid=", ".join(SOLVERS))
    if spec.time_limit <= 0:
        say("optimize.time_limit", "time_limit", value=spec.time_limit)
    c = spec.constraints
    yearly_floor = {}
    for j, floor in c.yearly_floor.items():
        at = f"constraints.yearly_floor.{j}"
        k = jurisdiction(j, at)
        if not isinstance(floor, YearlyFloor):
            floor = YearlyFloor(minimum=floor)
        start = floor.from_year if floor.from_year is not None else scenario.years.start
        if not scenario.years.start <= start <= scenario.years.end:
            say("optimize.floor_year", f"{at}.from_year", year=start,
                first=scenario.years.start, last=scenario.years.end)
        if k is not None:
            yearly_floor[k] = (floor.minimum, start)
    splits, floors = _splits(spec, scenario, set(c.yearly_floor), say, names)
    bounds = {}
    for j, pair in c.bounds.items():
        path = f"constraints.bounds.{j}"
        k = jurisdiction(j, path)
        lo, hi = pair
        for value in pair:
            if not 0 <= value <= 1:
                say("optimize.share_range", path, value=value)
        if lo > hi:
            say("optimize.bounds_order", path, lo=lo, hi=hi)
        if k is not None:
            bounds[k] = (lo, hi)
    if c.host_minimum is not None and not 0 <= c.host_minimum <= 1:
        say("optimize.share_range", "constraints.host_minimum", value=c.host_minimum)
    if c.step is not None and not (0 < c.step <= 1 and abs(1 / c.step - round(1 / c.step))
                                   < 1e-9):
        say("optimize.step", "constraints.step", step=c.step)
    net_transfer_max = {}
    for j, most in c.net_transfer_max.items():
        k = jurisdiction(j, f"constraints.net_transfer_max.{j}")
        if k is not None:
            net_transfer_max[k] = most
    monotone = {}
    for j, direction in c.monotone.items():
        k = jurisdiction(j, f"constraints.monotone.{j}")
        if k is not None:
            monotone[k] = direction
    margins = None
    if c.participation is not False:
        margins = np.zeros(len(ids))
        margin = c.participation.margin if isinstance(c.participation, Participation) else 0.0
        if isinstance(margin, dict):
            for j, m in margin.items():
                k = jurisdiction(j, f"constraints.participation.margin.{j}")
                if k is not None:
                    margins[k] = m
        else:
            margins[:] = margin
    core = _core(c.core, index, jurisdiction, say)
    weights = _weights(spec.weights, scenario, jurisdiction, say)
    if not splits and not problems:
        say("optimize.no_variables", "decide", reason=message("optimize.nothing_decided"))
    if problems:
        raise ScenarioError(problems)
    return Plan(spec, scenario, tuple(splits), tuple(floors), weights, margins, bounds,
                yearly_floor, net_transfer_max, monotone, core)


def _core(core, index: dict[str, int], jurisdiction, say):
    if core is None or core == "all":
        return core
    masks = []
    for i, members in enumerate(core):
        path = f"constraints.core[{i}]"
        found = [jurisdiction(j, path) for j in members]
        if any(k is None for k in found):
            continue
        mask = sum(1 << k for k in set(found))
        if not found or len(set(found)) < len(found) or mask == (1 << len(index)) - 1:
            say("optimize.coalition", path, value=members)
            continue
        masks.append(mask)
    return masks


def _weights(weights, scenario: Scenario, jurisdiction, say) -> np.ndarray | None:
    n = len(scenario.jurisdictions)
    if isinstance(weights, dict):
        out = np.full(n, np.nan)
        for j, w in weights.items():
            k = jurisdiction(j, f"weights.{j}")
            if w < 0:
                say("optimize.negative", f"weights.{j}", value=w)
            if k is not None:
                out[k] = w
        if np.nansum(out) <= 0:
            say("optimize.weights_zero", "weights")
        return out
    if weights == "equal":
        return None
    owner, _, factor = weights.removeprefix("contributions:").partition(".")
    if not weights.startswith("contributions:") or not factor:
        say("optimize.weights", "weights", value=weights)
        return None
    owners = sorted(scenario.contributions)
    if owner not in scenario.contributions:
        say("optimize.unknown_owner", "weights", did_you_mean(owner, owners), owner=owner,
            valid=", ".join(owners) or "-")
        return None
    factors = sorted(scenario.contributions[owner])
    if factor not in scenario.contributions[owner]:
        say("optimize.unknown_factor", "weights", did_you_mean(factor, factors), owner=owner,
            factor=factor, valid=", ".join(factors))
        return None
    out = np.zeros(n)
    for j, value in scenario.contributions[owner][factor].items():
        out[scenario.jurisdiction_ids.index(j)] = value
    if out.sum() <= 0:
        say("optimize.weights_zero", "weights")
    return out


def _splits(spec: OptimizationSpec, sc: Scenario, floored: set[str], say, names):
    """The decided splits, with the floors the plan must keep from binding."""
    years = np.arange(sc.years.start, sc.years.end + 1)
    agreement_ids = [a.id for a in sc.agreements]
    positions = {a: i for i, a in enumerate(agreement_ids)}  # ids are unique (validated)
    entries = spec.decide
    if entries is None:
        entries = [Decide(agreement=a.id) for a in sc.agreements
                   if any(isinstance(n, RATIO_SPLITS) for _, n, _, _ in walk_paths(a.rule, years))]
        if not entries:
            say("optimize.no_variables", "decide",
                reason=message("optimize.no_ratio_split"))
            return [], []
    splits: list[DecidedSplit] = []
    seen: dict[tuple[int, str], str] = {}
    floors: dict[int, FloorGuard] = {}
    for e, entry in enumerate(entries):
        at = f"decide[{e}]"
        if entry.agreement not in agreement_ids:
            say("optimize.unknown_agreement", f"{at}.agreement",
                did_you_mean(entry.agreement, agreement_ids), id=entry.agreement,
                valid=", ".join(agreement_ids))
            continue
        position = positions[entry.agreement]
        ag = sc.agreements[position]
        nodes = {p: (n, active, above) for p, n, active, above in walk_paths(ag.rule, years)}
        ratio = [p for p, (n, _, _) in nodes.items() if isinstance(n, RATIO_SPLITS)]
        if entry.path is None:
            paths = ratio
            if not paths:
                _not_linear(ag.rule, "rule", f"agreements[{position}]", ratio, say, at)
                continue
        else:
            path = entry.path if entry.path.startswith("rule") else f"rule.{entry.path}"
            if path not in nodes:
                say("optimize.unknown_path", f"{at}.path", did_you_mean(path, list(nodes)),
                    agreement=ag.id, path=entry.path, valid=", ".join(nodes))
                continue
            paths = [path]
        for path in paths:
            node, active, above = nodes[path]
            where = f"agreements[{position}].{path}"
            if not isinstance(node, RATIO_SPLITS):
                _not_linear(node, path, f"agreements[{position}]", ratio, say, f"{at}.path")
                continue
            floor = next((r for r in above if isinstance(r, Floor)), None)
            if floor is not None and not _floor_ok(floor, above, floored, position, len(splits),
                                                   floors, sc, say, names, at, where):
                continue
            if isinstance(node, Optimized):
                active = active & np.any([(years >= s.years[0]) & (years <= s.years[1])
                                          for s in node.stages], axis=0)
            if not active.any():
                continue
            stages = _stages(entry.stages, node, active, years, say, f"{at}.stages")
            parties = _parties(entry.parties, node, ag, sc, say, f"{at}.parties")
            if stages is None or parties is None:
                continue
            key = (position, path)
            if key in seen:
                say("optimize.decided_twice", at, path=where, other=seen[key])
                continue
            seen[key] = at
            splits.append(DecidedSplit(position, path, tuple(parties), tuple(stages)))
    return splits, list(floors.values())


def _not_linear(node, path: str, owner: str, ratio: list[str], say, at: str) -> None:
    where = f"{owner}.{path}"
    if isinstance(node, Capped):
        say("optimize.capped", at, path=where)
    elif isinstance(node, Tiered):
        say("optimize.tiered", at, path=where)
    elif isinstance(node, Claims):
        say("optimize.claims", at, path=where)
    else:
        say("optimize.not_ratio", at, did_you_mean(path, ratio), path=where, type=node.type,
            valid=", ".join(ratio) or "-")


def _floor_ok(floor: Floor, above, floored: set[str], position: int, split: int,
              floors: dict, sc: Scenario, say, names, at: str, where: str) -> bool:
    who, who_en = names.get(floor.beneficiary, (floor.beneficiary, floor.beneficiary))
    suggestion = f"{floor.minimum:g}" if floor.from_year in (None, sc.years.start) else \
        f"{{minimum: {floor.minimum:g}, from_year: {floor.from_year}}}"
    params = {"path": f"agreements[{position}].rule", "who": who, "who_en": who_en,
              "id": floor.beneficiary, "minimum": floor.minimum, "suggestion": suggestion}
    if above[0] is not floor or floor.beneficiary in ROLES:
        say("optimize.floor_nested", at, **params)
        return False
    if floor.beneficiary not in floored:
        say("optimize.floor", at, **params)
        return False
    guard = floors.get(position)
    from_year = floor.from_year if floor.from_year is not None else sc.years.start
    floors[position] = FloorGuard(position, sc.jurisdiction_ids.index(floor.beneficiary),
                                  floor.minimum, from_year,
                                  (*(guard.splits if guard else ()), split))
    return True


def _stages(given, node, active: np.ndarray, years: np.ndarray, say, at: str):
    first, last = int(years[active][0]), int(years[active][-1])
    if given is None:
        if isinstance(node, Optimized):
            return [(max(s.years[0], first), min(s.years[1], last)) for s in node.stages
                    if s.years[1] >= first and s.years[0] <= last]
        return [(first, last)]
    ok = True
    covered = np.zeros(len(years), dtype=bool)
    for i, (a, b) in enumerate(given):
        if a > b:
            say("optimize.stage_order", f"{at}[{i}]", start=a, end=b)
            ok = False
        elif a < years[0] or b > years[-1]:
            say("optimize.stage_outside", f"{at}[{i}]", start=a, end=b, first=int(years[0]),
                last=int(years[-1]))
            ok = False
        else:
            mask = (years >= a) & (years <= b)
            if (covered & mask).any():
                other = next(k for k, (c, d) in enumerate(given[:i]) if c <= b and a <= d)
                say("optimize.stage_overlap", f"{at}[{i}]", a=f"{a}-{b}",
                    b=f"{given[other][0]}-{given[other][1]}")
                ok = False
            elif not (mask & active).any():
                say("optimize.stage_empty", f"{at}[{i}]", start=a, end=b, first=first,
                    last=last)
                ok = False
            covered |= mask
    gap = active & ~covered
    if ok and gap.any():
        say("optimize.stage_gap", at, first=first, last=last, year=int(years[gap][0]))
        ok = False
    return [tuple(s) for s in given] if ok else None


def _parties(given, node, ag, sc: Scenario, say, at: str):
    if given is None:
        if isinstance(node, Optimized):
            return list(dict.fromkeys(k for s in node.stages for k in s.shares))
        if isinstance(node, Fixed):
            return list(node.shares)
        return list(node.shares(_contributions(sc, ag)))
    valid = [*sc.jurisdiction_ids, *ROLES]
    ok = True
    for i, key in enumerate(given):
        if key not in valid:
            say("optimize.unknown_party", f"{at}[{i}]", did_you_mean(key, valid), id=key,
                valid=", ".join(valid))
            ok = False
    if ok and not given:
        say("optimize.no_parties", at, path=at)
        ok = False
    return list(dict.fromkeys(given)) if ok else None


def _contributions(sc: Scenario, ag) -> dict:
    contributions = sc.contributions.get(ag.id)
    parks = ag.covers.listed("park") or []
    if contributions is None and len(parks) == 1:
        contributions = sc.contributions.get(parks[0])
    return contributions or {}
