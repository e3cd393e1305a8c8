"""The annual settlement ledger (年度结算): actual taxes in, amounts due, payments, arrears.

Once an agreement is signed, each year a finance bureau takes the taxes actually collected
(入库数, net of refunds 退库), works out what each side owes the other under the signed rules,
records what was paid, carries arrears forward and issues a statement both sides sign.

- **Amounts due** apply the scenario's own rules to the actuals with the same engine
  (:meth:`Model.run` with the actual gross amounts and compliance 1): stock/increment
  baselines, caps with their cumulative sums, floors, the 京津冀 window. Actuals given as
  retained revenue are converted to gross with the scenario's retention table, so the engine
  gets back exactly the retained amount. Stream-years without an actual fall back to the
  projection and are flagged ``estimated``. A negative actual is a refund: each rule shares it
  as it shares negative amounts (fixed ratios and factors: in the year's ratio; capped: in the
  ratio, counting against the cap; stock/increment: it stays in the host's stock).
- **The ledger** keeps one account per pair of jurisdictions linked by an agreement, netting
  all their agreements and both directions. It is oriented so that ``payer`` is the side that
  owes on balance. In year ``t``, with the pair's net due ``d_t``, payments booked to the year
  ``p_t`` (both signed in that orientation) and the annual late-interest rate ``r``:

  - debits, in order: interest ``i_t = r · (principal outstanding at the end of t − 1)``
    (simple interest: unpaid interest bears none), then ``max(d_t, 0)``, then
    ``max(−p_t, 0)``;
  - settlements: ``max(−d_t, 0) + max(p_t, 0)``;
  - settlements clear the oldest debits first (FIFO); settlements beyond every debit are a
    credit that the next debits use first. With cumulative debits ``D_k`` (through item
    ``k``) and cumulative settlements ``S_t``, item ``k`` still owes
    ``clip(D_k − S_t, 0, debit_k)`` at the end of year ``t``;
  - ``arrears_end = max(D − S, 0)``, ``credit_end = max(S − D, 0)``, hence the conservation
    ``Σ paid + arrears_end = Σ due + Σ interest + credit_end``.

  ``tests/reference_settlement.py`` keeps a plain FIFO queue as the oracle of this closed form.
- **Compliance** observed: for each agreement, the share of its positive dues that has been
  settled, ready for ``Model.run(compliance=...)`` and the risk model.

Sources: SETTLEMENT.md §1 (年终结算 上解/补助; central clearing; quarterly prepayment and
year-end true-up; refunds in the prepayment ratio), POLICY.md §3.1 (京津冀 amounts "包含缴纳和
退库").
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from sharing.channels import Settlement
from sharing.engine import Model, compile_scenario
from sharing.i18n import Lang, Problem, define, did_you_mean
from sharing.result import Result
from sharing.scenario import Scenario, ScenarioError, load_scenario, read_text
from sharing.taxes import TAX_NAMES, TAXES

Source = str | Path | bytes | pd.DataFrame
ACTUAL_COLUMNS = ("stream", "firm", "park", "host", "tax", "year", "amount", "basis", "note")
PAYMENT_COLUMNS = ("payer", "payee", "date", "amount", "year", "note")
BASES = {"gross": "gross", "征收额": "gross", "retained": "retained", "留成": "retained"}
MAX_PROBLEMS = 50
DEFAULT_SETTLEMENT = Settlement()
WAN = 10_000  # 元 per 万元


def yuan(wan: float) -> Decimal:
    """An amount in 万元 as 元, rounded half up to the fen (分) from its shortest decimal form:
    what statements show and what 大写 spells out."""
    return (Decimal(repr(float(wan))) * WAN).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

define({
    "settlement.not_csv": ("不是可读的 CSV（{error}）", "not a readable CSV ({error})"),
    "settlement.not_text": ("不是 UTF-8 或 GBK 文本；请另存为 CSV UTF-8",
                            "not UTF-8 or GBK text; save it as CSV UTF-8"),
    "settlement.missing_columns": (
        "缺少列 {missing}（应有：{expected}；`sharing template {what} 情景文件` 可生成模板）",
        "missing column(s) {missing} (expected: {expected}; `sharing template {what} "
        "SCENARIO` writes a template)"),
    "settlement.unknown_column": ("未知列 {name!r}（可用：{expected}）",
                                  "unknown column {name!r} (expected: {expected})"),
    "settlement.no_rows": ("没有数据行", "no data rows"),
    "settlement.not_a_number": ("{value!r} 不是数字", "{value!r} is not a number"),
    "settlement.not_a_year": ("{value!r} 不是年份", "{value!r} is not a year"),
    "settlement.year_outside": ("年份 {year} 不在情景年份 {start}–{end} 内",
                                "year {year} is outside the scenario's years {start}-{end}"),
    "settlement.which_stream": (
        "请写 stream，或 firm 与 tax，或 park、host 与 tax（三者选一）",
        "give stream, or firm and tax, or park, host and tax (one of the three)"),
    "settlement.unknown_stream": ("未知税源 {value!r}", "unknown stream {value!r}"),
    "settlement.unknown_firm": ("未知企业 {value!r}", "unknown firm {value!r}"),
    "settlement.unknown_park": ("未知园区 {value!r}", "unknown park {value!r}"),
    "settlement.unknown_jurisdiction": ("未知辖区 {value!r}（可选：{valid}）",
                                        "unknown jurisdiction {value!r} (valid: {valid})"),
    "settlement.unknown_tax": ("未知税种 {value!r}", "unknown tax {value!r}"),
    "settlement.no_such_stream": (
        "{owner} 在 {year} 年没有 {tax} 税源（有：{streams}）",
        "{owner} has no {tax} stream in {year} (it has: {streams})"),
    "settlement.two_sites": (
        "园区 {park!r} 在 {host!r} 有多个片区，请在 stream 列写明税源（{streams}）",
        "park {park!r} has several sites at {host!r}; name the stream in column stream "
        "({streams})"),
    "settlement.duplicate": ("与第 {other} 行重复（{what}）", "duplicates row {other} ({what})"),
    "settlement.bad_basis": ("口径 {value!r} 无效，应为 gross（征收额）或 retained（留成）",
                             "basis {value!r} is not gross or retained"),
    "settlement.no_retention": (
        "{stream} 在 {year} 年的留成比例为 0，无法由留成数换算征收额；请按征收额（gross）填报",
        "{stream} keeps no retained share in {year}, so a retained amount cannot be turned "
        "into gross; give the gross amount"),
    "settlement.not_a_date": ("{value!r} 不是日期（请写成 2025-03-31）",
                              "{value!r} is not a date (write 2025-03-31)"),
    "settlement.not_positive": (
        "付款金额应为正数；对方付回的款项请记为 {payee} → {payer} 的付款",
        "a payment is a positive amount; money paid back is a payment from {payee} to {payer}"),
    "settlement.same_party": ("付款方与收款方相同（{value!r}）",
                              "payer and payee are the same ({value!r})"),
    "settlement.no_agreement": (
        "{payer} 与 {payee} 之间没有分享协议（有协议的辖区对：{pairs}）",
        "{payer} and {payee} have no agreement between them (pairs with one: {pairs})"),
    "settlement.through_outside": (
        "结算年度 {year} 不在情景年份 {start}–{end} 内",
        "settlement year {year} is outside the scenario's years {start}-{end}"),
    "settlement.interest_conflict": (
        "{payer} 与 {payee} 之间的协议约定的滞纳利率不同（{rates}）；同一对辖区的欠款是一个账户，"
        "请统一 settlement.late_interest",
        "the agreements between {payer} and {payee} set different late interest ({rates}); a "
        "pair's arrears are one account, so make settlement.late_interest agree"),
    "settlement.more_problems": ("……另有 {n} 个问题未列出", "... and {n} more problems"),
    "settlement.no_year": ("没有年度 {year} 的结算（账簿年度：{years}）",
                           "no settlement for {year} (ledger years: {years})"),
})

# Column labels of the ledger tables (Chinese with lang="zh").
LABELS: dict[str, tuple[str, str]] = {
    "year": ("年度", "year"),
    "agreement": ("协议", "agreement"),
    "payer": ("付款方", "payer"),
    "payee": ("收款方", "payee"),
    "tax": ("税种", "tax"),
    "base_actual": ("实际分享基数", "actual base"),
    "amount_due": ("应结算金额", "amount due"),
    "estimated": ("含估算数", "estimated"),
    "due": ("本年应结算", "due"),
    "paid": ("本年已拨付", "paid"),
    "arrears_start": ("年初欠款", "arrears at start"),
    "interest": ("滞纳利息", "interest"),
    "arrears_end": ("年末欠款", "arrears at end"),
    "credit_end": ("年末多付结余", "credit at end"),
    "advance_expected": ("应季度预拨", "advances expected"),
    "as_of": ("截至年度", "as of"),
    "origin_year": ("欠款所属年度", "year owed for"),
    "kind": ("类型", "kind"),
    "outstanding": ("未结清", "outstanding"),
    "jurisdiction": ("辖区", "jurisdiction"),
    "measure": ("口径", "measure"),
    "projected": ("预测", "projected"),
    "actual": ("实际", "actual"),
    "difference": ("差额", "difference"),
    "compliance": ("兑现率", "compliance"),
    "date": ("日期", "date"),
    "amount": ("金额", "amount"),
    "note": ("备注", "note"),
}
VALUE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "tax": {**TAX_NAMES, "": ("固定回报", "fixed return")},
    "kind": {"due": ("应结算", "due"), "interest": ("利息", "interest"),
             "repaid": ("对方付回", "paid back")},
    "measure": {"collected": ("征收额", "collected"), "retained": ("留成", "retained"),
                "allocated": ("分享后收入", "allocated")},
    "estimated": {True: ("是", "yes"), False: ("", "")},
}


def translate(df: pd.DataFrame, lang: Lang) -> pd.DataFrame:
    """A ledger table with Chinese headers and coded values for ``lang="zh"``."""
    if lang == "en":
        return df
    out = df.copy()
    for col, names in VALUE_LABELS.items():
        if col in out.columns:
            out[col] = out[col].map(lambda v, n=names: n[v][0] if v in n else v)
    return out.rename(columns={k: zh for k, (zh, _) in LABELS.items()})


# ---------------------------------------------------------------------------------------------
# Reading actuals and payments


class _Problems:
    """Problems of one input file, each at ``file:row: column``."""

    def __init__(self, name: str):
        self.name = name
        self.items: list[Problem] = []

    def add(self, key: str, row: int | None = None, column: str = "",
            close: Iterable[str] = (), **params: Any) -> None:
        self.items.append(Problem(f"settlement.{key}", params, where=self.name, line=row,
                                  path=column, close=tuple(close)))

    def raise_any(self) -> None:
        if self.items:
            shown = self.items[:MAX_PROBLEMS]
            if len(self.items) > MAX_PROBLEMS:
                shown.append(Problem("settlement.more_problems",
                                     {"n": len(self.items) - MAX_PROBLEMS}, where=self.name))
            raise ScenarioError(shown)


def _frame(source: Source, default_name: str) -> tuple[pd.DataFrame, str]:
    """Text cells of a CSV (UTF-8, or GBK/GB18030 as Excel saves it in China), stripped."""
    if isinstance(source, pd.DataFrame):
        df, name = source.astype(object).where(source.notna(), "").astype(str), default_name
    else:
        if isinstance(source, bytes):
            name = default_name
            try:
                text = source.decode("utf-8-sig")
            except UnicodeDecodeError:
                try:
                    text = source.decode("gb18030")
                except UnicodeDecodeError:
                    raise ScenarioError([Problem("settlement.not_text", where=name)]) \
                        from None
        else:
            name = str(source)
            text = read_text(source, chinese_fallback=True)
        try:
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                             skip_blank_lines=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise ScenarioError([Problem("settlement.not_csv", {"error": str(e).strip()},
                                         where=name)]) from None
    df.columns = [str(c).strip() for c in df.columns]
    return df.apply(lambda c: c.str.strip()), name


def _records(df: pd.DataFrame) -> Iterable[dict[str, str]]:
    """The rows as dicts (plain lists: pandas' own ``to_dict`` is several times slower)."""
    columns = list(df.columns)
    for values in zip(*(df[c].tolist() for c in columns), strict=True):
        yield dict(zip(columns, values, strict=True))


def _check_columns(df: pd.DataFrame, problems: _Problems, known: tuple[str, ...],
                   required: tuple[str, ...], what: str) -> None:
    for col in df.columns:
        if col not in known:
            problems.add("unknown_column", 1, col, did_you_mean(col, known),
                         name=col, expected=", ".join(known))
    missing = [c for c in required if c not in df.columns]
    if missing:
        problems.add("missing_columns", 1, missing=", ".join(missing),
                     expected=", ".join(known), what=what)
    problems.raise_any()


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _year(text: str, model: Model, problems: _Problems, row: int, column: str) -> int | None:
    value = _number(text)
    if value is None or value != int(value):
        problems.add("not_a_year", row, column, value=text)
        return None
    year, (start, end) = int(value), (int(model.years[0]), int(model.years[-1]))
    if not start <= year <= end:
        problems.add("year_outside", row, column, year=year, start=start, end=end)
        return None
    return year


@dataclass(frozen=True)
class Actuals:
    """Actual gross amounts per stream and year: ``given`` in the file; ``known`` also counts
    stream-years projected to be zero (a firm's taxes at its origin after its move). The
    rest are the projection, flagged ``estimated``."""

    gross: np.ndarray
    given: np.ndarray

    @property
    def known(self) -> np.ndarray:
        return self.given | (self.gross == 0)


class _StreamIndex:
    """Finds a stream row from a stream id, a firm × tax × year or a park × host × tax."""

    def __init__(self, model: Model):
        s, sc = model.streams, model.scenario
        self.model = model
        self.ids = {sid: i for i, sid in enumerate(s.ids)}
        self.firms = {f.id: f for f in sc.firms}
        self.parks = {p.id: p for p in sc.parks}
        self.by_firm: dict[str, list[int]] = {}
        self.by_site: dict[tuple[str, str, str], list[int]] = {}
        jur = model.jurisdictions
        for i in range(len(s)):
            if s.firm[i] >= 0:
                self.by_firm.setdefault(sc.firms[s.firm[i]].id, []).append(i)
            if s.park[i] >= 0:
                key = (sc.parks[s.park[i]].id, jur[s.host[i]], TAXES[s.tax[i]])
                self.by_site.setdefault(key, []).append(i)
        self.names = {j.name: j.id for j in sc.jurisdictions}

    def jurisdiction(self, value: str) -> str | None:
        if value in self.model.index:
            return value
        return self.names.get(value)

    def find(self, rec: dict[str, str], year: int, problems: _Problems, row: int) -> int | None:
        s = self.model.streams
        has = {k for k in ("stream", "firm", "park") if rec.get(k)}
        if len(has) != 1:
            problems.add("which_stream", row, "stream")
            return None
        if "stream" in has:
            sid = rec["stream"]
            if sid not in self.ids:
                problems.add("unknown_stream", row, "stream", did_you_mean(sid, self.ids),
                             value=sid)
                return None
            return self.ids[sid]
        tax = rec.get("tax", "")
        if tax not in TAXES:
            problems.add("unknown_tax", row, "tax", did_you_mean(tax, TAXES), value=tax)
            return None
        if "firm" in has:
            fid = rec["firm"]
            if fid not in self.firms:
                problems.add("unknown_firm", row, "firm", did_you_mean(fid, self.firms),
                             value=fid)
                return None
            rows = [i for i in self.by_firm.get(fid, []) if TAXES[s.tax[i]] == tax]
            firm = self.firms[fid]
            if firm.move_year is not None:  # collected at the origin before the move
                where = "destination" if year >= firm.move_year else "origin"
                rows = [i for i in rows if s.ids[i].endswith(f"@{where}")]
            if not rows:
                problems.add("no_such_stream", row, "tax", owner=f"firm {fid!r}", year=year,
                             tax=tax, streams=", ".join(s.ids[i] for i in
                                                        self.by_firm.get(fid, [])) or "-")
                return None
            return rows[0]
        park = rec["park"]
        if park not in self.parks:
            problems.add("unknown_park", row, "park", did_you_mean(park, self.parks),
                         value=park)
            return None
        host = self.jurisdiction(rec.get("host", ""))
        if host is None:
            problems.add("unknown_jurisdiction", row, "host",
                         did_you_mean(rec.get("host", ""), self.model.jurisdictions),
                         value=rec.get("host", ""), valid=", ".join(self.model.jurisdictions))
            return None
        rows = self.by_site.get((park, host, tax), [])
        if len(rows) > 1:
            problems.add("two_sites", row, "park", park=park, host=host,
                         streams=", ".join(s.ids[i] for i in rows))
            return None
        if not rows:
            here = [s.ids[i] for (p, h, _), rs in self.by_site.items() if p == park
                    and h == host for i in rs]
            problems.add("no_such_stream", row, "tax", owner=f"{park}/{host}", year=year,
                         tax=tax, streams=", ".join(here) or "-")
            return None
        return rows[0]


def read_actuals(source: Source, model: Model, name: str = "<actuals>") -> Actuals:
    """Read actual amounts (万元) per stream and year; see ``docs/settlement.md``.

    Columns: ``year``, ``amount``, and either ``stream`` (an id from ``sharing template
    actuals``), or ``firm`` and ``tax``, or ``park``, ``host`` and ``tax``; optional ``basis``
    (``gross``, the default, or ``retained``) and ``note``. A row with an empty amount is
    skipped (that year stays estimated, unless the projection is zero there). Raises
    ScenarioError naming file, row and column for every problem; nothing is returned unless
    every row is valid.
    """
    df, name = _frame(source, name)
    problems = _Problems(name)
    _check_columns(df, problems, ACTUAL_COLUMNS, ("year", "amount"), "actuals")
    index = _StreamIndex(model)
    s, years = model.streams, model.years
    gross = s.gross.copy()
    given = np.zeros(gross.shape, dtype=bool)
    seen: dict[tuple[int, int], int] = {}
    count = 0
    for r, rec in enumerate(_records(df), start=2):
        if not rec.get("amount"):
            continue
        year = _year(rec["year"], model, problems, r, "year")
        amount = _number(rec["amount"])
        if amount is None:
            problems.add("not_a_number", r, "amount", value=rec["amount"])
        basis = BASES.get(rec.get("basis", "") or "gross")
        if basis is None:
            problems.add("bad_basis", r, "basis", did_you_mean(rec["basis"], BASES),
                         value=rec["basis"])
        if year is None:
            continue
        row = index.find(rec, year, problems, r)
        if row is None or amount is None or basis is None:
            continue
        t = int(year - years[0])
        if (row, t) in seen:
            problems.add("duplicate", r, "year", other=seen[row, t],
                         what=f"{s.ids[row]} {year}")
            continue
        seen[row, t] = r
        if basis == "retained":
            rate = s.retention[row, t]
            if rate == 0:
                problems.add("no_retention", r, "basis", stream=s.ids[row], year=year)
                continue
            amount = amount / rate
        gross[row, t] = amount
        given[row, t] = True
        count += 1
    if not count and not problems.items:
        problems.add("no_rows")
    problems.raise_any()
    return Actuals(gross, given)


_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$"
                   r"|^(\d{4})(\d{2})(\d{2})$")


def _date(text: str) -> datetime.date | None:
    match = _DATE.match(text)
    if not match:
        return None
    y, m, d = (int(g) for g in (match.groups()[:3] if match[1] else match.groups()[3:]))
    try:
        return datetime.date(y, m, d)
    except ValueError:
        return None


def read_payments(source: Source, model: Model, pairs: set[frozenset[str]],
                  name: str = "<payments>") -> pd.DataFrame:
    """Read payments: ``payer, payee, date, amount`` (万元, positive), optional ``year`` (the
    settlement year the payment is booked to; default the year of ``date``) and ``note``.
    Payer and payee are jurisdiction ids (or names) linked by an agreement. Returns
    ``payer, payee, date, year, amount, row``; raises ScenarioError naming file, row and
    column for every problem."""
    df, name = _frame(source, name)
    problems = _Problems(name)
    _check_columns(df, problems, PAYMENT_COLUMNS, ("payer", "payee", "date", "amount"),
                   "payments")
    index = _StreamIndex(model)
    jur = model.jurisdictions
    linked = ", ".join(sorted("–".join(sorted(p)) for p in pairs)) or "-"
    out, seen = [], {}
    for r, rec in enumerate(_records(df), start=2):
        if not rec.get("amount"):
            continue
        ids = {}
        for col in ("payer", "payee"):
            ids[col] = index.jurisdiction(rec[col])
            if ids[col] is None:
                problems.add("unknown_jurisdiction", r, col, did_you_mean(rec[col], jur),
                             value=rec[col], valid=", ".join(jur))
        when = _date(rec["date"])
        if when is None:
            problems.add("not_a_date", r, "date", value=rec["date"])
        amount = _number(rec["amount"])
        if amount is None:
            problems.add("not_a_number", r, "amount", value=rec["amount"])
        elif amount <= 0:
            problems.add("not_positive", r, "amount", payer=rec["payer"], payee=rec["payee"])
        year = None
        if rec.get("year"):
            year = _year(rec["year"], model, problems, r, "year")
        elif when is not None:
            year = _year(str(when.year), model, problems, r, "date")
        payer, payee = ids["payer"], ids["payee"]
        if payer is not None and payer == payee:
            problems.add("same_party", r, "payee", value=rec["payee"])
        elif payer is not None and payee is not None and frozenset((payer, payee)) not in pairs:
            problems.add("no_agreement", r, "payee", payer=payer, payee=payee, pairs=linked)
        if None in (payer, payee, when, amount, year) or payer == payee or amount <= 0:
            continue
        key = (payer, payee, when, amount, year, rec.get("note", ""))
        if key in seen:
            problems.add("duplicate", r, "amount", other=seen[key],
                         what=f"{payer} → {payee} {when} {amount:g}")
            continue
        seen[key] = r
        out.append({"payer": payer, "payee": payee, "date": when, "year": year,
                    "amount": amount, "row": r})
    problems.raise_any()
    return pd.DataFrame(out, columns=["payer", "payee", "date", "year", "amount", "row"])


# ---------------------------------------------------------------------------------------------
# Amounts due


def amounts_due(model: Model, result: Result, known: np.ndarray | None = None) -> pd.DataFrame:
    """What each agreement gives each jurisdiction out of each host's collections, per tax and
    year: ``year, agreement, payer, payee, tax, base_actual, amount_due, estimated``.

    ``payer`` is the host that collected the tax, ``payee`` the jurisdiction entitled to
    ``amount_due`` of it; a row with ``payer == payee`` is what the host keeps, so the
    ``amount_due`` of one (year, agreement, payer, tax) sum to its ``base_actual`` (the
    retained revenue shared). Fixed-return payments have ``tax == ""`` and no base.
    """
    s, years, jur = model.streams, model.years, np.array(model.jurisdictions, dtype=object)
    n_j, n_t, n_tax = len(jur), len(years), len(TAXES)
    missing = np.zeros(s.gross.shape) if known is None else (~known).astype(float)
    frames = []
    for position, rows, split in result.alloc.blocks:
        if position < 0:
            continue
        agreement = model.scenario.agreements[position].id
        host, tax = s.host[rows], s.tax[rows]
        m, k = split.who.shape
        key = ((host[None, :] * n_j + split.who) * n_tax + tax[None, :]).ravel()
        codes, inverse = np.unique(key, return_inverse=True)
        amount = _sum_rows(inverse, len(codes), split.amount.reshape(m * k, n_t))
        group = host * n_tax + tax
        gcodes, ginverse = np.unique(group, return_inverse=True)
        base = _sum_rows(ginverse, len(gcodes), result.alloc.retained[rows])
        estimated = _sum_rows(ginverse, len(gcodes), missing[rows]) > 0
        payer, payee, t = codes // (n_j * n_tax), (codes // n_tax) % n_j, codes % n_tax
        g = np.searchsorted(gcodes, payer * n_tax + t)
        frames.append(_long(years, agreement, jur[payer], jur[payee],
                            np.array(TAXES, dtype=object)[t], base[g], amount, estimated[g]))
        if split.transfers is not None:
            flows = _pairwise(split.transfers)
            for i, j in zip(*np.nonzero(np.abs(flows).sum(axis=2)), strict=True):
                frames.append(_long(years, agreement, jur[[i]], jur[[j]],
                                    np.array([""], dtype=object), np.full((1, n_t), np.nan),
                                    flows[i, j][None], np.zeros((1, n_t), dtype=bool)))
    columns = ["year", "agreement", "payer", "payee", "tax", "base_actual", "amount_due",
               "estimated"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).sort_values(
        ["year", "agreement", "payer", "tax", "payee"], kind="stable", ignore_index=True)


def _sum_rows(inverse: np.ndarray, n: int, values: np.ndarray) -> np.ndarray:
    indicator = sparse.csr_matrix((np.ones(len(inverse)), (inverse, np.arange(len(inverse)))),
                                  shape=(n, len(inverse)))
    return np.asarray(indicator @ values)


def _pairwise(transfers: np.ndarray) -> np.ndarray:
    """Side payments ``(jurisdictions, years)`` summing to zero as payer → payee flows
    ``(payer, payee, years)``: each payer's outflow goes to the receivers in proportion to
    what they receive."""
    out, into = np.maximum(-transfers, 0.0), np.maximum(transfers, 0.0)
    total = into.sum(axis=0)
    weight = np.divide(into, total, out=np.zeros_like(into), where=total > 0)
    return out[:, None, :] * weight[None, :, :]


def _long(years, agreement, payer, payee, tax, base, amount, estimated) -> pd.DataFrame:
    n, n_t = amount.shape
    return pd.DataFrame({
        "year": np.tile(years, n), "agreement": agreement,
        "payer": np.repeat(payer, n_t), "payee": np.repeat(payee, n_t),
        "tax": np.repeat(tax, n_t), "base_actual": base.ravel(),
        "amount_due": amount.ravel(), "estimated": estimated.ravel()})


# ---------------------------------------------------------------------------------------------
# The ledger (closed form of FIFO application; see the module docstring)

KINDS = ("interest", "due", "repaid")  # debit items per year, in the order they are owed


@dataclass(frozen=True)
class Accounts:
    """The ledger arrays, pairs × years (× items for ``outstanding``)."""

    due: np.ndarray
    paid: np.ndarray
    interest: np.ndarray
    arrears_start: np.ndarray
    arrears_end: np.ndarray
    credit_end: np.ndarray
    outstanding: np.ndarray  # (pairs, as-of year, 3 × origin year): what each debit still owes
    debits: np.ndarray  # (pairs, 3 × years): interest, due, repaid per year


def run_accounts(due: np.ndarray, paid: np.ndarray, rate: np.ndarray) -> Accounts:
    """Apply payments oldest-first to each pair's debits (vectorised over pairs).

    ``due`` and ``paid`` are signed in the pair's orientation, shape ``(pairs, years)``;
    ``rate`` the annual simple late interest per pair.
    """
    n_p, n_t = due.shape
    debits = np.zeros((n_p, 3 * n_t))
    settles = np.maximum(-due, 0.0) + np.maximum(paid, 0.0)
    settled = np.cumsum(settles, axis=1)
    principal = np.tile(np.array([False, True, True]), n_t)
    for t in range(n_t):
        if t:
            owed = debits[:, :3 * t]
            left = np.clip(np.cumsum(owed, axis=1) - settled[:, t - 1, None], 0.0, owed)
            debits[:, 3 * t] = rate * left[:, principal[:3 * t]].sum(axis=1)
        debits[:, 3 * t + 1] = np.maximum(due[:, t], 0.0)
        debits[:, 3 * t + 2] = np.maximum(-paid[:, t], 0.0)
    cum = np.cumsum(debits, axis=1)
    live = np.arange(3 * n_t)[None, :] < 3 * (np.arange(n_t)[:, None] + 1)
    outstanding = np.where(live[None], np.clip(cum[:, None, :] - settled[:, :, None], 0.0,
                                               debits[:, None, :]), 0.0)
    owed_through = cum[:, 2::3]
    arrears_end = np.maximum(owed_through - settled, 0.0)
    credit_end = np.maximum(settled - owed_through, 0.0)
    arrears_start = np.concatenate([np.zeros((n_p, 1)), arrears_end[:, :-1]], axis=1)
    return Accounts(due, paid, debits[:, 0::3], arrears_start, arrears_end, credit_end,
                    outstanding, debits)


# ---------------------------------------------------------------------------------------------
# The ledger object


@dataclass(frozen=True)
class Ledger:
    """Annual settlement of a scenario's agreements from actual taxes and payments.

    Attributes
    ----------
    due : DataFrame
        ``year, agreement, payer, payee, tax, base_actual, amount_due, estimated`` (see
        :func:`amounts_due`), years up to ``through``.
    ledger : DataFrame
        ``year, payer, payee, due, paid, arrears_start, interest, arrears_end, credit_end,
        advance_expected, estimated``: one row per linked pair and year, oriented so that
        ``payer`` owes on balance (a negative ``due`` or ``paid`` runs the other way).
    arrears : DataFrame
        ``as_of, payer, payee, origin_year, kind, outstanding``: what is still owed at the end
        of each year, by the year it is owed for (oldest-first application).
    variance : DataFrame
        ``year, jurisdiction, measure, projected, actual, difference, estimated`` for
        ``collected``, ``retained`` and ``allocated`` (compliance 1).
    payments : DataFrame
        The payments booked to the ledger years; ``later_payments`` those booked after
        ``through`` (not applied).
    """

    scenario: Scenario
    model: Model
    through: int
    actual: Result
    projected: Result
    known: np.ndarray
    payments: pd.DataFrame
    later_payments: pd.DataFrame
    pairs: tuple[tuple[str, str], ...]
    accounts: Accounts
    due_all: pd.DataFrame
    projected_due: pd.DataFrame

    @property
    def years(self) -> np.ndarray:
        return self.model.years[self.model.years <= self.through]

    @cached_property
    def due(self) -> pd.DataFrame:
        return self.due_all[self.due_all["year"] <= self.through].reset_index(drop=True)

    @cached_property
    def ledger(self) -> pd.DataFrame:
        a, years = self.accounts, self.years
        n_p, n_t = a.due.shape
        estimated = self._pair_values(self.due.assign(estimated=self.due["estimated"]
                                                      .astype(float)), "estimated", False)
        return pd.DataFrame({
            "year": np.tile(years, n_p),
            "payer": np.repeat([p for p, _ in self.pairs], n_t),
            "payee": np.repeat([q for _, q in self.pairs], n_t),
            "due": a.due.ravel(), "paid": a.paid.ravel(),
            "arrears_start": a.arrears_start.ravel(), "interest": a.interest.ravel(),
            "arrears_end": a.arrears_end.ravel(), "credit_end": a.credit_end.ravel(),
            "advance_expected": self._advance().ravel(),
            "estimated": estimated.ravel() > 0,
        })

    @cached_property
    def arrears(self) -> pd.DataFrame:
        a, years = self.accounts, self.years
        rows = []
        for p, (payer, payee) in enumerate(self.pairs):
            for t, as_of in enumerate(years):
                for k in np.flatnonzero(a.outstanding[p, t] > 1e-9):
                    rows.append((int(as_of), payer, payee, int(years[k // 3]), KINDS[k % 3],
                                 float(a.outstanding[p, t, k])))
        return pd.DataFrame(rows, columns=["as_of", "payer", "payee", "origin_year", "kind",
                                           "outstanding"])

    @cached_property
    def variance(self) -> pd.DataFrame:
        keep = self.model.years <= self.through
        years, jur = self.years, list(self.model.jurisdictions)
        host = self.model.streams.host
        missing = np.zeros((len(jur), len(self.model.years)))
        np.add.at(missing, host, (~self.known).astype(float))
        frames = []
        for measure in ("collected", "retained", "allocated"):
            projected = getattr(self.projected, measure)[:, keep]
            actual = getattr(self.actual, measure)[:, keep]
            frames.append(pd.DataFrame({
                "year": np.tile(years, len(jur)), "jurisdiction": np.repeat(jur, len(years)),
                "measure": measure, "projected": projected.ravel(), "actual": actual.ravel(),
                "difference": (actual - projected).ravel(),
                "estimated": (missing[:, keep] > 0).ravel()}))
        return pd.concat(frames, ignore_index=True).sort_values(
            ["year", "jurisdiction"], kind="stable", ignore_index=True)

    def compliance(self) -> pd.Series:
        """Observed compliance per agreement: the share of its positive dues (net per pair
        and year) settled by the end of ``through``, in [0, 1]. Agreements with nothing due
        are left out. ``model.run(compliance=led.compliance().to_dict())`` uses it."""
        a = self.accounts
        due_items = a.debits[:, 1::3]
        left = a.outstanding[:, -1, 1::3]
        cleared = np.divide(due_items - left, due_items, out=np.ones_like(due_items),
                            where=due_items > 0)
        owed = a.due > 0
        due, paid = {}, {}
        for ag in self.scenario.agreements:
            part = self._pair_values(self.due[self.due["agreement"] == ag.id], "amount_due")
            due[ag.id] = float((part * owed).sum())
            paid[ag.id] = float((part * owed * cleared).sum())
        ratio = {k: min(max(paid[k] / due[k], 0.0), 1.0) for k in due if due[k] > 1e-9}
        return pd.Series(ratio, name="compliance", dtype=float).rename_axis("agreement")

    def statement(self, year: int, lang: Lang = "zh") -> Statement:
        """The settlement statement (结算单) of ``year``: one section per linked pair."""
        if year not in set(self.years.tolist()):
            raise ScenarioError([Problem("settlement.no_year", {
                "year": year, "years": f"{self.years[0]}-{self.years[-1]}"})])
        return Statement.build(self, int(year), lang)

    # -- helpers ---------------------------------------------------------------------------

    def settlement_of(self, agreement: str) -> Settlement:
        ag = next(a for a in self.scenario.agreements if a.id == agreement)
        return ag.settlement or DEFAULT_SETTLEMENT

    def _pair_values(self, rows: pd.DataFrame, column: str, signed: bool = True) -> np.ndarray:
        return pair_matrix(rows, column, self.pairs, self.years, signed)

    def _advance(self) -> np.ndarray:
        out = np.zeros((len(self.pairs), len(self.years)))
        due = self.projected_due[self.projected_due["year"] <= self.through]
        for ag in self.scenario.agreements:
            share = self.settlement_of(ag.id).advance
            if share:
                out += share * self._pair_values(due[due["agreement"] == ag.id], "amount_due")
        return out


def pair_matrix(rows: pd.DataFrame, column: str, pairs: tuple[tuple[str, str], ...],
                years: np.ndarray, signed: bool = True) -> np.ndarray:
    """Sum ``column`` of rows with ``payer, payee, year`` into the pairs' orientation,
    shape ``(pairs, years)``: a row running the other way counts negative when ``signed``.
    Rows with ``payer == payee`` (what a host keeps) are left out."""
    out = np.zeros((len(pairs), len(years)))
    rows = rows[(rows["payer"] != rows["payee"]) & (rows["year"] <= years[-1])]
    position = {pair: i for i, pair in enumerate(pairs)}
    for (payer, payee), part in rows.groupby(["payer", "payee"], sort=False):
        if (payer, payee) in position:
            p, sign = position[payer, payee], 1.0
        else:
            p, sign = position[payee, payer], -1.0 if signed else 1.0
        t = part["year"].to_numpy(dtype=int) - int(years[0])
        np.add.at(out[p], t, sign * part[column].to_numpy(dtype=float))
    return out


def _links(model: Model, results: Iterable[Result]) -> set[frozenset[str]]:
    """Pairs of jurisdictions that an agreement can move money between (from the rules'
    slots and side payments, whatever the amounts)."""
    jur, host = model.jurisdictions, model.streams.host
    pairs: set[frozenset[str]] = set()
    for result in results:
        for position, rows, split in result.alloc.blocks:
            if position < 0:
                continue
            codes = np.unique(host[rows][None, :] * len(jur) + split.who)
            pairs.update(frozenset((jur[c // len(jur)], jur[c % len(jur)])) for c in codes
                         if c // len(jur) != c % len(jur))
            if split.transfers is not None:
                flows = np.abs(_pairwise(split.transfers)).sum(axis=2)
                pairs.update(frozenset((jur[i], jur[j])) for i, j in zip(*np.nonzero(flows),
                                                                         strict=True))
    return pairs


def settle(scenario: Scenario | str | Path, actuals: Source, payments: Source | None = None,
           through: int | None = None) -> Ledger:
    """Settle a scenario's agreements from actual taxes (and payments) through a year.

    Parameters
    ----------
    scenario : a Scenario or a scenario file.
    actuals : CSV file (UTF-8 or GBK), its bytes, or a DataFrame of text cells; see
        :func:`read_actuals`.
    payments : the same for payments (:func:`read_payments`); none means nothing paid.
    through : the last settlement year (default: the last year with an actual amount).

    Raises
    ------
    ScenarioError
        For any problem in the inputs, each naming the file, row and column.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    model = compile_scenario(sc)
    everyone = {ag.id: 1.0 for ag in sc.agreements}
    name = str(actuals) if isinstance(actuals, str | Path) else "<actuals>"
    read = read_actuals(actuals, model, name)
    years = model.years
    if through is None:
        through = int(years[np.flatnonzero(read.given.any(axis=0))[-1]])
    if not years[0] <= through <= years[-1]:
        raise ScenarioError([Problem("settlement.through_outside", {
            "year": through, "start": int(years[0]), "end": int(years[-1])})])
    actual = model.run(gross=read.gross, compliance=everyone)
    projected = model.run(compliance=everyone)
    links = _links(model, (actual, projected))
    if payments is None:
        paid = pd.DataFrame(columns=["payer", "payee", "date", "year", "amount", "row"])
    else:
        pname = str(payments) if isinstance(payments, str | Path) else "<payments>"
        paid = read_payments(payments, model, links, pname)
    due_all = amounts_due(model, actual, read.known)
    projected_due = amounts_due(model, projected)
    ledger_years = years[years <= through]
    pairs = _orient(model, links, due_all[due_all["year"] <= through])
    rate = _rates(sc, pairs, projected_due)
    booked = paid[paid["year"] <= through].reset_index(drop=True)
    accounts = run_accounts(pair_matrix(due_all, "amount_due", pairs, ledger_years),
                            pair_matrix(booked, "amount", pairs, ledger_years), rate)
    return Ledger(sc, model, through, actual, projected, read.known, booked,
                  paid[paid["year"] > through].reset_index(drop=True), pairs, accounts,
                  due_all, projected_due)


def _orient(model: Model, links: set[frozenset[str]], due: pd.DataFrame
            ) -> tuple[tuple[str, str], ...]:
    """Each linked pair as (payer, payee): the side that owes on balance through the ledger
    years pays; with no balance, the one listed first in the scenario."""
    order = {j: i for i, j in enumerate(model.jurisdictions)}
    moving = due[due["payer"] != due["payee"]]
    owed = moving.groupby(["payer", "payee"])["amount_due"].sum().to_dict()
    out = []
    for pair in sorted(links, key=lambda p: sorted(order[j] for j in p)):
        a, b = sorted(pair, key=order.__getitem__)
        net = owed.get((a, b), 0.0) - owed.get((b, a), 0.0)
        out.append((b, a) if net < -1e-9 else (a, b))
    return tuple(out)


def _rates(sc: Scenario, pairs: tuple[tuple[str, str], ...], due: pd.DataFrame) -> np.ndarray:
    """Late interest per pair from the agreements that link it (they must agree)."""
    moving = due[due["payer"] != due["payee"]]
    linked = moving.groupby(["payer", "payee"])["agreement"].unique().to_dict()
    rates = {ag.id: (ag.settlement or DEFAULT_SETTLEMENT).late_interest for ag in sc.agreements}
    out, problems = [], []
    for payer, payee in pairs:
        ags = set(linked.get((payer, payee), [])) | set(linked.get((payee, payer), []))
        found = {rates[a] for a in ags} or {0.0}
        if len(found) > 1:
            problems.append(Problem("settlement.interest_conflict", {
                "payer": payer, "payee": payee,
                "rates": ", ".join(f"{a} {rates[a]:g}" for a in sorted(ags))}))
        out.append(max(found))
    if problems:
        raise ScenarioError(problems)
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# Statements and templates (the documents live in sharing.statement)


@dataclass(frozen=True)
class Statement:
    """The settlement statement of one year.

    ``pairs``: one row per linked pair (``payer, payee, arrears_start, due, interest, paid,
    arrears_end, credit_end, advance_expected, estimated``); ``lines``: one row per pair and
    agreement (``payer, payee, agreement, name, channel, payer_to_payee, payee_to_payer, net,
    estimated``); ``bookings``: the lines each side enters (``payer, payee, agreement, who,
    line, amount``): amounts in 万元. ``text``: all of it as plain text in ``lang``, in 元 to
    the fen like the Word statement.
    """

    year: int
    lang: Lang
    scenario: Scenario
    pairs: pd.DataFrame
    lines: pd.DataFrame
    bookings: pd.DataFrame

    @classmethod
    def build(cls, ledger: Ledger, year: int, lang: Lang) -> Statement:
        book = ledger.ledger
        pairs = book[book["year"] == year].drop(columns="year").reset_index(drop=True)
        due = ledger.due[(ledger.due["year"] == year) & (ledger.due["payer"]
                                                         != ledger.due["payee"])]
        names = {a.id: (a.name or a.id) if lang == "zh" else (a.name_en or a.name or a.id)
                 for a in ledger.scenario.agreements}
        shown = _names(ledger.scenario, lang)
        lines, bookings = [], []
        for payer, payee in ledger.pairs:
            for ag in ledger.scenario.agreements:
                part = due[due["agreement"] == ag.id]
                forward = part[(part["payer"] == payer) & (part["payee"] == payee)]
                back = part[(part["payer"] == payee) & (part["payee"] == payer)]
                if forward.empty and back.empty:
                    continue
                net = forward["amount_due"].sum() - back["amount_due"].sum()
                settlement = ledger.settlement_of(ag.id)
                lines.append({"payer": payer, "payee": payee, "agreement": ag.id,
                              "name": names[ag.id], "channel": settlement.describe(lang),
                              "payer_to_payee": forward["amount_due"].sum(),
                              "payee_to_payer": back["amount_due"].sum(), "net": net,
                              "estimated": bool(pd.concat([forward, back])["estimated"].any())})
                for who, line, amount in settlement.bookings(shown[payer], shown[payee], net,
                                                             lang):
                    bookings.append({"payer": payer, "payee": payee, "agreement": ag.id,
                                     "who": who, "line": line, "amount": amount})
        return cls(year, lang, ledger.scenario, pairs,
                   pd.DataFrame(lines, columns=["payer", "payee", "agreement", "name",
                                                "channel", "payer_to_payee", "payee_to_payer",
                                                "net", "estimated"]),
                   pd.DataFrame(bookings, columns=["payer", "payee", "agreement", "who", "line",
                                                   "amount"]))

    @property
    def text(self) -> str:
        shown = _names(self.scenario, self.lang)
        zh = self.lang == "zh"
        colon = "：" if zh else ": "
        out = [f"{self.year} 年度财税利益分享结算单（单位：元）" if zh else
               f"Settlement statement {self.year} (元, CNY)",
               self.scenario.name if zh else self.scenario.name_en]
        for _, pair in self.pairs.iterrows():
            payer, payee = shown[pair["payer"]], shown[pair["payee"]]
            out.append("")
            out.append(f"付款方 {payer} → 收款方 {payee}" if zh else f"{payer} pays {payee}")
            for _, line in self.lines[(self.lines["payer"] == pair["payer"])
                                      & (self.lines["payee"] == pair["payee"])].iterrows():
                mark = " *" if line["estimated"] else ""
                net = f"{yuan(line['net']):,.2f}{mark}"
                out.append(f"  {line['name']}（{line['channel']}）：{net}" if zh
                           else f"  {line['name']} ({line['channel']}): {net}")
            for key in ("arrears_start", "due", "interest", "paid", "arrears_end", "credit_end",
                        "advance_expected"):
                label = LABELS[key][0 if zh else 1]
                out.append(f"  {label}{colon}{yuan(pair[key]):,.2f}")
            for _, b in self.bookings[(self.bookings["payer"] == pair["payer"])
                                      & (self.bookings["payee"] == pair["payee"])].iterrows():
                out.append(f"  {b['who']}{colon}{b['line']} {yuan(b['amount']):,.2f}")
        if self.lines["estimated"].any():
            out.append("\n* 含估算数：未报实际数的税源按预测计" if zh else
                       "\n* includes estimates: streams without actuals use the projection")
        return "\n".join(out)


def _names(sc: Scenario, lang: Lang) -> dict[str, str]:
    return {j.id: j.name if lang == "zh" else j.name_en for j in sc.jurisdictions}


def actuals_template(scenario: Scenario | str | Path) -> str:
    """A CSV template of actuals: one row per stream and year with a projected amount, amount
    left empty (rows left empty stay estimated)."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    model = compile_scenario(sc)
    s = model.streams
    rows, cols = np.nonzero(s.gross)
    df = pd.DataFrame({"stream": s.ids[rows], "year": model.years[cols], "amount": "",
                       "basis": "gross", "note": ""})
    return df.sort_values(["year", "stream"], kind="stable").to_csv(index=False)


def payments_template(scenario: Scenario | str | Path) -> str:
    """A CSV template of payments: one row per linked pair and year, amount left empty."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    model = compile_scenario(sc)
    projected = model.run(compliance={ag.id: 1.0 for ag in sc.agreements})
    pairs = _orient(model, _links(model, (projected,)), amounts_due(model, projected))
    rows = [{"payer": a, "payee": b, "date": f"{y}-12-31", "amount": "", "year": int(y),
             "note": ""} for y in model.years for a, b in pairs]
    return pd.DataFrame(rows, columns=list(PAYMENT_COLUMNS)).to_csv(index=False)


__all__ = ["Accounts", "Actuals", "Ledger", "Statement", "actuals_template", "amounts_due",
           "payments_template", "read_actuals", "read_payments", "run_accounts", "settle",
           "translate"]
