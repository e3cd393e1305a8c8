"""Explain any number: the rule path, the inputs, the formula and the arithmetic behind it.

``res.explain("yubei", year=2030)`` returns a :class:`Trace` of 渝北's allocated revenue in
2030. Its :attr:`Trace.steps` are a small computation: every step is a formula over named
inputs, each input a number (from the scenario, or an engine total the step names) or the
value of an earlier step, and the last step is the number asked for. ``Trace.text("zh")``
reads it as a chain of sentences: gross tax from its projection, the retention rate and where
it comes from, the agreement and the rule path, each rule's formula with the numbers filled in,
compliance, and the total.

Every rule type registers how it explains one year of one stream (:func:`explains`), next to
the rule types in this module's registry. An explainer re-derives the rule's arithmetic for one
cell from the same :class:`~sharing.rules.Pool` the engine gives the rule (and uses the rules'
own methods for what is not arithmetic: stock levels, inner splits, claims awards); a test
recomputes every step from its formula and inputs and checks the last one against the engine
to 1e-9, for every shipped scenario and random scenarios with every rule type.

The formula language is tiny and safe: numbers, input names, ``+ - * / **``, parentheses and
``min``, ``max``, ``sum`` (list inputs are numpy arrays). It is parsed with :mod:`ast` and
walked, never ``eval``-ed.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sharing.claims import divide
from sharing.engine import KINDS, coalition_items, subsidy_items
from sharing.i18n import Lang, Problem, define, did_you_mean, message
from sharing.result import LABELS
from sharing.rules import (
    TAXES,
    Capped,
    Claims,
    Factors,
    Fixed,
    FixedReturn,
    Floor,
    Host,
    Optimized,
    Pool,
    PreMoveCap,
    RuleBase,
    Schedule,
    StockIncrement,
    Tiered,
    _within,
    describe,
    walk,
)
from sharing.scenario import ByBenefit, ScenarioError
from sharing.taxes import TAX_NAMES, national_local_share

if TYPE_CHECKING:
    from sharing.engine import CompiledAgreement, Model
    from sharing.result import Result

YEARLY = ("allocated", "collected", "retained", "net_transfer", "unpaid", "subsidy",
          "cost_share", "net_benefit")
PRESENT_VALUE = ("pv_net_benefit", "standalone_pv", "no_agreement_pv", "gain")
COLUMNS = YEARLY + PRESENT_VALUE

define({
    # problems
    "explain.unknown_jurisdiction": ("未知辖区 {id!r}（可选：{valid}）",
                                     "unknown jurisdiction {id!r} (valid: {valid})"),
    "explain.unknown_column": ("无法解释指标 {column!r}（可选：{valid}）",
                               "cannot explain column {column!r} (valid: {valid})"),
    "explain.no_year": ("指标 {column} 是整个期间的现值，不按年份解释；请去掉年份",
                        "column {column} is a present value over all years; leave out the year"),
    "explain.year_outside": ("年份 {year} 不在模拟期 {start}—{end} 内",
                             "year {year} is outside the simulated years {start}-{end}"),
    "explain.unknown_stream": ("未知税源、协议或来源 {id!r}（例如：{valid}）",
                               "unknown stream, agreement or source {id!r} (e.g. {valid})"),
    "explain.unknown_cost": ("未知成本项 {id!r}（可选：{valid}）",
                             "unknown cost {id!r} (valid: {valid})"),
    "explain.no_stream_filter": ("指标 {column} 不能按税源筛选",
                                 "column {column} cannot be narrowed to a stream"),
    # headings
    "explain.heading": ("{name}（{id}）{year}{column}{only} = {value} 万元",
                        "{name_en} ({id}), {column_en}{only_en}{year_en} = {value} "
                        "(10,000 CNY)"),
    "explain.when_year": ("{year} 年", " in {year}"),
    "explain.when_pv": ("", " (present value)"),
    "explain.only": ("（仅 {stream}）", " (only {stream})"),
    "explain.omitted": ("另有 {n} 个税源当年未给该辖区带来收入，从略",
                        "{n} other stream(s) give this jurisdiction nothing that year "
                        "(left out)"),
    # the stream chain
    "explain.gross": ("征收额（{source}）", "gross tax ({source_en})"),
    "explain.gross_projection": ("按预测：基数 × (1 + 增长率)^(年份 − 基年)",
                                 "projection: base × (1 + growth)^(year − base year)"),
    "explain.gross_by_year": ("按逐年给定数额", "amount given for the year"),
    "explain.gross_outside": ("{year} 年不在该税源的起止年份 {start}—{end} 内",
                              "{year} is outside the stream's years {start}-{end}"),
    "explain.gross_pre_move": ("迁移企业：迁移前年税额 × (1 + 增长率)^(年份 − 迁移年 + 1)",
                               "migrated firm: pre-move annual tax × (1 + growth)^(year − move "
                               "year + 1)"),
    "explain.gross_elsewhere": ("企业 {year} 年在{place}纳税，本税源为零",
                                "the firm pays at its {place_en} in {year}; this stream is zero"),
    "explain.gross_given": ("本次运行给定的征收额（如蒙特卡洛抽样）",
                            "gross amount given to this run (e.g. a Monte Carlo draw)"),
    "explain.retention": ("留成比例（{tax}）", "retention rate ({tax_en})"),
    "explain.retention_jurisdiction": ("辖区设定：retention.jurisdictions.{id}.{tax}；{ref}",
                                       "set for the jurisdiction: "
                                       "retention.jurisdictions.{id}.{tax}; {ref}"),
    "explain.retention_province": ("省级设定：retention.provinces.{province}.{tax}；{ref}",
                                   "set for the province: retention.provinces.{province}.{tax}; "
                                   "{ref}"),
    "explain.retention_default": ("情景默认：retention.default.{tax}；{ref}",
                                  "scenario default: retention.default.{tax}; {ref}"),
    "explain.retention_national": ("地方税种，全额归地方", "a local tax, wholly local"),
    "explain.national_vat": ("国家规定：增值税中央与地方五五分享，国发〔2016〕26号"
                             "（2016 年前地方 25%）",
                             "national law: VAT shared 50:50 between centre and locality, "
                             "国发〔2016〕26号 (local 25% before 2016)"),
    "explain.national_income": ("国家规定：所得税中央 60%、地方 40%（2003 年起）",
                                "national law: income taxes 60% central, 40% local (since "
                                "2003)"),
    "explain.retained": ("留成收入", "retained revenue"),
    "explain.agreement": ("纳入协议「{name}」，规则 {rule}，分享基数：{base}",
                          "covered by agreement \"{name_en}\", rule {rule}, base: {base_en}"),
    "explain.base_retained": ("留成收入", "retained revenue"),
    "explain.base_gross": ("征收额（分享结果按留成比例折算为资金）",
                           "gross tax (the split is applied to the retained money)"),
    "explain.gross_to_money": ("按征收额分享的结果折算为留成资金",
                               "the split of gross tax applied to the retained money"),
    "explain.compliance": ("兑现率 {c}：约定转移只兑现该比例，其余留在征收地",
                           "compliance {c}: only this fraction of agreed transfers is paid; the "
                           "host keeps the rest"),
    "explain.uncovered": ("未纳入任何协议：征收地保留全部留成",
                          "covered by no agreement: the host keeps all it retains"),
    "explain.stream_total": ("该税源给{name}的数额", "amount this stream gives {name_en}"),
    "explain.total": ("合计", "total"),
    "explain.nothing": ("没有税源或转移给该辖区带来数额", "no stream or transfer gives this "
                        "jurisdiction anything"),
    # rules
    "explain.host": ("征收地保留", "the host keeps it"),
    "explain.host_other": ("征收地是{host}，不是本辖区", "the host is {host_en}, not this "
                           "jurisdiction"),
    "explain.fixed": ("固定比例 {shares}", "fixed shares {shares}"),
    "explain.not_named": ("本辖区不在分享方之列（{keys}）",
                          "this jurisdiction is not among the parties ({keys})"),
    "explain.factor_total": ("要素 {factor} 各方合计", "factor {factor}, total over parties"),
    "explain.factor_share": ("要素加权份额 Σ 权重 × 本方要素值 / 合计",
                             "factor-weighted share Σ weight × own value / total"),
    "explain.factor_missing": ("本辖区没有要素值，份额为零", "no factor values for this "
                               "jurisdiction: share zero"),
    "explain.allocation": ("分得数额", "allocation"),
    "explain.stock_level": ("b 为本税源基期 {year} 年水平", "b is this stream's level in the "
                            "base year {year}"),
    "explain.stock_baseline": ("征收地存量基数 B 按各税源正数比例分摊",
                               "the host's baseline B, spread over its streams in proportion "
                               "to their positive amounts"),
    "explain.stock": ("存量（基期 {year} 年）", "stock (base year {year})"),
    "explain.stock_indexed": ("存量（基期 {year} 年，每年递增 {g}）",
                              "stock (base year {year}, indexed at {g} a year)"),
    "explain.stock_before": ("基期之前：全部为存量", "before the base year: all stock"),
    "explain.stock_refund": ("负数（退库）留在存量", "a negative amount (refund) stays in the "
                             "stock"),
    "explain.host_positive": ("征收地各税源当年正数合计", "the host's streams that year, "
                              "positive amounts"),
    "explain.increment": ("增量", "increment"),
    "explain.parts": ("存量部分 + 增量部分", "stock part + increment part"),
    "explain.stage": ("适用 {stage}（{start}—{end} 年）", "{stage} applies ({start}-{end})"),
    "explain.otherwise": ("不在任何阶段内：适用 otherwise", "in no stage: `otherwise` applies"),
    "explain.optimized": ("优化/博弈确定的比例：{method}", "shares from the optimizer or a "
                          "game: {method}"),
    "explain.capped_window": ("分享期 {start}—{end} 年{extended}", "sharing window "
                              "{start}-{end}{extended_en}"),
    "explain.capped_desired": ("受益方应分 = 比例 × 数额", "beneficiary's due = share × "
                               "amount"),
    "explain.capped_outside": ("{year} 年不在分享期 {start}—{end} 年内",
                               "{year} is outside the sharing window {start}-{end}"),
    "explain.capped_tax": ("税种 {tax} 不在分享税种之列", "tax {tax} is not among the shared "
                           "taxes"),
    "explain.capped_ineligible": ("迁移前年税额 {pre} 低于门槛 {min}，不分享",
                                  "pre-move annual tax {pre} is below the threshold {min}: no "
                                  "sharing"),
    "explain.capped_group_gross": ("企业期末年（{year}）所涉税种征收额",
                                   "the firm's gross of the shared taxes in the last year "
                                   "({year})"),
    "explain.extension_yes": ("低于 {below}：分享期延长 {years} 年", "below {below}: the "
                              "window is extended by {years} year(s)"),
    "explain.extension_no": ("不低于 {below}：不延长", "not below {below}: no extension"),
    "explain.capped_first": ("前 {n} 年（至 {year} 年）累计应分",
                             "the firm's receipts due in the first {n} years (to {year})"),
    "explain.extension_cap_yes": ("低于上限 {c}：分享期延长 {years} 年",
                                  "below the cap {c}: the window is extended by {years} "
                                  "year(s)"),
    "explain.extension_cap_no": ("已达上限 {c}：不延长", "the cap {c} is reached: no extension"),
    "explain.subsidy_paid": ("中央一次性补助：{source}（协议 {agreement}）的分享期于 {end} 年结束",
                             "central one-off subsidy: the sharing of {source} (agreement "
                             "{agreement}) ended in {end}"),
    "explain.no_subsidy": ("当年没有中央补助", "no central subsidy this year"),
    "explain.subsidy": ("中央补助", "central subsidy"),
    "explain.item_subsidy": ("中央补助（{members} 合作时）",
                             "central subsidy (when {members} cooperate)"),
    "explain.case_no_subsidy": ("不合作就没有协议，也没有中央补助",
                                "without cooperation there is no agreement and no subsidy"),
    "explain.net_benefit": ("净收益 = 分享后收入 + 中央补助 − 成本分担",
                            "net benefit = allocated + central subsidy − cost share"),
    "explain.capped_pre": ("迁移前年税额（所涉税种）", "pre-move annual tax (shared taxes)"),
    "explain.cap": ("分享上限", "cap"),
    "explain.cap_pre_move": ("分享上限 = {n} × 迁移前年税额", "cap = {n} × pre-move annual "
                             "amount"),
    "explain.cap_due": ("企业当年应分合计", "the firm's total due this year"),
    "explain.cap_before": ("此前各年累计已分", "cumulative receipts of earlier years"),
    "explain.cap_open": ("含本年累计 {s}，未达上限 {c}，全额分享",
                         "cumulative {s} with this year, below the cap {c}: shared in full"),
    "explain.cap_binds": ("本年累计达到上限：只分到上限的余额", "the cap binds this year: only "
                          "what is left under it"),
    "explain.cap_reached": ("上限已于 {year} 年达到，此后不再分享",
                            "the cap was reached in {year}; nothing after"),
    "explain.capped_host": ("其余归征收地", "the rest stays with the host"),
    "explain.capped_both": ("受益方即征收地：全部", "the beneficiary is the host: all of it"),
    "explain.floor_got": ("保底方在内层规则下当年所得（池内合计）",
                          "the guaranteed party's allocation under the inner rule (pool total)"),
    "explain.floor_available": ("其他各方当年正数所得合计（可用于补足）",
                                "the others' positive allocations (what can pay the top-up)"),
    "explain.floor_top_up": ("保底补足额（保底 {minimum}）", "top-up (minimum {minimum})"),
    "explain.floor_inactive": ("{year} 年早于保底起始年 {start}", "{year} is before the floor "
                               "starts in {start}"),
    "explain.floor_rate": ("补足比例 = 补足额 / 可用额", "top-up rate = top-up / available"),
    "explain.floor_own": ("本税源中其他各方的正数所得", "the others' positive allocations "
                          "from this stream"),
    "explain.floor_mine": ("本辖区在本税源的正数所得", "this jurisdiction's positive "
                           "allocation from this stream"),
    "explain.floor_gets": ("内层所得 + 从他方补足", "inner allocation + top-up from the others"),
    "explain.floor_pays": ("内层所得 − 承担的补足", "inner allocation − its part of the "
                           "top-up"),
    "explain.pool_total": ("池内各税源当年合计", "pool total of the year"),
    "explain.band": ("第 {k} 档（{lower} 至 {upper}）", "band {k} ({lower} to {upper})"),
    "explain.tier_share": ("各档加权的有效比例", "effective share weighted by bands"),
    "explain.tier_refund": ("合计不为正：按第一档比例", "total not positive: first band's "
                            "shares"),
    "explain.claims_estate": ("可分配额 = min(max(合计, 0), 诉求合计)",
                              "estate = min(max(total, 0), total claims)"),
    "explain.claims_total": ("诉求合计", "total claims"),
    "explain.claims_award": ("{key} 获配（{method}）", "award to {key} ({method})"),
    "explain.claims_level": ("{method} 的均等水平（使获配合计等于可分配额）",
                             "{method} level (awards sum to the estate)"),
    "explain.claims_share": ("获配比例 = 获配 / 合计", "share = award / total"),
    "explain.claims_share_sum": ("本辖区的比例（含余额）", "this jurisdiction's share "
                                 "(remainder included)"),
    "explain.fixed_return_capital": ("至 {year} 年累计投资", "capital invested up to {year}"),
    "explain.fixed_return": ("固定回报 = {rate} × 投资额", "fixed return = {rate} × capital"),
    "explain.fixed_return_outside": ("{year} 年不在回报期 {start}—{end} 年内",
                                     "{year} is outside the return years {start}-{end}"),
    "explain.transfer": ("固定回报转移（收为正、付为负）", "fixed-return transfer (received +, "
                         "paid −)"),
    "explain.transfer_paid": ("按兑现率支付的转移", "transfer paid at the compliance rate"),
    # other columns
    "explain.unpaid_stream": ("未兑现 = (1 − 兑现率) × (留成 − 征收地按协议应留)",
                              "unpaid = (1 − compliance) × (retained − host's agreed part)"),
    "explain.unpaid_transfer": ("未兑现的转移 = (1 − 兑现率) × 应付", "unpaid transfer = "
                                "(1 − compliance) × amount due"),
    "explain.cost_amount": ("成本「{name}」当年金额", "cost \"{name_en}\" this year"),
    "explain.cost_booked": ("无分担规则：按出资方 paid_by 承担", "no sharing rule: borne as "
                            "booked by paid_by"),
    "explain.cost_fixed": ("按固定比例分担", "shared by fixed shares"),
    "explain.cost_benefit": ("各方当年从协议 {agreement} 所得（负数计为零）",
                             "each party's allocation from agreement {agreement} that year "
                             "(negatives count as zero)"),
    "explain.cost_benefit_share": ("按受益比例分担", "shared in proportion to benefit"),
    "explain.cost_benefit_equal": ("各方均无受益：平均分担", "no party benefits: equal "
                                   "shares"),
    "explain.cost_share": ("分担额", "cost share"),
    "explain.difference": ("差额", "difference"),
    "explain.per_year": ("各年{what}（逐年可用 explain 查看）",
                         "{what_en} by year (explain each year for the detail)"),
    "explain.horizon": ("各年合计", "sum over the years"),
    "explain.per_year_total": ("{start}—{end} 年各年数额，逐年可用 explain 查看",
                               "each year {start}-{end}; explain a year for its detail"),
    "explain.pv": ("现值 = Σ 数额 × (1 + 折现率)^−(年份 − 首年)",
                   "present value = Σ amount × (1 + rate)^−(year − first year)"),
    "explain.standalone_item": ("{item}：{case}", "{item_en}: {case_en}"),
    "explain.item_streams": ("直接列示的税源", "streams given directly"),
    "explain.item_park": ("园区 {park}", "park {park_en}"),
    "explain.item_firms": ("{origin} → {destination} 的迁移企业/流转项目",
                           "firms and projects {origin} → {destination}"),
    "explain.item_cost": ("成本 {cost}", "cost {cost}"),
    "explain.case_alone": ("无需他方，照常（现值）", "needs no one else, as simulated (PV)"),
    "explain.case_not_built": ("缺少合作方，按不合作比例 {f} 取得", "partners missing: the "
                               "standalone fraction {f}"),
    "explain.case_stay": ("缺少合作方，企业留在迁出地", "partner missing: firms stay at their "
                          "origin"),
    "explain.case_no_cost": ("缺少合作方，不发生该成本", "partners missing: no such cost"),
    "explain.standalone": ("不合作现值 v({{本辖区}})", "standalone value v({{this}})"),
    "explain.gain": ("合作收益 = 净收益现值 − 不合作现值", "gain = PV net benefit − standalone "
                     "value"),
})

NATIONAL_NOTES = {"vat": "explain.national_vat", "eit": "explain.national_income",
                  "pit": "explain.national_income"}


# ---------------------------------------------------------------------------------------------
# The formula language


_FUNCS: dict[str, Callable[..., Any]] = {
    "min": lambda *a: np.minimum(*a) if len(a) == 2 else np.min(a),
    "max": lambda *a: np.maximum(*a) if len(a) == 2 else np.max(a),
    "sum": np.sum,
}
_BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
           ast.Div: np.divide, ast.Pow: np.power}


@lru_cache(maxsize=1024)
def _parse(formula: str) -> ast.Expression:
    return ast.parse(formula, mode="eval")


def evaluate(formula: str, inputs: Mapping[str, Any]) -> float:
    """The value of ``formula`` with ``inputs`` (numbers, or lists as numpy arrays)."""

    def walk(node: ast.AST):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            value = inputs[node.id]
            return np.asarray(value, dtype=float) if isinstance(value, list | tuple) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCS and not node.keywords):
            return _FUNCS[node.func.id](*(walk(a) for a in node.args))
        raise ValueError(f"formula {formula!r}: {ast.dump(node)} is not allowed")

    return float(walk(_parse(formula)))


_SHOW = {ast.Add: (" + ", 1), ast.Sub: (" − ", 1), ast.Mult: (" × ", 2), ast.Div: (" ÷ ", 2),
         ast.Pow: ("^", 4)}


def show(formula: str, name: Callable[[str], str]) -> str:
    """``formula`` for reading: ``×``, ``−``, ``÷``, ``^``, ``Σ``; each input written by
    ``name`` (its symbol, or its value)."""

    def walk(node: ast.AST, outer: int = 0, right: bool = False) -> str:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return _number(node.value, "number")
        if isinstance(node, ast.Name):
            return name(node.id)
        if isinstance(node, ast.UnaryOp):
            return f"−{walk(node.operand, 3)}"
        if isinstance(node, ast.Call):
            fn = node.func.id  # type: ignore[attr-defined]
            args = [walk(a) for a in node.args]
            if fn == "sum":
                inner = args[0]
                simple = inner.startswith(("(", "[")) or inner.isidentifier()
                return f"Σ{inner}" if simple else f"Σ({inner})"
            return f"{fn}({', '.join(args)})"
        op, prec = _SHOW[type(node.op)]  # type: ignore[attr-defined]
        text = f"{walk(node.left, prec)}{op}{walk(node.right, prec, True)}"
        if prec < outer or (prec == outer and right and prec != 4):
            return f"({text})"
        return text

    return walk(_parse(formula))


def _number(value: Any, unit: str) -> str:
    if isinstance(value, list | tuple | np.ndarray):
        items = [_number(v, unit) for v in value]
        if len(items) > 8:
            items = [*items[:3], "…", *items[-2:]]
        return "[" + ", ".join(items) + "]"
    v = float(value)
    if unit == "year" or (unit == "number" and v.is_integer() and abs(v) < 1e15):
        text = f"{int(v)}" if unit == "year" else f"{int(v):,}"
    elif unit == "money":
        text = f"{v:,.2f}"
    else:
        text = f"{v:.6g}" if abs(v) < 1e6 else f"{v:,.6g}"
    return f"({text})" if v < 0 and unit != "year" else text


# ---------------------------------------------------------------------------------------------
# Steps and traces


@dataclass(frozen=True)
class Ref:
    """The value of an earlier step, used as an input."""

    step: int


@dataclass(frozen=True)
class Val:
    """A number (or a list of numbers) given as an input: from the scenario, or an engine
    total the step's note names."""

    value: Any
    unit: str = "money"


@dataclass(frozen=True)
class Step:
    """One line of a trace: ``symbol = formula(inputs) = value``.

    ``uses`` names the inputs that are earlier steps' values (input name → step number, or a
    tuple of them for a list input). ``what`` and ``note`` are catalogue keys with parameters.
    """

    step: int
    rule_path: str
    symbol: str
    formula: str
    inputs: dict[str, Any]
    uses: dict[str, Any]
    units: dict[str, str]
    value: float
    unit: str
    what: tuple[str, dict]
    note: tuple[str, dict] | None = None

    def label(self, lang: Lang | None) -> str:
        key, params = self.what
        return message(key, lang, **params)

    def remark(self, lang: Lang | None) -> str:
        if self.note is None:
            return ""
        key, params = self.note
        return message(key, lang, **params)


@dataclass(frozen=True)
class Trace:
    """Why a number is what it is: ``steps`` (one row per step, the last is the number)."""

    jurisdiction: str
    column: str
    year: int | None
    stream: str | None
    heading: dict[str, str]
    items: tuple[Step, ...] = field(repr=False)

    @property
    def value(self) -> float:
        return self.items[-1].value

    @cached_property
    def steps(self) -> pd.DataFrame:
        """``step, rule_path, formula, inputs, value`` (+ ``symbol, what, note, uses,
        unit``): ``inputs`` maps each name in ``formula`` to its number (a list for Σ), and
        ``uses`` the inputs that are earlier steps' values to those steps."""
        return pd.DataFrame({
            "step": [s.step for s in self.items],
            "rule_path": [s.rule_path for s in self.items],
            "formula": [s.formula for s in self.items],
            "inputs": [s.inputs for s in self.items],
            "value": [s.value for s in self.items],
            "symbol": [s.symbol for s in self.items],
            "what": [s.label(None) for s in self.items],
            "note": [s.remark(None) for s in self.items],
            "uses": [s.uses for s in self.items],
            "unit": [s.unit for s in self.items],
        })

    def text(self, lang: Lang = "zh") -> str:
        """The chain of sentences in one language (amounts in 万元)."""
        return "\n".join([self.heading[lang], *(_line(s, lang) for s in self.items)])

    def __str__(self) -> str:
        return self.text("zh")


def _line(s: Step, lang: Lang) -> str:
    value = _number(s.value, s.unit)
    symbolic = show(s.formula, lambda n: n)
    filled = show(s.formula, lambda n: _number(s.inputs[n], s.units[n]))
    chain = [s.symbol]
    if symbolic != s.symbol and not _is_number(symbolic):
        chain.append(symbolic)
        if filled not in chain and filled != value:
            chain.append(filled)
    chain.append(value)
    where = f" [{s.rule_path}]" if s.rule_path else ""
    note = s.remark(lang)
    colon = "：" if lang == "zh" else ": "
    tail = (f"（{note}）" if lang == "zh" else f" ({note})") if note else ""
    return f"{s.step:>3}.{where} {s.label(lang)}{colon}{' = '.join(chain)}{tail}"


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Building a trace


@dataclass
class Node:
    """Where in an agreement's rule tree an explainer works: the pool the engine gives that
    rule, its path, and the year's column in ``pool.years``."""

    pool: Pool
    path: str
    col: int
    agreement: str

    @property
    def year(self) -> int:
        return int(self.pool.years[self.col])

    @property
    def where(self) -> str:
        return f"{self.agreement} › {self.path}"

    def at(self, pool: Pool, path: str, col: int | None = None) -> Node:
        return Node(pool, path, self.col if col is None else col, self.agreement)


class Builder:
    """Collects the steps of one trace; knows the model and the run."""

    def __init__(self, res: Result):
        self.res = res
        self.model: Model = res.model
        self.sc = res.model.scenario
        self.items: list[Step] = []
        self._streams: dict[tuple[int, int], tuple[int, int, int]] = {}
        self._memo: dict[tuple, Any] = {}

    def memo(self, key: tuple, make: Callable[[], Any]) -> Any:
        """``make()`` once per key in this trace: a node's pool-level steps and arrays are
        computed at the first stream that needs them and shared by the others."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def add(self, symbol: str, what: str, formula: str, inputs: Mapping[str, Any] | None = None,
            *, path: str = "", unit: str = "money", note: tuple[str, dict] | None = None,
            **params: Any) -> int:
        """Add a step; inputs are :class:`Ref`, :class:`Val`, or lists of Refs. Returns its
        step number."""
        values: dict[str, Any] = {}
        uses: dict[str, Any] = {}
        units: dict[str, str] = {}
        for name, given in (inputs or {}).items():
            if isinstance(given, Ref):
                src = self.items[given.step - 1]
                values[name], uses[name], units[name] = src.value, given.step, src.unit
            elif isinstance(given, Val):
                v = given.value
                values[name] = ([float(x) for x in v] if isinstance(v, list | tuple | np.ndarray)
                                else float(v))
                units[name] = given.unit
            else:  # a list of refs
                refs = list(given)
                values[name] = [self.items[r.step - 1].value for r in refs]
                uses[name] = tuple(r.step for r in refs)
                units[name] = self.items[refs[0].step - 1].unit if refs else unit
        value = evaluate(formula, values)
        n = len(self.items) + 1
        self.items.append(Step(n, path, symbol, formula, values, uses, units, value, unit,
                               (what, params), note))
        return n

    def total(self, parts: list[int], path: str = "", what: str = "explain.total",
              **params: Any) -> int:
        if not parts:
            return self.add("T", "explain.nothing", "0", path=path)
        if parts == [len(self.items)] and not params and what == "explain.total":
            return parts[0]
        return self.add("T", what, "sum(x)", {"x": [Ref(p) for p in parts]}, path=path,
                        **params)

    # -- names ---------------------------------------------------------------------------------

    def jname(self, j: int) -> tuple[str, str]:
        jur = self.sc.jurisdictions[j]
        return jur.name, jur.name_en

    # -- one stream: gross, retention, retained -------------------------------------------------

    def stream(self, row: int, col: int) -> tuple[int, int, int]:
        """Steps for a stream's gross, retention rate and retained revenue in a year."""
        key = (row, col)
        if key not in self._streams:
            g = self._gross(row, col)
            r = self._retention(row, col)
            m = self.add("m", "explain.retained", "g * r", {"g": Ref(g), "r": Ref(r)},
                         path=self.model.streams.id_of(row))
            self._streams[key] = (g, r, m)
        return self._streams[key]

    def _gross(self, row: int, col: int) -> int:
        s, sc = self.model.streams, self.sc
        year = int(self.model.years[col])
        sid = s.id_of(row)
        source = _source_text(self, row)
        kind = KINDS[s.kind[row]]
        spec, firm = None, None
        if kind == "park":
            park = sc.parks[s.park[row]]
            host_part, tax = s.suffixes[s.suffix[row]].split("/")[1:3]
            if "#" in host_part:
                spec = park.sites[int(host_part.split("#")[1])].taxes[tax]
            else:
                spec = next(site for site in park.sites if site.host == host_part).taxes[tax]
        elif kind == "stream":
            spec = sc.streams[s.spec[row]]
        else:
            firm = sc.firms[s.firm[row]]
            if firm.move_year is None:
                spec = firm.taxes[TAXES[s.tax[row]]]  # type: ignore[index]
        params = source
        if spec is not None:
            step = self._projection(spec, year, sid, params)
        else:
            step = self._firm_gross(firm, row, year, sid, params)
        given = float(self.res.alloc.gross[row, col])
        if not math.isclose(self.items[step - 1].value, given, rel_tol=1e-12, abs_tol=1e-12):
            step = self.add("g", "explain.gross", "G", {"G": Val(given)}, path=sid,
                            note=("explain.gross_given", {}), **params)
        return step

    def _projection(self, spec, year: int, sid: str, params: dict) -> int:
        years = self.model.years
        lo = spec.start if spec.start is not None else int(years[0])
        hi = spec.end if spec.end is not None else int(years[-1])
        if not lo <= year <= hi:
            return self.add("g", "explain.gross", "0", path=sid,
                            note=("explain.gross_outside", {"year": year, "start": lo, "end": hi}),
                            **params)
        if spec.by_year is not None:
            return self.add("g", "explain.gross", "G", {"G": Val(spec.by_year.get(year, 0.0))},
                            path=sid, note=("explain.gross_by_year", {}), **params)
        base_year = spec.base_year if spec.base_year is not None else int(years[0])
        return self.add("g", "explain.gross", "B * (1 + γ) ** (t - t0)",
                        {"B": Val(spec.base), "γ": Val(spec.growth, "rate"),
                         "t": Val(year, "year"), "t0": Val(base_year, "year")},
                        path=sid, note=("explain.gross_projection", {}), **params)

    def _firm_gross(self, firm, row: int, year: int, sid: str, params: dict) -> int:
        tax = TAXES[self.model.streams.tax[row]]
        at_origin = self.model.streams.suffixes[self.model.streams.suffix[row]].endswith(
            "@origin")
        if (year < firm.move_year) != at_origin:
            place = ("迁入地", "destination") if at_origin else ("迁出地", "origin")
            return self.add("g", "explain.gross", "0", path=sid,
                            note=("explain.gross_elsewhere", {"year": year, "place": place[0],
                                                              "place_en": place[1]}), **params)
        return self.add("g", "explain.gross", "P * (1 + γ) ** (t - μ + 1)",
                        {"P": Val(firm.pre_move[tax]), "γ": Val(firm.growth, "rate"),
                         "t": Val(year, "year"), "μ": Val(firm.move_year, "year")},
                        path=sid, note=("explain.gross_pre_move", {}), **params)

    def _retention(self, row: int, col: int) -> int:
        s, sc = self.model.streams, self.sc
        host = sc.jurisdictions[s.host[row]]
        tax = TAXES[s.tax[row]]
        year = int(self.model.years[col])
        ret = sc.retention
        ref = ret.reference or "—"
        levels = [("explain.retention_jurisdiction", ret.jurisdictions.get(host.id, {}),
                   {"id": host.id}),
                  ("explain.retention_province", ret.provinces.get(host.province, {}),
                   {"province": host.province}),
                  ("explain.retention_default", ret.default, {})]
        rate, note = None, None
        for key, table, extra in levels:
            value = table.get(tax)
            if isinstance(value, Mapping):
                value = value.get(year)
            if value is not None:
                rate, note = value, (key, {"tax": tax, "ref": ref, **extra})
                break
        if rate is None:
            rate = national_local_share(tax, year)
            note = ("explain.retention_national", {})
            if tax in NATIONAL_NOTES:
                note = (NATIONAL_NOTES[tax], {})
        return self.add("r", "explain.retention", "r", {"r": Val(rate, "share")},
                        path=s.id_of(row), unit="share", note=note, tax=TAX_NAMES[tax][0],
                        tax_en=TAX_NAMES[tax][1])

    # -- agreements -----------------------------------------------------------------------------

    def agreement_cells(self, ca: CompiledAgreement, local: list[int], j: int,
                        col: int) -> dict[int, int]:
        """Steps for what stream ``ca.rows[i]`` gives jurisdiction j in the year, through the
        agreement's rule and compliance; returns {i: step}."""
        ag = self.sc.agreements[ca.position]
        node = Node(self.pool(ca), "rule", col, ag.id)
        out = {}
        for i in local:  # stream by stream, so that each stream's chain reads in one piece
            row = int(ca.rows[i])
            g, r, m = self.stream(row, col)
            a = self.covered_by(ag, g if ag.base == "gross" else m)
            x = explain_cells(self, ag.rule, node, [i], j, {i: a})[i]
            if ag.base == "gross":
                x = self.add("x", "explain.gross_to_money", "x * r", {"x": Ref(x), "r": Ref(r)},
                             path=f"{ag.id} › rule")
            if ag.compliance < 1.0:
                host = int(self.model.streams.host[row])
                formula = "c * x + (1 - c) * m" if host == j else "c * x"
                inputs = {"c": Val(ag.compliance, "share"), "x": Ref(x)}
                if host == j:
                    inputs["m"] = Ref(m)
                x = self.add("y", "explain.allocation", formula, inputs,
                             path=f"{ag.id} › compliance",
                             note=("explain.compliance", {"c": f"{ag.compliance:g}"}))
            zh, en = self.jname(j)
            out[i] = self.add("x", "explain.stream_total", "x", {"x": Ref(x)},
                              path=self.model.streams.id_of(row), name=zh, name_en=en)
        return out

    def covered_by(self, ag, base: int) -> int:
        """The step that passes a stream's amount into an agreement's rule."""
        return self.add("a", "explain.agreement", "a", {"a": Ref(base)}, path=f"{ag.id} › rule",
                        name=ag.name or ag.id, name_en=ag.name_en or ag.name or ag.id,
                        rule=describe(ag.rule), base=message(f"explain.base_{ag.base}", "zh"),
                        base_en=message(f"explain.base_{ag.base}", "en"))

    def agreement_transfers(self, ca: CompiledAgreement, j: int, col: int) -> int | None:
        """The fixed-return transfer to (+) or from (−) j in the year, after compliance."""
        ag = self.sc.agreements[ca.position]
        if not any(isinstance(r, FixedReturn) for r in walk(ag.rule)):
            return None
        parts = explain_transfers(self, ag.rule, Node(self.pool(ca), "rule", col, ag.id), j)
        if not parts:
            return None
        t = self.total(parts, path=f"{ag.id} › rule", what="explain.transfer")
        if ag.compliance < 1.0:
            t = self.add("T", "explain.transfer_paid", "c * T",
                         {"c": Val(ag.compliance, "share"), "T": Ref(t)},
                         path=f"{ag.id} › compliance")
        return t

    def pool(self, ca: CompiledAgreement) -> Pool:
        """The pool the engine gives the agreement's rule (same amounts, same context)."""

        def make() -> Pool:
            ag = self.sc.agreements[ca.position]
            gross = self.res.alloc.gross[ca.rows]
            base = gross if ag.base == "gross" else self.res.alloc.retained[ca.rows]
            return replace(ca.template, amounts=base, gross=gross)

        return self.memo(("pool", ca.position), make)


def _source_text(b: Builder, row: int) -> dict[str, str]:
    """A stream's id and what it is, in both languages (for the gross step's label)."""
    s = b.model.streams
    kind = KINDS[s.kind[row]]
    tax_zh, tax_en = TAX_NAMES[TAXES[s.tax[row]]]
    host_zh, host_en = b.jname(int(s.host[row]))
    owner_zh = owner_en = None
    if kind == "park":
        park = b.sc.parks[s.park[row]]
        owner_zh, owner_en = park.name or park.id, park.name_en or park.name or park.id
    elif kind == "firm":
        firm = b.sc.firms[s.firm[row]]
        owner_zh, owner_en = firm.name or firm.id, firm.name_en or firm.name or firm.id
    zh = "·".join(x for x in (owner_zh, host_zh, tax_zh) if x)
    en = ", ".join(x for x in (owner_en, host_en, tax_en) if x)
    return {"source": f"{s.id_of(row)}：{zh}", "source_en": f"{s.id_of(row)}: {en}"}


# ---------------------------------------------------------------------------------------------
# Rule explainers: one per rule type


class RuleExplainer:
    """How one rule type explains itself: ``cells`` adds the steps for what each stream
    gives jurisdiction ``j`` in the node's year (``a`` maps a pool row to the step holding
    its amount) and returns {row: step}; ``transfers`` the steps of side payments to j."""

    def cells(self, b: Builder, rule: Any, node: Node, rows: list[int], j: int,
              a: dict[int, int]) -> dict[int, int]:
        raise NotImplementedError

    def transfers(self, b: Builder, rule: Any, node: Node, j: int) -> list[int]:
        return []


EXPLAINERS: dict[type, RuleExplainer] = {}


def explains(rule_type: type) -> Callable[[type], type]:
    """Register the explainer of a rule type (a class with ``cells`` / ``transfers``)."""

    def register(cls: type) -> type:
        EXPLAINERS[rule_type] = cls()
        return cls

    return register


def explain_cells(b: Builder, rule: RuleBase, node: Node, rows: list[int], j: int,
                  a: dict[int, int]) -> dict[int, int]:
    return EXPLAINERS[type(rule)].cells(b, rule, node, rows, j, a)


def explain_transfers(b: Builder, rule: RuleBase, node: Node, j: int) -> list[int]:
    return EXPLAINERS[type(rule)].transfers(b, rule, node, j)


def _zero(b: Builder, node: Node, note: tuple[str, dict]) -> int:
    return b.add("x", "explain.allocation", "0", path=node.where, note=note)


def _share_of(b: Builder, node: Node, keys: Mapping[str, float], i: int, j: int) -> float | None:
    """Σ of the shares whose key (id or role) is j for stream i; None when none is."""
    hit = [w for k, w in keys.items() if int(node.pool.who(k)[i]) == j]
    return sum(hit) if hit else None


@explains(Host)
class _Host(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        out = {}
        for i in rows:
            host = int(node.pool.roles["host"][i])
            if host == j:
                out[i] = b.add("x", "explain.host", "a", {"a": Ref(a[i])}, path=node.where)
            else:
                zh, en = b.jname(host)
                out[i] = _zero(b, node, ("explain.host_other", {"host": zh, "host_en": en}))
        return out


@explains(Fixed)
class _Fixed(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        out = {}
        for i in rows:
            w = _share_of(b, node, rule.shares, i, j)
            if w is None:
                out[i] = _zero(b, node, ("explain.not_named", {"keys": ", ".join(rule.shares)}))
                continue
            out[i] = b.add("x", "explain.fixed", "w * a",
                           {"w": Val(w, "share"), "a": Ref(a[i])}, path=node.where,
                           shares=_shares_plain(rule.shares))
        return out


def _shares_plain(shares: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in shares.items())


def factor_share(b: Builder, weights: Mapping[str, float], contributions: Mapping[str, Any],
                 jid: str, where: str) -> int:
    """Steps for ``w_j = Σ_f α_f · x_{f,j} / Σ_i x_{f,i}`` (a factor formula's share)."""
    inputs: dict[str, Any] = {}
    terms = []
    for k, (factor, weight) in enumerate(weights.items()):
        values = contributions.get(factor, {})
        total = b.add(f"X{k + 1}", "explain.factor_total", "sum(v)",
                      {"v": Val(list(values.values()), "number")}, path=where, unit="number",
                      factor=factor)
        if jid in values:
            inputs[f"α{k + 1}"] = Val(weight, "share")
            inputs[f"x{k + 1}"] = Val(values[jid], "number")
            inputs[f"X{k + 1}"] = Ref(total)
            terms.append(f"α{k + 1} * x{k + 1} / X{k + 1}")
    if not terms:
        return b.add("w", "explain.factor_share", "0", path=where, unit="share",
                     note=("explain.factor_missing", {}))
    return b.add("w", "explain.factor_share", " + ".join(terms), inputs, path=where,
                 unit="share")


@explains(Factors)
class _Factors(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        w = b.memo((node.where, node.col, "w", j), lambda: factor_share(
            b, rule.weights, node.pool.contributions, b.model.jurisdictions[j], node.where))
        return {i: b.add("x", "explain.allocation", "w * a", {"w": Ref(w), "a": Ref(a[i])},
                         path=node.where) for i in rows}


@explains(StockIncrement)
class _StockIncrement(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        pool, t, t0 = node.pool, node.year, rule.base_year
        where = node.where
        stock_all = b.memo((where, "stock"), lambda: rule.stock_amounts(pool))
        s_refs, i_refs = {}, {}
        what = "explain.stock_indexed" if rule.indexation else "explain.stock"
        params = {"year": t0, "g": f"{rule.indexation:g}"}
        index = " * (1 + γ) ** (t - t0)" if rule.indexation else ""
        index_inputs = ({"γ": Val(rule.indexation, "rate"), "t": Val(t, "year"),
                         "t0": Val(t0, "year")} if rule.indexation else {})
        for i in rows:
            amount = float(pool.amounts[i, node.col])
            if t < t0:
                s = b.add("S", what, "a", {"a": Ref(a[i])}, path=where,
                          note=("explain.stock_before", {}), **params)
            elif amount < 0:
                s = b.add("S", what, "a", {"a": Ref(a[i])}, path=where,
                          note=("explain.stock_refund", {}), **params)
            elif rule.baseline is None:
                level = float(pool.amounts_in(t0)[i])
                lv = "b" if level >= 0 else "max(b, 0)"
                s = b.add("S", what, f"min(a, {lv}{index})",
                          {"a": Ref(a[i]), "b": Val(level), **index_inputs}, path=where,
                          note=("explain.stock_level", {"year": t0}), **params)
            else:
                host = int(pool.roles["host"][i])
                h = b.memo((where, node.col, "H", host), lambda host=host: b.add(
                    "H", "explain.host_positive", "sum(p)", {"p": Val(list(np.maximum(
                        pool.amounts[pool.roles["host"] == host, node.col], 0.0)))},
                    path=where))
                level = rule.baseline.get(b.model.jurisdictions[host], 0.0)
                if b.items[h - 1].value > 0:
                    s = b.add("S", what, f"a * (min(H, B{index}) / H)",
                              {"a": Ref(a[i]), "H": Ref(h), "B": Val(level), **index_inputs},
                              path=where, note=("explain.stock_baseline", {}), **params)
                else:
                    s = b.add("S", what, "0", path=where, **params)
            s_refs[i] = s
            i_refs[i] = b.add("I", "explain.increment", "a - S", {"a": Ref(a[i]), "S": Ref(s)},
                              path=where)
        stock = explain_cells(b, rule.stock, node.at(pool.with_amounts(stock_all),
                                                     f"{node.path}.stock"), rows, j, s_refs)
        inc = explain_cells(b, rule.increment,
                            node.at(pool.with_amounts(pool.amounts - stock_all),
                                    f"{node.path}.increment"), rows, j, i_refs)
        return {i: b.add("x", "explain.parts", "xs + xi", {"xs": Ref(stock[i]), "xi": Ref(inc[i])},
                         path=where) for i in rows}

    def transfers(self, b, rule, node, j):
        return [*explain_transfers(b, rule.stock, node.at(node.pool, f"{node.path}.stock"), j),
                *explain_transfers(b, rule.increment,
                                   node.at(node.pool, f"{node.path}.increment"), j)]


def _stage_of(node: Node, stages: Sequence[tuple[tuple[int, int], RuleBase]],
              otherwise: RuleBase):
    """(rule, sub-node, stage name, span) for the node's year, as the engine stages it."""
    years = node.pool.years
    covered = np.zeros(len(years), dtype=bool)
    for span, _ in stages:
        covered |= _within(years, span)
    for k, (span, rule) in enumerate(stages):
        cols = np.flatnonzero(_within(years, span))
        if node.col in cols:
            sub = node.at(node.pool.take_years(cols), f"{node.path}.stages[{k}]",
                          int(np.searchsorted(cols, node.col)))
            return rule, sub, f"stages[{k}]", span
    rest = np.flatnonzero(~covered)
    sub = node.at(node.pool.take_years(rest), f"{node.path}.otherwise",
                  int(np.searchsorted(rest, node.col)))
    return otherwise, sub, None, None


def _staged_cells(b, stages, otherwise, node, rows, j, a, note=None):
    rule, sub, name, span = _stage_of(node, stages, otherwise)
    if name is None:
        what = ("explain.otherwise", {})
    else:
        what = ("explain.stage", {"stage": name, "start": span[0], "end": span[1]})
    passed = {i: b.add("a", what[0], "a", {"a": Ref(a[i])}, path=sub.where, note=note,
                       **what[1]) for i in rows}
    return explain_cells(b, rule, sub, rows, j, passed)


@explains(Schedule)
class _Schedule(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        return _staged_cells(b, [(s.years, s.rule) for s in rule.stages], rule.otherwise, node,
                             rows, j, a)

    def transfers(self, b, rule, node, j):
        inner, sub, _, _ = _stage_of(node, [(s.years, s.rule) for s in rule.stages],
                                     rule.otherwise)
        return explain_transfers(b, inner, sub, j)


@explains(Optimized)
class _Optimized(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        stages = [(s.years, Fixed(shares=s.shares)) for s in rule.stages]
        return _staged_cells(b, stages, Host(), node, rows, j, a,
                             note=("explain.optimized", {"method": rule.method}))


@explains(Capped)
class _Capped(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        pool, t, where = node.pool, node.year, node.where
        covered, plan = b.memo((where, "plan"), lambda: _capped_plan(rule, pool))
        out = {}
        ben = pool.who(rule.beneficiary)
        for i in rows:
            g = int(pool.group[i])
            start, end, eligible = int(plan.start[g]), int(plan.end[g]), bool(plan.eligible[g])
            extended = end != start + rule.max_years - 1
            window = {"start": start, "end": end,
                      "extended": f"（延长 {rule.extension.years} 年）" if extended else "",
                      "extended_en": f" (extended by {rule.extension.years})" if extended else ""}
            firm = b.memo((where, node.col, "firm", g),
                          lambda g=g: self._firm(b, rule, node, plan, g, covered))
            if not covered[i]:
                d = b.add("d", "explain.capped_desired", "0", path=where,
                          note=("explain.capped_tax", {"tax": TAXES[pool.tax[i]]}))
            elif not eligible:
                d = b.add("d", "explain.capped_desired", "0", path=where,
                          note=("explain.capped_ineligible",
                                {"pre": f"{plan.pre_gross[g]:,.2f}",
                                 "min": f"{rule.eligibility.min_pre_move:,.2f}"}))
            elif not start <= t <= end:
                d = b.add("d", "explain.capped_desired", "0", path=where,
                          note=("explain.capped_outside", {"year": t, **window}))
            else:
                d = b.add("d", "explain.capped_desired", "s * a",
                          {"s": Val(rule.share, "share"), "a": Ref(a[i])}, path=where,
                          note=("explain.capped_window", window))
            d = self._capped(b, rule, node, plan, g, d, firm)
            host = int(pool.roles["host"][i])
            if int(ben[i]) == j and host == j:
                out[i] = b.add("x", "explain.capped_both", "dc + (a - dc)",
                               {"dc": Ref(d), "a": Ref(a[i])}, path=where)
            elif int(ben[i]) == j:
                out[i] = d
            elif host == j:
                out[i] = b.add("x", "explain.capped_host", "a - dc",
                               {"a": Ref(a[i]), "dc": Ref(d)}, path=where)
            else:
                out[i] = _zero(b, node, ("explain.not_named",
                                         {"keys": f"{rule.beneficiary}, host"}))
        return out

    def _firm(self, b, rule, node, plan, g, covered) -> dict[str, int]:
        """Per-firm steps: the cap, the extension test and the cumulative receipts."""
        steps: dict[str, int] = {}
        pool, where = node.pool, node.where
        members = np.flatnonzero(pool.group == g)
        if rule.cap is not None:
            if isinstance(rule.cap, PreMoveCap):
                pre = b.add("P", "explain.capped_pre", "sum(v)",
                            {"v": Val(list(pool.pre_move[members] * covered[members]))},
                            path=where)
                steps["C"] = b.add("C", "explain.cap_pre_move", "n * P",
                                   {"n": Val(rule.cap.pre_move_years, "number"), "P": Ref(pre)},
                                   path=where, n=rule.cap.pre_move_years)
            else:
                steps["C"] = b.add("C", "explain.cap", "C", {"C": Val(float(rule.cap))},
                                   path=where)
        if rule.extension is not None and plan.in_range[g]:
            last = int(plan.last[g])
            if rule.extension.below is not None:
                gross = pool.gross[members, last] * covered[members]
                verdict = "explain.extension_yes" if gross.sum() < rule.extension.below else \
                    "explain.extension_no"
                steps["G"] = b.add("G", "explain.capped_group_gross", "sum(v)",
                                   {"v": Val(list(gross))}, path=where,
                                   year=int(pool.years[last]),
                                   note=(verdict, {"below": f"{rule.extension.below:,.2f}",
                                                   "years": rule.extension.years}))
            else:  # cap_not_reached: the receipts due up to the window's last year
                first = plan.per_firm[g, :last + 1]
                cap = b.items[steps["C"] - 1].value
                verdict = "explain.extension_cap_no" if plan.reached[g, last] else \
                    "explain.extension_cap_yes"
                steps["S"] = b.add("S", "explain.capped_first", "sum(v)",
                                   {"v": Val(list(first))}, path=where, n=rule.max_years,
                                   year=int(pool.years[last]),
                                   note=(verdict, {"c": f"{cap:,.2f}",
                                                   "years": rule.extension.years}))
        if rule.cap is None:
            return steps
        col = node.col
        steps["D"] = b.add("D", "explain.cap_due", "sum(v)",
                           {"v": Val(list(plan.desired[members, col]))}, path=where)
        steps["Sp"] = b.add("Sp", "explain.cap_before", "sum(v)",
                            {"v": Val(list(plan.per_firm[g, :col]))}, path=where)
        return steps

    def _capped(self, b, rule, node, plan, g, d, steps) -> int:
        if rule.cap is None:
            return d
        col, where = node.col, node.where
        reached = plan.reached[g]
        if col > 0 and reached[col - 1]:
            first = int(node.pool.years[int(np.argmax(reached))])
            return b.add("dc", "explain.allocation", "0", path=where,
                         note=("explain.cap_reached", {"year": first}))
        if reached[col]:
            if plan.per_firm[g, col] == 0:
                return b.add("dc", "explain.allocation", "0", path=where,
                             note=("explain.cap_binds", {}))
            return b.add("dc", "explain.allocation", "d * ((C - Sp) / D)",
                         {"d": Ref(d), "C": Ref(steps["C"]), "Sp": Ref(steps["Sp"]),
                          "D": Ref(steps["D"])}, path=where, note=("explain.cap_binds", {}))
        so_far = float(plan.per_firm[g, :col + 1].sum())
        return b.add("dc", "explain.allocation", "d", {"d": Ref(d)}, path=where,
                     note=("explain.cap_open", {"s": f"{so_far:,.2f}",
                                                "c": f"{b.items[steps['C'] - 1].value:,.2f}"}))


@dataclass
class _CappedPlan:
    """The capped rule's firm-level facts, computed as :meth:`Capped.split` computes them."""

    start: np.ndarray
    end: np.ndarray
    last: np.ndarray
    in_range: np.ndarray
    eligible: np.ndarray
    pre_gross: np.ndarray
    desired: np.ndarray
    per_firm: np.ndarray
    reached: np.ndarray


def _capped_plan(rule: Capped, pool: Pool) -> tuple[np.ndarray, _CappedPlan]:
    """(covered streams, the plan)."""
    covered = np.ones(len(pool.amounts), dtype=bool)
    if rule.taxes is not None:
        covered = np.isin(pool.tax, [TAXES.index(t) for t in rule.taxes])
    start = rule.starts(pool)
    end = start + rule.max_years - 1
    last = np.clip(np.searchsorted(pool.years, end), 0, len(pool.years) - 1)
    in_range = pool.years[last] == end
    if rule.extension is not None:
        trigger = in_range.copy()
        if rule.extension.below is not None:
            gross = pool.group_sum(pool.gross, covered.astype(float))
            trigger &= gross[np.arange(pool.n_groups), last] < rule.extension.below
        # cap_not_reached: receipts stop at the cap anyway, so the longer window is exact
        end = end + np.where(trigger, rule.extension.years, 0)
    pre_gross = np.bincount(pool.group, weights=pool.pre_move_gross * covered,
                            minlength=pool.n_groups)
    eligible = np.bincount(pool.group, weights=covered, minlength=pool.n_groups) > 0
    if rule.eligibility is not None:
        eligible &= pre_gross >= rule.eligibility.min_pre_move
    window = ((pool.years[None, :] >= start[:, None]) & (pool.years[None, :] <= end[:, None])
              & eligible[:, None])
    desired = pool.amounts * (window[pool.group] & covered[:, None]) * rule.share
    per_firm = pool.group_sum(desired)
    reached = np.zeros_like(per_firm, dtype=bool)
    if rule.cap is not None:
        if isinstance(rule.cap, PreMoveCap):
            cap = rule.cap.pre_move_years * np.bincount(
                pool.group, weights=pool.pre_move * covered, minlength=pool.n_groups)
        else:
            cap = np.full(pool.n_groups, float(rule.cap))
        reached = np.maximum.accumulate(np.cumsum(per_firm, axis=1) >= cap[:, None], axis=1)
    return covered, _CappedPlan(start, end, last, in_range, eligible, pre_gross, desired,
                                per_firm, reached)


@explains(Floor)
class _Floor(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        pool, col, where = node.pool, node.col, node.where
        inner = b.memo((where, "inner"), lambda: rule.rule.split(pool, f"{node.path}.rule"))
        ben = pool.who(rule.beneficiary)
        mine = inner.who == ben[None, :]
        amounts = inner.amount[:, :, col]
        others = np.where(mine, 0.0, np.maximum(amounts, 0.0))
        q = b.memo((where, col, "rate"), lambda: self._rate(b, rule, node, mine, amounts, others))
        inner_cells = explain_cells(b, rule.rule, node.at(pool, f"{node.path}.rule"), rows, j, a)
        out = {}
        for i in rows:
            if int(ben[i]) == j:
                o = b.add("O", "explain.floor_own", "O", {"O": Val(float(others[:, i].sum()))},
                          path=where)
                out[i] = b.add("x", "explain.floor_gets", "x + q * O",
                               {"x": Ref(inner_cells[i]), "q": Ref(q), "O": Ref(o)}, path=where)
                continue
            slots = np.flatnonzero(inner.who[:, i] == j)
            if len(slots) == 1:
                p = b.add("p", "explain.floor_mine", "max(x, 0)", {"x": Ref(inner_cells[i])},
                          path=where)
            else:
                p = b.add("p", "explain.floor_mine", "p",
                          {"p": Val(float(np.maximum(amounts[slots, i], 0.0).sum()))},
                          path=where)
            out[i] = b.add("x", "explain.floor_pays", "x - q * p",
                           {"x": Ref(inner_cells[i]), "q": Ref(q), "p": Ref(p)}, path=where)
        return out

    def _rate(self, b, rule, node, mine, amounts, others) -> int:
        """Steps for the year's top-up and the rate at which the others pay it."""
        pool, where = node.pool, node.where
        got = b.add("b", "explain.floor_got", "B", {"B": Val(float(np.where(mine, amounts,
                                                                              0.0).sum()))},
                    path=where)
        avail = b.add("P", "explain.floor_available", "P", {"P": Val(float(others.sum()))},
                      path=where)
        start = rule.from_year if rule.from_year is not None else int(pool.years[0])
        minimum = f"{rule.minimum:,.2f}"
        if node.year >= start:
            u = b.add("u", "explain.floor_top_up", "min(max(m - b, 0), P)",
                      {"m": Val(rule.minimum), "b": Ref(got), "P": Ref(avail)}, path=where,
                      minimum=minimum)
        else:
            u = b.add("u", "explain.floor_top_up", "0", path=where, minimum=minimum,
                      note=("explain.floor_inactive", {"year": node.year, "start": start}))
        if others.sum() > 0:
            q = b.add("q", "explain.floor_rate", "u / P", {"u": Ref(u), "P": Ref(avail)},
                      path=where, unit="share")
        else:
            q = b.add("q", "explain.floor_rate", "0", path=where, unit="share")
        return q

    def transfers(self, b, rule, node, j):
        return explain_transfers(b, rule.rule, node.at(node.pool, f"{node.path}.rule"), j)


def _pool_total(b: Builder, node: Node) -> int:
    return b.memo((node.where, node.col, "X"), lambda: b.add(
        "X", "explain.pool_total", "sum(v)", {"v": Val(list(node.pool.amounts[:, node.col]))},
        path=node.where))


@explains(Tiered)
class _Tiered(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        where = node.where
        x_step = _pool_total(b, node)
        total = b.items[x_step - 1].value
        bands = b.memo((where, node.col, "bands"), lambda: self._bands(b, rule, node, x_step))
        out = {}
        for i in rows:
            if total <= 0:
                w = _share_of(b, node, rule.bands[0].shares, i, j) or 0.0
                ws = b.add("w", "explain.tier_share", "w", {"w": Val(w, "share")}, path=where,
                           unit="share", note=("explain.tier_refund", {}))
            else:
                inputs: dict[str, Any] = {"X": Ref(x_step)}
                terms = []
                for k, band in enumerate(rule.bands):
                    w = _share_of(b, node, band.shares, i, j)
                    if w is None:
                        continue
                    inputs[f"B{k + 1}"] = Ref(bands[k])
                    inputs[f"w{k + 1}"] = Val(w, "share")
                    terms.append(f"B{k + 1} / X * w{k + 1}")
                ws = b.add("w", "explain.tier_share", " + ".join(terms) or "0", inputs,
                           path=where, unit="share")
            out[i] = b.add("x", "explain.allocation", "w * a", {"w": Ref(ws), "a": Ref(a[i])},
                           path=where)
        return out

    def _bands(self, b, rule, node, x_step) -> list[int]:
        """Steps for the amount in each band: ``clip(X − L_{k−1}, 0, L_k − L_{k−1})``."""
        if b.items[x_step - 1].value <= 0:
            return []
        bands, lower = [], 0.0
        for k, band in enumerate(rule.bands):
            if band.upto is None:
                formula, inputs = "max(X - L, 0)", {"X": Ref(x_step), "L": Val(lower)}
            else:
                formula = "min(max(X - L, 0), U - L)"
                inputs = {"X": Ref(x_step), "L": Val(lower), "U": Val(band.upto)}
            upper = "∞" if band.upto is None else f"{band.upto:,.2f}"
            bands.append(b.add(f"B{k + 1}", "explain.band", formula, inputs, path=node.where,
                               k=k + 1, lower=f"{lower:,.2f}", upper=upper))
            lower = band.upto if band.upto is not None else lower
        return bands


@explains(FixedReturn)
class _FixedReturn(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        return explain_cells(b, rule.rule, node.at(node.pool, f"{node.path}.rule"), rows, j, a)

    def transfers(self, b, rule, node, j):
        jid = b.model.jurisdictions[j]
        inner = explain_transfers(b, rule.rule, node.at(node.pool, f"{node.path}.rule"), j)
        if jid not in (rule.payer, rule.beneficiary):
            return inner
        years, t, where = node.pool.years, node.year, node.where
        lo = rule.from_year if rule.from_year is not None else int(years[0])
        hi = rule.to_year if rule.to_year is not None else int(years[-1])
        if not lo <= t <= hi:
            pay = b.add("R", "explain.fixed_return", "0", path=where, rate=f"{rule.rate:g}",
                        note=("explain.fixed_return_outside", {"year": t, "start": lo,
                                                               "end": hi}))
        else:
            if isinstance(rule.capital, dict):
                so_far = [v for y, v in sorted(rule.capital.items()) if y <= t]
                k = b.add("K", "explain.fixed_return_capital", "sum(v)", {"v": Val(so_far)},
                          path=where, year=t)
            else:
                k = b.add("K", "explain.fixed_return_capital", "K",
                          {"K": Val(float(rule.capital))}, path=where, year=t)
            pay = b.add("R", "explain.fixed_return", "ρ * K",
                        {"ρ": Val(rule.rate, "rate"), "K": Ref(k)}, path=where,
                        rate=f"{rule.rate:g}")
        sign = (jid == rule.beneficiary) - (jid == rule.payer)
        formula = {1: "R", -1: "-R", 0: "R - R"}[sign]
        return [*inner, b.add("T", "explain.transfer", formula, {"R": Ref(pay)}, path=where)]


@explains(Claims)
class _Claims(RuleExplainer):
    def cells(self, b, rule, node, rows, j, a):
        where = node.where
        shares = b.memo((where, node.col, "claims"), lambda: self._shares(b, rule, node))
        out = {}
        remainder = node.pool.who(rule.remainder)
        for i in rows:
            terms, inputs = [], {}
            for k, key in enumerate(rule.claims):
                if int(node.pool.who(key)[i]) == j:
                    terms.append(f"w{k + 1}")
                    inputs[f"w{k + 1}"] = Ref(shares[key])
            if int(remainder[i]) == j:
                inputs["ws"] = [Ref(s) for s in shares.values()]
                terms.append("(1 - sum(ws))")
            if not terms:
                out[i] = _zero(b, node, ("explain.not_named",
                                         {"keys": ", ".join([*rule.claims, rule.remainder])}))
                continue
            w = b.add("w", "explain.claims_share_sum", " + ".join(terms), inputs, path=where,
                      unit="share")
            out[i] = b.add("x", "explain.allocation", "w * a", {"w": Ref(w), "a": Ref(a[i])},
                           path=where)
        return out

    def _shares(self, b, rule, node) -> dict[str, int]:
        """Steps for each claimant's award and share of the pool in the node's year."""
        where = node.where
        x_step = _pool_total(b, node)
        estate = float(node.pool.amounts.sum(axis=0)[node.col])  # as the engine sums it
        claims = np.array(list(rule.claims.values()))
        c_total = b.add("C", "explain.claims_total", "sum(c)", {"c": Val(list(claims))},
                        path=where)
        e = b.add("E", "explain.claims_estate", "min(max(X, 0), C)",
                  {"X": Ref(x_step), "C": Ref(c_total)}, path=where)
        divided = float(np.clip(estate, 0.0, claims.sum()))
        awards = divide(divided, claims, rule.method)
        method = _method_name(rule.method)
        half = rule.method == "talmud" and divided <= claims.sum() / 2
        level = None
        if rule.method in ("cea", "cel", "talmud"):
            # CEA's equal award, or CEL's (Talmud's upper half's) equal loss
            gains = rule.method == "cea" or half
            lam = float(awards.max() if gains else (claims - awards).max())
            level = b.add("λ", "explain.claims_level", "λ", {"λ": Val(lam)}, path=where,
                          method=method)
        shares = {}
        for k, (key, claim) in enumerate(rule.claims.items()):
            inputs: dict[str, Any] = {"c": Val(claim), "E": Ref(e), "C": Ref(c_total)}
            if rule.method == "proportional":
                formula = "c * (E / C)"
                if claims.sum() == 0:
                    formula, inputs = "0", {}
            elif rule.method == "cea":
                formula, inputs = "min(c, λ)", {"c": Val(claim), "λ": Ref(level)}
            elif rule.method == "cel":
                formula, inputs = "max(c - λ, 0)", {"c": Val(claim), "λ": Ref(level)}
            elif half:
                formula, inputs = "min(c / 2, λ)", {"c": Val(claim), "λ": Ref(level)}
            else:
                formula, inputs = "c - min(c / 2, λ)", {"c": Val(claim), "λ": Ref(level)}
            award = b.add(f"z{k + 1}", "explain.claims_award", formula, inputs, path=where,
                          key=key, method=method)
            if estate > 0:
                shares[key] = b.add(f"w{k + 1}", "explain.claims_share", "z / X",
                                    {"z": Ref(award), "X": Ref(x_step)}, path=where,
                                    unit="share")
            else:
                shares[key] = b.add(f"w{k + 1}", "explain.claims_share", "0", path=where,
                                    unit="share")
        return shares


CLAIMS_METHODS = {"proportional": ("比例法", "proportional"),
                  "cea": ("等额获配法", "constrained equal awards"),
                  "cel": ("等额损失法", "constrained equal losses"),
                  "talmud": ("塔木德规则", "Talmud rule")}


def _method_name(method: str) -> str:
    zh, en = CLAIMS_METHODS[method]
    return f"{zh} {en}"


# ---------------------------------------------------------------------------------------------
# Columns


def _terse(wanted: set[int] | None) -> bool:
    """Leave out streams that give nothing, unless the trace asks for one stream."""
    return wanted is None or len(wanted) > 1


def _rows_of(b: Builder, ca: CompiledAgreement, wanted: set[int] | None) -> list[int]:
    return [i for i, row in enumerate(ca.rows) if wanted is None or int(row) in wanted]


def _contributes(split_who: np.ndarray, amount: np.ndarray, i: int, j: int, col: int) -> bool:
    hit = split_who[:, i] == j
    return bool(hit.any() and np.any(amount[hit, i, col] != 0))


def allocated(b: Builder, j: int, col: int, wanted: set[int] | None,
              agreements: set[int] | None) -> tuple[int, int]:
    """Steps for j's allocated revenue in the year; returns (last step, streams left out)."""
    blocks = {position: split for position, _, split in b.res.alloc.blocks}
    parts, omitted = [], 0
    for ca in b.model.agreements:
        if agreements is not None and ca.position not in agreements:
            continue
        local = _rows_of(b, ca, wanted)
        if _terse(wanted):
            split = blocks[ca.position]
            keep = [i for i in local if _contributes(split.who, split.amount, i, j, col)]
            omitted += len(local) - len(keep)
            local = keep
        if local:
            cells = b.agreement_cells(ca, local, j, col)
            parts.extend(cells[i] for i in local)
        if wanted is None or agreements is not None:
            t = b.agreement_transfers(ca, j, col)
            if t is not None:
                parts.append(t)
    if agreements is None:
        s = b.model.streams
        for row in np.flatnonzero(~b.model.covered & (s.host == j)):
            if wanted is not None and int(row) not in wanted:
                continue
            if _terse(wanted) and b.res.alloc.retained[row, col] == 0:
                omitted += 1
                continue
            _, _, m = b.stream(int(row), col)
            parts.append(b.add("x", "explain.uncovered", "m", {"m": Ref(m)},
                               path=s.id_of(int(row))))
    return b.total(parts), omitted


def collected(b: Builder, j: int, col: int, wanted: set[int] | None, retained: bool) -> int:
    s = b.model.streams
    parts = []
    for row in np.flatnonzero(s.host == j):
        if wanted is not None and int(row) not in wanted:
            continue
        if _terse(wanted) and b.res.alloc.gross[row, col] == 0:
            continue
        g, _, m = b.stream(int(row), col)
        parts.append(m if retained else g)
    return b.total(parts)


def unpaid(b: Builder, j: int, col: int, wanted: set[int] | None,
           agreements: set[int] | None) -> int:
    s, parts = b.model.streams, []
    partial = [ca.position for ca in b.model.agreements
               if b.sc.agreements[ca.position].compliance < 1.0]
    shorts = {p: short for p, (_, short) in zip(partial, b.res.alloc.unpaid_rows, strict=True)}
    for ca in b.model.agreements:
        ag = b.sc.agreements[ca.position]
        if ag.compliance >= 1.0 or (agreements is not None and ca.position not in agreements):
            continue
        local = [i for i in _rows_of(b, ca, wanted) if int(s.host[ca.rows[i]]) == j]
        if _terse(wanted):
            local = [i for i in local if shorts[ca.position][i, col] != 0]
        node = Node(b.pool(ca), "rule", col, ag.id)
        for i in local:
            g, r, m = b.stream(int(ca.rows[i]), col)
            a = b.covered_by(ag, g if ag.base == "gross" else m)
            k = explain_cells(b, ag.rule, node, [i], j, {i: a})[i]
            if ag.base == "gross":
                k = b.add("x", "explain.gross_to_money", "x * r", {"x": Ref(k), "r": Ref(r)},
                          path=f"{ag.id} › rule")
            parts.append(b.add("U", "explain.unpaid_stream", "(1 - c) * (m - k)",
                               {"c": Val(ag.compliance, "share"), "m": Ref(m), "k": Ref(k)},
                               path=f"{ag.id} › compliance"))
        if ((wanted is None or agreements is not None)
                and any(isinstance(r, FixedReturn) for r in walk(ag.rule))):
            t = explain_transfers(b, ag.rule, Node(b.pool(ca), "rule", col, ag.id), j)
            if t:
                total = b.total(t, path=f"{ag.id} › rule", what="explain.transfer")
                parts.append(b.add("U", "explain.unpaid_transfer", "(1 - c) * max(-T, 0)",
                                   {"c": Val(ag.compliance, "share"), "T": Ref(total)},
                                   path=f"{ag.id} › compliance"))
    return b.total(parts)


def cost_share(b: Builder, j: int, col: int, costs: set[int] | None) -> int:
    sc, parts = b.sc, []
    jid = b.model.jurisdictions[j]
    positions = {a.id: i for i, a in enumerate(sc.agreements)}
    for cc in b.model.costs:
        cost = sc.costs[cc.position]
        if costs is not None and cc.position not in costs:
            continue
        amount = float(cc.amounts[col])
        if costs is None and amount == 0:
            continue
        where = f"costs[{cc.position}] {cost.id}"
        k = b.add("K", "explain.cost_amount", "K", {"K": Val(amount)}, path=where,
                  name=cost.name or cost.id, name_en=cost.name_en or cost.name or cost.id)
        rule = cost.rule
        if rule is None:
            payers = {cost.paid_by: 1.0} if isinstance(cost.paid_by, str) else cost.paid_by
            w = b.add("w", "explain.cost_booked", "w", {"w": Val(payers.get(jid, 0.0), "share")},
                      path=where, unit="share")
        elif isinstance(rule, Fixed):
            w = b.add("w", "explain.cost_fixed", "w", {"w": Val(rule.shares.get(jid, 0.0),
                                                                "share")},
                      path=where, unit="share")
        elif isinstance(rule, Factors):
            contributions = (sc.contributions.get(cost.id)
                             or (sc.contributions.get(cost.park) if cost.park else None) or {})
            w = factor_share(b, rule.weights, contributions, jid, where)
        else:
            assert isinstance(rule, ByBenefit)
            parties = (list(rule.parties) if rule.parties
                       else [b.model.jurisdictions[p] for p in cc.parties])
            alloc = b.res.alloc.by_agreement[positions[rule.agreement]]
            benefit = [max(float(alloc[b.model.index[p], col]), 0.0) for p in parties]
            v = b.add("V", "explain.cost_benefit", "sum(v)", {"v": Val(benefit)}, path=where,
                      agreement=rule.agreement)
            if jid not in parties:
                w = b.add("w", "explain.cost_benefit_share", "0", path=where, unit="share")
            elif sum(benefit) > 0:
                w = b.add("w", "explain.cost_benefit_share", "v / V",
                          {"v": Val(benefit[parties.index(jid)]), "V": Ref(v)}, path=where,
                          unit="share")
            else:
                w = b.add("w", "explain.cost_benefit_share", "1 / n",
                          {"n": Val(len(parties), "number")}, path=where, unit="share",
                          note=("explain.cost_benefit_equal", {}))
        parts.append(b.add("c", "explain.cost_share", "w * K", {"w": Ref(w), "K": Ref(k)},
                           path=where))
    return b.total(parts)


def subsidy(b: Builder, j: int, col: int) -> int:
    """The central one-off subsidies jurisdiction ``j`` receives in year ``col``: one step per
    firm whose capped sharing ended the year before (see :class:`~sharing.rules.Capped`)."""
    m, parts = b.model, []
    year = int(m.years[col])
    for position, rows, split in b.res.alloc.blocks:
        if split.subsidy is None:
            continue
        agreement = m.scenario.agreements[position].id
        for slot, k in zip(*np.nonzero(split.subsidy.amount[:, :, col]), strict=True):
            if int(split.subsidy.who[slot, k]) != j:
                continue
            source = str(m.streams.source[rows[k]])
            parts.append(b.add("Z", "explain.subsidy", "z",
                               {"z": Val(float(split.subsidy.amount[slot, k, col]))},
                               path=agreement,
                               note=("explain.subsidy_paid", {"source": source,
                                                              "agreement": agreement,
                                                              "end": year - 1})))
    if not parts:
        return b.add("Z", "explain.subsidy", "0", note=("explain.no_subsidy", {}))
    return b.total(parts)


def _present_value(b: Builder, per_year: Mapping[str, np.ndarray], formula: str,
                   what: str, what_en: str) -> int:
    """Σ over years of yearly amounts × discount factor; the yearly amounts are the engine's
    (each explained by ``explain`` with that year)."""
    m = b.model
    inputs: dict[str, Any] = {name: Val(list(values)) for name, values in per_year.items()}
    inputs.update({"t": Val(list(m.years), "year"), "t0": Val(int(m.years[0]), "year"),
                   "ρ": Val(m.scenario.discount_rate, "rate")})
    return b.add("PV", "explain.pv", formula, inputs,
                 note=("explain.per_year", {"what": what, "what_en": what_en}))


def standalone(b: Builder, j: int) -> int:
    """v({j}) item by item, as the engine's coalition items define it."""
    m, sc = b.model, b.sc
    items = coalition_items(m, b.res.alloc)
    labels = _item_labels(b)
    assert len(labels) == len(items.required)
    parts = []
    for k, (label, kind) in enumerate(labels):
        with_c, without = float(items.with_coalition[k, j]), float(items.without[k, j])
        if with_c == 0 and without == 0:
            continue
        if (int(items.required[k]) & ~(1 << j)) == 0:
            formula, inputs, case = "v", {"v": Val(with_c)}, ("explain.case_alone", {})
        elif kind[0] == "park":
            f = sc.standalone.get(sc.parks[kind[1]].id, {}).get(m.jurisdictions[j], 0.0)
            formula = "f * V"
            inputs = {"f": Val(f, "share"), "V": Val(float(items.with_coalition[k].sum()))}
            case = ("explain.case_not_built", {"f": f"{f:g}"})
        else:
            formula, inputs = "v", {"v": Val(without)}
            case = ({"firms": "explain.case_stay", "subsidy": "explain.case_no_subsidy"}
                    .get(kind[0], "explain.case_no_cost"), {})
        key, params = label
        parts.append(b.add("v", "explain.standalone_item", formula, inputs,
                           item=message(key, "zh", **params), item_en=message(key, "en", **params),
                           case=message(case[0], "zh", **case[1]),
                           case_en=message(case[0], "en", **case[1])))
    return b.total(parts, what="explain.standalone")


def _item_labels(b: Builder) -> list[tuple[tuple[str, dict], tuple]]:
    """Labels of :func:`sharing.engine.coalition_items`' rows, in its order."""
    m, sc, s = b.model, b.sc, b.model.streams
    n_j = len(m.jurisdictions)
    labels = [(("explain.item_streams", {}), ("streams",))]
    labels += [(("explain.item_park", {"park": p.name or p.id,
                                       "park_en": p.name_en or p.name or p.id}), ("park", k))
               for k, p in enumerate(sc.parks)]
    firm_rows = np.flatnonzero(s.firm >= 0)
    if firm_rows.size:
        for code in np.unique(s.origin[firm_rows] * n_j + s.destination[firm_rows]):
            o, d = divmod(int(code), n_j)
            labels.append((("explain.item_firms", {"origin": m.jurisdictions[o],
                                                   "destination": m.jurisdictions[d]}),
                           ("firms",)))
    labels += [(("explain.item_cost", {"cost": sc.costs[cc.position].id}), ("cost",))
               for cc in m.costs]
    for code in subsidy_items(m, b.res.alloc)[0]:
        members = ", ".join(jid for k, jid in enumerate(m.jurisdictions) if int(code) >> k & 1)
        labels.append((("explain.item_subsidy", {"members": members}), ("subsidy",)))
    return labels


# ---------------------------------------------------------------------------------------------
# Entry point


def explain(res: Result, jurisdiction: str, year: int | None = None, stream: str | None = None,
            column: str = "allocated") -> Trace:
    """Why ``column`` of ``jurisdiction`` (in ``year``) is what it is.

    Parameters
    ----------
    res : a simulation result.
    jurisdiction : a jurisdiction id.
    year : the year, for the yearly columns (allocated, collected, retained, net_transfer,
        unpaid, cost_share, net_benefit); without it, their total over the years (the
        summary's number: the sum of each year's, which ``explain`` with that year details).
        Leave it out for the present values (pv_net_benefit, standalone_pv,
        no_agreement_pv, gain).
    stream : narrow a yearly amount to one stream id (``gaozhu/yubei/vat``), the streams of a
        source (park, firm or stream id) or an agreement id; for cost_share, a cost id.
    column : one of :data:`COLUMNS`.

    Raises
    ------
    ScenarioError
        For an unknown jurisdiction, column, stream or cost, or a year that does not fit the
        column; each problem in both languages with the closest valid spellings.
    """
    m = res.model
    _check(m, jurisdiction, year, stream, column)
    j = m.index[jurisdiction]
    b = Builder(res)
    col = None if year is None else int(np.flatnonzero(m.years == year)[0])
    wanted, agreements, costs = _narrow(m, stream, column)
    if column in YEARLY and year is None:  # the horizon total, as the summary shows it
        per_year = [_engine_value(res, j, c, column, wanted, agreements, costs)
                    for c in range(len(m.years))]
        last = b.add("T", "explain.horizon", "sum(v)", {"v": Val(per_year)},
                     note=("explain.per_year_total", {"start": int(m.years[0]),
                                                      "end": int(m.years[-1])}))
    elif column == "allocated":
        last, omitted = allocated(b, j, col, wanted, agreements)
        _note_omitted(b, last, omitted)
    elif column in ("collected", "retained"):
        last = collected(b, j, col, wanted, column == "retained")
    elif column == "net_transfer":
        alloc, _ = allocated(b, j, col, wanted, agreements)
        ret = collected(b, j, col, wanted, True)
        last = b.add("N", "explain.difference", "A - R", {"A": Ref(alloc), "R": Ref(ret)})
    elif column == "unpaid":
        last = unpaid(b, j, col, wanted, agreements)
    elif column == "cost_share":
        last = cost_share(b, j, col, costs)
    elif column == "subsidy":
        last = subsidy(b, j, col)
    elif column == "net_benefit":
        alloc, _ = allocated(b, j, col, None, None)
        cost = cost_share(b, j, col, None)
        if res.subsidy[j, col] != 0:
            z = subsidy(b, j, col)
            last = b.add("NB", "explain.net_benefit", "A + Z - K",
                         {"A": Ref(alloc), "Z": Ref(z), "K": Ref(cost)})
        else:
            last = b.add("NB", "explain.difference", "A - K", {"A": Ref(alloc), "K": Ref(cost)})
    elif column in ("pv_net_benefit", "gain"):
        last = _present_value(b, {"NB": res.net_benefit[j]}, "sum(NB * (1 + ρ) ** -(t - t0))",
                              "净收益", "net benefit")
        if column == "gain":
            v = standalone(b, j)
            last = b.add("G", "explain.gain", "PV - V", {"PV": Ref(last), "V": Ref(v)})
    elif column == "no_agreement_pv":
        last = _present_value(b, {"R": res.retained[j], "K": res.alloc.cost_booked[j]},
                              "sum((R - K) * (1 + ρ) ** -(t - t0))",
                              "留成与出资", "retained revenue and booked costs")
    else:
        last = standalone(b, j)
    assert last == len(b.items)
    engine = _engine_value(res, j, col, column, wanted, agreements, costs)
    scale = max(1.0, *(abs(step.value) for step in b.items))  # rounding grows with it
    if not math.isclose(b.items[-1].value, engine, rel_tol=1e-9, abs_tol=1e-9 * scale):
        # e.g. a run whose compliance was overridden (Monte Carlo): refuse, never mislead
        raise RuntimeError(f"explain: the trace of {column} for {jurisdiction} gives "
                           f"{b.items[-1].value!r} but the run has {engine!r}")
    return Trace(jurisdiction, column, year, stream, _heading(m, j, column, year, stream,
                                                              b.items[-1].value), tuple(b.items))


def _engine_value(res: Result, j: int, col: int | None, column: str,
                  wanted: set[int] | None, agreements: set[int] | None,
                  costs: set[int] | None) -> float:
    """The run's own number for what a trace explains (its last step must equal it)."""
    a = res.alloc
    if column in PRESENT_VALUE:
        return float(res.summary[column].iat[j])
    if col is None:
        return float(sum(_engine_value(res, j, c, column, wanted, agreements, costs)
                         for c in range(len(res.years))))
    if column == "net_benefit":
        return float(res.net_benefit[j, col])
    if column == "subsidy":
        return float(res.subsidy[j, col])
    if column == "cost_share":
        if costs is None:
            return float(a.cost_share[j, col])
        return float(sum(a.cost_rows[c][j, col] for c in costs))
    s = res.model.streams
    rows = np.arange(len(s)) if wanted is None else np.array(sorted(wanted), dtype=int)
    mine = rows[s.host[rows] == j]
    retained = float(a.retained[mine, col].sum())
    if column in ("collected", "retained"):
        return float(a.gross[mine, col].sum()) if column == "collected" else retained
    if column == "unpaid":
        if wanted is None:
            return float(a.unpaid[j, col])
        total = sum(short[np.isin(rs, mine), col].sum() for rs, short in a.unpaid_rows)
        if agreements is not None:
            total += sum(w[j, col] for p, w in a.unpaid_transfers if p in agreements)
        return float(total)
    if wanted is None:
        allocated = float(res.allocated[j, col])
    elif agreements is not None:
        allocated = float(sum(a.by_agreement[p][j, col] for p in agreements))
    else:
        allocated = 0.0
        for _, block_rows, split in a.blocks:
            keep = np.isin(block_rows, rows)
            allocated += float(np.where(split.who[:, keep] == j,
                                        split.amount[:, keep, col], 0.0).sum())
    return allocated - retained if column == "net_transfer" else allocated


def _heading(m: Model, j: int, column: str, year: int | None, stream: str | None,
             value: float) -> dict[str, str]:
    jur = m.scenario.jurisdictions[j]
    zh, en = LABELS[column]
    out = {}
    for lang in ("zh", "en"):
        when = (message("explain.when_pv", lang) if year is None
                else message("explain.when_year", lang, year=year))
        only = message("explain.only", lang, stream=stream) if stream else ""
        out[lang] = message("explain.heading", lang, name=jur.name, name_en=jur.name_en,
                            id=jur.id, column=zh, column_en=en, value=_number(value, "money"),
                            year=when, year_en=when, only=only, only_en=only)
    return out


def _note_omitted(b: Builder, last: int, omitted: int) -> None:
    if omitted and b.items[last - 1].note is None:
        b.items[last - 1] = replace(b.items[last - 1], note=("explain.omitted", {"n": omitted}))


def _check(m: Model, jurisdiction: str, year: int | None, stream: str | None,
           column: str) -> None:
    problems = []
    if jurisdiction not in m.index:
        problems.append(Problem("explain.unknown_jurisdiction",
                                {"id": jurisdiction, "valid": ", ".join(m.jurisdictions)},
                                path="jurisdiction",
                                close=tuple(did_you_mean(jurisdiction, m.jurisdictions))))
    start, end = int(m.years[0]), int(m.years[-1])
    if column not in COLUMNS:
        problems.append(Problem("explain.unknown_column", {"column": column,
                                                           "valid": ", ".join(COLUMNS)},
                                path="column", close=tuple(did_you_mean(column, COLUMNS))))
    elif column in PRESENT_VALUE and year is not None:
        problems.append(Problem("explain.no_year", {"column": column}, path="year"))
    if year is not None and not start <= year <= end:
        problems.append(Problem("explain.year_outside", {"year": year, "start": start,
                                                         "end": end}, path="year"))
    if stream is not None and column in COLUMNS:
        if column == "cost_share":
            ids = [c.id for c in m.scenario.costs]
            if stream not in ids:
                problems.append(Problem("explain.unknown_cost", {"id": stream,
                                                                 "valid": ", ".join(ids)},
                                        path="stream", close=tuple(did_you_mean(stream, ids))))
        elif column not in ("allocated", "collected", "retained", "net_transfer", "unpaid"):
            problems.append(Problem("explain.no_stream_filter", {"column": column},
                                    path="stream"))
        else:
            ids = _stream_names(m)
            if stream not in ids:
                close = did_you_mean(stream, ids)
                problems.append(Problem("explain.unknown_stream",
                                        {"id": stream, "valid": ", ".join(ids[:6])},
                                        path="stream", close=tuple(close)))
    if problems:
        raise ScenarioError(problems)


def _stream_names(m: Model) -> list[str]:
    s = m.streams
    names = list(dict.fromkeys([*s.ids, *(a.id for a in m.scenario.agreements), *s.source]))
    return [str(n) for n in names]


def _narrow(m: Model, stream: str | None, column: str):
    """(stream rows, agreement positions, cost positions) a ``stream`` filter keeps."""
    if stream is None:
        return None, None, None
    if column == "cost_share":
        return None, None, {i for i, c in enumerate(m.scenario.costs) if c.id == stream}
    s = m.streams
    rows = np.flatnonzero(s.ids == stream)
    if rows.size:
        return {int(r) for r in rows}, None, None
    positions = [i for i, a in enumerate(m.scenario.agreements) if a.id == stream]
    if positions:
        ca = next(c for c in m.agreements if c.position == positions[0])
        return {int(r) for r in ca.rows}, {positions[0]}, None
    return {int(r) for r in np.flatnonzero(s.source == stream)}, None, None
