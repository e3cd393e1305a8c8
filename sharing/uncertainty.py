"""The ``uncertainty:`` section of a scenario: which inputs are uncertain, and how much.

Read by :func:`sharing.monte_carlo` (and, for ``parameters``, :func:`sharing.sensitivity`);
the deterministic engine ignores it. Every form is documented with examples in
``docs/risk.md``::

    uncertainty:
      growth: {sigma: 0.15, parks: {gaozhu: {sigma: 0.2}}}   # lognormal growth noise
      macro: {sigma: 0.05}                                    # one factor shared by all
      correlation: {within: park, rho: 0.6}
      survival: {firms: {annual_exit: 0.03}}
      move_delay: {firms: {probabilities: [0.6, 0.3, 0.1]}}   # delay 0, 1, 2 years
      compliance: {gaozhu_revenue: {beta: [8, 2]}}            # per agreement
      parameters:
        - {path: discount_rate, dist: uniform, low: 0.02, high: 0.05}

Bad values are refused with a bilingual message naming the key path (a negative sigma, a
probability outside [0, 1], a beta parameter ≤ 0, a correlation whose implied matrix is not
positive semi-definite); references to parks, firms, streams, agreements and parameter paths
are checked against the scenario (:func:`reference_problems`), with the closest valid names.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sharing.frozen import Frozen, FrozenDict, FrozenMap
from sharing.i18n import Problem, define, did_you_mean
from sharing.rules import fault

MAX_DELAY = 10  # years a move may slip: as far as a production year may lie after a move

define({
    "uncertainty.negative_sigma": ("标准差 sigma 不能为负，现为 {value}",
                                   "sigma cannot be negative, got {value}"),
    "uncertainty.probability": ("概率须在 [0, 1] 之内，现为 {value}",
                                "a probability must be within [0, 1], got {value}"),
    "uncertainty.probabilities_sum": ("各延迟年数的概率之和须为 1，现为 {total:.6g}",
                                      "the delay probabilities must sum to 1, got {total:.6g}"),
    "uncertainty.too_many_delays": ("最多延迟 {limit} 年（{n} 个概率）",
                                    "a delay of at most {limit} years ({n} probabilities given)"),
    "uncertainty.beta": ("beta 分布的两个参数都须为正，现为 {a}, {b}",
                         "both parameters of a beta distribution must be positive, got {a}, {b}"),
    "uncertainty.rho": ("相关系数 rho 须在 [-1, 1] 之内，现为 {value}",
                        "the correlation rho must be within [-1, 1], got {value}"),
    "uncertainty.not_psd": (
        "相关系数 rho = {rho} 使{kind_zh} {id!r} 的 {n} 个税源的相关矩阵不是半正定的（须 rho ≥ "
        "{limit:.4g}）",
        "rho = {rho} makes the correlation matrix of the {n} streams of {kind} {id!r} not "
        "positive semi-definite (rho must be ≥ {limit:.4g})"),
    "uncertainty.dist_fields": ("{dist} 分布需要 {needed}，不能有 {extra}",
                                "a {dist} distribution needs {needed} and takes no {extra}"),
    "uncertainty.dist_order": ("须有 low ≤ mode ≤ high 且 low < high，现为 {values}",
                               "need low ≤ mode ≤ high and low < high, got {values}"),
    "uncertainty.unknown_id": ("没有 id 为 {id!r} 的{kind_zh}（已有：{valid}）",
                               "no {kind} with id {id!r} (known: {valid})"),
    "uncertainty.not_numeric": ("{path!r} 处的值不是数值（{value!r}），不能作为不确定参数",
                                "the value at {path!r} is not a number ({value!r}); it cannot "
                                "be an uncertain parameter"),
    "uncertainty.no_migrated_firm": ("情景中没有迁移企业，move_delay 无从适用",
                                     "the scenario has no migrated firm for move_delay to "
                                     "apply to"),
})

KIND_NAMES = {"park": ("园区", "park"), "firm": ("企业", "firm"), "stream": ("税源", "stream"),
              "agreement": ("协议", "agreement")}


def _sigma(value: float) -> float:
    if value < 0:
        raise fault("sigma", "uncertainty.negative_sigma", value=value)
    return value


def _probability(key: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise fault(key, "uncertainty.probability", value=value)
    return value


class Spread(Frozen):
    """Lognormal growth noise of one park, firm or stream: ``sigma`` per year."""

    sigma: float

    @model_validator(mode="after")
    def _check(self) -> Spread:
        _sigma(self.sigma)
        return self


class Growth(Frozen):
    """Lognormal multiplicative noise on tax growth, per stream.

    Each year after the first, a stream's gross tax is multiplied by ``exp(σ z − σ²/2)``
    (``z`` standard normal), and the shocks accumulate: a year's level carries every shock
    before it (a random walk in logs, mean-preserving). ``sigma`` applies to every stream;
    ``parks``, ``firms`` and ``streams`` override it by id (a park's sites and taxes, a
    firm's taxes at origin and destination alike, an explicit stream).
    """

    sigma: float = 0.0
    parks: FrozenMap[str, Spread] = Field(default_factory=FrozenDict)
    firms: FrozenMap[str, Spread] = Field(default_factory=FrozenDict)
    streams: FrozenMap[str, Spread] = Field(default_factory=FrozenDict)

    @model_validator(mode="after")
    def _check(self) -> Growth:
        _sigma(self.sigma)
        return self


class Macro(Frozen):
    """One common factor for every stream: the same ``exp(σ_m z_t − σ_m²/2)`` each year."""

    sigma: float

    @model_validator(mode="after")
    def _check(self) -> Macro:
        _sigma(self.sigma)
        return self


class Correlation(Frozen):
    """Growth shocks of the streams of one park (or one firm's taxes) are correlated with
    coefficient ``rho`` (an equicorrelation matrix, positive semi-definite iff
    ``rho ≥ −1/(n − 1)`` for n streams)."""

    within: Literal["park", "firm"]
    rho: float

    @model_validator(mode="after")
    def _check(self) -> Correlation:
        if not -1.0 <= self.rho <= 1.0:
            raise fault("rho", "uncertainty.rho", value=self.rho)
        return self


class Exit(Frozen):
    """An annual exit probability, with overrides by id."""

    annual_exit: float = 0.0
    by_id: FrozenMap[str, float] = Field(default_factory=FrozenDict)

    @model_validator(mode="after")
    def _check(self) -> Exit:
        _probability("annual_exit", self.annual_exit)
        for key, p in self.by_id.items():
            _probability(f"by_id.{key}", p)
        return self


class Survival(Frozen):
    """Whether a firm (or a park site) survives: each year after the first it exits with
    probability ``annual_exit``, and pays no tax from then on, under the agreement and in
    the no-cooperation counterfactual alike."""

    firms: Exit | None = None
    parks: Exit | None = None


class Delay(Frozen):
    """``probabilities[d]`` is the probability that the date slips by d years (d = 0, 1, ...).
    ``of: move`` (default) shifts the move (the tax path and the production year with it);
    ``of: production`` shifts only the year the firm reaches production (达产)."""

    probabilities: tuple[float, ...] = Field(min_length=1)
    of: Literal["move", "production"] = "move"
    by_id: FrozenMap[str, tuple[float, ...]] = Field(default_factory=FrozenDict)

    @model_validator(mode="after")
    def _check(self) -> Delay:
        for key, probs in (("probabilities", self.probabilities),
                           *((f"by_id.{k}", v) for k, v in self.by_id.items())):
            for i, p in enumerate(probs):
                _probability(f"{key}[{i}]", p)
            if abs(sum(probs) - 1.0) > 1e-9:
                raise fault(key, "uncertainty.probabilities_sum", total=sum(probs))
            if len(probs) > MAX_DELAY + 1:
                raise fault(key, "uncertainty.too_many_delays", limit=MAX_DELAY, n=len(probs))
        return self


class MoveDelay(Frozen):
    firms: Delay


class BetaSpread(Frozen):
    """The fraction of agreed transfers actually paid, ~ Beta(a, b) (mean a / (a + b))."""

    beta: tuple[float, float]

    @model_validator(mode="after")
    def _check(self) -> BetaSpread:
        a, b = self.beta
        if a <= 0 or b <= 0:
            raise fault("beta", "uncertainty.beta", a=a, b=b)
        return self


DISTRIBUTIONS = {
    "normal": ({"sd"}, {"mean"}),
    "lognormal": ({"sigma"}, set()),
    "uniform": ({"low", "high"}, set()),
    "triangular": ({"low", "high"}, {"mode"}),
}


class Parameter(Frozen):
    """Any numeric scenario value by key path (as in :meth:`Scenario.replace`), drawn from

    - ``normal``: ``mean`` (default: the scenario's value) + ``sd`` z;
    - ``lognormal``: the scenario's value × ``exp(sigma z)`` (its median);
    - ``uniform``: between ``low`` and ``high``;
    - ``triangular``: between ``low`` and ``high``, peaking at ``mode`` (default: the
      scenario's value).

    Sensitivity varies a parameter between ``low`` and ``high`` when given, else ±delta.
    """

    path: str = Field(min_length=1)
    dist: Literal["normal", "lognormal", "uniform", "triangular"]
    mean: float | None = None
    sd: float | None = None
    sigma: float | None = None
    low: float | None = None
    high: float | None = None
    mode: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Parameter:
        needed, optional = DISTRIBUTIONS[self.dist]
        given = {k for k in ("mean", "sd", "sigma", "low", "high", "mode")
                 if getattr(self, k) is not None}
        if not needed <= given or given - needed - optional:
            raise fault("dist", "uncertainty.dist_fields", dist=self.dist,
                        needed=", ".join(sorted(needed)),
                        extra=", ".join(sorted(given - needed - optional)) or "-")
        for key in ("sd", "sigma"):
            if getattr(self, key) is not None and getattr(self, key) < 0:
                raise fault(key, "uncertainty.negative_sigma", value=getattr(self, key))
        if self.low is not None:
            mode = self.mode if self.mode is not None else self.low
            if not (self.low <= mode <= self.high and self.low < self.high):
                raise fault("low", "uncertainty.dist_order", values=(
                    f"low={self.low:g}, mode={mode:g}, high={self.high:g}"
                    if self.mode is not None else f"low={self.low:g}, high={self.high:g}"))
        return self


class Uncertainty(Frozen):
    """The ``uncertainty:`` section (see the module docstring and ``docs/risk.md``)."""

    growth: Growth | None = None
    macro: Macro | None = None
    correlation: Correlation | None = None
    survival: Survival | None = None
    move_delay: MoveDelay | None = None
    compliance: FrozenMap[str, BetaSpread] = Field(default_factory=FrozenDict)
    parameters: tuple[Parameter, ...] = ()


def _unknown(path: str, kind: str, key: str, valid: list[str]) -> tuple[str, Problem]:
    zh, en = KIND_NAMES[kind]
    return (path, Problem("uncertainty.unknown_id", {
        "id": key, "kind": en, "kind_zh": zh, "valid": ", ".join(valid[:12]) or "-"},
        close=tuple(did_you_mean(key, valid))))


def reference_problems(sc: Any, u: Uncertainty, at: str = "uncertainty"):
    """Yield ``(key path, Problem)`` for every id in ``u`` that ``sc`` does not have, every
    parameter path that does not lead to a number, and every correlation that makes a park's
    (firm's) correlation matrix not positive semi-definite."""
    ids = {"park": [p.id for p in sc.parks], "firm": [f.id for f in sc.firms],
           "stream": [s.id for s in sc.streams], "agreement": [a.id for a in sc.agreements]}
    if u.growth is not None:
        for kind in ("park", "firm", "stream"):
            for key in getattr(u.growth, kind + "s"):
                if key not in ids[kind]:
                    yield _unknown(f"{at}.growth.{kind}s.{key}", kind, key, ids[kind])
    if u.survival is not None:
        for kind in ("park", "firm"):
            spec = getattr(u.survival, kind + "s")
            for key in (spec.by_id if spec is not None else ()):
                if key not in ids[kind]:
                    yield _unknown(f"{at}.survival.{kind}s.by_id.{key}", kind, key, ids[kind])
    if u.move_delay is not None:
        migrated = [f.id for f in sc.firms if f.move_year is not None]
        if not migrated:
            yield (f"{at}.move_delay", Problem("uncertainty.no_migrated_firm"))
        for key in u.move_delay.firms.by_id:
            if key not in migrated:
                yield _unknown(f"{at}.move_delay.firms.by_id.{key}", "firm", key, migrated)
    for key in u.compliance:
        if key not in ids["agreement"]:
            yield _unknown(f"{at}.compliance.{key}", "agreement", key, ids["agreement"])
    if u.correlation is not None and u.correlation.rho < 0:
        yield from _psd_problems(sc, u.correlation, f"{at}.correlation.rho")
    for i, p in enumerate(u.parameters):
        yield from _parameter_problems(sc, p.path, f"{at}.parameters[{i}].path")


def _psd_problems(sc: Any, corr: Correlation, path: str):
    """An equicorrelation matrix of n streams is PSD iff ``1 + (n − 1) rho ≥ 0``."""
    if corr.within == "park":
        sizes = {p.id: sum(len(s.taxes) for s in p.sites) for p in sc.parks}
    else:
        sizes = {f.id: len(f.pre_move or f.taxes or {}) for f in sc.firms}
    for key, n in sizes.items():
        if n > 1 and 1 + (n - 1) * corr.rho < -1e-12:
            zh, en = KIND_NAMES[corr.within]
            yield (path, Problem("uncertainty.not_psd", {
                "rho": corr.rho, "kind": en, "kind_zh": zh, "id": key, "n": n,
                "limit": -1.0 / (n - 1)}))
            return


def _parameter_problems(sc: Any, path: str, where: str):
    from sharing.scenario import ScenarioError, value_at

    try:
        value = value_at(sc, path)
    except ScenarioError as err:
        for item in err.items:
            yield (where, Problem(item.key, item.params, close=item.close))
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        yield (where, Problem("uncertainty.not_numeric", {"path": path, "value": value}))
