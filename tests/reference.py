"""A slow, readable reference implementation of the engine, kept as a test oracle.

Written from the documentation only (DESIGN.md §2, the docstrings of ``sharing/rules.py``,
``sharing/scenario.py``, ``sharing/taxes.py`` and ``sharing/result.py``), not from the
engine's code: plain floats, dicts and for-loops over streams and years, no numpy. It takes a
validated :class:`sharing.Scenario` (the pydantic model: rule parameters, presets already
merged in) and rebuilds everything else itself: the tax streams, retention, pools, every rule,
compliance, costs and the summary.

Readings chosen where the documentation leaves room (see also the notes in each function):

* A rule nested in a schedule stage sees only the stage's years (its window, extension test
  and cap count those years only), but it reads amounts of other years where its definition
  needs them: a stock/increment baseline is the level in ``base_year`` even when that year
  lies before the stage (a finance officer fixes the 存量 once, not per stage).
* A fixed return's capital ``K_t`` is everything invested up to year ``t``, whichever years
  the rule is applied in (a schedule's ``otherwise`` years need not be contiguous).
* The pre-move cap of a capped rule uses the destination stream's retention in the year
  before the move (whether or not that year is simulated) when the pool shares retained
  revenue.
* A capped rule's extension and end subsidy are decided in the last year of the first
  ``max_years`` years, which the rule must see (its stage's or the horizon's years); the
  subsidy is paid the year after the window with its extension ends, if the rule sees that
  year too. ``when: cap_not_reached`` is applied literally: the receipts up to that year are
  compared with the cap.
* The central subsidy is money from outside: in ``net_benefit``, not in ``allocated``, not
  touched by compliance, absent from the no-agreement counterfactual.
* A capped rule applied to streams that are not a migrated firm's (``start`` given) treats
  each stream as its own "firm" (its own cap, its own extension test).
* The baseline of a stream is ``max(level in base_year, 0)``: a refund year is no baseline.
* Compliance: the host keeps ``(1 − c)`` of what the rule moved away from it (``unpaid``,
  reported at the host); a fixed return is paid at ``c`` of its amount, and the ``(1 − c)``
  the payer keeps is reported as ``unpaid`` at the payer.
* ``base: gross``: the rule is applied to gross tax (its thresholds, caps and floors are in
  gross terms) and each stream-year's split is applied to the retained money.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

TAX_NAMES = ("vat", "eit", "pit", "urban_maintenance", "property", "land_use", "land_vat",
             "stamp", "deed", "other")
ROLE_NAMES = ("host", "origin", "destination")


class Invalid(Exception):
    """The scenario cannot be simulated; the engine must raise ``sharing.ScenarioError``."""


# ---------------------------------------------------------------------------------------------
# Retention and projections


def national_share(tax: str, year: int) -> float:
    """Local share of a gross tax under national law (DESIGN §2, taxes.py)."""
    if tax == "vat":
        return 0.5 if year >= 2016 else 0.25
    if tax in ("eit", "pit"):
        return 0.4
    return 1.0


def retention_rate(sc, jid: str, tax: str, year: int) -> float:
    """National law, replaced by retention.default, then the province's, then the
    jurisdiction's own value (most specific wins)."""
    province = next(j.province for j in sc.jurisdictions if j.id == jid)
    rate = national_share(tax, year)
    levels = (sc.retention.default, sc.retention.provinces.get(province, {}),
              sc.retention.jurisdictions.get(jid, {}))
    for level in levels:
        value = level.get(tax)
        if isinstance(value, dict):
            rate = float(value.get(year, rate))
        elif value is not None:
            rate = float(value)
    return rate


def projected(p, years: list[int]) -> dict[int, float]:
    """``base · (1 + growth)^(year − base_year)`` (base_year defaults to the first simulated
    year) or ``by_year`` (missing years 0); zero outside ``[start, end]``."""
    out = {}
    for y in years:
        if p.by_year is not None:
            value = float(p.by_year.get(y, 0.0))
        else:
            base_year = p.base_year if p.base_year is not None else years[0]
            value = p.base * (1.0 + p.growth) ** (y - base_year)
        if p.start is not None and y < p.start:
            value = 0.0
        if p.end is not None and y > p.end:
            value = 0.0
        out[y] = value
    return out


# ---------------------------------------------------------------------------------------------
# Streams


@dataclass
class Stream:
    id: str
    kind: str  # park | firm | stream
    host: str
    tax: str
    gross: dict[int, float]
    retention: dict[int, float]
    park: str | None = None
    firm: str | None = None
    spec: str | None = None
    origin: str | None = None
    destination: str | None = None
    move_year: int | None = None
    production_year: int | None = None
    pre_move_gross: float = 0.0

    def retained(self, year: int) -> float:
        return self.gross[year] * self.retention[year]


def build_streams(sc) -> list[Stream]:
    """Parks' sites × taxes, explicit streams, migrated firms (an origin stream before the
    move, a destination stream from the move year), transferred projects."""
    years = list(range(sc.years.start, sc.years.end + 1))

    def stream(sid, kind, host, tax, gross, **kw) -> Stream:
        ret = {y: retention_rate(sc, host, tax, y) for y in years}
        return Stream(sid, kind, host, tax, gross, ret, **kw)

    out: list[Stream] = []
    for park in sc.parks:
        for s, site in enumerate(park.sites):
            repeated = sum(1 for other in park.sites if other.host == site.host) > 1
            suffix = f"#{s}" if repeated else ""
            for tax, proj in site.taxes.items():
                out.append(stream(f"{park.id}/{site.host}{suffix}/{tax}", "park", site.host, tax,
                                  projected(proj, years), park=park.id))
    for spec in sc.streams:
        out.append(stream(spec.id, "stream", spec.host, spec.tax, projected(spec, years),
                          spec=spec.id))
    for firm in sc.firms:
        if firm.move_year is None:
            continue
        m = firm.move_year
        for tax, pre in firm.pre_move.items():
            if pre <= 0:
                continue  # a tax the firm does not pay makes no stream
            level = {y: pre * (1.0 + firm.growth) ** (y - m + 1) for y in years}
            production = firm.production_year if firm.production_year is not None else m
            common = dict(firm=firm.id, origin=firm.origin, destination=firm.destination,
                          move_year=m, production_year=production)
            if m > years[0]:
                before = {y: (level[y] if y < m else 0.0) for y in years}
                out.append(stream(f"{firm.id}/{tax}@origin", "firm", firm.origin, tax, before,
                                  **common))
            if m <= years[-1]:
                after = {y: (level[y] if y >= m else 0.0) for y in years}
                out.append(stream(f"{firm.id}/{tax}@destination", "firm", firm.destination, tax,
                                  after, pre_move_gross=float(pre), **common))
    for firm in sc.firms:
        if firm.move_year is not None:
            continue
        for tax, proj in firm.taxes.items():
            out.append(stream(f"{firm.id}/{tax}", "firm", firm.host, tax, projected(proj, years),
                              firm=firm.id, origin=firm.introduced_by, destination=firm.host))
    if not out:
        raise Invalid("scenario has no tax streams")
    return out


def covered_by(covers, st: Stream) -> bool:
    """All listed conditions must hold; a list means any of its values."""

    def ok(value, wanted) -> bool:
        if wanted is None:
            return True
        wanted = [wanted] if isinstance(wanted, str) else wanted
        return value in wanted

    return (ok(st.park, covers.park) and ok(st.firm, covers.firm)
            and ok(st.spec, covers.stream) and ok(st.host, covers.host)
            and ok(st.tax, covers.tax) and ok(st.kind, covers.kind))


# ---------------------------------------------------------------------------------------------
# Pools and rules


@dataclass
class Ctx:
    """What a rule may look at: the covered streams (in scenario order) and their facts."""

    streams: list[Stream]
    jurisdictions: list[str]
    horizon: list[int]
    contributions: dict
    base: str  # retained | gross
    group: list[str] = field(default_factory=list)
    pre_move_gross: list[float] = field(default_factory=list)
    pre_move_base: list[float] = field(default_factory=list)

    def who(self, key: str, s: int) -> str:
        if key in self.jurisdictions:
            return key
        st = self.streams[s]
        value = {"host": st.host, "origin": st.origin, "destination": st.destination}[key]
        if value is None:
            raise Invalid(f"rule uses role {key!r} but stream {st.id!r} has no {key}")
        return value


class Out:
    """Allocations ``x[s][year][jurisdiction]``, side payments ``transfers[year][j]`` and
    central subsidies ``subsidy[s][year][j]`` (money from outside the pool)."""

    def __init__(self, n: int):
        self.x = [defaultdict(lambda: defaultdict(float)) for _ in range(n)]
        self.transfers: dict = defaultdict(lambda: defaultdict(float))
        self.subsidy = [defaultdict(lambda: defaultdict(float)) for _ in range(n)]

    def give(self, s: int, year: int, jid: str, amount: float) -> None:
        self.x[s][year][jid] += amount

    def absorb(self, other: Out) -> None:
        for mine, theirs in ((self.x, other.x), (self.subsidy, other.subsidy)):
            for s, per_year in enumerate(theirs):
                for year, per_j in per_year.items():
                    for jid, v in per_j.items():
                        mine[s][year][jid] += v
        for year, per_j in other.transfers.items():
            for jid, v in per_j.items():
                self.transfers[year][jid] += v


Amounts = list[dict[int, float]]  # per stream: year -> amount, over the whole horizon


def split(rule, ctx: Ctx, a: Amounts, years: list[int]) -> Out:
    """Apply ``rule`` to the pool amounts ``a`` in ``years`` (a rule in a schedule stage gets
    the stage's years only)."""
    out = Out(len(ctx.streams))
    if not years:
        return out
    RULES[rule.type](rule, ctx, a, years, out)
    return out


def _by_shares(shares: dict[str, float], ctx: Ctx, a: Amounts, years, out: Out) -> None:
    for s in range(len(ctx.streams)):
        for key, w in shares.items():
            jid = ctx.who(key, s)
            for t in years:
                out.give(s, t, jid, w * a[s][t])


def rule_host(rule, ctx, a, years, out):
    """x[s, host(s), t] = a[s, t], refunds included."""
    _by_shares({"host": 1.0}, ctx, a, years, out)


def rule_fixed(rule, ctx, a, years, out):
    """x[s, j, t] = w_j · a[s, t]; negative amounts in the same ratio."""
    _by_shares(dict(rule.shares), ctx, a, years, out)


def factor_shares(weights: dict[str, float], contributions: dict) -> dict[str, float]:
    """w_j = Σ_f α_f · x_{f,j} / Σ_i x_{f,i}."""
    shares: dict[str, float] = defaultdict(float)
    for factor, alpha in weights.items():
        values = contributions.get(factor)
        if values is None:
            raise Invalid(f"factor {factor!r} has no values in contributions")
        total = sum(values.values())
        if total <= 0:
            raise Invalid(f"factor {factor!r} sums to {total}")
        for jid, v in values.items():
            shares[jid] += alpha * v / total
    return dict(shares)


def rule_factors(rule, ctx, a, years, out):
    _by_shares(factor_shares(dict(rule.weights), ctx.contributions), ctx, a, years, out)


def stock_amounts(rule, ctx: Ctx, a: Amounts) -> Amounts:
    """Per stream and year (whole horizon): the stock part. Before base_year everything is
    stock; from base_year on, stock = min(max(a, 0), indexed baseline), negatives are stock."""
    n = len(ctx.streams)
    horizon = ctx.horizon
    g = rule.indexation

    def index(t: int) -> float:
        return (1.0 + g) ** max(t - rule.base_year, 0)

    level: Amounts = [dict() for _ in range(n)]
    if rule.baseline is None:
        if rule.base_year not in horizon:
            raise Invalid(f"base_year {rule.base_year} outside the simulated years")
        for s in range(n):
            base = max(a[s][rule.base_year], 0.0)
            for t in horizon:
                level[s][t] = min(max(a[s][t], 0.0), base * index(t))
    else:
        for t in horizon:
            host_total: dict[str, float] = defaultdict(float)
            for s in range(n):
                host_total[ctx.streams[s].host] += max(a[s][t], 0.0)
            for s in range(n):
                host = ctx.streams[s].host
                total = host_total[host]
                allowed = min(total, rule.baseline.get(host, 0.0) * index(t))
                level[s][t] = max(a[s][t], 0.0) * allowed / total if total > 0 else 0.0
    stock: Amounts = [dict() for _ in range(n)]
    for s in range(n):
        for t in horizon:
            x = a[s][t]
            if t < rule.base_year or x < 0:
                stock[s][t] = x
            else:
                stock[s][t] = level[s][t]
    return stock


def rule_stock_increment(rule, ctx, a, years, out):
    stock = stock_amounts(rule, ctx, a)
    increment = [{t: a[s][t] - stock[s][t] for t in ctx.horizon} for s in range(len(a))]
    out.absorb(split(rule.stock, ctx, stock, years))
    out.absorb(split(rule.increment, ctx, increment, years))


def _staged(stages, otherwise, ctx, a, years, out):
    taken: set[int] = set()
    for (lo, hi), sub in stages:
        mine = [t for t in years if lo <= t <= hi]
        taken.update(mine)
        out.absorb(split(sub, ctx, a, mine))
    rest = [t for t in years if t not in taken]
    out.absorb(split(otherwise, ctx, a, rest))


def rule_schedule(rule, ctx, a, years, out):
    _staged([(s.years, s.rule) for s in rule.stages], rule.otherwise, ctx, a, years, out)


class _Host:
    type = "host"


class _Fixed:
    type = "fixed"

    def __init__(self, shares):
        self.shares = shares


def rule_optimized(rule, ctx, a, years, out):
    _staged([(s.years, _Fixed(s.shares)) for s in rule.stages], _Host(), ctx, a, years, out)


def rule_capped(rule, ctx, a, years, out):
    """Per firm: share · a from its start (a fixed ``start``, else its production or move
    year) for max_years, +extension years if the trigger holds in the window's last year
    (gross covered tax below ``below``, or receipts so far below the cap), if eligible, with
    cumulative receipts stopped at the cap; an end subsidy the year after the (extended)
    window if the cap was not reached in the first max_years years. Only ``years`` are
    seen."""
    n = len(ctx.streams)
    covered = [rule.taxes is None or ctx.streams[s].tax in rule.taxes for s in range(n)]
    if rule.start is None and any(st.move_year is None for st in ctx.streams):
        raise Invalid("capped rule needs a start year")
    seen = sorted(years)

    def receipts(rows, end, cap, eligible):
        """{year: receipt per stream} for the window ending in ``end``, and whether the cap
        was reached by ``end``."""
        got = {s: {t: 0.0 for t in seen} for s in rows}
        received, stopped, reached_by_end = 0.0, False, False
        for t in seen:
            inside = eligible and start <= t <= end
            wanted = {s: rule.share * a[s][t] if inside and covered[s] else 0.0 for s in rows}
            total = sum(wanted.values())
            if cap is None:
                pay = total
            elif stopped:
                pay = 0.0
            elif received + total >= cap:
                pay = cap - received
                stopped = True
            else:
                pay = total
            received += total
            for s in rows:
                got[s][t] = wanted[s] * (pay / total if total != 0 else 0.0)
            if t == end:
                reached_by_end = stopped
        return got, reached_by_end

    for g in dict.fromkeys(ctx.group):
        rows = [s for s in range(n) if ctx.group[s] == g]
        mine = [s for s in rows if covered[s]]
        first = ctx.streams[rows[0]]
        if rule.start is not None:
            start = rule.start
        elif rule.start_from == "production":
            start = first.production_year
        else:
            start = first.move_year
        end = start + rule.max_years - 1
        eligible = bool(mine)
        if rule.eligibility is not None:
            eligible = eligible and (sum(ctx.pre_move_gross[s] for s in mine)
                                     >= rule.eligibility.min_pre_move)
        cap = None
        if isinstance(rule.cap, int | float):
            cap = float(rule.cap)
        elif rule.cap is not None:
            cap = rule.cap.pre_move_years * sum(ctx.pre_move_base[s] for s in mine)
        got, reached = receipts(rows, end, cap, eligible)
        decided = end  # the last of the first max_years years
        if rule.extension is not None and end in seen:
            if rule.extension.below is not None:
                trigger = sum(ctx.streams[s].gross[end] for s in mine) < rule.extension.below
            else:  # cap_not_reached: the receipts up to the window's last year
                trigger = not reached
            if trigger:
                end += rule.extension.years
                got, _ = receipts(rows, end, cap, eligible)
        for s in rows:
            ben, host = ctx.who(rule.beneficiary, s), ctx.who("host", s)
            for t in seen:
                out.give(s, t, ben, got[s][t])
                out.give(s, t, host, a[s][t] - got[s][t])
        if (rule.end_subsidy is not None and eligible and decided in seen
                and end + 1 in seen and not reached):
            out.subsidy[mine[0]][end + 1][ctx.who(rule.beneficiary, mine[0])] += \
                rule.end_subsidy.amount


def rule_floor(rule, ctx, a, years, out):
    """Top the beneficiary up to ``minimum`` from the others' positive allocations."""
    inner = split(rule.rule, ctx, a, years)
    n = len(ctx.streams)
    ben = [ctx.who(rule.beneficiary, s) for s in range(n)]
    for t in years:
        got = sum(inner.x[s][t].get(ben[s], 0.0) for s in range(n))
        available = sum(max(v, 0.0) for s in range(n) for j, v in inner.x[s][t].items()
                        if j != ben[s])
        active = rule.from_year is None or t >= rule.from_year
        top_up = min(max(rule.minimum - got, 0.0), available) if active else 0.0
        rate = top_up / available if available > 0 else 0.0
        for s in range(n):
            for j, v in list(inner.x[s][t].items()):
                if j != ben[s] and v > 0:
                    inner.x[s][t][j] -= rate * v
                    inner.x[s][t][ben[s]] += rate * v
    out.absorb(inner)


def rule_tiered(rule, ctx, a, years, out):
    """Band k holds clip(X − L_{k−1}, 0, L_k − L_{k−1}); a year with X ≤ 0 follows band 0."""
    n = len(ctx.streams)
    for t in years:
        total = sum(a[s][t] for s in range(n))
        effective: dict[str, float] = defaultdict(float)
        if total <= 0:
            for key, w in rule.bands[0].shares.items():
                effective[key] += w
        else:
            lower = 0.0
            for band in rule.bands:
                upper = float("inf") if band.upto is None else band.upto
                inside = min(max(total - lower, 0.0), upper - lower)
                for key, w in band.shares.items():
                    effective[key] += w * inside / total
                lower = upper
        for s in range(n):
            for key, w in effective.items():
                out.give(s, t, ctx.who(key, s), w * a[s][t])


def rule_fixed_return(rule, ctx, a, years, out):
    """rate × capital invested so far, paid by payer to beneficiary in [from_year, to_year];
    the tax itself follows the inner rule."""
    lo = rule.from_year if rule.from_year is not None else years[0]
    hi = rule.to_year if rule.to_year is not None else years[-1]
    for t in years:
        if isinstance(rule.capital, dict):
            capital = sum(v for y, v in rule.capital.items() if y <= t)
        else:
            capital = float(rule.capital)
        if lo <= t <= hi:
            out.transfers[t][rule.payer] -= rule.rate * capital
            out.transfers[t][rule.beneficiary] += rule.rate * capital
    out.absorb(split(rule.rule, ctx, a, years))


def rule_claims(rule, ctx, a, years, out):
    """Each year the estate (pool total, clipped to [0, Σ claims]) is divided among the
    claims; what is left (estate above the claims, or a year with estate ≤ 0) goes to the
    remainder; every stream follows that year's ratio."""
    n = len(ctx.streams)
    keys = list(rule.claims)
    claims = [float(rule.claims[k]) for k in keys]
    for t in years:
        estate = sum(a[s][t] for s in range(n))
        awards = divide(min(max(estate, 0.0), sum(claims)), claims, rule.method)
        shares = [x / estate if estate > 0 else 0.0 for x in awards]
        rest = 1.0 - sum(shares)
        for s in range(n):
            for key, w in zip(keys, shares, strict=True):
                out.give(s, t, ctx.who(key, s), w * a[s][t])
            out.give(s, t, ctx.who(rule.remainder, s), rest * a[s][t])


RULES = {
    "host": rule_host, "fixed": rule_fixed, "factors": rule_factors,
    "stock_increment": rule_stock_increment, "schedule": rule_schedule, "capped": rule_capped,
    "floor": rule_floor, "tiered": rule_tiered, "fixed_return": rule_fixed_return,
    "claims": rule_claims, "optimized": rule_optimized,
}


# ---------------------------------------------------------------------------------------------
# Claims rules, by bisection (Thomson 2003; Aumann & Maschler 1985)


def _solve(total_at, target: float, hi: float) -> float:
    """The parameter in [0, hi] where the non-decreasing function total_at reaches target."""
    lo = 0.0
    for _ in range(300):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if total_at(mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def cea(estate: float, claims: list[float]) -> list[float]:
    """Constrained equal awards: min(c_i, λ) with Σ = estate."""
    if estate >= sum(claims):
        return list(claims)
    lam = _solve(lambda x: sum(min(c, x) for c in claims), estate, max(claims, default=0.0))
    return [min(c, lam) for c in claims]


def cel(estate: float, claims: list[float]) -> list[float]:
    """Constrained equal losses: max(0, c_i − μ) with Σ = estate."""
    if estate >= sum(claims):
        return list(claims)
    top = max(claims, default=0.0)
    # losses L(μ) = Σ min(c_i, μ) must equal Σc − estate
    mu = _solve(lambda x: sum(min(c, x) for c in claims), sum(claims) - estate, top)
    return [max(0.0, c - mu) for c in claims]


def divide(estate: float, claims: list[float], method: str) -> list[float]:
    total = sum(claims)
    if method == "proportional":
        return [estate * c / total if total > 0 else 0.0 for c in claims]
    if method == "cea":
        return cea(estate, claims)
    if method == "cel":
        return cel(estate, claims)
    if method == "talmud":
        half = [c / 2 for c in claims]
        if estate <= total / 2:
            return cea(estate, half)
        # each gets c/2, the losses (Σc − estate) are shared by CEA on the half-claims
        losses = cea(total - estate, half)
        return [c - loss for c, loss in zip(claims, losses, strict=True)]
    raise ValueError(method)


# ---------------------------------------------------------------------------------------------
# The whole simulation


def _table(jids, years) -> dict[str, dict[int, float]]:
    return {j: {t: 0.0 for t in years} for j in jids}


@dataclass
class Reference:
    years: list[int]
    jurisdictions: list[str]
    streams: list[Stream]
    collected: dict[str, dict[int, float]]
    retained: dict[str, dict[int, float]]
    allocated: dict[str, dict[int, float]]
    subsidy: dict[str, dict[int, float]]
    unpaid: dict[str, dict[int, float]]
    cost_share: dict[str, dict[int, float]]
    cost_booked: dict[str, dict[int, float]]
    by_agreement: dict[str, dict[str, dict[int, float]]]
    stream_allocated: dict[str, dict[int, dict[str, float]]]
    subsidy_by_source: dict[tuple[str, int, str], float]
    stream_base: dict[str, dict[int, float]]
    cost_amounts: dict[str, dict[int, float]]
    discount: dict[int, float]

    def net_benefit(self, j: str, t: int) -> float:
        return self.allocated[j][t] + self.subsidy[j][t] - self.cost_share[j][t]

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for j in self.jurisdictions:
            ys = self.years
            out[j] = {
                "collected": sum(self.collected[j][t] for t in ys),
                "retained": sum(self.retained[j][t] for t in ys),
                "allocated": sum(self.allocated[j][t] for t in ys),
                "net_transfer": sum(self.allocated[j][t] - self.retained[j][t] for t in ys),
                "unpaid": sum(self.unpaid[j][t] for t in ys),
                "subsidy": sum(self.subsidy[j][t] for t in ys),
                "cost_share": sum(self.cost_share[j][t] for t in ys),
                "net_benefit": sum(self.net_benefit(j, t) for t in ys),
                "pv_net_benefit": sum(self.net_benefit(j, t) * self.discount[t] for t in ys),
                "no_agreement_pv": sum((self.retained[j][t] - self.cost_booked[j][t])
                                       * self.discount[t] for t in ys),
            }
        return out


def _pool_ctx(sc, ag, streams: list[Stream], jids, years) -> Ctx:
    contributions = sc.contributions.get(ag.id)
    parks = ag.covers.park
    parks = [parks] if isinstance(parks, str) else (parks or [])
    if contributions is None and len(parks) == 1:
        contributions = sc.contributions.get(parks[0])
    ctx = Ctx(streams, jids, years, contributions or {}, ag.base)
    for st in streams:
        ctx.group.append(f"firm:{st.firm}" if st.firm is not None else f"stream:{st.id}")
        ctx.pre_move_gross.append(st.pre_move_gross)
        if st.move_year is not None and ag.base == "retained":
            rate = retention_rate(sc, st.host, st.tax, st.move_year - 1)
            ctx.pre_move_base.append(st.pre_move_gross * rate)
        else:
            ctx.pre_move_base.append(st.pre_move_gross)
    return ctx


def simulate(sc) -> Reference:
    """Run the scenario the slow way. Raises :class:`Invalid` where the engine must refuse."""
    years = list(range(sc.years.start, sc.years.end + 1))
    jids = [j.id for j in sc.jurisdictions]
    streams = build_streams(sc)
    collected, retained = _table(jids, years), _table(jids, years)
    for st in streams:
        for t in years:
            collected[st.host][t] += st.gross[t]
            retained[st.host][t] += st.retained(t)

    allocated, unpaid, subsidy = _table(jids, years), _table(jids, years), _table(jids, years)
    subsidy_by_source: dict[tuple[str, int, str], float] = defaultdict(float)
    stream_allocated: dict[str, dict[int, dict[str, float]]] = {}
    stream_base: dict[str, dict[int, float]] = {}
    by_agreement: dict[str, dict[str, dict[int, float]]] = {}
    owner: dict[str, str] = {}
    for ag in sc.agreements:
        pool = [st for st in streams if covered_by(ag.covers, st)]
        if not pool:
            raise Invalid(f"agreement {ag.id!r} covers no stream")
        for st in pool:
            if st.id in owner:
                raise Invalid(f"stream {st.id!r} covered by {owner[st.id]!r} and {ag.id!r}")
            owner[st.id] = ag.id
        ctx = _pool_ctx(sc, ag, pool, jids, years)
        if ag.base == "gross":
            a = [dict(st.gross) for st in pool]
        else:
            a = [{t: st.retained(t) for t in years} for st in pool]
        out = split(ag.rule, ctx, a, years)
        c = ag.compliance
        mine = _table(jids, years)
        for s, st in enumerate(pool):
            stream_allocated[st.id] = {t: defaultdict(float) for t in years}
            stream_base[st.id] = {t: st.retained(t) for t in years}
            for t in years:
                # A gross-based rule decides on gross tax; the money is the retained part,
                # split in the same proportions.
                to_money = st.retention[t] if ag.base == "gross" else 1.0
                parts = {j: v * to_money for j, v in out.x[s][t].items()}
                money = st.retained(t)
                moved_away = money - parts.get(st.host, 0.0)
                unpaid[st.host][t] += (1.0 - c) * moved_away
                for j, v in parts.items():
                    mine[j][t] += c * v
                    stream_allocated[st.id][t][j] += c * v
                mine[st.host][t] += (1.0 - c) * money
                stream_allocated[st.id][t][st.host] += (1.0 - c) * money
        for t, per_j in out.transfers.items():
            for j, v in per_j.items():
                mine[j][t] += c * v
                if v < 0:
                    unpaid[j][t] += (1.0 - c) * -v
        for s, per_year in enumerate(out.subsidy):  # from the centre: no compliance
            for t, per_j in per_year.items():
                for j, v in per_j.items():
                    subsidy[j][t] += v
                    source = pool[s].firm or pool[s].park or pool[s].spec
                    subsidy_by_source[(source, t, j)] += v
        by_agreement[ag.id] = mine
        for j in jids:
            for t in years:
                allocated[j][t] += mine[j][t]
    for st in streams:
        if st.id not in owner:
            stream_allocated[st.id] = {t: {st.host: st.retained(t)} for t in years}
            stream_base[st.id] = {t: st.retained(t) for t in years}
            for t in years:
                allocated[st.host][t] += st.retained(t)

    cost_share, cost_booked = _table(jids, years), _table(jids, years)
    cost_amounts = {}
    for i, cost in enumerate(sc.costs):
        outside = [y for y in cost.by_year if y not in years]
        if outside:
            raise Invalid(f"costs[{i}].by_year: year {outside[0]} outside the horizon")
        amounts = {t: float(cost.by_year.get(t, 0.0)) for t in years}
        cost_amounts[cost.id] = amounts
        payers = {cost.paid_by: 1.0} if isinstance(cost.paid_by, str) else dict(cost.paid_by)
        for j, w in payers.items():
            for t in years:
                cost_booked[j][t] += w * amounts[t]
        if cost.park is not None:
            parties = next(p.partners for p in sc.parks if p.id == cost.park)
        else:
            parties = list(cost.parties)
        rule = cost.rule
        if rule is None:
            shares_by_year = {t: payers for t in years}
        elif rule.type == "by_benefit":
            who = list(rule.parties) if rule.parties else parties
            benefit = by_agreement[rule.agreement]
            shares_by_year = {}
            for t in years:
                positive = {j: max(benefit[j][t], 0.0) for j in who}
                total = sum(positive.values())
                if total > 0:
                    shares_by_year[t] = {j: v / total for j, v in positive.items()}
                else:
                    shares_by_year[t] = {j: 1.0 / len(who) for j in who}
        elif rule.type == "fixed":
            shares_by_year = {t: dict(rule.shares) for t in years}
        else:  # factors: contributions of the cost, else of its park
            contributions = sc.contributions.get(cost.id)
            if not contributions and cost.park is not None:
                contributions = sc.contributions.get(cost.park)
            shares = factor_shares(dict(rule.weights), contributions or {})
            shares_by_year = {t: shares for t in years}
        for t in years:
            for j, w in shares_by_year[t].items():
                cost_share[j][t] += w * amounts[t]

    discount = {t: (1.0 + sc.discount_rate) ** -(t - years[0]) for t in years}
    return Reference(years, jids, streams, collected, retained, allocated, subsidy, unpaid,
                     cost_share, cost_booked, by_agreement, stream_allocated,
                     dict(subsidy_by_source), stream_base, cost_amounts, discount)
