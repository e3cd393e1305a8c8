"""The rule library: how one agreement splits the revenue of its streams between jurisdictions.

Every rule is a small pydantic model (its parameters, validated) with one pure, vectorised
method, ``split(pool, path)``. A :class:`Pool` holds the base amounts of the streams an agreement
covers, shape ``(streams, years)``, and the per-stream context (host, origin, destination,
firm, pre-move taxes). A rule returns a :class:`Split`: for each stream a few *slots*, each a
jurisdiction index and an amount per year. Slots sum exactly to the pool (the last slot of a
ratio split takes the remainder), so allocations conserve revenue to rounding. Rules nest: a
schedule of stock/increment of fixed ratios is a tree of these models.

Shares may name a jurisdiction id or a *role* resolved per stream: ``host`` (where the tax is
collected), ``origin`` (a migrated firm's old home or the jurisdiction that introduced a
project) and ``destination`` (its new home).

Presets are named, dated parameter sets with their source (:data:`PRESETS`).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, Field, model_validator
from scipy import sparse

from sharing.claims import divide
from sharing.frozen import Frozen, FrozenMap, freeze
from sharing.i18n import Problem, define, did_you_mean, raw
from sharing.taxes import TAXES, Tax

ROLES = ("host", "origin", "destination")
SHARE_TOLERANCE = 1e-9

MIN_YEAR, MAX_YEAR = 1900, 2200
MAX_AMOUNT = 1e12
"""Bounds on every year and amount in a scenario (docs/scenario-format.md, "Bounds"): a year
lies in [1900, 2200] and an amount is at most 1e12 万元 (1e16 yuan, far above any budget), so
that the arithmetic over every stream and year stays finite; past them a value is a typo."""
MAX_SPAN = MAX_YEAR - MIN_YEAR

Share = Annotated[float, Field(ge=0, le=1)]
Amount = Annotated[float, Field(ge=0, le=MAX_AMOUNT)]
SignedAmount = Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
Year = Annotated[int, Field(ge=MIN_YEAR, le=MAX_YEAR)]
Years = Annotated[int, Field(gt=0, le=MAX_SPAN)]
YearRange = tuple[Year, Year]

define({
    "safety.control_character": (
        "含有控制字符 {char}（如 NUL、\\x01），表格和导出文件无法保存；请删除",
        "holds the control character {char} (e.g. NUL, \\x01), which spreadsheets and exports "
        "cannot store; remove it"),
})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise PathError("", Problem("safety.control_character", {"char": repr(found[0])}))
    return value


Text = Annotated[str, AfterValidator(_printable)]
"""Text a user writes (names, ids, references): no control characters (tab and newline
are fine)."""


class PathError(ValueError):
    """Validation errors that know their key paths below the model that raised them.

    Each item is ``(path, problem)``: a catalogue :class:`~sharing.i18n.Problem` (see
    :func:`fault`), so that the user reads it in 中文 and English (text already written in
    both languages is taken as it is)."""

    def __init__(self, path: str, problem: Problem | str, *more: tuple[str, Problem | str]):
        self.items = [(p, m if isinstance(m, Problem) else raw(m))
                      for p, m in [(path, problem), *more]]
        self.path, self.problem = self.items[0]
        super().__init__(f"{path}: {self.problem.message()}")


def fault(path: str, key: str, close: Iterable[str] = (), /, **params: Any) -> PathError:
    """A PathError at ``path`` with catalogue message ``key`` (and "did you mean" ``close``)."""
    return PathError(path, Problem(key, params, close=tuple(close)))


define({
    "rules.role_missing": ("规则使用了角色 {role!r}，但税源 {stream!r} 没有 {role}",
                           "rule uses role {role!r} but stream {stream!r} has no {role}"),
    "rules.no_shares": ("至少需要一个份额", "at least one share is needed"),
    "rules.shares_sum": ("各份额之和须为 1，现为 {total}（{listed}）",
                         "shares must sum to 1, got {total} ({listed})"),
    "rules.years_backwards": ("年份 {first}-{last}：起始年晚于结束年",
                              "years {first}-{last}: the first year is after the last"),
    "rules.years_overlap": ("年份 {a}-{b} 与 {other}（{c}-{d}）重叠",
                            "years {a}-{b} overlap {other} ({c}-{d})"),
    "rules.unknown_preset": ("未知的 {type} 预设 {name!r}；可选：{valid}",
                             "unknown {type} preset {name!r}; valid: {valid}"),
    "rules.factor_missing": ("要素 {factor!r} 在 contributions 中没有数值",
                             "factor {factor!r} has no values in contributions"),
    "rules.factor_zero": ("要素 {factor!r} 合计为 {total}，须为正数",
                          "factor {factor!r} sums to {total}; it needs a positive total"),
    "rules.baseline_role": ("存量基数按承载辖区 id 填写，不能按角色填写",
                            "baseline amounts are per host jurisdiction id, not per role"),
    "rules.base_year_outside": ("基期 base_year {year} 不在模拟年份内；请改为按承载辖区给出存量"
                                "基数 baseline",
                                "base_year {year} is outside the simulated years; give "
                                "baseline amounts per host instead"),
    "rules.capped_no_start": ("限期限额规则需要起始年：税源 {stream!r} 没有迁移年份（请设定 "
                              "`start`，或只覆盖迁移企业）",
                              "capped rule needs a start year: stream {stream!r} has no move "
                              "year (set `start`, or cover migrated firms only)"),
    "rules.last_band_open": ("最后一档不需要 `upto`（不设上限）",
                             "the last band needs no `upto` (open)"),
    "rules.bands_increase": ("各档上限 `upto` 须递增", "band limits `upto` must increase"),
    "rules.only_last_open": ("只有最后一档可以不设 `upto`",
                             "only the last band may be open (no `upto`)"),
    "rules.id_not_role": ("{key} 须是辖区 id：这笔支付不与税源挂钩，不能用 'host' 等角色",
                          "{key} must be a jurisdiction id: the payment is not tied to a "
                          "stream, so roles such as 'host' do not apply"),
})


class RuleError(ValueError):
    """A rule cannot be applied to the streams it was given (raised at compile time); holds
    the catalogue :class:`~sharing.i18n.Problem` saying why."""

    def __init__(self, key: str, /, **params: Any):
        self.problem = Problem(key, params)
        super().__init__(self.problem.message())


# ---------------------------------------------------------------------------------------------
# The data a rule works on, and what it returns


@dataclass(frozen=True)
class Pool:
    """The streams one agreement covers, with what rules need to know about them.

    ``amounts`` is the base being shared (retained revenue by default), ``gross`` the gross
    tax. Role arrays hold jurisdiction indices, -1 where a stream has no such role. Firm-level
    facts (``pre_move``, ``pre_move_gross``) sit on the destination stream of each firm and
    tax only, so that group sums count each firm once. ``move_year`` and ``production_year``
    (达产, the move year unless the firm says otherwise) are -1 for streams without a move.

    Monte Carlo runs many draws at once (``draws`` > 1): the stream axis is then draw-major,
    ``draws`` blocks of the same streams (a free reshape of ``(draws, streams, years)``), each
    draw's firms are groups of their own, and rules that add up the whole pool (tiers, floors,
    claims, a baseline per host) add it up per draw (:meth:`per_draw`, :meth:`to_rows`).
    """

    amounts: np.ndarray
    gross: np.ndarray
    years: np.ndarray
    roles: dict[str, np.ndarray]
    tax: np.ndarray
    group: np.ndarray
    n_groups: int
    move_year: np.ndarray
    production_year: np.ndarray
    pre_move: np.ndarray
    pre_move_gross: np.ndarray
    stream_id: Callable[[int], str]
    index: dict[str, int]
    contributions: dict[str, dict[str, float]] = field(default_factory=dict)
    history: tuple[np.ndarray, np.ndarray] | None = None
    draws: int = 1

    @property
    def n_jurisdictions(self) -> int:
        return len(self.index)

    def per_draw(self, x: np.ndarray) -> np.ndarray:
        """``x`` with shape ``(..., draws × streams, years)`` summed over streams per draw:
        ``(..., draws, years)``."""
        return x.reshape(*x.shape[:-2], self.draws, -1, x.shape[-1]).sum(axis=-2)

    def to_rows(self, x: np.ndarray) -> np.ndarray:
        """A per-draw ``(..., draws, years)`` array repeated for each stream of its draw:
        ``(..., draws × streams, years)``."""
        return np.repeat(x, len(self.amounts) // self.draws, axis=-2)

    def draw_of(self) -> np.ndarray:
        """The draw of each stream row."""
        return np.repeat(np.arange(self.draws), len(self.amounts) // self.draws)

    def who(self, key: str) -> np.ndarray:
        """Jurisdiction index per stream for a jurisdiction id or a role."""
        if key in self.index:
            return np.full(len(self.amounts), self.index[key])
        idx = self.roles[key]
        missing = np.flatnonzero(idx < 0)
        if missing.size:
            raise RuleError("rules.role_missing", role=key,
                            stream=self.stream_id(missing[0]))
        return idx

    def changed(self, **fields: Any) -> Pool:
        """A copy with some fields changed: :func:`dataclasses.replace` without its
        re-initialisation, which a Monte Carlo run would pay thousands of times."""
        pool = copy.copy(self)
        pool.__dict__.update(fields)
        return pool

    def with_amounts(self, amounts: np.ndarray) -> Pool:
        return self.changed(amounts=amounts, history=None)

    def take_years(self, cols: np.ndarray) -> Pool:
        """The pool restricted to some years (a stage); ``history`` keeps the amounts of the
        whole horizon, so that a base year before the stage can still be read."""
        return replace(self, amounts=self.amounts[:, cols], gross=self.gross[:, cols],
                       years=self.years[cols],
                       history=self.history or (self.years, self.amounts))

    def amounts_in(self, year: int) -> np.ndarray | None:
        """The amounts of ``year`` (from the whole horizon if need be), or None."""
        for years, amounts in ((self.years, self.amounts), self.history or ((), None)):
            col = np.flatnonzero(np.asarray(years) == year)
            if col.size:
                return amounts[:, col[0]]
        return None

    def group_sum(self, x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Sum a ``(streams, years)`` array per firm group -> ``(groups, years)``, each
        stream's row multiplied by ``weights`` when given."""
        k = len(self.group)
        data = np.ones(k) if weights is None else weights
        indicator = sparse.csr_matrix((data, (self.group, np.arange(k))),
                                      shape=(self.n_groups, k))
        return indicator @ x


@dataclass
class Split:
    """What a rule returns: ``m`` slots per stream, each a jurisdiction and an amount per year.

    ``who`` has shape ``(m, streams)`` and ``amount`` ``(m, streams, years)`` (slot-major, so
    that each slot is one contiguous block).

    ``transfers`` holds side payments not tied to a stream (a fixed return), shape
    ``(jurisdictions, years)``, summing to zero over jurisdictions. ``pools`` lists, for each
    ratio split inside the rule, its path and the base it divided, per stream and year
    ``(streams, years)``: each jurisdiction's payoff is linear in those ratios, which is what
    the optimizer's affine map (``sharing.engine.affine_map``) is built from.
    ``subsidy`` holds money paid from outside the jurisdictions (the central government's
    one-off subsidy of a capped rule), as slots of its own on the stream it belongs to; it is
    not part of the pool, so the slots above still sum to the pool.
    """

    who: np.ndarray
    amount: np.ndarray
    transfers: np.ndarray | None = None
    pools: list[tuple[str, np.ndarray]] = field(default_factory=list)
    subsidy: Split | None = None

    def embed(self, cols: np.ndarray, n_years: int) -> Split:
        """Place a split computed on the year columns ``cols`` into the full horizon."""
        amount = np.zeros((*self.amount.shape[:2], n_years))
        amount[:, :, cols] = self.amount
        transfers = None
        if self.transfers is not None:
            transfers = np.zeros((self.transfers.shape[0], n_years))
            transfers[:, cols] = self.transfers
        pools = []
        for path, base in self.pools:
            full = np.zeros((base.shape[0], n_years))
            full[:, cols] = base
            pools.append((path, full))
        subsidy = None if self.subsidy is None else self.subsidy.embed(cols, n_years)
        return Split(self.who, amount, transfers, pools, subsidy)


def concat(splits: list[Split]) -> Split:
    """Join splits of the same streams side by side (their slots add up)."""
    transfers = [s.transfers for s in splits if s.transfers is not None]
    subsidies = [s.subsidy for s in splits if s.subsidy is not None]
    return Split(
        who=np.concatenate([s.who for s in splits], axis=0),
        amount=np.concatenate([s.amount for s in splits], axis=0),
        transfers=sum(transfers[1:], transfers[0]) if transfers else None,
        pools=[p for s in splits for p in s.pools],
        subsidy=concat(subsidies) if subsidies else None,
    )


MAX_SPLIT_CELLS = 20_000_000
"""At most this many slot amounts (jurisdictions × streams × years) in one split: 160 MB."""

define({
    "bounds.split_too_large": (
        "该规则要把 {streams} 个税源、{years} 年分给 {keys} 方，需 {cells} 个分配额，超过上限 "
        "{limit}；请把协议拆小（按园区或税源分别订立），或删去份额为 0 的一方",
        "the rule splits {streams} streams over {years} years between {keys} parties: {cells} "
        "amounts, more than the limit of {limit}; split the agreement (by park or stream), or "
        "drop the parties with a zero share"),
})


def split_by_shares(amounts: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Slot amounts ``(m, k, T)`` of ``amounts`` ``(k, T)`` for shares of shape ``(m,)``,
    ``(m, T)`` or ``(m, k, T)``.

    The last slot takes ``amount − Σ other slots`` so that slots sum to the amount exactly.
    Raises RuleError past :data:`MAX_SPLIT_CELLS` slot amounts (10,000 jurisdictions sharing
    10,000 streams over 13 years would need 9.7 GiB).
    """
    shares = np.asarray(shares, dtype=float)
    cells = shares.shape[0] * amounts.size
    if cells > MAX_SPLIT_CELLS:
        raise RuleError("bounds.split_too_large", keys=shares.shape[0],
                        streams=amounts.shape[0], years=amounts.shape[-1],
                        cells=f"{cells:,}", limit=f"{MAX_SPLIT_CELLS:,}")
    if shares.ndim == 1:
        shares = shares[:, None, None]
    elif shares.ndim == 2:
        shares = shares[:, None, :]
    parts = np.empty((shares.shape[0], *amounts.shape))
    np.multiply(amounts[None, :, :], shares[:-1], out=parts[:-1])
    others = parts[0] if len(parts) == 2 else parts[:-1].sum(axis=0)  # a sum of one is a copy
    np.subtract(amounts, others, out=parts[-1])
    return parts


def _shares_check(shares: dict[str, float], where: str = "shares") -> dict[str, float]:
    if not shares:
        raise fault(where, "rules.no_shares")
    total = sum(shares.values())
    if abs(total - 1.0) > SHARE_TOLERANCE:
        listed = ", ".join(f"{k} {v:g}" for k, v in shares.items())
        raise fault(where, "rules.shares_sum", total=f"{total:.6g}", listed=listed)
    return shares


def _stack_who(pool: Pool, keys: list[str]) -> np.ndarray:
    who = np.empty((len(keys), len(pool.amounts)), dtype=int)
    for r, k in enumerate(keys):  # an id fills its row with one number: no array per key
        who[r] = pool.index[k] if k in pool.index else pool.who(k)
    return who


def _within(years: np.ndarray, span: YearRange) -> np.ndarray:
    return (years >= span[0]) & (years <= span[1])


def _check_stages(spans: list[YearRange], name: str = "stages") -> None:
    for i, (a, b) in enumerate(spans):
        if a > b:
            raise fault(f"{name}[{i}]", "rules.years_backwards", first=a, last=b)
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    for i, j in itertools.pairwise(order):
        if spans[j][0] <= spans[i][1]:
            first, second = sorted((i, j))
            a, b = spans[first]
            c, d = spans[second]
            raise fault(f"{name}[{first}]", "rules.years_overlap", a=a, b=b,
                        other=f"{name}[{second}]", c=c, d=d)


# ---------------------------------------------------------------------------------------------
# Presets: parameters from law and agreements, with their source


@dataclass(frozen=True)
class Preset:
    """A named, dated parameter set for a rule type, with where the numbers come from.
    ``params`` are read-only (a preset is law, not a setting)."""

    rule: str
    name: str
    name_en: str
    params: dict[str, Any]
    reference: str
    year: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", freeze(self.params))


PRESETS: dict[str, Preset] = {
    "cn_branch_cit": Preset(
        "factors", "跨地区总分机构企业所得税分摊", "China cross-region branch CIT apportionment",
        {"weights": {"revenue": 0.35, "payroll": 0.35, "assets": 0.30}},
        "国家税务总局公告2012年第57号 (branch share 0.35 revenue, 0.35 payroll, 0.30 assets, "
        "previous-year data); 财预〔2012〕40号", 2012),
    "de_gewst": Preset(
        "factors", "德国营业税分解(工资)", "German trade tax Zerlegung, general rule",
        {"weights": {"payroll": 1.0}}, "§29(1) Nr. 1 GewStG (payroll)", 2021),
    "de_gewst_wind_solar": Preset(
        "factors", "德国营业税分解(风电光伏)", "German trade tax Zerlegung, wind and solar",
        {"weights": {"payroll": 0.1, "installed_capacity": 0.9}},
        "§29(1) Nr. 2 a) GewStG (1/10 payroll + 9/10 installed capacity)", 2021),
    "us_uditpa": Preset(
        "factors", "美国UDITPA三要素", "US UDITPA equally weighted three factors",
        {"weights": {"property": 1 / 3, "payroll": 1 / 3, "sales": 1 / 3}},
        "UDITPA §9 (1957); Multistate Tax Compact Art. IV", 1957),
    "us_double_weighted_sales": Preset(
        "factors", "美国双倍销售权重", "US double-weighted sales",
        {"weights": {"property": 0.25, "payroll": 0.25, "sales": 0.5}},
        "MTC Art. IV as amended 2014-07-30 (recommends double-weighting sales)", 2014),
    "us_single_sales": Preset(
        "factors", "美国单一销售要素", "US single sales factor",
        {"weights": {"sales": 1.0}},
        "Single sales factor used by 29 states (Tax Foundation; FTA, TY2022)", 2022),
    "ca_provincial": Preset(
        "factors", "加拿大省际分摊", "Canada provincial allocation",
        {"weights": {"revenue": 0.5, "payroll": 0.5}},
        "Income Tax Regulations s. 402(3): ½ gross revenue + ½ salaries and wages", 2004),
    "eu_ccctb": Preset(
        "factors", "欧盟CCCTB公式", "EU CCCTB formula",
        {"weights": {"sales": 1 / 3, "payroll": 1 / 6, "headcount": 1 / 6, "assets": 1 / 3}},
        "COM(2011) 121 Art. 86: ⅓ sales + ⅓ labour (½ payroll, ½ employees) + ⅓ assets", 2011),
    "jjj_2015": Preset(
        "capped", "京津冀产业转移企业税收分享", "Beijing-Tianjin-Hebei relocated-firm sharing",
        {"beneficiary": "origin", "share": 0.5, "max_years": 3, "taxes": ["vat", "eit"],
         "start_from": "production",
         "extension": {"years": 2, "when": "cap_not_reached"},
         "eligibility": {"min_pre_move": 2000.0},
         "cap": {"pre_move_years": 3}},
        "财预〔2015〕92号 京津冀协同发展产业转移对接企业税收收入分享办法 (财政部、国家税务总局, "
        "2015-06-03): 迁出地区、迁入地区按 50%:50% 比例分享企业\"完成工商和税务登记变更并"
        "达产后三年内\"缴纳的增值税、企业所得税、营业税地方分享部分 (business tax obsolete "
        "since 2016); \"以迁出地区分享'三税'达到企业迁移前三年缴纳的'三税'总和为上限\"; "
        "\"若三年仍未达到分享上限，分享期限再延长两年，此后迁出地区不再分享，由中央财政一次性给予"
        "迁出地区适当补助\" (amount not fixed: see end_subsidy). Eligibility: pre-move 3-year "
        "average 三税 ≥ 2000万 (新华社 2015-09-29). POLICY.md §3.1.",
        2015),
}


def _apply_preset(rule_type: str, data: Any) -> Any:
    if not isinstance(data, dict) or data.get("preset") is None:
        return data
    name = data["preset"]
    preset = PRESETS.get(name) if isinstance(name, str) else None
    valid = sorted(k for k, p in PRESETS.items() if p.rule == rule_type)
    if preset is None or preset.rule != rule_type:
        raise fault("preset", "rules.unknown_preset", did_you_mean(str(name), valid),
                    type=rule_type, name=name, valid=", ".join(valid))
    merged = {**preset.params, **data}
    merged.setdefault("reference", preset.reference)
    return merged


# ---------------------------------------------------------------------------------------------
# The rules


class RuleBase(Frozen):
    reference: Text | None = None

    def keys(self) -> set[str]:
        """Jurisdiction ids and roles this rule (and its children) names."""
        return set()

    def factors(self) -> set[str]:
        """Contribution factors this rule (and its children) needs."""
        return set()

    def children(self) -> list[RuleBase]:
        return []


class Host(RuleBase):
    """No sharing (the default): the host keeps everything it collects.

    ``x[s, host(s), t] = a[s, t]``. Negative amounts (refunds) stay with the host too.
    """

    type: Literal["host"] = "host"

    def split(self, pool: Pool, path: str = "rule") -> Split:
        return Split(pool.who("host")[None, :], pool.amounts[None, :, :].copy())


class Fixed(RuleBase):
    """Fixed ratio (固定比例分成): ``x[s, j, t] = w_j · a[s, t]`` with ``Σ_j w_j = 1``.

    Sources: 中山–河源 共建产业转移园 税收留成五五分成; 川浙合作产业园 青川:广元 = 6:4 for VAT
    and income tax (POLICY.md §3.6, §3.8). Negative amounts (VAT refunds, 留抵退税) are shared
    in the same ratio as revenue.
    """

    type: Literal["fixed"] = "fixed"
    shares: FrozenMap[str, Share]

    @model_validator(mode="after")
    def _sum_to_one(self) -> Fixed:
        _shares_check(self.shares)
        return self

    def keys(self) -> set[str]:
        return set(self.shares)

    def split(self, pool: Pool, path: str = "rule") -> Split:
        keys = [k for k, w in self.shares.items() if w > 0]  # zero shares take nothing
        who = _stack_who(pool, keys)
        parts = split_by_shares(pool.amounts, np.array([self.shares[k] for k in keys]))
        return Split(who, parts, pools=[(path, pool.amounts)])


class Factors(RuleBase):
    """Formula apportionment by contribution factors (要素分配).

    ``w_j = Σ_f α_f · x_{f,j} / Σ_i x_{f,i}`` and ``x[s, j, t] = w_j · a[s, t]``, where
    ``x_{f,j}`` is jurisdiction j's value of factor f (capital, land, payroll, sales ...) from
    the scenario's ``contributions`` and ``α`` the weights (``Σ α_f = 1``). Presets carry the
    statutory weights (``cn_branch_cit``, ``de_gewst``, ``us_uditpa``, ``eu_ccctb`` ...; see
    :data:`PRESETS`). The EU CCCTB's labour factor (½ payroll, ½ headcount) is written as the
    equivalent flat weights 1/6 + 1/6. Negative amounts are shared in the same ratio.
    """

    type: Literal["factors"] = "factors"
    preset: Text | None = None
    weights: FrozenMap[str, Share]

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        return _apply_preset("factors", data)

    @model_validator(mode="after")
    def _sum_to_one(self) -> Factors:
        _shares_check(self.weights, "weights")
        return self

    def factors(self) -> set[str]:
        return set(self.weights)

    def shares(self, contributions: dict[str, dict[str, float]]) -> dict[str, float]:
        """The jurisdiction shares ``w_j`` given factor values by jurisdiction."""
        shares: dict[str, float] = {}
        for factor, weight in self.weights.items():
            values = contributions.get(factor)
            if values is None:
                raise RuleError("rules.factor_missing", factor=factor)
            total = sum(values.values())
            if total <= 0:
                raise RuleError("rules.factor_zero", factor=factor, total=f"{total:g}")
            for jid, v in values.items():
                shares[jid] = shares.get(jid, 0.0) + weight * v / total
        return shares

    def split(self, pool: Pool, path: str = "rule") -> Split:
        shares = self.shares(pool.contributions)
        keys = list(shares)
        who = _stack_who(pool, keys)
        parts = split_by_shares(pool.amounts, np.array([shares[k] for k in keys]))
        return Split(who, parts, pools=[(path, pool.amounts)])


class StockIncrement(RuleBase):
    """Stock/increment split (存量/增量): the stock follows one rule, the increment another.

    For each stream, the baseline is its level in ``base_year`` (or, with ``baseline``, the
    given annual amount per host jurisdiction, spread over that host's streams in proportion
    to their positive amounts), indexed: ``b[t] = b · (1 + g)^(t − base_year)``. For
    ``t ≥ base_year``: ``stock = min(max(a, 0), b)`` and ``increment = a − stock``; before
    ``base_year`` everything is stock. A stream that starts after the base year has a zero
    baseline, so all of it is increment (a new firm). A fall below the baseline and negative
    amounts (refunds) stay in the stock.

    Source: 川渝高竹新区 "存量收益由原行政辖区各自分享、增量收益五五分成" (中新网 2021-12-27;
    新华社《瞭望》2022-01-18; POLICY.md §2.1). The base year and the level at which the baseline
    is measured are not published (NOT FOUND); both are parameters.
    """

    type: Literal["stock_increment"] = "stock_increment"
    base_year: Year
    baseline: FrozenMap[str, Amount] | None = None
    indexation: float = Field(0.0, ge=-0.5, le=1.0)
    stock: Rule = Field(default_factory=Host)
    increment: Rule

    @model_validator(mode="after")
    def _baseline_ids(self) -> StockIncrement:
        roles = sorted(set(self.baseline or ()) & set(ROLES))
        if roles:
            raise fault(f"baseline.{roles[0]}", "rules.baseline_role")
        return self

    def keys(self) -> set[str]:
        return set(self.baseline or ()) | {"host"}

    def children(self) -> list[RuleBase]:
        return [self.stock, self.increment]

    def stock_amounts(self, pool: Pool) -> np.ndarray:
        a = pool.amounts
        after = pool.years >= self.base_year
        index = (1.0 + self.indexation) ** np.maximum(pool.years - self.base_year, 0)
        if self.baseline is None:
            base = pool.amounts_in(self.base_year)
            if base is None:
                raise RuleError("rules.base_year_outside", year=self.base_year)
            # min(a, b) is the stock in one pass: b ≥ 0 keeps a negative a whole, and an
            # infinite b before the base year keeps everything.
            level = np.maximum(base, 0.0)[:, None] * index[None, :]
            level[:, ~after] = np.inf
            return np.minimum(a, level)
        positive = np.maximum(a, 0.0)
        n_j = pool.n_jurisdictions
        host = pool.who("host") + n_j * pool.draw_of()  # a host in one draw
        host_total = np.zeros((n_j * pool.draws, a.shape[1]))
        np.add.at(host_total, host, positive)
        level_by_host = np.tile([self.baseline.get(j, 0.0) for j in pool.index], pool.draws)
        capped = np.minimum(host_total, level_by_host[:, None] * index)
        ratio = np.divide(capped, host_total, out=np.zeros_like(capped), where=host_total > 0)
        level = positive * ratio[host]
        return np.where(after[None, :], np.where(a < 0, a, level), a)

    def split(self, pool: Pool, path: str = "rule") -> Split:
        stock = self.stock_amounts(pool)
        return concat([
            self.stock.split(pool.with_amounts(stock), f"{path}.stock"),
            self.increment.split(pool.with_amounts(pool.amounts - stock), f"{path}.increment"),
        ])


class Stage(Frozen):
    years: YearRange
    rule: Rule


class Schedule(RuleBase):
    """Staged rules (分阶段): stage k's rule applies in its years ``[from, to]`` (inclusive).

    Years outside every stage follow ``otherwise`` (default: the host keeps). Stages must not
    overlap. Covers time-varying ratios, sunset dates (深汕特别合作区 to 2040) and the
    periodic adjustment of 长三角示范区 (POLICY.md §3.3, §3.4). Negative amounts follow the
    stage's rule.
    """

    type: Literal["schedule"] = "schedule"
    stages: tuple[Stage, ...] = Field(min_length=1)
    otherwise: Rule = Field(default_factory=Host)

    @model_validator(mode="after")
    def _no_overlap(self) -> Schedule:
        _check_stages([s.years for s in self.stages])
        return self

    def children(self) -> list[RuleBase]:
        return [s.rule for s in self.stages] + [self.otherwise]

    def split(self, pool: Pool, path: str = "rule") -> Split:
        return _staged(pool, path, [(s.years, s.rule) for s in self.stages], self.otherwise,
                       ".rule")


def _staged(pool: Pool, path: str, stages: list[tuple[YearRange, RuleBase]],
            otherwise: RuleBase, suffix: str = "") -> Split:
    """Each stage's rule on its years; ``suffix`` completes a stage's key path (a schedule's
    stage holds its rule under ``rule``, an optimized stage is the split itself)."""
    n_years = len(pool.years)
    covered = np.zeros(n_years, dtype=bool)
    parts = []
    for i, (span, rule) in enumerate(stages):
        cols = np.flatnonzero(_within(pool.years, span))
        covered[cols] = True
        if cols.size:
            sub = rule.split(pool.take_years(cols), f"{path}.stages[{i}]{suffix}")
            parts.append(sub.embed(cols, n_years))
    rest = np.flatnonzero(~covered)
    if rest.size:
        sub = otherwise.split(pool.take_years(rest), f"{path}.otherwise")
        parts.append(sub.embed(rest, n_years))
    return concat(parts)


define({
    "rules.extension_trigger": (
        "延长期需要且只需要一个触发条件：when: cap_not_reached（未达上限时延长，财预〔2015〕92号）"
        "或 below: 金额（当年税收低于该金额时延长）",
        "an extension needs exactly one trigger: `when: cap_not_reached` (extend while the cap "
        "is not reached, as in 财预〔2015〕92号) or `below: amount` (extend when the year's tax "
        "is below it)"),
    "rules.extension_needs_cap": (
        "when: cap_not_reached 需要设定上限 `cap`",
        "`when: cap_not_reached` needs a `cap`"),
})


class Extension(Frozen):
    """``years`` more when the trigger holds in the window's last year: ``when:
    cap_not_reached`` (the cumulative receipts are still below the cap, 财预〔2015〕92号) or
    ``below`` (the firm's gross covered tax that year is below this amount, 万元, as some
    agreements write it). Exactly one trigger."""

    years: Years
    when: Literal["cap_not_reached"] | None = None
    below: Amount | None = None

    @model_validator(mode="after")
    def _one_trigger(self) -> Extension:
        if (self.when is None) == (self.below is None):
            raise fault("", "rules.extension_trigger")
        return self


class PreMoveCap(Frozen):
    pre_move_years: Years


class Eligibility(Frozen):
    min_pre_move: Amount


class EndSubsidy(Frozen):
    """A one-off payment from the central government when sharing ends (万元)."""

    amount: Amount


class Capped(RuleBase):
    """Time-limited, capped sharing of a relocated firm's taxes (迁移企业税收分享).

    Per firm, the clock starts in ``s`` = its production year (``start_from: production``,
    达产; the move year unless the firm gives ``production_year``), its move year
    (``start_from: move``, the default) or a fixed ``start``. The beneficiary (default the
    origin, 迁出地) receives ``d[s, t] = share · a[s, t]`` of each covered tax for
    ``t ∈ [s, e]``, ``e = s + max_years − 1``. An ``extension`` adds ``years`` to ``e`` when
    its trigger holds in year ``e``: ``when: cap_not_reached`` (``S_e < C``, below) or
    ``below`` (the firm's gross covered tax in ``e`` is below that amount). The beneficiary's
    cumulative receipts per firm stop at the cap ``C = cap`` or
    ``C = pre_move_years × Σ_tax pre-move annual amount`` (same base as the pool, at the
    retention of the year before the move): with ``D_t = Σ_firm d`` and
    ``S_t = Σ_{u≤t} D_u``, once ``S_t ≥ C`` the receipt that year is ``C − S_{t−1}`` and
    nothing after. Because receipts stop at the cap anyway, ``cap_not_reached`` gives the same
    receipts as a window of ``max_years + years`` cut by the cap. A firm whose pre-move annual
    gross of the covered taxes is below ``eligibility.min_pre_move`` does not share. Taxes
    outside ``taxes`` stay with the host. Negative amounts in the window are shared in the
    same ratio and count against the cap.

    ``end_subsidy``: if the cap was not reached in the first ``max_years`` years (``S_e < C``,
    or there is no cap), the central government pays the beneficiary ``amount`` once, in the
    year after the window with its extension ends. This is the text's branch: "若三年仍未达到
    分享上限,分享期限再延长两年,此后迁出地区不再分享,由中央财政一次性给予迁出地区适当补助" (a firm
    that reaches the cap during the extension years still ends that branch). It comes from
    outside the pool (``Split.subsidy``), so the pool's slots still sum to the pool. The rule
    sees only its own years: no extension or subsidy is decided unless year ``e`` is among
    them, and the subsidy is paid only if its year is too.
    Receipts before the first year the rule sees are not known to it and do not count
    against the cap.

    Source: 财预〔2015〕92号 京津冀协同发展产业转移对接企业税收收入分享办法 (preset ``jjj_2015``;
    primary text, POLICY.md §3.1): 50%:50% of the local share of the 三税 paid "完成工商和税务
    登记变更并达产后三年内"; "以迁出地区分享'三税'达到企业迁移前三年缴纳的'三税'总和为上限";
    "若三年仍未达到分享上限,分享期限再延长两年,此后迁出地区不再分享,由中央财政一次性给予迁出地区
    适当补助" (the amount is not fixed, so the preset has no ``end_subsidy``). Eligibility:
    pre-move 3-year average 三税 ≥ 2000万 (新华社 2015-09-29).
    """

    type: Literal["capped"] = "capped"
    preset: Text | None = None
    beneficiary: Text = "origin"
    share: Share
    start: Year | None = None
    start_from: Literal["production", "move"] = "move"
    max_years: Years
    extension: Extension | None = None
    cap: Amount | PreMoveCap | None = None
    eligibility: Eligibility | None = None
    end_subsidy: EndSubsidy | None = None
    taxes: tuple[Tax, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        return _apply_preset("capped", data)

    @model_validator(mode="after")
    def _cap_for_extension(self) -> Capped:
        if self.extension is not None and self.extension.when is not None and self.cap is None:
            raise fault("extension.when", "rules.extension_needs_cap")
        return self

    def keys(self) -> set[str]:
        return {self.beneficiary, "host"}

    def starts(self, pool: Pool) -> np.ndarray:
        """The first sharing year of each group (firm)."""
        if self.start is not None:
            return np.full(pool.n_groups, self.start)
        if np.any(pool.move_year < 0):
            bad = pool.stream_id(np.flatnonzero(pool.move_year < 0)[0])
            raise RuleError("rules.capped_no_start", stream=bad)
        start = np.zeros(pool.n_groups, dtype=int)
        start[pool.group] = pool.production_year if self.start_from == "production" \
            else pool.move_year
        return start

    def split(self, pool: Pool, path: str = "rule") -> Split:
        a, years, n_groups = pool.amounts, pool.years, pool.n_groups
        covered = np.ones(len(a), dtype=bool)
        if self.taxes is not None:
            covered = np.isin(pool.tax, [TAXES.index(t) for t in self.taxes])
        # Firm-level facts, one value per group.
        start = self.starts(pool)
        first_end = end = start + self.max_years - 1
        if self.extension is not None:
            last = np.clip(np.searchsorted(years, end), 0, len(years) - 1)
            trigger = years[last] == end
            if self.extension.below is not None:
                gross = pool.group_sum(pool.gross, covered.astype(float))
                trigger &= gross[np.arange(n_groups), last] < self.extension.below
            end = end + np.where(trigger, self.extension.years, 0)
        eligible = np.bincount(pool.group, weights=covered, minlength=n_groups) > 0
        if self.eligibility is not None:
            pre_gross = np.bincount(pool.group, weights=pool.pre_move_gross * covered,
                                    minlength=n_groups)
            eligible &= pre_gross >= self.eligibility.min_pre_move
        window = ((years[None, :] >= start[:, None]) & (years[None, :] <= end[:, None])
                  & eligible[:, None])
        sharing = window[pool.group]
        sharing &= covered[:, None]
        amount = np.empty((2, *a.shape))
        desired = amount[0]
        np.multiply(a, sharing, out=desired)
        desired *= self.share
        reached = None
        if self.cap is not None:
            if isinstance(self.cap, PreMoveCap):
                cap = self.cap.pre_move_years * np.bincount(
                    pool.group, weights=pool.pre_move * covered, minlength=n_groups)
            else:
                cap = np.full(n_groups, float(self.cap))
            per_firm = pool.group_sum(desired)
            cum = np.cumsum(per_firm, axis=1)
            reached = np.maximum.accumulate(cum >= cap[:, None], axis=1)
            paid = np.diff(np.where(reached, cap[:, None], cum), axis=1, prepend=0.0)
            ratio = np.divide(paid, per_firm, out=np.zeros_like(paid), where=per_firm != 0)
            desired *= ratio[pool.group]
        np.subtract(a, desired, out=amount[1])
        beneficiary = pool.who(self.beneficiary)
        who = np.stack([beneficiary, pool.who("host")], axis=0)
        subsidy = None
        if self.end_subsidy is not None:
            subsidy = Split(beneficiary[None, :],
                            self._subsidy(pool, covered, first_end, end, eligible, reached)[None])
        return Split(who, amount, subsidy=subsidy)

    def _subsidy(self, pool: Pool, covered: np.ndarray, first_end: np.ndarray,
                 end: np.ndarray, eligible: np.ndarray,
                 reached: np.ndarray | None) -> np.ndarray:
        """``(streams, years)``: each paying firm's subsidy on its first covered stream."""
        years, n_groups = pool.years, pool.n_groups
        decided = np.clip(np.searchsorted(years, first_end), 0, len(years) - 1)
        paid_in = np.clip(np.searchsorted(years, end + 1), 0, len(years) - 1)
        pays = eligible & (years[decided] == first_end) & (years[paid_in] == end + 1)
        if reached is not None:
            pays &= ~reached[np.arange(n_groups), decided]
        rows = np.flatnonzero(covered)[::-1]
        first = np.zeros(n_groups, dtype=int)
        first[pool.group[rows]] = rows  # the last write wins: the group's first covered row
        out = np.zeros(pool.amounts.shape)
        out[first[pays], paid_in[pays]] = self.end_subsidy.amount
        return out


class Floor(RuleBase):
    """A minimum guaranteed to one jurisdiction each year (保底), on top of an inner rule.

    Let ``b_t`` be the beneficiary's allocation from ``rule`` (summed over the pool) and
    ``P_t`` the others' positive allocations. From ``from_year`` on, the top-up
    ``u_t = min(max(minimum − b_t, 0), P_t)`` is taken from the others in proportion to their
    positive allocations, so the beneficiary gets ``max(b_t, min(minimum, b_t + P_t))``. If
    the pool cannot pay the minimum, the beneficiary gets all the others had; the shortfall is
    not carried forward. Negative allocations are never increased to pay the floor.

    Source: 川浙合作产业园: 青川 guaranteed ≥ 500万元/year of park tax from one year after the
    2亿元 infrastructure aid is in place (POLICY.md §3.6).
    """

    type: Literal["floor"] = "floor"
    beneficiary: Text
    minimum: Amount
    from_year: Year | None = None
    rule: Rule = Field(default_factory=Host)

    def keys(self) -> set[str]:
        return {self.beneficiary}

    def children(self) -> list[RuleBase]:
        return [self.rule]

    def split(self, pool: Pool, path: str = "rule") -> Split:
        inner = self.rule.split(pool, f"{path}.rule")
        ben = pool.who(self.beneficiary)
        mine = inner.who == ben[None, :]
        got = pool.per_draw(np.where(mine[:, :, None], inner.amount, 0.0)).sum(axis=0)
        others = np.where(mine[:, :, None], 0.0, np.maximum(inner.amount, 0.0))
        available = pool.per_draw(others).sum(axis=0)
        active = pool.years >= (self.from_year if self.from_year is not None else pool.years[0])
        top_up = np.clip(self.minimum - got, 0.0, available) * active
        rate = np.divide(top_up, available, out=np.zeros_like(top_up), where=available > 0)
        taken = others * pool.to_rows(rate)
        return Split(
            who=np.concatenate([inner.who, ben[None, :]], axis=0),
            amount=np.concatenate([inner.amount - taken, taken.sum(axis=0)[None]], axis=0),
            transfers=inner.transfers, pools=inner.pools, subsidy=inner.subsidy,
        )


class Band(Frozen):
    upto: Amount | None = None
    shares: FrozenMap[str, Share]

    @model_validator(mode="after")
    def _sum_to_one(self) -> Band:
        _shares_check(self.shares)
        return self


class Tiered(RuleBase):
    """Progressive bands (分档): the pool's annual total is cut into bands, each split by its
    own ratio.

    With band limits ``0 = L_0 < L_1 < … < L_K = ∞`` and the pool total ``X_t ≥ 0``, band k
    holds ``clip(X_t − L_{k−1}, 0, L_k − L_{k−1})`` and is split by its shares ``w_k``. Every
    stream is split by the resulting effective ratio ``Σ_k band_k · w_k / X_t``. If
    ``X_t ≤ 0`` (net refunds), the whole year follows the first band's shares.
    """

    type: Literal["tiered"] = "tiered"
    bands: tuple[Band, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ascending(self) -> Tiered:
        limits = [b.upto for b in self.bands]
        if limits[-1] is not None:
            raise fault(f"bands[{len(limits) - 1}]", "rules.last_band_open")
        for i, (lo, hi) in enumerate(itertools.pairwise(limits[:-1])):
            if lo is None or hi is None or hi <= lo:
                raise fault(f"bands[{i + 1}]", "rules.bands_increase")
        if any(u is None for u in limits[:-1]):
            raise fault("bands", "rules.only_last_open")
        return self

    def keys(self) -> set[str]:
        return {k for b in self.bands for k in b.shares}

    def split(self, pool: Pool, path: str = "rule") -> Split:
        total = pool.per_draw(pool.amounts)  # (draws, years)
        lower = np.array([0.0] + [b.upto for b in self.bands[:-1]])[:, None, None]
        upper = np.array([b.upto for b in self.bands[:-1]] + [np.inf])[:, None, None]
        in_band = np.clip(total[None] - lower, 0.0, upper - lower)
        frac = np.divide(in_band, total, out=np.zeros_like(in_band), where=total > 0)
        frac[0][total <= 0] = 1.0
        keys, shares = [], []
        for k, band in enumerate(self.bands):
            for key, w in band.shares.items():
                keys.append(key)
                shares.append(frac[k] * w)
        who = _stack_who(pool, keys)
        shares = np.array(shares)  # (slots, draws, years)
        shares = shares[:, 0] if pool.draws == 1 else pool.to_rows(shares)
        return Split(who, split_by_shares(pool.amounts, shares))


class FixedReturn(RuleBase):
    """A fixed return on invested capital instead of (or besides) tax sharing (固定回报).

    Each year in ``[from_year, to_year]`` the payer pays the beneficiary
    ``rate × K_t``, where ``K_t`` is the capital invested so far (a constant, or the
    cumulative sum of investments by year). The tax itself follows ``rule`` (default: the host
    keeps it), so the payment does not depend on the tax, and refunds do not change it.

    Source: 平湖–青田 飞地 (浙江): 青田's company receives 10% of actual investment per year
    (POLICY.md §3.8).
    """

    type: Literal["fixed_return"] = "fixed_return"
    payer: Text
    beneficiary: Text
    rate: Share
    capital: Amount | FrozenMap[Year, Amount]
    from_year: Year | None = None
    to_year: Year | None = None
    rule: Rule = Field(default_factory=Host)

    @model_validator(mode="after")
    def _ids_not_roles(self) -> FixedReturn:
        for key in ("payer", "beneficiary"):
            if getattr(self, key) in ROLES:
                raise fault(key, "rules.id_not_role", key=key)
        return self

    def keys(self) -> set[str]:
        return {self.payer, self.beneficiary}

    def children(self) -> list[RuleBase]:
        return [self.rule]

    def split(self, pool: Pool, path: str = "rule") -> Split:
        years = pool.years
        if isinstance(self.capital, dict):
            when = np.array(sorted(self.capital))
            so_far = np.cumsum([self.capital[y] for y in when])
            upto = np.searchsorted(when, years, side="right")
            capital = np.where(upto > 0, so_far[np.maximum(upto - 1, 0)], 0.0)
        else:
            capital = np.full(len(years), float(self.capital))
        lo = self.from_year if self.from_year is not None else years[0]
        hi = self.to_year if self.to_year is not None else years[-1]
        payment = self.rate * capital * _within(years, (lo, hi))
        transfers = np.zeros((pool.n_jurisdictions, len(years)))
        transfers[pool.index[self.payer]] -= payment
        transfers[pool.index[self.beneficiary]] += payment
        inner = self.rule.split(pool, f"{path}.rule")
        extra = transfers if inner.transfers is None else inner.transfers + transfers
        return replace(inner, transfers=extra)


class Claims(RuleBase):
    """Divide the pool among claims (e.g. compensation claims exceeding what was raised).

    Each year the estate ``E_t`` (the pool's total) is divided among the annual claims by a
    claims rule — proportional, constrained equal awards (``cea``), constrained equal losses
    (``cel``) or the Talmud rule (Aumann & Maschler 1985; Thomson 2003), see
    :func:`sharing.claims.divide`. What exceeds the total claims goes to ``remainder``
    (default the host); a year with ``E_t ≤ 0`` goes wholly to ``remainder``. Every stream is
    split by that year's resulting ratio.
    """

    type: Literal["claims"] = "claims"
    method: Literal["proportional", "cea", "cel", "talmud"]
    claims: FrozenMap[str, Amount] = Field(min_length=1)
    remainder: Text = "host"

    def keys(self) -> set[str]:
        return set(self.claims) | {self.remainder}

    def split(self, pool: Pool, path: str = "rule") -> Split:
        estate = pool.per_draw(pool.amounts).ravel()  # (draws · years,)
        claims = np.array(list(self.claims.values()))
        divided = np.clip(estate, 0.0, claims.sum())
        awards = divide(divided, claims, self.method)
        shares = np.divide(awards, estate, out=np.zeros_like(awards), where=estate > 0)
        keys = [*self.claims, self.remainder]
        who = _stack_who(pool, keys)
        shares = np.vstack([shares, 1.0 - shares.sum(axis=0)])
        shares = shares.reshape(len(keys), pool.draws, -1)
        shares = shares[:, 0] if pool.draws == 1 else pool.to_rows(shares)
        return Split(who, split_by_shares(pool.amounts, shares))


class OptimizedStage(Frozen):
    years: YearRange
    shares: FrozenMap[str, Share]

    @model_validator(mode="after")
    def _sum_to_one(self) -> OptimizedStage:
        _shares_check(self.shares)
        return self


class Optimized(RuleBase):
    """Shares written back by the fairness optimizer or a game solution, per stage.

    Behaves as a schedule of fixed ratios: ``x[s, j, t] = w_{k(t), j} · a[s, t]`` in stage k's
    years, the host keeping years outside every stage. The provenance stays structured so a
    reader (and ``sharing.explain``) can trace the shares: ``method`` is what produced them
    (``optimize``, or a game solution such as ``nucleolus``), ``objective`` the optimizer's
    objective (``maximin_gain`` ...), ``constraints`` the constraints it met, as written in
    its spec, and ``reference`` the same in words.
    """

    type: Literal["optimized"] = "optimized"
    stages: tuple[OptimizedStage, ...] = Field(min_length=1)
    method: Text
    objective: Text | None = None
    constraints: dict[Text, Any] | None = None

    @model_validator(mode="after")
    def _no_overlap(self) -> Optimized:
        _check_stages([s.years for s in self.stages])
        return self

    def keys(self) -> set[str]:
        return {k for s in self.stages for k in s.shares}

    def _in_stage(self, years: np.ndarray) -> np.ndarray:
        """Each stage's years among ``years``, ``(stages, years)``."""
        spans = np.array([s.years for s in self.stages])
        return (years >= spans[:, :1]) & (years <= spans[:, 1:])

    def split(self, pool: Pool, path: str = "rule") -> Split:
        # One ratio split with shares by year (the host's 1 outside every stage), rather than
        # a split per stage: ten parties over three stages cost one pass over the streams.
        keys = list(dict.fromkeys(k for s in self.stages for k in s.shares))
        if "host" not in keys:
            keys.append("host")
        in_stage = self._in_stage(pool.years)
        # (keys, stages) @ (stages, years): exact, a year lies in one stage at most
        shares = np.array([[s.shares.get(k, 0.0) for s in self.stages] for k in keys]) \
            @ in_stage
        shares[keys.index("host")] += ~in_stage.any(axis=0)
        pools = [(f"{path}.stages[{i}]", pool.amounts * in_stage[i])
                 for i in np.flatnonzero(in_stage.any(axis=1)).tolist()]
        who = _stack_who(pool, keys)
        return Split(who, split_by_shares(pool.amounts, shares), pools=pools)


Rule = Annotated[
    Host | Fixed | Factors | StockIncrement | Schedule | Capped | Floor | Tiered | FixedReturn
    | Claims | Optimized,
    Field(discriminator="type"),
]

for _model in (StockIncrement, Stage, Schedule, Floor, FixedReturn):
    _model.model_rebuild()


def walk(rule: RuleBase):
    """Yield a rule and every rule nested inside it."""
    yield rule
    for child in rule.children():
        yield from walk(child)


def describe(rule: RuleBase) -> str:
    """A rule tree in one line, e.g. ``stock_increment(host, fixed)``."""
    inner = ", ".join(describe(child) for child in rule.children())
    name = f"{rule.type}[{rule.preset}]" if getattr(rule, "preset", None) else rule.type
    return f"{name}({inner})" if inner else name


RATIO_SPLITS = (Fixed, Factors, Optimized)


def child_paths(rule: RuleBase) -> list[tuple[str, RuleBase]]:
    """The rules nested in ``rule`` with the path suffix each is split under
    (``.increment``, ``.stages[1].rule`` ...), as in the paths of :attr:`Split.pools`."""
    if isinstance(rule, StockIncrement):
        return [(".stock", rule.stock), (".increment", rule.increment)]
    if isinstance(rule, Schedule):
        return [*((f".stages[{i}].rule", s.rule) for i, s in enumerate(rule.stages)),
                (".otherwise", rule.otherwise)]
    if isinstance(rule, Floor | FixedReturn):
        return [(".rule", rule.rule)]
    return []


def walk_paths(rule: RuleBase, years: np.ndarray, path: str = "rule",
               above: tuple[RuleBase, ...] = ()):
    """Yield ``(path, rule, active, above)`` for a rule and every rule nested inside it:
    ``active`` marks the years of ``years`` in which the rule applies (a schedule's stage
    sees only its years) and ``above`` lists the rules it is nested in, outermost first."""
    active = np.ones(len(years), dtype=bool)
    yield from _walk_paths(rule, years, path, above, active)


def _walk_paths(rule, years, path, above, active):
    yield path, rule, active, above
    inside = (*above, rule)
    if isinstance(rule, Schedule):
        covered = np.zeros(len(years), dtype=bool)
        for i, stage in enumerate(rule.stages):
            mask = _within(years, stage.years)
            covered |= mask
            yield from _walk_paths(stage.rule, years, f"{path}.stages[{i}].rule", inside,
                                   active & mask)
        yield from _walk_paths(rule.otherwise, years, f"{path}.otherwise", inside,
                               active & ~covered)
        return
    for suffix, child in child_paths(rule):
        yield from _walk_paths(child, years, path + suffix, inside, active)


def current_shares(rule: RuleBase, years: np.ndarray,
                   contributions: dict[str, dict[str, float]]) -> tuple[list[str], np.ndarray]:
    """The keys of a ratio split (fixed, factors or optimized) and the share each gets in
    each of ``years``, ``(keys, years)`` (0 where an optimized rule has no stage: the host
    keeps those years)."""
    if isinstance(rule, Fixed | Factors):
        shares = rule.shares if isinstance(rule, Fixed) else rule.shares(contributions)
        return list(shares), np.repeat(np.array([*shares.values()])[:, None], len(years), 1)
    if isinstance(rule, Optimized):
        keys = list(dict.fromkeys(k for s in rule.stages for k in s.shares))
        # (keys, stages) @ (stages, years): exact, a year lies in one stage at most
        return keys, np.array([[s.shares.get(k, 0.0) for s in rule.stages] for k in keys]) \
            @ rule._in_stage(years)
    raise TypeError(f"{rule.type} is not a ratio split")
