"""The scenario: what a finance bureau describes, validated (pydantic v2) with key paths.

A scenario names the jurisdictions, the tax streams (from parks, firms, projects or given
directly), the agreements that share them, the co-investment costs and what each side could
achieve alone. It is read with a safe YAML loader only (:func:`safe_yaml`); every error
names the file, the key path (``agreements[1].rule.stages[0]``), the line where it can, and
the problem. Files are read within limits (:func:`read_bytes`), and every year and amount is
bounded (:data:`sharing.rules.MAX_AMOUNT`, docs/scenario-format.md §13).
The format is documented key by key in ``docs/scenario-format.md``.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import io
import json
import os
import re
import stat as file_stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sharing.channels import Settlement
from sharing.errors import problem_of
from sharing.frozen import Frozen, FrozenDict, FrozenMap
from sharing.i18n import Lang, Problem, define, did_you_mean, raw
from sharing.rules import (
    ROLES,
    Amount,
    Factors,
    Fixed,
    PathError,
    Rule,
    Share,
    SignedAmount,
    Text,
    Year,
    _shares_check,
    fault,
    walk,
)
from sharing.taxes import TAXES, Tax
from sharing.uncertainty import Uncertainty, reference_problems

FORMAT_VERSION = 1
MAX_PRODUCTION_DELAY = 10  # years from a firm's move to its production (达产): beyond, a typo
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_YAML_BYTES = 2 * 1024 * 1024
"""A scenario file is at most 2 MB (about 17,000 firms written inline; parsing YAML takes
seconds per MB), a CSV file (``firms_csv``, actuals) at most 20 MB."""
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (the same tags as ``yaml.safe_load``, four
times faster), else the pure-Python one."""
PROVINCE_ALIASES = {"四川": "sichuan", "四川省": "sichuan", "重庆": "chongqing",
                    "重庆市": "chongqing", "其他": "other"}


def _province(value: Any) -> Any:
    """``Sichuan``, ``SICHUAN ``, ``四川`` and ``四川省`` all mean ``sichuan``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    return PROVINCE_ALIASES.get(text, text.lower())


Province = Annotated[Literal["sichuan", "chongqing", "other"], BeforeValidator(_province)]
# An id never starts with "-", so that no exported id reads as a spreadsheet formula.
Ident = Annotated[str, Field(min_length=1, max_length=80,
                             pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_\-.]*$")]


define({
    "scenario.production_before_move": (
        "达产年份 {production} 早于迁移年份 {move}",
        "production_year {production} is before move_year {move}"),
    "scenario.production_too_late": (
        "达产年份 {production} 比迁移年份 {move} 晚 {gap} 年，超过 {limit} 年：是否笔误？",
        "production_year {production} is {gap} years after move_year {move}, more than "
        "{limit}: a typo?"),
    "scenario.production_of_project": (
        "只有迁移企业（origin、destination、move_year）才有达产年份 production_year",
        "only a migrated firm (origin, destination, move_year) has a production_year"),
    "scenario.years_backwards": ("年份范围 {start}-{end} 起止颠倒",
                                 "year range {start}-{end} runs backwards"),
    "scenario.base_or_by_year": ("请给出 `base`（配合 growth）或 `by_year`，二者只能选一",
                                 "give either `base` (with growth) or `by_year`, not both"),
    "scenario.same_origin": ("迁出地与迁入地相同", "origin and destination are the same"),
    "scenario.project_host": ("异地流转项目的落地地 host 须不同于引进地 introduced_by",
                              "a transferred project's host must differ from introduced_by"),
    "scenario.firm_kind": (
        "企业要么是迁移企业（origin、destination、move_year、pre_move），要么是异地流转项目"
        "（introduced_by、host、taxes）",
        "a firm is either migrated (origin, destination, move_year, pre_move) or a "
        "transferred project (introduced_by, host, taxes)"),
    "scenario.covers_what": ("请说明覆盖哪些税源：park、firm、stream、host、tax 或 kind",
                             "say which streams: park, firm, stream, host, tax or kind"),
    "scenario.cost_owner": ("成本须属于一个园区 `park`，或列出分担方 `parties`（二者选一）",
                            "a cost belongs to a `park` or lists its `parties`"),
    "scenario.unknown_jurisdiction": ("未知辖区 {id!r}（已有：{known}）",
                                      "unknown jurisdiction {id!r} (known: {known})"),
    "scenario.unknown_party": ("未知的辖区或角色 {id!r}（辖区：{known}；角色：{roles}）",
                               "unknown jurisdiction or role {id!r} (jurisdictions: {known}; "
                               "roles: {roles})"),
    "scenario.unknown_item": ("未知的{kind_zh} {id!r}（已有：{known}）",
                              "unknown {kind} {id!r} (known: {known})"),
    "scenario.duplicate_id": ("重复的 id {id!r}（另见 {other}）",
                              "duplicate id {id!r} (also {other})"),
    "scenario.site_not_partner": ("片区承载辖区 {host!r} 不是园区 {park!r} 的共建方",
                                  "site host {host!r} is not a partner of park {park!r}"),
    "scenario.contribution_owner": ("投入要素须属于某个协议、园区或成本的 id（已有：{known}）",
                                    "contributions belong to an agreement, park or cost id "
                                    "(known: {known})"),
    "scenario.ambiguous_owner": ("{owner!r} 同时是{kinds_zh}的 id；请改名其一，使归属明确",
                                 "{owner!r} is the id of {kinds_en}; rename one so the owner "
                                 "is clear"),
})

define({
    "safety.not_regular_file": (
        "不是普通文件（设备、管道或套接字），不予读取",
        "not a regular file (a device, pipe or socket); it is not read"),
    "safety.too_big": (
        "文件超过 {limit} MB 的上限（企业名单较长时请放入 `firms_csv` 文件）",
        "the file is larger than the limit of {limit} MB (put long firm lists in a "
        "`firms_csv` file)"),
    "safety.not_utf8": (
        "不是 UTF-8 文本：第 {row} 行第 {column} 个字符处的字节 0x{byte}；请将文件另存为 UTF-8"
        "（Excel：“CSV UTF-8”；记事本：编码 UTF-8）",
        "not UTF-8 text: row {row}, character {column}, byte 0x{byte}; save the file as UTF-8 "
        "(in Excel: 'CSV UTF-8'; in Notepad: encoding UTF-8)"),
    "safety.firms_csv_outside": (
        "firms_csv {name!r} 不在情景文件所在的文件夹 {folder} 内（也不在允许的数据目录内），"
        "不予读取；请把 CSV 放在情景文件旁边",
        "firms_csv {name!r} is outside the scenario's folder {folder} (and outside every "
        "allowed data root); it is not read: put the CSV next to the scenario file"),
    "bounds.fractional_year": ("年份 {value!r} 不是整数", "year {value!r} is not a whole number"),
    "safety.too_deep": (
        "嵌套层次过深，无法读取（情景文件只需几层嵌套）",
        "nested too deeply to read (a scenario needs only a few levels)"),
    "safety.firms_csv_no_folder": (
        "此情景没有所在文件夹（上传或工作簿），不能引用 firms_csv {name!r}；请把企业直接写入 "
        "firms",
        "this scenario has no folder (an upload or a workbook), so it cannot name a firms_csv "
        "{name!r}; list the firms under `firms` instead"),
})
KINDS = {"park": "园区", "firm": "企业", "stream": "税源", "agreement": "协议", "cost": "成本"}


class ScenarioError(ValueError):
    """Bad input: one :class:`~sharing.i18n.Problem` per problem, each naming the file, key
    path, line and problem. ``problems`` holds them as bilingual text (中文 / English);
    :meth:`text` renders them in one language (the app)."""

    def __init__(self, problems: Iterable[str | Problem]):
        self.items = [p if isinstance(p, Problem) else raw(p) for p in problems]
        self.problems = [p.text() for p in self.items]
        super().__init__("\n".join(self.problems))

    def __reduce__(self):  # picklable across process pools
        return (type(self), (self.items,))

    def text(self, lang: Lang | None = None) -> list[str]:
        return [p.text(lang) for p in self.items]


class Model(Frozen):
    """A part of a scenario: frozen, closed (unknown keys are errors), finite numbers."""


class Source(Model):
    """Where the scenario's rules and numbers come from."""

    title: Text
    url: Text | None = None
    date: Text | None = None
    note: Text | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _date_as_text(cls, value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime.date) else value


class Assumption(Model):
    """A number that is an assumption, not a published figure: the UI marks the key
    ``path`` (e.g. ``standalone.gaozhu``) as illustrative and shows the note."""

    path: Text
    note: Text


class Years(Model):
    start: int = Field(ge=1990, le=2200)
    end: int = Field(ge=1990, le=2200)

    @model_validator(mode="after")
    def _ordered(self) -> Years:
        if self.end < self.start:
            raise fault("end", "scenario.years_backwards", start=self.start, end=self.end)
        return self


class Jurisdiction(Model):
    id: Ident
    name: Text
    name_en: Text
    province: Province


Fraction = Share | FrozenMap[Year, Share]


class Retention(Model):
    """Fraction of gross tax kept by the jurisdiction's own budget, by tax.

    National law applies where nothing is given (VAT 0.5 from 2016, 0.25 before; EIT and PIT
    0.4; local taxes 1.0). ``default`` overrides national law for everyone, ``provinces`` per
    province, ``jurisdictions`` per jurisdiction (most specific wins). A value is a fraction
    for every year, or ``{year: fraction}`` for the years listed (other years fall through to
    the level below; years outside the horizon serve only as the year before a firm's move,
    for a capped rule's pre-move base), e.g. 合川's observed 2021/2022
    shares.
    """

    default: FrozenMap[Tax, Fraction] = Field(default_factory=FrozenDict)
    provinces: FrozenMap[Province, FrozenMap[Tax, Fraction]] = Field(default_factory=FrozenDict)
    jurisdictions: FrozenMap[str, FrozenMap[Tax, Fraction]] = Field(default_factory=FrozenDict)
    reference: Text | None = None


class Projection(Model):
    """A gross tax path in 万元: ``base · (1 + growth)^(year − base_year)`` or explicit
    ``by_year`` amounts (years not listed are 0), zero outside ``[start, end]``."""

    base: SignedAmount | None = None
    base_year: Year | None = None
    growth: float = Field(0.0, ge=-0.9, le=5.0)
    by_year: FrozenMap[Year, SignedAmount] | None = None
    start: Year | None = None
    end: Year | None = None
    illustrative: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> Projection:
        if (self.base is None) == (self.by_year is None):
            raise fault("base", "scenario.base_or_by_year")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise fault("end", "scenario.years_backwards", start=self.start, end=self.end)
        return self


def project(spec: Projection, years: np.ndarray) -> np.ndarray:
    """Gross amounts of a projection over ``years``."""
    if spec.by_year is not None:
        out = np.array([spec.by_year.get(int(y), 0.0) for y in years])
    else:
        base_year = spec.base_year if spec.base_year is not None else int(years[0])
        out = spec.base * (1.0 + spec.growth) ** (years - base_year)
    lo = spec.start if spec.start is not None else years[0]
    hi = spec.end if spec.end is not None else years[-1]
    return np.where((years >= lo) & (years <= hi), out, 0.0)


class Site(Model):
    """One part of a park, its taxes collected by its own jurisdiction (``host``)."""

    host: Text
    taxes: FrozenMap[Tax, Projection] = Field(min_length=1)
    illustrative: bool = False


class Park(Model):
    """A jointly built park (园区共建)."""

    id: Ident
    name: Text | None = None
    name_en: Text | None = None
    partners: tuple[Text, ...] = Field(min_length=1)
    sites: tuple[Site, ...] = Field(min_length=1)


class Firm(Model):
    """A migrated firm (企业迁移) or a transferred project (招商引资项目异地流转).

    Migrated: ``origin`` → ``destination`` in ``move_year``; ``pre_move`` gives the annual
    gross taxes in the year before the move, growing at ``growth``. Before the move its taxes
    are collected at the origin, from the move on at the destination. ``production_year``
    (达产) is when it reaches production at the destination: the move year unless given, at
    most :data:`MAX_PRODUCTION_DELAY` years later. It starts the clock of a capped rule with
    ``start_from: production`` (财预〔2015〕92号) and leaves the tax path as it is.
    Project: introduced by ``introduced_by``, located at ``host``, taxes from ``taxes``.
    """

    id: Ident
    name: Text | None = None
    name_en: Text | None = None
    origin: Text | None = None
    destination: Text | None = None
    move_year: Year | None = None
    production_year: Year | None = None
    pre_move: FrozenMap[Tax, Amount] | None = None
    growth: float = Field(0.0, ge=-0.9, le=5.0)
    introduced_by: Text | None = None
    host: Text | None = None
    taxes: FrozenMap[Tax, Projection] | None = None
    illustrative: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> Firm:
        migrated = [self.origin, self.destination, self.move_year, self.pre_move]
        project = [self.introduced_by, self.host, self.taxes]
        if all(v is not None for v in migrated) and all(v is None for v in project):
            if self.origin == self.destination:
                raise fault("destination", "scenario.same_origin")
            if self.production_year is not None:
                gap = self.production_year - self.move_year
                if gap < 0:
                    raise fault("production_year", "scenario.production_before_move",
                                production=self.production_year, move=self.move_year)
                if gap > MAX_PRODUCTION_DELAY:
                    raise fault("production_year", "scenario.production_too_late",
                                production=self.production_year, move=self.move_year,
                                gap=gap, limit=MAX_PRODUCTION_DELAY)
            return self
        if self.production_year is not None:
            raise fault("production_year", "scenario.production_of_project")
        if all(v is not None for v in project) and all(v is None for v in migrated):
            if self.introduced_by == self.host:
                raise fault("host", "scenario.project_host")
            return self
        raise fault("", "scenario.firm_kind")

    @property
    def producing_from(self) -> int | None:
        """The year the migrated firm reaches production (达产): ``production_year`` or the
        move year."""
        return self.production_year if self.production_year is not None else self.move_year

    @property
    def from_id(self) -> str:
        return self.origin or self.introduced_by  # type: ignore[return-value]

    @property
    def to_id(self) -> str:
        return self.destination or self.host  # type: ignore[return-value]


class StreamSpec(Projection):
    """An explicit tax stream: one tax collected by one host."""

    id: Ident
    host: Text
    tax: Tax


class Covers(Model):
    """Which streams an agreement takes: all conditions must hold; a list means any of."""

    park: Text | tuple[Text, ...] | None = None
    firm: Text | tuple[Text, ...] | None = None
    stream: Text | tuple[Text, ...] | None = None
    host: Text | tuple[Text, ...] | None = None
    tax: Tax | tuple[Tax, ...] | None = None
    kind: Literal["park", "firm", "stream"] | None = None

    @model_validator(mode="after")
    def _something(self) -> Covers:
        if all(v is None for v in self.model_dump().values()):
            raise fault("", "scenario.covers_what")
        return self

    def listed(self, key: str) -> tuple[str, ...] | None:
        value = getattr(self, key)
        return (value,) if isinstance(value, str) else value


class Statistic(Model):
    """An economic indicator split between jurisdictions (统计分算), reported apart from money."""

    indicator: Text
    base: SignedAmount | None = None
    base_year: Year | None = None
    growth: float = Field(0.0, ge=-0.9, le=5.0)
    by_year: FrozenMap[Year, SignedAmount] | None = None
    shares: FrozenMap[str, Share] | None = None
    illustrative: bool = False

    @model_validator(mode="after")
    def _check(self) -> Statistic:
        Projection(base=self.base, base_year=self.base_year, growth=self.growth,
                   by_year=self.by_year)
        if self.shares is not None:
            Fixed(shares=self.shares)
        return self


class Agreement(Model):
    """One sharing rule applied to the streams it covers.

    ``base: retained`` (default) shares what the hosts keep; with ``base: gross`` the rule
    works on gross tax (thresholds, caps and floors in gross terms) and each stream-year's
    resulting split is applied to the retained money. ``compliance`` is the fraction of the
    agreed transfers actually paid; the rest stays with the host (or payer) as ``unpaid``.
    ``settlement`` says how the amounts are settled after each year (see
    :class:`sharing.channels.Settlement` and ``docs/settlement.md``).
    """

    id: Ident
    name: Text | None = None
    name_en: Text | None = None
    covers: Covers
    base: Literal["retained", "gross"] = "retained"
    rule: Rule
    compliance: Share = 1.0
    statistics: tuple[Statistic, ...] = ()
    settlement: Settlement | None = None
    reference: Text | None = None


class ByBenefit(Model):
    """Costs in proportion to each party's allocated revenue from ``agreement`` that year."""

    type: Literal["by_benefit"] = "by_benefit"
    agreement: Text
    parties: tuple[Text, ...] | None = None


CostRule = Annotated[Fixed | Factors | ByBenefit, Field(discriminator="type")]


class Cost(Model):
    """A co-investment cost (成本共担): amounts by year, booked by ``paid_by`` and shared by
    ``rule``. Tied to a ``park`` (incurred only if the park is built) or to ``parties``."""

    id: Ident
    name: Text | None = None
    name_en: Text | None = None
    park: Text | None = None
    parties: tuple[Text, ...] | None = None
    by_year: FrozenMap[Year, Amount] = Field(min_length=1)
    paid_by: str | FrozenMap[str, Share]
    rule: CostRule | None = None
    illustrative: bool = False

    @model_validator(mode="after")
    def _tied(self) -> Cost:
        if (self.park is None) == (self.parties is None):
            raise fault("park", "scenario.cost_owner")
        if isinstance(self.paid_by, dict):
            _shares_check(self.paid_by, "paid_by")
        return self


Contributions = FrozenMap[str, FrozenMap[Text, FrozenMap[str, Amount]]]


class Scenario(Model):
    """A whole scenario. See ``docs/scenario-format.md``."""

    scenario: Literal[1] = FORMAT_VERSION
    name: Text
    name_en: Text
    description: Text | None = None
    sources: tuple[Source, ...] = ()
    assumptions: tuple[Assumption, ...] = ()
    years: Years
    discount_rate: float = Field(0.0, ge=0, le=1)
    jurisdictions: tuple[Jurisdiction, ...] = Field(min_length=1)
    retention: Retention = Field(default_factory=Retention)
    parks: tuple[Park, ...] = ()
    firms: tuple[Firm, ...] = ()
    firms_csv: Text | None = None
    streams: tuple[StreamSpec, ...] = ()
    contributions: Contributions = Field(default_factory=FrozenDict)
    costs: tuple[Cost, ...] = ()
    agreements: tuple[Agreement, ...] = ()
    standalone: FrozenMap[str, FrozenMap[str, Share]] = Field(default_factory=FrozenDict)
    uncertainty: Uncertainty | None = None

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Scenario:
        firms_loaded = not self.firms_csv or bool((info.context or {}).get("firms_loaded"))
        problems = list({(path, problem.text()): (path, problem) for path, problem
                          in _reference_problems(self, firms_loaded)}.values())
        if problems:
            raise PathError(*problems[0], *problems[1:])
        return self

    @property
    def jurisdiction_ids(self) -> list[str]:
        return [j.id for j in self.jurisdictions]

    def replace(self, changes: Mapping[str, Any]) -> Scenario:
        """A new, validated scenario with the values at some key paths replaced.

        ``changes`` maps key paths to new values, e.g.
        ``{"agreements.gaozhu_revenue.rule.increment.shares": {"guangan": 0.6, "yubei": 0.4},
        "discount_rate": 0.05}``. A list item is named by its id (``agreements.gaozhu_revenue``)
        or its index (``agreements[0]``); a year key is written as a number
        (``costs.infrastructure.by_year.2025``). A value replaces what was there whole (a
        mapping is not merged). Changes apply in order; this scenario is left as it was.

        Raises
        ------
        ScenarioError
            A key path that does not exist (with the closest valid keys or ids), or a result
            that does not validate, each problem with its key path.
        """
        data = _opened(self)
        problems = []
        for path, value in changes.items():
            try:
                _assign(self, data, str(path), _thaw(value))
            except ScenarioError as err:
                problems.extend(err.items)
        if problems:
            raise ScenarioError(problems)
        return _validated(data)

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Scenario:
        """A copy; with ``update`` the result is validated like a loaded file (raises
        ScenarioError), unlike pydantic's default. :meth:`replace` takes key paths."""
        if not update:
            return super().model_copy(deep=deep)
        return _validated({**{k: getattr(self, k) for k in type(self).model_fields}, **update})


def _validated(data: Any) -> Scenario:
    """Validate scenario data whose ``firms_csv`` firms (if any) are already in ``firms``."""
    try:
        return Scenario.model_validate(data, context={"firms_loaded": True})
    except ValidationError as err:
        raise ScenarioError(validation_problems(err, data, _location(None))) from None


def checked(sc: Scenario) -> Scenario:
    """``sc`` itself if it came out of validation, else ``sc`` validated again.

    Loading, :meth:`Scenario.replace` and :meth:`Scenario.model_copy` validate; pydantic's
    ``model_construct`` does not. The engine calls this before relying on a scenario's
    invariants (shares sum to 1, ids known, ...), so a scenario built around validation
    raises ScenarioError with key paths instead of giving wrong numbers.
    """
    if not isinstance(sc, Scenario):
        raise TypeError(f"expected a sharing.Scenario, not {type(sc).__name__}")
    return sc if sc.checked else _validated(sc)


# ---------------------------------------------------------------------------------------------
# Key paths into a scenario (Scenario.replace)

define({
    "scenario.path_syntax": ("无法解读键路径 {path!r}", "cannot read the key path {path!r}"),
    "scenario.path_unknown_key": ("{at} 下没有键 {key!r}（可选：{valid}）",
                                  "{at} has no key {key!r} (valid: {valid})"),
    "scenario.path_unknown_id": ("{at} 中没有 id 为 {key!r} 的项（id：{valid}；也可用序号 "
                                 "{at}[0]）",
                                 "{at} has no item with id {key!r} (ids: {valid}; or use an "
                                 "index, {at}[0])"),
    "scenario.path_index": ("{at} 有 {n} 项，没有第 [{index}] 项",
                            "{at} has {n} item(s); there is no [{index}]"),
    "scenario.path_into_value": ("{at} 是一个值，其中没有 {key!r}",
                                 "{at} is a value; there is no {key!r} inside it"),
})

_PATH = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[-?\d+\])*")
_PATH_TOKEN = re.compile(r"\[(-?\d+)\]|([^.\[\]]+)")


def _thaw(value: Any) -> Any:
    """Plain, mutable data: dicts and lists all the way down (models dumped)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def _opened(value: Any) -> Any:
    """One level of a scenario's objects as plain, mutable data (a model as a dict of its
    fields, a mapping as a dict, a tuple as a list); the levels below stay as they are, and
    validated objects pass validation again at no cost."""
    if isinstance(value, BaseModel):
        return {k: getattr(value, k) for k in type(value).model_fields}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list | tuple):
        return list(value)
    return value


def _path_tokens(path: str) -> list[str | int]:
    if not _PATH.fullmatch(path):
        raise ScenarioError([Problem("scenario.path_syntax", {"path": path}, path=path)])
    return [int(index) if index else name for index, name in _PATH_TOKEN.findall(path)]


def _path_problem(path: str, at: str, message_key: str, close: Iterable[str] = (),
                  /, **params: Any) -> ScenarioError:
    return ScenarioError([Problem(message_key, {"at": at or "scenario", **params}, path=path,
                                  close=tuple(close))])


def value_at(sc: Scenario, path: str) -> Any:
    """The value at a key path (as :meth:`Scenario.replace` names it; None where a free
    mapping has no such key). Raises ScenarioError for a path that does not exist, with the
    closest valid keys or ids."""
    return _assign(sc, _opened(sc), path, None)


def _assign(sc: Scenario, data: dict, path: str, value: Any) -> Any:
    """Set ``value`` at ``path`` in ``data`` (``sc`` opened, see :func:`_opened`, one level
    at a time along the path), checking each step against the scenario's own structure:
    model keys must exist, list items are found by id or index; inside a free mapping
    (shares, by_year, contributions ...) new keys are allowed. Returns the value that was
    there."""
    tokens = _path_tokens(path)
    model: Any = sc  # the same place in the scenario's objects; None once off the map
    node: Any = data
    at = ""
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if isinstance(node, list):
            if isinstance(token, int):
                if not -len(node) <= token < len(node):
                    raise _path_problem(path, at, "scenario.path_index", n=len(node),
                                        index=token)
                k = token % len(node)
            else:
                ids = [item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
                       for item in node]
                # ids may contain dots: take the shortest run of tokens naming an item
                for j in range(i, len(tokens)):
                    name = ".".join(str(t) for t in tokens[i:j + 1])
                    if name in ids:
                        k, i = ids.index(name), j
                        break
                else:
                    valid = [str(x) for x in ids if x is not None]
                    raise _path_problem(path, at, "scenario.path_unknown_id",
                                        did_you_mean(str(token), valid), key=token,
                                        valid=", ".join(valid) or "-")
            at += f"[{k}]"
            key: Any = k
            model = model[k] if isinstance(model, tuple) and k < len(model) else None
        elif isinstance(node, dict):
            if isinstance(token, int):
                raise _path_problem(path, at, "scenario.path_unknown_key", key=f"[{token}]",
                                    valid=", ".join(map(str, node)))
            key = token
            if key not in node and re.fullmatch(r"-?\d+", key) and (
                    int(key) in node or any(isinstance(k, int) for k in node)):
                key = int(key)  # a year
            if isinstance(model, BaseModel):
                if key not in type(model).model_fields:
                    fields = list(type(model).model_fields)
                    raise _path_problem(path, at, "scenario.path_unknown_key",
                                        did_you_mean(key, fields), key=key,
                                        valid=", ".join(fields))
                model = getattr(model, key)
            elif isinstance(model, Mapping):
                model = model.get(key)
            else:
                model = None
            at += f".{key}" if at else str(key)
        else:
            raise _path_problem(path, at, "scenario.path_into_value", key=token)
        if i == len(tokens) - 1:
            old = node.get(key) if isinstance(node, dict) else node[key]
            node[key] = value
            return old
        child = node.get(key) if isinstance(node, dict) else node[key]
        if child is None:
            child = {}  # e.g. a rule's `extension` that was not set
        elif not isinstance(child, BaseModel | Mapping | list | tuple):
            raise _path_problem(path, at, "scenario.path_into_value", key=tokens[i + 1])
        node[key] = node = _opened(child)
        i += 1


def _reference_problems(sc: Scenario, firms_loaded: bool = True):
    """Yield (path, Problem) for every id that points nowhere or is duplicated, with the
    closest known ids.

    Firm ids in ``covers`` are checked only once the ``firms_csv`` firms are loaded."""
    known = set(sc.jurisdiction_ids)
    listed = ", ".join(sorted(known))

    def unknown(path: str, jid: str | None):
        if jid is not None and jid not in known:
            return (path, Problem("scenario.unknown_jurisdiction", {"id": jid, "known": listed},
                                  close=tuple(did_you_mean(jid, sorted(known)))))
        return None

    def unknown_item(path: str, kind: str, value: str, valid: set[str]):
        return (path, Problem("scenario.unknown_item", {
            "kind": kind, "kind_zh": KINDS[kind], "id": value,
            "known": ", ".join(sorted(valid)) or "-"},
            close=tuple(did_you_mean(value, sorted(valid)))))

    for name, items in (("jurisdictions", sc.jurisdictions), ("parks", sc.parks),
                        ("firms", sc.firms), ("streams", sc.streams), ("costs", sc.costs),
                        ("agreements", sc.agreements)):
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.id in seen:
                yield (f"{name}[{i}].id", Problem("scenario.duplicate_id", {
                    "id": item.id, "other": f"{name}[{seen[item.id]}]"}))
            seen.setdefault(item.id, i)
    checks = []
    for jid in sc.retention.jurisdictions:
        checks.append(unknown(f"retention.jurisdictions.{jid}", jid))
    for i, park in enumerate(sc.parks):
        for k, p in enumerate(park.partners):
            checks.append(unknown(f"parks[{i}].partners[{k}]", p))
        for k, site in enumerate(park.sites):
            checks.append(unknown(f"parks[{i}].sites[{k}].host", site.host))
            if site.host in known and site.host not in park.partners:
                checks.append((f"parks[{i}].sites[{k}].host", Problem(
                    "scenario.site_not_partner", {"host": site.host, "park": park.id})))
    for i, firm in enumerate(sc.firms):
        for key in ("origin", "destination", "introduced_by", "host"):
            checks.append(unknown(f"firms[{i}].{key}", getattr(firm, key)))
    for i, s in enumerate(sc.streams):
        checks.append(unknown(f"streams[{i}].host", s.host))
    ids = {"park": {p.id for p in sc.parks}, "firm": {f.id for f in sc.firms},
           "stream": {s.id for s in sc.streams}}
    agreement_ids = {a.id for a in sc.agreements}
    parties = [*sorted(known), *ROLES]
    for i, ag in enumerate(sc.agreements):
        for key in ("park", "firm", "stream"):
            for value in ag.covers.listed(key) or ():
                if value not in ids[key] and (key != "firm" or firms_loaded):
                    checks.append(unknown_item(f"agreements[{i}].covers.{key}", key, value,
                                               ids[key]))
        for value in ag.covers.listed("host") or ():
            checks.append(unknown(f"agreements[{i}].covers.host", value))
        for rule in walk(ag.rule):
            for key in sorted(rule.keys()):
                if key not in known and key not in ROLES:
                    checks.append((f"agreements[{i}].rule", Problem(
                        "scenario.unknown_party", {"id": key, "known": listed,
                                                   "roles": ", ".join(ROLES)},
                        close=tuple(did_you_mean(key, parties)))))
        for k, stat in enumerate(ag.statistics):
            for key in stat.shares or ():
                checks.append(unknown(f"agreements[{i}].statistics[{k}].shares", key))
    for i, cost in enumerate(sc.costs):
        if cost.park is not None and cost.park not in ids["park"]:
            checks.append(unknown_item(f"costs[{i}].park", "park", cost.park, ids["park"]))
        for k, p in enumerate(cost.parties or ()):
            checks.append(unknown(f"costs[{i}].parties[{k}]", p))
        payers = [cost.paid_by] if isinstance(cost.paid_by, str) else list(cost.paid_by)
        for p in payers:
            checks.append(unknown(f"costs[{i}].paid_by", p))
        if isinstance(cost.rule, Fixed):
            for p in cost.rule.shares:
                checks.append(unknown(f"costs[{i}].rule.shares", p))
        if isinstance(cost.rule, ByBenefit):
            if cost.rule.agreement not in agreement_ids:
                checks.append(unknown_item(f"costs[{i}].rule.agreement", "agreement",
                                           cost.rule.agreement, agreement_ids))
            for k, p in enumerate(cost.rule.parties or ()):
                checks.append(unknown(f"costs[{i}].rule.parties[{k}]", p))
    kinds = {"agreement": agreement_ids, "park": ids["park"], "cost": {c.id for c in sc.costs}}
    owners = sorted(set().union(*kinds.values()))
    for owner, factors in sc.contributions.items():
        owned_by = [k for k, v in kinds.items() if owner in v]
        if not owned_by:
            checks.append((f"contributions.{owner}", Problem(
                "scenario.contribution_owner", {"id": owner, "known": ", ".join(owners) or "-"},
                close=tuple(did_you_mean(owner, owners)))))
        elif len(owned_by) > 1:
            named = {"agreement": "an agreement", "park": "a park", "cost": "a cost"}
            checks.append((f"contributions.{owner}", Problem("scenario.ambiguous_owner", {
                "owner": owner, "kinds_zh": "和".join(KINDS[k] for k in owned_by),
                "kinds_en": " and of ".join(named[k] for k in owned_by)})))
        for factor, values in factors.items():
            for jid in values:
                checks.append(unknown(f"contributions.{owner}.{factor}.{jid}", jid))
    for park_id, shares in sc.standalone.items():
        if park_id not in ids["park"]:
            checks.append(unknown_item(f"standalone.{park_id}", "park", park_id, ids["park"]))
        for jid in shares:
            checks.append(unknown(f"standalone.{park_id}.{jid}", jid))
    if sc.uncertainty is not None:
        checks.extend(reference_problems(sc, sc.uncertainty))
    yield from (c for c in checks if c is not None)


# ---------------------------------------------------------------------------------------------
# Loading


def _location(path: str | Path | None) -> str:
    return str(path) if path is not None else "<scenario>"


def format_loc(loc: tuple, data: Any) -> str:
    """Turn a pydantic error location into ``agreements[1].rule.stages[0]``.

    Pydantic inserts the tag of a discriminated union (``fixed``) into the location; it is
    dropped when the input at that point has it as its ``type``. ``data`` may hold models
    (a scenario validated again, see :func:`checked`).
    """
    out = ""
    node = data
    for part in loc:
        if isinstance(node, BaseModel):
            node = {k: getattr(node, k, None) for k in type(node).model_fields}
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue
        if _member_label(part, node):
            continue
        if isinstance(part, int) and not isinstance(node, dict):
            out += f"[{part}]"
        else:  # a key, or a year in a mapping (by_year.2025)
            out += f".{part}" if out else str(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return out


@functools.lru_cache(maxsize=4)
def _composed(text: str) -> yaml.Node | None:
    """The YAML node tree of ``text``, parsed once for all the problems found in it."""
    try:
        return yaml.compose(text, Loader=SAFE_LOADER)
    except (yaml.YAMLError, RecursionError):
        return None

_TYPE_NAMES = {"str", "int", "float", "bool", "list", "tuple", "dict", "none"}


def _member_label(part: Any, node: Any) -> bool:
    """Whether ``part`` is the label pydantic gives one member of a union (``str``,
    ``tuple[str, ...]``, ``constrained-float``) rather than a key of the data (scenario keys
    never hold ``[`` or ``-``)."""
    if not isinstance(part, str):
        return False
    if not isinstance(node, dict):
        return True  # below a value or a list, a name is never a key
    # pydantic's labels: "tuple[str, ...]", "constrained-float", "function-after[...]"
    return part not in node and ("[" in part or "-" in part or part in _TYPE_NAMES)


def _line_of(text: str | None, dotted: str) -> int | None:
    """The 1-based line of a key path in YAML text, or None when it cannot be found."""
    node = _composed(text) if text is not None else None
    if node is None:
        return None
    line = None
    for part in _split_path(dotted):
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == part]
            if not match:
                break
            key_node = next(k for k, v in node.value if v is match[0])
            line, node = key_node.start_mark.line + 1, match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _split_path(dotted: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in dotted.replace("]", "").split("."):
        name, *indices = piece.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indices if i.isdigit())
    return parts


_TYPE_ERRORS = ("_type", "_parsing", "literal_error", "int_from_float")


def validation_items(err: ValidationError, data: Any, model: type[BaseModel] | None = None
                     ) -> list[Problem]:
    """One catalogue Problem, with its key path, for each problem in a pydantic
    ValidationError (see :mod:`sharing.errors`). ``model`` (default: :class:`Scenario`) is
    what was validated: an unknown key is answered with the closest keys of the model there.
    Where a value matched no member of a union, the problem inside the member that fits its
    shape is kept and "not text" for the other members dropped."""
    model = model or Scenario
    found: dict[tuple, Problem] = {}
    wrong_type: set[str] = set()
    for e in err.errors():
        path = format_loc(e["loc"], data)
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, PathError):
            for sub, problem in cause.items:
                full = (f"{path}.{sub}" if path and sub else (path or sub)).replace(".[", "[")
                found.setdefault((full, problem.text()), problem.at(path=full))
            continue
        if (path,) in found:
            continue  # the other members of a union: one problem per key path
        found[(path,)] = problem_of(e, model).at(path=path)
        if e["type"].endswith(_TYPE_ERRORS):
            wrong_type.add(path)
    deeper = {k[0] for k in found}
    return [p for k, p in found.items()
            if not (len(k) == 1 and k[0] in wrong_type
                    and any(d.startswith((k[0] + ".", k[0] + "[")) for d in deeper))]


def validation_problems(err: ValidationError, data: Any, where: str,
                        text: str | None = None) -> list[Problem]:
    """The problems of a pydantic ValidationError, placed in file ``where`` (and at their
    line in its ``text``)."""
    return [p.at(where=where, line=_line_of(text, p.path) if p.path else None)
            for p in validation_items(err, data)]


def read_bytes(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or ScenarioError.

    Devices (``/dev/zero``), FIFOs and sockets are refused before reading (a FIFO is opened
    without blocking), and at most ``limit + 1`` bytes are read whatever ``st_size`` says
    (it is 0 for devices and ``/proc`` files).
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ScenarioError([Problem("file.missing", where=str(p))]) from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        raise ScenarioError([Problem("file.unreadable", {
            "reason": getattr(e, "strerror", None) or str(e)}, where=str(p))]) from None
    try:
        info = os.fstat(fd)
        if file_stat.S_ISDIR(info.st_mode):
            raise ScenarioError([Problem("file.directory", where=str(p))])
        if not file_stat.S_ISREG(info.st_mode):
            raise ScenarioError([Problem("safety.not_regular_file", where=str(p))])
        if info.st_size > limit:
            raise ScenarioError([Problem("file.too_big", {
                "size": f"{info.st_size / 2**20:.1f}", "limit": f"{limit / 2**20:g}"},
                where=str(p))])
        with os.fdopen(fd, "rb") as f:
            fd = -1
            raw = f.read(limit + 1)  # st_size is 0 for /proc files: never trust it alone
    except OSError as e:
        raise ScenarioError([Problem("file.unreadable", {"reason": e.strerror},
                                     where=str(p))]) from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(raw) > limit:
        raise ScenarioError([Problem("safety.too_big", {"limit": f"{limit / 2**20:g}"},
                                    where=str(p))])
    return raw


def _mostly_utf8(raw: bytes) -> bool:
    """True when valid multi-byte UTF-8 characters outnumber the invalid bytes at least
    two to one: a UTF-8 file with stray bytes, not a GBK one (whose byte pairs now and then
    look like UTF-8 by chance)."""
    text = raw.decode("utf-8", "replace")
    invalid = text.count("\ufffd")
    valid = sum(1 for ch in text if ord(ch) > 127) - invalid
    return valid > 2 * invalid


def decode_text(raw: bytes, where: str, chinese_fallback: bool = False) -> str:
    """UTF-8 text (a BOM is dropped), or ScenarioError naming the row and column of the first
    byte that is not UTF-8.

    With ``chinese_fallback`` a file that is not UTF-8 at all (see :func:`_mostly_utf8`)
    and decodes cleanly as GB18030 (a superset of GBK, what Excel on a
    Chinese Windows saves as "CSV") is accepted. A UTF-8 file with a stray byte is not
    decoded as GB18030: that would garble every Chinese name in it.
    """
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if chinese_fallback and not _mostly_utf8(raw):
            try:
                return raw.decode("gb18030")
            except UnicodeDecodeError:
                pass
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        row = raw.count(b"\n", 0, e.start) + 1
        column = len(raw[line_start:e.start].decode("utf-8", "replace")) + 1
        raise ScenarioError([Problem("safety.not_utf8", {
            "row": row, "column": column, "byte": f"{raw[e.start]:02X}"}, where=where)]) from None


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` with :data:`SAFE_LOADER`: plain data only, never Python objects."""
    loader = SAFE_LOADER(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_text(path: str | Path, chinese_fallback: bool = False,
              limit: int = MAX_FILE_BYTES) -> str:
    """Read a UTF-8 text file (see :func:`read_bytes`, :func:`decode_text`), or raise
    ScenarioError saying exactly what is wrong."""
    return decode_text(read_bytes(path, limit), str(path), chinese_fallback)


DATA_ROOTS_VARIABLE = "SHARING_DATA_ROOTS"


def data_roots() -> list[Path]:
    """Folders besides a scenario's own that its ``firms_csv`` may name: the environment
    variable ``SHARING_DATA_ROOTS`` (folders separated by ``os.pathsep``), empty by default."""
    value = os.environ.get(DATA_ROOTS_VARIABLE, "")
    return [Path(p).resolve() for p in value.split(os.pathsep) if p.strip()]


def firms_csv_path(name: str, base_dir: Path | None, where: str = "<scenario>",
                   text: str | None = None) -> Path:
    """The file a scenario's ``firms_csv`` names, resolved after symlinks, when it lies inside
    the scenario's own folder or an allowed data root (:func:`data_roots`); ScenarioError
    otherwise, before anything is read (the app accepts uploads: ``/etc/shadow``,
    ``/proc/self/environ``, ``../../secret.csv`` or a symlink out must not be read, nor
    their contents echoed)."""
    line = _line_of(text, "firms_csv")
    if base_dir is None:
        raise ScenarioError([Problem("safety.firms_csv_no_folder", {"name": name},
                                     where=where, line=line, path="firms_csv")])
    folder = Path(base_dir).resolve()
    try:
        target = (folder / name).resolve()
    except (OSError, RuntimeError, ValueError):
        target = None
    if target is not None and any(target.is_relative_to(root)
                                  for root in [folder, *data_roots()]):
        return target
    raise ScenarioError([Problem("safety.firms_csv_outside", {"name": name, "folder": str(folder)},
                                 where=where, line=line, path="firms_csv")])


def parse_scenario(data: Any, where: str = "<scenario>", text: str | None = None,
                   base_dir: Path | None = None) -> Scenario:
    """Validate already-parsed data into a Scenario (raises ScenarioError)."""
    if not isinstance(data, dict):
        raise ScenarioError([Problem("scenario.not_mapping", {"kind": type(data).__name__},
                                     where=where)])
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(validation_problems(err, data, where, text)) from None
    if sc.firms_csv:
        csv_path = firms_csv_path(sc.firms_csv, base_dir, where, text)
        firms = read_firms_csv(csv_path, set(sc.jurisdiction_ids))
        try:
            sc = Scenario.model_validate({**data, "firms": [*data.get("firms", []), *firms]},
                                         context={"firms_loaded": True})
        except ValidationError as err:
            raise ScenarioError(validation_problems(err, data, where, text)) from None
    return sc


def located(err: ScenarioError, path: str | Path) -> ScenarioError:
    """The same problems, each with a key path and no file placed in ``path`` at the key's
    line (for errors found after loading, when the engine compiles the scenario)."""
    try:
        text = read_text(path)
    except ScenarioError:
        text = None
    return ScenarioError([p.at(where=str(path), line=_line_of(text, p.path) if p.path else None)
                          if not p.where and not p.sheet else p for p in err.items])


define({
    "file.too_big": ("文件大小 {size} MB，超过上限 {limit} MB（较长的企业名单请放在 `firms_csv` "
                     "文件中）",
                     "file is {size} MB; the limit is {limit} MB (put long firm lists in a "
                     "`firms_csv` file)"),
    "file.missing": ("没有这个文件", "no such file"),
    "file.directory": ("这是文件夹，不是情景文件", "is a directory, not a scenario file"),
    "file.unreadable": ("无法读取（{reason}）", "cannot read ({reason})"),
    "scenario.not_mapping": ("文件须是键值映射（scenario、name、years、jurisdictions ……），"
                             "而不是 {kind}",
                             "the file must be a mapping of keys (scenario, name, years, "
                             "jurisdictions, ...), not {kind}"),
    "scenario.not_yaml": ("不是有效的 YAML：{problem}", "not valid YAML: {problem}"),
    "firms.not_csv": ("不是可读的 CSV（{error}）", "not a readable CSV ({error})"),
    "firms.missing_columns": ("缺少列 {columns}（应有：{expected}；`sharing template firms` "
                              "可生成模板）",
                              "missing column(s) {columns} (expected: {expected}; `sharing "
                              "template firms` writes a template)"),
    "firms.unknown_column": ("未知列 {column!r}（应有：{expected}）",
                             "unknown column {column!r} (expected: {expected})"),
    "firms.not_number": ("{value!r} 不是数", "{value!r} is not a number"),
    "firms.duplicate": ("重复的企业 id {id!r}（另见第 {other} 行）",
                        "duplicate firm id {id!r} (also row {other})"),
})


define({
    "scenario.no_such_scenario": (
        "没有这个文件，也不是内置情景（`sharing list` 列出内置情景）",
        "no such file, and not a built-in scenario (`sharing list` shows them)"),
})


def scenario_library() -> Path | None:
    """The folder of the built-in scenarios.

    It is installed as the data package ``sharing.scenarios`` (the repository's
    ``scenarios/`` folder, mapped in pyproject.toml), so an editable install finds it from
    any folder, as does a wheel; an editable install made before that mapping falls back to
    the folder next to the package.
    """
    try:
        folders = [Path(p) for p in importlib.import_module("sharing.scenarios").__path__]
    except ImportError:
        folders = []
    folders.append(Path(__file__).resolve().parent.parent / "scenarios")
    return next((f for f in folders if f.is_dir()), None)


def builtin_scenarios() -> dict[str, Path]:
    """Built-in scenarios by name: the path under :func:`scenario_library` without
    ``.yaml`` (``gaozhu``, ``formulary/eu_ccctb``)."""
    library = scenario_library()
    if library is None:
        return {}
    return {p.relative_to(library).with_suffix("").as_posix(): p
            for p in sorted(library.rglob("*.yaml"))}


def find_scenario(name: str | Path) -> Path:
    """A scenario file: ``name`` itself when it exists, else the built-in scenario of that
    name (``gaozhu`` or ``gaozhu.yaml``). Raises ScenarioError, with the closest built-in
    names, when it is neither."""
    path = Path(name)
    if path.exists():
        return path
    builtin = builtin_scenarios()
    key = path.as_posix().removesuffix(".yaml")
    if key in builtin:
        return builtin[key]
    raise ScenarioError([Problem("scenario.no_such_scenario", where=str(name),
                                 close=tuple(did_you_mean(key, builtin)))])


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario YAML file.

    Raises
    ------
    ScenarioError
        With one message per problem: ``file:line: key.path: problem``.
    """
    text = read_text(path, limit=MAX_YAML_BYTES)
    try:
        data = safe_yaml(text)
    except RecursionError:
        raise ScenarioError([Problem("safety.too_deep", where=str(path))]) from None
    except yaml.YAMLError as e:
        if "nesting depth" in str(getattr(e, "problem", "")):  # libyaml's own depth limit
            raise ScenarioError([Problem("safety.too_deep", where=str(path))]) from None
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise ScenarioError([Problem("scenario.not_yaml", {"problem": problem},
                                     where=str(path), line=line)]) from None
    return parse_scenario(data, str(path), text, Path(path).parent)


FIRM_COLUMNS = ["id", "name", "name_en", "origin", "destination", "move_year",
                "production_year", "growth", *(f"pre_move_{t}" for t in TAXES), "illustrative"]
REQUIRED_FIRM_COLUMNS = ("id", "origin", "destination", "move_year")


def read_firms_csv(path: str | Path, jurisdictions: set[str] | None = None) -> list[Firm]:
    """Read migrated firms from CSV (UTF-8, or GBK/GB18030 as Excel saves it in China).

    One row per firm, columns :data:`FIRM_COLUMNS`: ``id, origin, destination, move_year``
    required; ``production_year`` (达产, blank = the move year); ``pre_move_<tax>`` in 万元
    (blank = 0); ``growth`` a fraction. Every problem
    names the file, the row (as a spreadsheet shows it, header = row 1) and the column;
    nothing is imported unless every row is valid.
    """
    text = read_text(path, chinese_fallback=True)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ScenarioError([Problem("firms.not_csv", {"error": str(e).strip()},
                                     where=str(path))]) from None
    df.columns = [c.strip() for c in df.columns]
    unknown = [c for c in df.columns if c not in FIRM_COLUMNS]
    missing = [c for c in REQUIRED_FIRM_COLUMNS if c not in df.columns]
    if unknown or missing:
        expected = ", ".join(FIRM_COLUMNS)
        raise ScenarioError(
            [Problem("firms.missing_columns", {"columns": ", ".join(missing),
                                               "expected": expected}, where=str(path))
             for _ in missing[:1]]
            + [Problem("firms.unknown_column", {"column": c, "expected": expected},
                       where=str(path), row=1, column=c, close=tuple(did_you_mean(c, FIRM_COLUMNS)))
               for c in unknown])
    problems = []
    numeric = {}
    for col in ["move_year", "production_year", "growth",
                *(c for c in df.columns if c.startswith("pre_move_"))]:
        if col not in df.columns:
            continue
        text_values = df[col].str.strip()
        if col not in ("move_year", "production_year"):
            text_values = text_values.replace("", "0")
        values = pd.to_numeric(text_values, errors="coerce")
        bad = values.isna() | ~np.isfinite(values.fillna(0.0))
        if col == "production_year":
            bad &= text_values != ""  # blank: the move year
        for row in np.flatnonzero(bad)[:5]:
            problems.append(Problem("firms.not_number", {"value": df[col].iat[row]},
                                    where=str(path), row=row + 2, column=col))
        if col in ("move_year", "production_year"):  # 2024.9 is refused, as in YAML
            fractional = ~bad & values.notna() & (values.fillna(0.0) % 1 != 0)
            problems.extend(Problem("bounds.fractional_year", {"value": df[col].iat[row]},
                                    where=str(path), row=row + 2, column=col)
                            for row in np.flatnonzero(fractional)[:5])
        numeric[col] = values.to_numpy()
    first_row: dict[str, int] = {}
    for row, fid in enumerate(df["id"]):
        if fid in first_row:
            problems.append(Problem("firms.duplicate", {"id": fid, "other": first_row[fid] + 2},
                                    where=str(path), row=row + 2, column="id"))
        first_row.setdefault(fid, row)
    if jurisdictions is not None:
        for col in ("origin", "destination"):
            for row in np.flatnonzero(~df[col].isin(jurisdictions))[:5]:
                value = df[col].iat[row]
                problems.append(Problem(
                    "scenario.unknown_jurisdiction",
                    {"id": value, "known": ", ".join(sorted(jurisdictions))},
                    where=str(path), row=row + 2, column=col,
                    close=tuple(did_you_mean(value, sorted(jurisdictions)))))
    if problems:
        raise ScenarioError(problems)
    taxes_cols = [c for c in df.columns if c.startswith("pre_move_")]
    firms = []
    for i, rec in enumerate(df.to_dict("records")):
        firm: dict[str, Any] = {k: rec[k] for k in ("id", "origin", "destination")}
        for k in ("name", "name_en"):
            if rec.get(k):
                firm[k] = rec[k]
        firm["move_year"] = float(numeric["move_year"][i])  # validated as a Year
        if "production_year" in numeric and not np.isnan(numeric["production_year"][i]):
            firm["production_year"] = float(numeric["production_year"][i])
        if "growth" in numeric:
            firm["growth"] = float(numeric["growth"][i])
        firm["pre_move"] = {c.removeprefix("pre_move_"): float(numeric[c][i])
                            for c in taxes_cols if numeric[c][i] != 0}
        if rec.get("illustrative", "").strip().lower() in ("1", "true", "yes", "是"):
            firm["illustrative"] = True
        try:
            firms.append(Firm.model_validate(firm))
        except ValidationError as err:
            problems.extend(p.at(where=str(path), row=i + 2)
                            for p in validation_items(err, firm, Firm))
            if len(problems) >= 20:
                break
    if problems:
        raise ScenarioError(problems)
    return firms


def json_schema() -> dict:
    """The scenario format as JSON Schema (``sharing schema``)."""
    return Scenario.model_json_schema()


def dump_json_schema() -> str:
    return json.dumps(json_schema(), ensure_ascii=False, indent=2)
