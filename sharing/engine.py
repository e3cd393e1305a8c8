"""The engine: scenario -> tax streams -> allocations -> Result, vectorised over streams × years.

:func:`compile_scenario` turns a validated scenario into a :class:`Model` once: the stream
table (gross amounts, retention, host and firm roles as numpy arrays), each agreement's stream
rows, and the costs. :meth:`Model.run` then applies the rules and can be called many times
with perturbed gross amounts or compliance rates without re-parsing anything; :func:`run_batch`
runs many Monte Carlo draws at once, with a leading draws axis (``sharing.risk``).

Without an agreement a stream's host keeps its retained revenue. Counterfactuals for the
cooperative game (a park is built only if all its partners take part; a firm moves only if
origin and destination both do) are computed from the same arrays by :func:`coalition_items`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from pathlib import Path

import numpy as np
from scipy import sparse

from sharing.i18n import Problem, define
from sharing.result import Result
from sharing.rules import (
    MAX_AMOUNT,
    Capped,
    Pool,
    RuleError,
    Split,
    current_shares,
    split_by_shares,
    walk,
    walk_paths,
)
from sharing.scenario import (
    ByBenefit,
    Scenario,
    ScenarioError,
    checked,
    load_scenario,
    located,
    project,
)
from sharing.taxes import TAXES, retention_table

KINDS = ("park", "firm", "stream")
SMALL_SUM = 50_000  # slot amounts up to which to_jurisdictions sums by bincount

define({
    "engine.no_streams": ("情景中没有税源：请添加园区 parks、企业 firms 或税源 streams",
                          "scenario has no tax streams: add parks, firms or streams"),
    "engine.covers_nothing": ("协议 {id!r} 没有覆盖任何税源（请检查园区、企业、税种和承载辖区的"
                              " id）",
                              "agreement {id!r} covers no stream (check the park, firm, tax "
                              "and host ids)"),
    "engine.covered_twice": ("税源 {stream!r} 已被协议 {other!r} 覆盖；一个税源只能由一个协议分享"
                             "（{n} 个税源重叠）",
                             "stream {stream!r} is already covered by agreement {other!r}; a "
                             "stream may be shared by one agreement only ({n} stream(s) "
                             "overlap)"),
    "engine.cost_year_outside": ("年份 {year} 不在模拟年份 {first}-{last} 之内",
                                 "year {year} is outside the simulated years {first}-{last}"),
    "engine.no_such_rule": ("没有这条规则", "no such rule"),
    "engine.benefit_sign": (
        "成本 {cost!r} 按协议 {agreement!r} 的受益分担，但{who}在 {year} 年从该协议所得可正可负"
        "（退税年份）：分担额不是份额的线性函数；请改用固定比例或要素分担",
        "cost {cost!r} is shared by benefit from agreement {agreement!r}, but {who}'s "
        "allocation from it in {year} can be negative or positive (a refund year): the cost "
        "shares would not be linear in the shares; share the cost by fixed shares or factors "
        "instead"),
    "engine.benefit_outside": (
        "成本 {cost!r} 按协议 {agreement!r} 的受益在其参与方之间分担，但 {split} 的份额也会"
        "分给参与方以外的 {outside}：分担额不是份额的线性函数；请把他们列入成本的参与方，"
        "或改用固定比例分担",
        "cost {cost!r} is shared by benefit from agreement {agreement!r} among its parties, "
        "but the shares of {split} also go to {outside} outside them: the cost shares would "
        "not be linear in the shares; add them to the cost's parties or share the cost by "
        "fixed shares"),
})


@dataclass(frozen=True)
class Streams:
    """The compiled stream table: one row per (source, tax, host).

    A stream's id is its source id plus a suffix (``gaozhu`` + ``/guangan/vat``,
    ``f1`` + ``/vat@destination``); the suffixes are few, so ids are built only when asked.
    """

    suffix: np.ndarray
    suffixes: tuple[str, ...]
    kind: np.ndarray
    source: np.ndarray
    park: np.ndarray
    firm: np.ndarray
    spec: np.ndarray
    tax: np.ndarray
    host: np.ndarray
    origin: np.ndarray
    destination: np.ndarray
    move_year: np.ndarray
    production_year: np.ndarray
    pre_move_gross: np.ndarray
    gross: np.ndarray
    retention: np.ndarray
    pre_move_retention: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    @cached_property
    def ids(self) -> np.ndarray:
        return self.source + np.array(self.suffixes, dtype=object)[self.suffix]

    def id_of(self, row: int) -> str:
        return self.source[row] + self.suffixes[self.suffix[row]]


@dataclass(frozen=True)
class Stay:
    """What migrated firms would pay had they stayed at the origin (the no-cooperation case)."""

    firm: np.ndarray
    origin: np.ndarray
    destination: np.ndarray
    gross: np.ndarray
    retention: np.ndarray
    tax: np.ndarray


@dataclass(frozen=True)
class CompiledAgreement:
    position: int
    rows: np.ndarray
    template: Pool


@dataclass(frozen=True)
class CompiledCost:
    position: int
    amounts: np.ndarray
    booked: np.ndarray
    parties: np.ndarray


@dataclass(frozen=True)
class Model:
    """A compiled scenario, ready to run many times."""

    scenario: Scenario
    years: np.ndarray
    jurisdictions: tuple[str, ...]
    streams: Streams
    stay: Stay
    agreements: tuple[CompiledAgreement, ...]
    costs: tuple[CompiledCost, ...]
    discount: np.ndarray
    covered: np.ndarray = field(repr=False)
    index: dict[str, int] = field(repr=False)

    def run_batch(self, gross: np.ndarray, compliance: np.ndarray | None = None,
                  **inputs) -> Batch:
        """Many draws at once: ``gross`` ``(draws, streams, years)``, ``compliance``
        ``(draws, agreements)``; see :func:`run_batch`."""
        return run_batch(self, gross, compliance, **inputs)

    @cached_property
    def stay_rows(self) -> sparse.csr_matrix:
        """(stay rows × streams): 1 where a stream carries the stay row's firm and tax. A
        firm's tax is paid at its origin before the move and at its destination after, so
        the two streams add up to what it would pay had it stayed."""
        s, st = self.streams, self.stay
        key = np.where(s.firm >= 0, s.firm * len(TAXES) + s.tax, -1)
        stay_key = st.firm * len(TAXES) + st.tax
        rows, cols = np.nonzero(stay_key[:, None] == key[None, :])
        return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)),
                                 shape=(len(st.firm), len(s)))

    def stay_gross(self, gross: np.ndarray) -> np.ndarray:
        """What migrated firms (and projects) would pay had they stayed, from the streams'
        gross amounts ``(streams, years)`` or ``(draws, streams, years)``: the no-cooperation
        counterfactual follows perturbed amounts (growth, survival, a delayed move)."""
        if gross is self.streams.gross:
            return self.stay.gross
        if gross.ndim == 2:
            return self.stay_rows @ gross
        n_d, k, n_t = gross.shape
        flat = np.ascontiguousarray(gross.transpose(1, 0, 2)).reshape(k, n_d * n_t)
        return (self.stay_rows @ flat).reshape(-1, n_d, n_t).transpose(1, 0, 2)

    def run(self, gross: np.ndarray | None = None,
            compliance: dict[str, float] | None = None) -> Result:
        """Simulate. ``gross`` replaces the stream amounts (same shape as
        ``streams.gross``); ``compliance`` overrides agreements' compliance by id."""
        alloc = _allocate(self, gross, compliance or {})
        n_j = len(self.jurisdictions)
        host = self.streams.host[None, :]
        return Result(
            model=self, alloc=alloc, allocated=alloc.allocated,
            collected=to_jurisdictions(host, alloc.gross[None], n_j),
            retained=to_jurisdictions(host, alloc.retained[None], n_j),
            counterfactual=partial(standalone_pv, self, alloc))


def simulate_file(path: str | Path) -> Result:
    """Load, compile and run a scenario file; every problem names the file and line."""
    sc = load_scenario(path)
    try:
        return compile_scenario(sc).run()
    except ScenarioError as err:
        raise located(err, path) from None


# ---------------------------------------------------------------------------------------------
# Compiling


def compile_scenario(sc: Scenario, both_sides: bool = False) -> Model:
    """Build the stream table and agreement rows.

    With ``both_sides`` every migrated firm has a stream at its origin and one at its
    destination even when its move lies outside the horizon (zero there): a Monte Carlo draw
    can then move the move year without compiling again.

    A scenario that did not come out of validation (``model_construct``) is validated first.
    Raises ScenarioError, with key paths, on bad input and bad coverage.
    """
    sc = checked(sc)
    years = np.arange(sc.years.start, sc.years.end + 1)
    jur = tuple(sc.jurisdiction_ids)
    index = {j: i for i, j in enumerate(jur)}

    def retention_in(when: np.ndarray) -> np.ndarray:
        return retention_table([(j.id, j.province) for j in sc.jurisdictions], when,
                               sc.retention.default, sc.retention.provinces,
                               sc.retention.jurisdictions)

    table = retention_in(years)
    parts, suffixes, stay = _streams(sc, years, index, both_sides)
    streams = _assemble(parts, suffixes, table, years, retention_in)
    stay_ret = table[stay["origin"], stay["tax"]] if len(stay["origin"]) else \
        np.zeros((0, len(years)))
    model_stay = Stay(stay["firm"], stay["origin"], stay["destination"], stay["gross"], stay_ret,
                      stay["tax"])
    agreements, covered = _agreements(sc, streams, years, index)
    costs = tuple(_cost(sc, i, years, index) for i in range(len(sc.costs)))
    discount = (1.0 + sc.discount_rate) ** -(years - years[0]).astype(float)
    return Model(sc, years, jur, streams, model_stay, agreements, costs, discount, covered, index)


def _streams(sc: Scenario, years: np.ndarray, index: dict[str, int], both_sides: bool = False):
    parts: list[dict] = []
    suffixes: dict[str, int] = {}
    n_years = len(years)

    def add(suffix, kind, source, gross, tax, host, park=-1, firm=-1, spec=-1,
            origin=-1, destination=-1, move_year=-1, production_year=-1, pre_move_gross=0.0):
        # One value for all the part's streams or one per stream: _assemble expands them.
        parts.append(dict(
            n=len(gross), suffix=suffixes.setdefault(suffix, len(suffixes)),
            kind=KINDS.index(kind), source=source, park=park, firm=firm, spec=spec, tax=tax,
            host=host, origin=origin, destination=destination, move_year=move_year,
            production_year=production_year, pre_move_gross=pre_move_gross,
            gross=gross.reshape(len(gross), n_years)))

    for p, park in enumerate(sc.parks):
        for s, site in enumerate(park.sites):
            for tax, proj in site.taxes.items():
                suffix = f"#{s}" if sum(x.host == site.host for x in park.sites) > 1 else ""
                add(f"/{site.host}{suffix}/{tax}", "park", park.id,
                    project(proj, years)[None, :], TAXES.index(tax), index[site.host], park=p)
    for k, spec in enumerate(sc.streams):
        add("", "stream", spec.id, project(spec, years)[None, :], TAXES.index(spec.tax),
            index[spec.host], spec=k)
    stay = _firm_streams(sc, years, index, add, both_sides)
    return parts, tuple(suffixes), stay


def _firm_streams(sc: Scenario, years: np.ndarray, index: dict[str, int], add,
                  both_sides: bool = False) -> dict:
    """Migrated firms, vectorised over firms per tax; projects one by one (few)."""
    # Plain lists of the firm objects: building a tuple per firm wakes the garbage collector.
    pos = np.array([f for f, firm in enumerate(sc.firms) if firm.move_year is not None],
                   dtype=int)
    migrated = [sc.firms[f] for f in pos]
    stay: dict[str, list] = {"firm": [], "origin": [], "destination": [], "tax": [], "gross": []}
    if migrated:
        ids = np.array([firm.id for firm in migrated], dtype=object)
        origin = np.array([index[firm.origin] for firm in migrated])
        dest = np.array([index[firm.destination] for firm in migrated])
        move = np.array([firm.move_year for firm in migrated])
        production = np.array([firm.producing_from for firm in migrated])
        growth = np.array([firm.growth for firm in migrated])
        pre_move = [firm.pre_move for firm in migrated]
        present = set().union(*pre_move)
        pre = np.zeros((len(migrated), len(TAXES)))
        for t in present:
            pre[:, TAXES.index(t)] = np.fromiter((p.get(t, 0.0) for p in pre_move), float,
                                                 len(pre_move))
        level_index = (1.0 + growth[:, None]) ** (years[None, :] - move[:, None] + 1)
        for t, tax in enumerate(TAXES):
            has = pre[:, t] > 0
            if not has.any():
                continue
            level = pre[has, t][:, None] * level_index[has]
            before = years[None, :] < move[has, None]
            o, d, mv, fp, pr = origin[has], dest[has], move[has], pos[has], production[has]
            early = (mv > years[0]) | both_sides
            late = (mv <= years[-1]) | both_sides
            if early.any():
                add(f"/{tax}@origin", "firm", ids[has][early],
                    (level * before)[early], t, o[early], firm=fp[early], origin=o[early],
                    destination=d[early], move_year=mv[early], production_year=pr[early])
            if late.any():
                add(f"/{tax}@destination", "firm", ids[has][late],
                    (level * ~before)[late], t, d[late], firm=fp[late], origin=o[late],
                    destination=d[late], move_year=mv[late], production_year=pr[late],
                    pre_move_gross=pre[has, t][late])
            stay["firm"].append(fp)
            stay["origin"].append(o)
            stay["destination"].append(d)
            stay["tax"].append(np.full(len(fp), t))
            stay["gross"].append(level)
    for f, firm in enumerate(sc.firms):
        if firm.move_year is not None:
            continue
        o, d = index[firm.introduced_by], index[firm.host]
        for tax, proj in firm.taxes.items():
            gross = project(proj, years)
            add(f"/{tax}", "firm", firm.id, gross[None, :], TAXES.index(tax), d,
                firm=f, origin=o, destination=d)
            stay["firm"].append(np.array([f]))
            stay["origin"].append(np.array([o]))
            stay["destination"].append(np.array([d]))
            stay["tax"].append(np.array([TAXES.index(tax)]))
            stay["gross"].append(gross[None, :])
    if not stay["firm"]:
        empty = np.zeros(0, int)
        return {"firm": empty, "origin": empty, "destination": empty, "tax": empty,
                "gross": np.zeros((0, len(years)))}
    return {k: np.concatenate(v) for k, v in stay.items()}


define({
    "bounds.projection_too_large": (
        "税源 {stream} 在 {year} 年的税额为 {amount:.3g} 万元，超过上限 {limit:g} 万元"
        "（docs/scenario-format.md“取值范围”）；请检查基数、基年与增长率",
        "stream {stream} reaches {amount:.3g} 万元 in {year}, above the bound of {limit:g} "
        "万元 (docs/scenario-format.md, \"Bounds\"); check its base, base year and growth"),
})


def _check_bounded(cols: dict, suffixes: tuple[str, ...], years: np.ndarray) -> None:
    """Refuse gross amounts past :data:`~sharing.rules.MAX_AMOUNT` (a base of 1e12 growing
    at 500% a year for decades, say), so that all later arithmetic stays finite."""
    gross = cols["gross"]
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(gross) <= MAX_AMOUNT)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        stream = f"{cols['source'][row]}{suffixes[cols['suffix'][row]]}"
        raise ScenarioError([Problem("bounds.projection_too_large", {
            "stream": stream, "year": int(years[col]), "amount": float(gross[row, col]),
            "limit": MAX_AMOUNT})])


def _assemble(parts: list[dict], suffixes: tuple[str, ...], table: np.ndarray,
              years: np.ndarray, retention_in) -> Streams:
    if not parts:
        raise ScenarioError([Problem("engine.no_streams")])
    counts = [p["n"] for p in parts]
    cols = {k: _column([p[k] for p in parts], counts, _DTYPES.get(k, int))
            for k in parts[0] if k not in ("n", "gross")}
    cols["gross"] = np.concatenate([p["gross"] for p in parts])
    _check_bounded(cols, suffixes, years)
    cols["retention"] = table[cols["host"], cols["tax"]]
    cols["pre_move_retention"] = _retention_before_move(cols, years, table, retention_in)
    return Streams(suffixes=suffixes, **cols)


_DTYPES = {"source": object, "pre_move_gross": float}


def _column(values: list, counts: list[int], dtype) -> np.ndarray:
    """A stream column from each part's value: one for all its streams, or one per stream.
    Parks' streams all have single values: one repeat, not an array per part."""
    if not any(isinstance(v, np.ndarray) for v in values):
        return np.repeat(np.array(values, dtype=dtype), counts)
    return np.concatenate([np.asarray(v, dtype=dtype) if isinstance(v, np.ndarray)
                           else np.full(n, v, dtype=dtype)
                           for v, n in zip(values, counts, strict=True)])


def _retention_before_move(cols: dict, years: np.ndarray, table: np.ndarray,
                           retention_in) -> np.ndarray:
    """Each stream's retention in the year before its firm's move (the pre-move base of a
    capped rule's cap), looked up for that very year even when it lies before the horizon;
    0 for streams that carry no pre-move taxes."""
    out = np.zeros(len(cols["host"]))
    rows = np.flatnonzero(cols["pre_move_gross"] > 0)
    if not rows.size:
        return out
    before = cols["move_year"][rows] - 1
    extra = np.unique(before[(before < years[0]) | (before > years[-1])])
    if extra.size:
        years = np.concatenate([years, extra])
        table = np.concatenate([table, retention_in(extra)], axis=2)
    order = np.argsort(years)
    col = order[np.searchsorted(years, before, sorter=order)]
    out[rows] = table[cols["host"][rows], cols["tax"][rows], col]
    return out


def _lookups(sc: Scenario, streams: Streams, index: dict[str, int]) -> dict:
    return {
        "park": (lambda: {p.id: i for i, p in enumerate(sc.parks)}, streams.park),
        "firm": (lambda: {f.id: i for i, f in enumerate(sc.firms)}, streams.firm),
        "stream": (lambda: {s.id: i for i, s in enumerate(sc.streams)}, streams.spec),
        "host": (lambda: index, streams.host),
        "tax": (lambda: {t: i for i, t in enumerate(TAXES)}, streams.tax),
        "kind": (lambda: {k: i for i, k in enumerate(KINDS)}, streams.kind),
    }


def _select(covers, lookups: dict, codes: dict, n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    for key, (make_codes, column) in lookups.items():
        wanted = covers.listed(key)
        if wanted is not None:
            if key not in codes:
                codes[key] = make_codes()
            values = [codes[key][w] for w in wanted if w in codes[key]]
            mask &= column == values[0] if len(values) == 1 else np.isin(column, values)
    return mask


def _agreements(sc: Scenario, streams: Streams, years: np.ndarray, index: dict[str, int]):
    owner = np.full(len(streams), -1)
    compiled = []
    lookups, codes = _lookups(sc, streams, index), {}
    for a, ag in enumerate(sc.agreements):
        mask = _select(ag.covers, lookups, codes, len(streams))
        if not mask.any():
            raise ScenarioError([Problem("engine.covers_nothing", {"id": ag.id},
                                         path=f"agreements[{a}].covers")])
        twice = np.flatnonzero(mask & (owner >= 0))
        if twice.size:
            other = sc.agreements[owner[twice[0]]].id
            raise ScenarioError([Problem("engine.covered_twice", {
                "stream": streams.id_of(twice[0]), "other": other, "n": twice.size},
                path=f"agreements[{a}].covers")])
        owner[mask] = a
        rows = np.flatnonzero(mask)
        firm = streams.firm[rows]
        key = np.where(firm >= 0, firm, len(sc.firms) + rows)
        present = np.zeros(key.max() + 1, dtype=bool)
        present[key] = True
        group = (np.cumsum(present) - 1)[key]
        contributions = sc.contributions.get(ag.id)
        parks = ag.covers.listed("park") or []
        if contributions is None and len(parks) == 1:
            contributions = sc.contributions.get(parks[0])
        template = _template(sc, streams, years, index, a, rows, group, contributions or {})
        compiled.append(CompiledAgreement(a, rows, template))
    return tuple(compiled), owner >= 0


def _cost(sc: Scenario, c: int, years: np.ndarray, index: dict[str, int]) -> CompiledCost:
    cost = sc.costs[c]
    amounts = np.array([cost.by_year.get(int(y), 0.0) for y in years])
    outside = sorted(set(cost.by_year) - {int(y) for y in years})
    if outside:
        raise ScenarioError([Problem("engine.cost_year_outside", {
            "year": outside[0], "first": int(years[0]), "last": int(years[-1])},
            path=f"costs[{c}].by_year")])
    booked = np.zeros(len(index))
    payers = {cost.paid_by: 1.0} if isinstance(cost.paid_by, str) else cost.paid_by
    for jid, share in payers.items():
        booked[index[jid]] += share
    if cost.park is not None:
        parties = next(p.partners for p in sc.parks if p.id == cost.park)
    else:
        parties = cost.parties
    return CompiledCost(c, amounts, booked, np.array([index[j] for j in parties]))


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class Allocation:
    """Raw output of one run, turned into a Result by sharing.result.

    ``subsidy`` (jurisdictions × years) is money from outside the jurisdictions (a capped
    rule's central subsidy): not part of ``allocated``, which still sums to ``retained``;
    each block's ``split.subsidy`` says which stream (firm) it belongs to.
    """

    gross: np.ndarray
    retained: np.ndarray
    allocated: np.ndarray
    subsidy: np.ndarray
    blocks: list[tuple[int, np.ndarray, Split]]
    unpaid: np.ndarray
    unpaid_rows: list[tuple[np.ndarray, np.ndarray]]
    unpaid_transfers: list[tuple[int, np.ndarray]]
    cost_share: np.ndarray
    cost_booked: np.ndarray
    cost_rows: list[np.ndarray]
    by_agreement: dict[int, np.ndarray]


def to_jurisdictions(who: np.ndarray, amount: np.ndarray, n: int) -> np.ndarray:
    """Sum slot amounts ``(m, k, T)`` into ``(jurisdictions, T)``.

    All slots at once: a rule with many slots (an optimized split of ten parties over three
    stages has thirty) costs one pass, not thirty. Small inputs (an agreement's few streams)
    go through one ``bincount`` over (jurisdiction, year) cells; large ones through one sparse
    (jurisdictions × slots·streams) indicator product, whose set-up (~0.2 ms) is what the
    small case cannot afford. Both add each cell's amounts in slot order.
    """
    n_slots, k, n_years = amount.shape
    if n_slots * k == 0:
        return np.zeros((n, n_years))
    if amount.size <= SMALL_SUM:
        cells = (np.reshape(who, (-1, 1)) * n_years + np.arange(n_years)).ravel()
        return np.bincount(cells, amount.ravel(), minlength=n * n_years).reshape(n, n_years)
    indicator = sparse.csr_matrix(
        (np.ones(n_slots * k), (np.asarray(who).ravel(), np.arange(n_slots * k))),
        shape=(n, n_slots * k))
    return indicator @ amount.reshape(n_slots * k, n_years)


def _template(sc: Scenario, s: Streams, years: np.ndarray, index: dict[str, int],
              position: int, rows: np.ndarray, group: np.ndarray,
              contributions: dict[str, dict[str, float]]) -> Pool:
    """Everything a rule needs about the agreement's streams except the amounts."""
    take = _rows(rows)
    pre_gross = s.pre_move_gross[take]
    pre = pre_gross if sc.agreements[position].base == "gross" else \
        pre_gross * s.pre_move_retention[take]
    empty = np.zeros((0, len(years)))
    return Pool(
        amounts=empty, gross=empty, years=years,
        roles={"host": s.host[take], "origin": s.origin[take],
               "destination": s.destination[take]},
        tax=s.tax[take], group=group, n_groups=int(group.max()) + 1,
        move_year=s.move_year[take], production_year=s.production_year[take],
        pre_move=pre, pre_move_gross=pre_gross,
        stream_id=lambda i: s.id_of(rows[i]), index=index, contributions=contributions)


def _rows(rows: np.ndarray) -> np.ndarray | slice:
    """A slice when the rows are contiguous, so that taking them copies nothing."""
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _allocate(model: Model, gross: np.ndarray | None, compliance: dict[str, float]):
    s = model.streams
    sc = model.scenario
    n_j, n_years = len(model.jurisdictions), len(model.years)
    gross = s.gross if gross is None else gross
    retained = gross * s.retention
    blocks: list[tuple[int, np.ndarray, Split]] = []
    unpaid = np.zeros((n_j, n_years))
    subsidy = np.zeros((n_j, n_years))
    unpaid_rows = []
    unpaid_transfers: list[tuple[int, np.ndarray]] = []
    by_agreement: dict[int, np.ndarray] = {}
    for ca in model.agreements:
        ag = sc.agreements[ca.position]
        take = _rows(ca.rows)
        base = gross if ag.base == "gross" else retained
        pool = replace(ca.template, amounts=base[take], gross=gross[take])
        try:
            split = ag.rule.split(pool, "rule")
        except RuleError as e:
            raise ScenarioError([e.problem.at(path=f"agreements[{ca.position}].rule")]) \
                from None
        money = retained[take]
        if ag.base == "gross":
            # The rule decides on gross tax; the money moved is the retained part, split in
            # the same proportions stream by stream and year by year.
            split = replace(split, amount=split.amount * s.retention[take][None])
        c = compliance.get(ag.id, ag.compliance)
        if c < 1.0:
            host = pool.roles["host"]
            kept = np.where((split.who == host[None, :])[:, :, None], split.amount, 0.0)
            short = (1.0 - c) * (money - kept.sum(axis=0))
            unpaid += to_jurisdictions(host[None, :], short[None], n_j)
            unpaid_rows.append((ca.rows, short))
            transfers = None
            if split.transfers is not None:
                transfers = split.transfers * c
                withheld = (1.0 - c) * np.maximum(-split.transfers, 0.0)
                unpaid += withheld
                unpaid_transfers.append((ca.position, withheld))
            split = Split(
                np.concatenate([split.who, host[None, :]], axis=0),
                np.concatenate([split.amount * c, (1.0 - c) * money[None]], axis=0),
                transfers, split.pools, split.subsidy)
        if split.subsidy is not None:  # paid by the centre: compliance does not touch it
            subsidy += to_jurisdictions(split.subsidy.who, split.subsidy.amount, n_j)
        blocks.append((ca.position, ca.rows, split))
        alloc = to_jurisdictions(split.who, split.amount, n_j)
        if split.transfers is not None:
            alloc = alloc + split.transfers
        by_agreement[ca.position] = alloc
    allocated = sum(by_agreement.values(), np.zeros((n_j, n_years)))
    rest = np.flatnonzero(~model.covered)
    if rest.size:
        kept = Split(s.host[rest][None, :], retained[rest][None])
        blocks.append((-1, rest, kept))
        allocated += to_jurisdictions(kept.who, kept.amount, n_j)
    cost_share, cost_booked, cost_rows = _costs(model, by_agreement)
    return Allocation(gross, retained, allocated, subsidy, blocks, unpaid, unpaid_rows,
                      unpaid_transfers, cost_share,
                      cost_booked, cost_rows, by_agreement)


def _costs(model: Model, by_agreement: dict[int, np.ndarray]):
    sc = model.scenario
    n_j, n_years = len(model.jurisdictions), len(model.years)
    share_total = np.zeros((n_j, n_years))
    booked_total = np.zeros((n_j, n_years))
    rows = []
    positions = {a.id: i for i, a in enumerate(sc.agreements)}
    for cc in model.costs:
        cost = sc.costs[cc.position]
        booked = cc.booked[:, None] * cc.amounts[None, :]
        booked_total += booked
        if cost.rule is None:
            rows.append(booked)
            share_total += booked
            continue
        if isinstance(cost.rule, ByBenefit):
            parties = (np.array([model.index[j] for j in cost.rule.parties])
                       if cost.rule.parties else cc.parties)
            benefit = np.maximum(by_agreement[positions[cost.rule.agreement]][parties], 0.0)
            total = benefit.sum(axis=0)
            weights = np.where(total > 0, benefit / np.where(total > 0, total, 1.0),
                               1.0 / len(parties))
            who = parties[:, None]
            keys_shares = weights
        else:
            if hasattr(cost.rule, "weights"):
                contributions = (sc.contributions.get(cost.id)
                                 or (sc.contributions.get(cost.park) if cost.park else None)
                                 or {})
                try:
                    shares = cost.rule.shares(contributions)
                except RuleError as e:
                    raise ScenarioError([e.problem.at(path=f"costs[{cc.position}].rule")]) \
                        from None
            else:
                shares = cost.rule.shares
            who = np.array([[model.index[j]] for j in shares])
            keys_shares = np.array(list(shares.values()))
        parts = split_by_shares(cc.amounts[None, :], keys_shares)
        out = to_jurisdictions(who, parts, n_j)
        rows.append(out)
        share_total += out
    return share_total, booked_total, rows


# ---------------------------------------------------------------------------------------------
# Counterfactuals: coalition values


@dataclass(frozen=True)
class CoalitionItems:
    """v(S) = Σ_i Σ_{j∈S} (A[i, j] if required[i] ⊆ S else B[i, j]), in present value.

    Items: plain streams (always A = B: the host keeps), each park (built only if all its
    partners are in S; otherwise each partner gets its ``standalone`` fraction of the park's
    retained revenue), each origin→destination pair of firms (move only if both are in S;
    otherwise the origin keeps them), each cost (incurred only if its park is built or all
    its parties are in S). Transfers inside S cancel, so agreements do not enter v(S).

    A central subsidy (``end_subsidy`` of a capped rule) is money from outside the players:
    it adds to v(S) when its agreement can hold inside S, i.e. when the stream's host and the
    item its stream belongs to (the firm's origin and destination, the park's partners) are
    all in S, and is 0 otherwise (no cooperation, no agreement, no subsidy). So v(N) is still
    the sum of everyone's ``pv_net_benefit``, which includes the subsidy.
    """

    with_coalition: np.ndarray
    without: np.ndarray
    required: np.ndarray


MAX_COALITION_CELLS = 20_000_000

define({
    "bounds.too_many_items": (
        "{jurisdictions} 个辖区、{items} 个合作项目（园区、迁移企业的迁出迁入对、成本）"
        "需 {cells} 个数值来计算不合作时的收益，超过上限 {limit}；请把情景拆小",
        "{jurisdictions} jurisdictions and {items} cooperation items (parks, origin-destination "
        "pairs of moved firms, costs) need {cells} values for the no-cooperation payoffs, more "
        "than the limit of {limit}; split the scenario"),
})


def _check_items(items: int, n_j: int) -> None:
    if items * n_j > MAX_COALITION_CELLS:
        raise ScenarioError([Problem("bounds.too_many_items", {
            "jurisdictions": f"{n_j:,}", "items": f"{items:,}", "cells": f"{items * n_j:,}",
            "limit": f"{MAX_COALITION_CELLS:,}"})])


def coalition_items(model: Model, alloc: Allocation) -> CoalitionItems:
    """The items of v(S) for one run (its gross amounts and cost shares)."""
    sc, s = model.scenario, model.streams
    n_j = len(model.jurisdictions)
    pv = alloc.retained @ model.discount

    def by_host(rows: np.ndarray, values: np.ndarray, hosts: np.ndarray) -> np.ndarray:
        return np.bincount(hosts[rows], weights=values[rows], minlength=n_j)

    a_rows, b_rows, req = [], [], []
    plain = np.flatnonzero(s.kind == KINDS.index("stream"))
    vec = by_host(plain, pv, s.host)
    a_rows.append(vec)
    b_rows.append(vec)
    req.append(0)
    rows = np.flatnonzero(s.park >= 0)
    by_park = np.bincount(s.park[rows] * n_j + s.host[rows], weights=pv[rows],
                          minlength=len(sc.parks) * n_j).reshape(len(sc.parks), n_j)
    for a, park in zip(by_park, sc.parks, strict=True):
        b = np.zeros(n_j)
        for jid, frac in sc.standalone.get(park.id, {}).items():
            b[model.index[jid]] = frac * a.sum()
        a_rows.append(a)
        b_rows.append(b)
        req.append(_mask([model.index[j] for j in park.partners]))
    firm_rows = np.flatnonzero(s.firm >= 0)
    if firm_rows.size:
        pair = s.origin[firm_rows] * n_j + s.destination[firm_rows]
        stay_pair = model.stay.origin * n_j + model.stay.destination
        codes, inverse = np.unique(pair, return_inverse=True)
        _check_items(len(codes) + len(sc.parks) + len(model.costs) + 1, n_j)
        stay_code = np.searchsorted(codes, stay_pair)
        stay_pv = (model.stay_gross(alloc.gross) * model.stay.retention) @ model.discount
        size = len(codes) * n_j
        a_rows.extend(np.bincount(inverse * n_j + s.host[firm_rows], weights=pv[firm_rows],
                                  minlength=size).reshape(len(codes), n_j))
        b_rows.extend(np.bincount(stay_code * n_j + model.stay.origin, weights=stay_pv,
                                  minlength=size).reshape(len(codes), n_j))
        req.extend(_bits(codes // n_j, n_j) | _bits(codes % n_j, n_j))
    for cc, shared in zip(model.costs, alloc.cost_rows, strict=True):
        a_rows.append(-(shared @ model.discount))
        b_rows.append(np.zeros(n_j))
        req.append(_mask(cc.parties))
    required, values = subsidy_items(model, alloc)
    a_rows.extend(values)
    b_rows.extend(np.zeros_like(values))
    req.extend(required)
    return CoalitionItems(np.array(a_rows), np.array(b_rows), _mask_array(req, n_j))


def subsidy_items(model: Model, alloc: Allocation) -> tuple[np.ndarray, np.ndarray]:
    """The central subsidies as coalition items: the jurisdictions each needs (a bitmask: the
    stream's host and its firm's origin and destination, or its park's partners) and the
    present value it brings each jurisdiction, ``(items,)`` and ``(items, jurisdictions)``."""
    s, n_j = model.streams, len(model.jurisdictions)
    rows, who, value = [], [], []
    for _, block_rows, split in alloc.blocks:
        if split.subsidy is None:
            continue
        pv = split.subsidy.amount @ model.discount
        slot, k = np.nonzero(pv)
        rows.append(block_rows[k])
        who.append(split.subsidy.who[slot, k])
        value.append(pv[slot, k])
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, n_j))
    rows, who, value = np.concatenate(rows), np.concatenate(who), np.concatenate(value)
    parks = _mask_array([_mask(model.index[j] for j in p.partners)
                         for p in model.scenario.parks] or [0], n_j)
    required = np.where(s.park[rows] >= 0, parks[np.maximum(s.park[rows], 0)],
                        np.where(s.firm[rows] >= 0,
                                 _bits(s.origin[rows], n_j) | _bits(s.destination[rows], n_j),
                                 _mask_array([0] * len(rows), n_j)))
    required = required | _bits(s.host[rows], n_j)
    codes, inverse = np.unique(required, return_inverse=True)
    return codes, np.bincount(inverse * n_j + who, weights=value,
                              minlength=len(codes) * n_j).reshape(len(codes), n_j)


WIDE_MASKS = 62
"""Coalition bitmasks over more jurisdictions than this are Python integers (numpy object
arrays), not int64: ``1 << 69`` would wrap around in int64 and give wrong numbers."""


def _bits(indices: np.ndarray, n_j: int) -> np.ndarray:
    """``1 << i`` for each index, exact for any number of jurisdictions."""
    indices = np.asarray(indices)
    if n_j <= WIDE_MASKS:
        return np.left_shift(np.int64(1), indices.astype(np.int64))
    return _mask_array([1 << int(i) for i in indices.ravel()], n_j).reshape(indices.shape)


def _mask_array(masks, n_j: int) -> np.ndarray:
    if n_j <= WIDE_MASKS:
        return np.array(masks, dtype=np.int64)
    out = np.empty(len(masks), dtype=object)
    out[:] = [int(m) for m in masks]
    return out


def _mask(indices) -> int:
    out = 0
    for i in indices:
        out |= 1 << int(i)
    return out


def standalone_pv(model: Model, alloc: Allocation) -> np.ndarray:
    """PV net benefit per jurisdiction if nobody cooperated with it (v({i})) in one run."""
    return standalone_values(coalition_items(model, alloc))


def standalone_values(items: CoalitionItems) -> np.ndarray:
    """v({j}) for every jurisdiction j: what it gets if nobody cooperates with it."""
    n_j = items.with_coalition.shape[1]
    alone = _bits(np.arange(n_j), n_j)[None, :]
    cond = (items.required[:, None] & ~alone) == 0
    return np.where(cond.astype(bool), items.with_coalition, items.without).sum(axis=0)


COALITION_CHUNK = 1 << 14


def coalition_values(items: CoalitionItems, players: list[int]) -> np.ndarray:
    """v(S) for every subset S of ``players`` (bitmask order over ``players``), where
    jurisdictions outside ``players`` never cooperate.

    An item holds in S when every jurisdiction it requires is in S: items requiring a
    non-player never hold; the others' requirements are remapped to bits over ``players``
    (so any number of jurisdictions works). Coalitions are taken in chunks of
    :data:`COALITION_CHUNK`, so memory beyond the result stays small."""
    n = len(players)
    allowed = _mask(players)
    position = {j: k for k, j in enumerate(players)}
    inside = np.zeros(len(items.required), dtype=bool)
    need = np.zeros(len(items.required), dtype=np.int64)
    for i, r in enumerate(int(r) for r in items.required):
        if r & ~allowed:
            continue
        inside[i] = True
        while r:
            low = r & -r
            need[i] |= 1 << position[low.bit_length() - 1]
            r ^= low
    a = items.with_coalition[:, players]
    b = items.without[:, players]
    out = np.empty(1 << n)
    for start in range(0, 1 << n, COALITION_CHUNK):
        masks = np.arange(start, min(start + COALITION_CHUNK, 1 << n), dtype=np.int64)
        in_s = ((masks[:, None] >> np.arange(n)) & 1).astype(float)
        cond = inside[None, :] & ((need[None, :] & ~masks[:, None]) == 0)
        out[start:start + len(masks)] = np.where(cond, in_s @ a.T, in_s @ b.T).sum(axis=1)
    return out


# ---------------------------------------------------------------------------------------------
# The optimizer's affine map: payoffs as functions of decided shares


@dataclass(frozen=True)
class DecidedSplit:
    """A ratio split whose shares are to be decided: the fixed, factors or optimized rule at
    ``path`` (``rule.increment``) of agreement ``position``, its ``parties`` (jurisdiction
    ids or roles) and its ``stages`` (inclusive year ranges, one share vector each)."""

    position: int
    path: str
    parties: tuple[str, ...]
    stages: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class AffineMap:
    """Payoffs and yearly allocations as exact affine functions of decided shares.

    One column per (split, stage, party), in that order: ``w[c]`` is the share of party
    ``column_party[c]`` of split ``column_split[c]`` in its stage ``column_stage[c]``.

    - ``payoff = payoff_const + payoff @ w``: PV net benefit per jurisdiction (万元);
    - ``allocated = allocated_const + allocated @ w`` (rows ``j * years + t``): allocated
      revenue per jurisdiction and year;
    - ``units[i]`` ``(parties, jurisdictions, years)``: what each party's whole share of split
      i would move to each jurisdiction, in the rule's own base (before the gross-to-retained
      conversion and compliance), for floor rules above a split; ``raw_now[i]`` the same
      under the current shares.

    ``current`` holds the shares of the current deal (weighted by the split's base where an
    optimized rule's stages do not line up with the new ones), ``standalone`` each
    jurisdiction's no-cooperation PV, ``items`` the coalition items of v(S), and ``hosts`` per
    (split, stage) the jurisdictions hosting its streams with the parties that resolve to
    each of them (worked out when first asked for).
    """

    splits: tuple[DecidedSplit, ...]
    years: np.ndarray
    jurisdictions: tuple[str, ...]
    column_split: np.ndarray
    column_stage: np.ndarray
    column_party: np.ndarray
    current: np.ndarray
    payoff: np.ndarray
    payoff_const: np.ndarray
    allocated: sparse.csr_matrix
    allocated_const: np.ndarray
    retained: np.ndarray
    discount: np.ndarray
    units: tuple[np.ndarray, ...]
    raw_now: tuple[np.ndarray, ...]
    standalone: np.ndarray
    items: CoalitionItems
    hosting: partial = field(repr=False)  # computes ``hosts``, only if asked (host minimum)

    @cached_property
    def hosts(self) -> dict[tuple[int, int], dict[int, list[int]]]:
        return self.hosting()

    @property
    def n_columns(self) -> int:
        return len(self.column_split)

    def predict(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """PV payoffs ``(jurisdictions,)`` and allocations ``(jurisdictions, years)`` at w."""
        allocated = self.allocated_const + (self.allocated @ w).reshape(
            self.allocated_const.shape)
        return self.payoff_const + self.payoff @ w, allocated


def affine_map(model: Model, splits: list[DecidedSplit] | tuple[DecidedSplit, ...],
               compliance: dict[str, float] | None = None) -> AffineMap:
    """The exact affine map from decided shares to payoffs and yearly allocations.

    From one run at the current shares: each ratio split records, per stream and year, the
    base it divides (``Split.pools``); a party's whole share moves ``base × conversion`` to
    the jurisdiction the party resolves to on each stream, where the conversion is the
    stream's retention under ``base: gross`` and the agreement's compliance c (the host keeps
    ``(1 − c)`` of the money whatever the shares). Costs shared ``by_benefit`` move with the
    shares: ``cost_j = amount × benefit_j / Σ benefit``, linear as long as every party's
    benefit keeps its sign and the total is fixed. Everything that does not move (other
    agreements, the host's stock, fixed returns, fixed cost shares, a capped rule's central
    subsidy) is the constant, taken from the run itself: ``const = run − Σ current shares ×
    unit moves``.

    The map is valid while no floor above a split binds; the caller adds that constraint.

    Raises
    ------
    ScenarioError
        When a split's party cannot be resolved on its streams, or a cost shared by benefit
        would make payoffs non-linear (a year with a negative benefit, or shares moving
        revenue to jurisdictions outside the cost's parties).
    """
    sc = model.scenario
    compliance = compliance or {}
    alloc = _allocate(model, None, compliance)
    years, n_j, n_t = model.years, len(model.jurisdictions), len(model.years)
    pools = {position: split.pools for position, _, split in alloc.blocks if position >= 0}
    # Per split: its streams' base and money, and its keys (the parties, then any other key
    # of the current shares), each resolved to a jurisdiction per stream. The sums over
    # streams are then done for every split at once.
    bases, moneys, whos, nows, hosts_of, n_keys, n_parties = [], [], [], [], [], [], []
    stage_of = np.full((len(splits), n_t), -1)  # each year's stage, -1 outside every stage
    for i, d in enumerate(splits):
        ca = model.agreements[d.position]
        ag = sc.agreements[d.position]
        prefix = d.path + ".stages["
        base = np.zeros((len(ca.rows), n_t))
        for path, b in pools.get(d.position, []):
            if path == d.path or path.startswith(prefix):
                base = base + b
        current, shares_now = _current(ag.rule, d.path, years, ca.template.contributions)
        keys = list(dict.fromkeys([*d.parties, *current]))
        who = np.empty((len(keys), len(ca.rows)), dtype=int)  # (keys, streams)
        try:
            for r, key in enumerate(keys):  # as Pool.who: an id, else a role
                who[r] = model.index[key] if key in model.index else ca.template.who(key)
        except RuleError as e:
            raise ScenarioError([e.problem.at(path=f"agreements[{d.position}].{d.path}")]) \
                from None
        factor = compliance.get(ag.id, ag.compliance)
        money = base * model.streams.retention[_rows(ca.rows)] if ag.base == "gross" else base
        bases.append(base)
        moneys.append(factor * money)
        whos.append(who)
        nows.append(np.zeros((len(keys), n_t)))  # (keys, years)
        nows[-1][[keys.index(k) for k in current]] = shares_now
        hosts_of.append(ca.template.roles["host"])
        n_keys.append(len(keys))
        n_parties.append(len(d.parties))
        for s, (a, b) in enumerate(d.stages):
            stage_of[i, (years >= a) & (years <= b)] = s
    n_keys, n_parties = np.array(n_keys, dtype=int), np.array(n_parties, dtype=int)
    n_streams = np.array([len(b) for b in bases], dtype=int)
    first_key = np.cumsum(n_keys) - n_keys  # each split's first key slot
    first_row = np.cumsum(n_streams) - n_streams
    split_of_key = np.repeat(np.arange(len(splits)), n_keys)
    # (key slot, stream row) pairs of every split, and the jurisdiction of each
    pair_key = np.concatenate([np.zeros(0, dtype=int)] + [
        np.repeat(np.arange(k) + f, r) for k, f, r in zip(n_keys, first_key, n_streams,
                                                           strict=True)])
    pair_row = np.concatenate([np.zeros(0, dtype=int)] + [
        np.tile(np.arange(r) + f, k) for k, f, r in zip(n_keys, first_row, n_streams,
                                                         strict=True)])
    pair_who = np.concatenate([np.zeros(0, dtype=int)] + [w.ravel() for w in whos])
    base_rows = np.concatenate([np.zeros((0, n_t)), *bases])
    n_slots = len(split_of_key)

    def by_key(rows: np.ndarray) -> np.ndarray:
        """Stream rows summed per key slot and jurisdiction: ``(key slots, n_j, years)``."""
        return to_jurisdictions(pair_key[None] * n_j + pair_who[None], rows[pair_row][None],
                                n_slots * n_j).reshape(n_slots, n_j, n_t)

    raw = by_key(base_rows)  # what each key's whole share moves, in the rule's base
    moved = by_key(np.concatenate([np.zeros((0, n_t)), *moneys]))  # ... of the money
    now = np.concatenate([np.zeros((0, n_t)), *nows])  # the current shares per key slot
    raw_now = to_jurisdictions(split_of_key[None], (raw * now[:, None]).reshape(1, n_slots, -1),
                               len(splits)).reshape(len(splits), n_j, n_t)

    def per_split(x: np.ndarray) -> list[np.ndarray]:
        return [x[f:f + k] for f, k in zip(first_key, n_keys, strict=True)]

    cost_moves = np.concatenate([np.zeros((0, n_j, n_t)), *_benefit_cost_moves(
        model, alloc, splits, per_split(moved), per_split(now))])
    # Constants: the run minus what the current shares move.
    allocated_const = alloc.allocated - np.einsum("kjt,kt->jt", moved, now)
    cost_const = alloc.cost_share - np.einsum("kjt,kt->jt", cost_moves, now)
    d = model.discount
    # One column per (split, stage, party), stage-major within a split.
    n_stages = np.array([len(x.stages) for x in splits], dtype=int)
    width = n_stages * n_parties
    column_split = np.repeat(np.arange(len(splits)), width)
    within = np.arange(width.sum()) - np.repeat(np.cumsum(width) - width, width)
    column_stage = within // n_parties[column_split]
    column_party = within % n_parties[column_split]
    column_key = first_key[column_split] + column_party
    in_stage = (stage_of[:, None, :] == np.arange(n_stages.max(initial=0))[None, :, None]
                ).astype(float)  # (splits, stages, years)
    stage_years = in_stage[split_of_key]  # (key slots, stages, years)
    net = np.einsum("kjt,kst->ksj", (moved - cost_moves) * d, stage_years)
    # The allocation map's non-zeros: a key's moves in the years of each stage.
    key, cell = np.nonzero(moved.reshape(n_slots, n_j * n_t))
    split, party = split_of_key[key], key - first_key[split_of_key[key]]
    stage = stage_of[split, cell % n_t]
    keep = (party < n_parties[split]) & (stage >= 0)
    columns_before = np.cumsum(width) - width
    allocated = sparse.csr_matrix(
        (moved.reshape(n_slots, -1)[key[keep], cell[keep]],
         (cell[keep], (columns_before[split] + stage * n_parties[split] + party)[keep])),
        shape=(n_j * n_t, len(column_split)))
    # Current shares of each stage: weighted by what the split moves in each year.
    weight = to_jurisdictions(split_of_key[None], np.abs(moved).sum(axis=1)[None],
                              len(splits))[:, None, :] * in_stage  # (splits, stages, years)
    total = weight.sum(axis=2, keepdims=True)
    plain = in_stage / np.maximum(in_stage.sum(axis=2, keepdims=True), 1)
    weight = np.where(total > 0, weight / np.where(total > 0, total, 1.0), plain)
    current = (weight[column_split, column_stage] * now[column_key]).sum(axis=1)
    items = coalition_items(model, alloc)
    return AffineMap(
        splits=tuple(splits), years=years, jurisdictions=model.jurisdictions,
        column_split=column_split, column_stage=column_stage, column_party=column_party,
        current=current, payoff=net[column_key, column_stage].T.reshape(n_j, -1),
        payoff_const=(allocated_const + alloc.subsidy - cost_const) @ d,
        allocated=allocated, allocated_const=allocated_const,
        retained=to_jurisdictions(model.streams.host[None], alloc.retained[None], n_j),
        discount=d, units=tuple(raw[f:f + p] for f, p in zip(first_key, n_parties,
                                                                strict=True)),
        raw_now=tuple(raw_now),
        standalone=standalone_values(items), items=items,
        hosting=partial(_hosts, splits, base_rows, in_stage, np.concatenate(
            [np.zeros(0, dtype=int), *hosts_of]), np.repeat(np.arange(len(splits)), n_streams),
            (pair_key, pair_row, pair_who), first_key, n_parties, n_j))


def _hosts(splits, base: np.ndarray, in_stage: np.ndarray, host: np.ndarray,
           split_of_row: np.ndarray, pairs, first_key: np.ndarray, n_parties: np.ndarray,
           n_j: int) -> dict:
    """Per (split, stage): each jurisdiction hosting a stream with money in the stage, with
    the parties that resolve to that host on all those streams. ``base`` holds the stream
    rows of every split, ``in_stage`` ``(splits, stages, years)`` the stages' years, and
    ``pairs`` (key slot, stream row, jurisdiction) where each key of a split resolves on each
    of its streams."""
    live = np.einsum("rt,rst->rs", np.abs(base), in_stage[split_of_row]) > 0
    key, row, who = pairs
    split = split_of_row[row]
    party = key - first_key[split]
    # A party misses a host in a stage where it resolves elsewhere on one of its live streams.
    away = (party < n_parties[split]) & (who != host[row])
    hit, stage = np.nonzero(live[row[away]])
    missed = np.zeros((int(key.max(initial=-1)) + 1, live.shape[1], n_j), dtype=bool)
    missed[key[away][hit], stage, host[row[away][hit]]] = True
    rows, stages = np.nonzero(live)
    out: dict[tuple[int, int], dict[int, list[int]]] = {
        (i, s): {} for i, d in enumerate(splits) for s in range(len(d.stages))}
    for i, s, h in np.unique(np.c_[split_of_row[rows], stages, host[rows]], axis=0).tolist():
        first = first_key[i]
        out[(i, s)][h] = np.flatnonzero(~missed[first:first + n_parties[i], s, h]).tolist()
    return out


def rule_allocation(model: Model, position: int) -> np.ndarray:
    """What agreement ``position``'s rule gives each jurisdiction per year
    ``(jurisdictions, years)``, in the rule's own base (before the gross-to-retained
    conversion and compliance): what a floor around it compares with its minimum."""
    ca, ag = model.agreements[position], model.scenario.agreements[position]
    s = model.streams
    take = _rows(ca.rows)
    base = s.gross if ag.base == "gross" else s.gross * s.retention
    pool = replace(ca.template, amounts=base[take], gross=s.gross[take])
    split = ag.rule.split(pool, "rule")
    return to_jurisdictions(split.who, split.amount, len(model.jurisdictions))


def _current(rule, path: str, years: np.ndarray,
             contributions) -> tuple[list[str], np.ndarray]:
    """The keys of the ratio split at ``path`` and their shares ``(keys, years)`` in the
    years it applies (0 in the others)."""
    for p, node, active, _ in walk_paths(rule, years):
        if p == path:
            keys, shares = current_shares(node, years, contributions)
            return keys, shares * active
    raise ScenarioError([Problem("engine.no_such_rule", path=path)])


def _benefit_cost_moves(model: Model, alloc: Allocation, splits, moves, now):
    """For each split, what each key's whole share moves of the costs shared by benefit
    ``(keys, jurisdictions, years)``; raises ScenarioError where they would not be linear."""
    sc = model.scenario
    n_j, n_t = len(model.jurisdictions), len(model.years)
    out = [np.zeros_like(m) for m in moves]
    positions = {a.id: i for i, a in enumerate(sc.agreements)}
    scale = max(1.0, float(np.abs(alloc.allocated).max(initial=0.0)))
    tol = 1e-9 * scale
    for cc in model.costs:
        cost = sc.costs[cc.position]
        if not isinstance(cost.rule, ByBenefit):
            continue
        a = positions[cost.rule.agreement]
        mine = [i for i, d in enumerate(splits) if d.position == a]
        if not mine:
            continue
        parties = (np.array([model.index[j] for j in cost.rule.parties])
                   if cost.rule.parties else cc.parties)
        level = alloc.by_agreement[a].copy()
        lo, hi = level.copy(), level.copy()
        for i in mine:
            n_p = len(splits[i].parties)
            fixed = np.einsum("kjt,kt->jt", moves[i], now[i])
            lo += moves[i][:n_p].min(axis=0) - fixed
            hi += moves[i][:n_p].max(axis=0) - fixed
        where = f"costs[{cc.position}].rule"
        sign_changes = (lo[parties] < -tol) & (hi[parties] > tol)
        if sign_changes.any():
            k, t = np.argwhere(sign_changes)[0]
            raise ScenarioError([Problem(
                "engine.benefit_sign", {"cost": cost.id, "agreement": cost.rule.agreement,
                                        "who": model.jurisdictions[parties[k]],
                                        "year": int(model.years[t])}, path=where)])
        positive = np.zeros((n_j, n_t), dtype=bool)
        positive[parties] = lo[parties] >= -tol
        total = np.where(positive, level, 0.0).sum(axis=0)
        for i in mine:
            inside = (moves[i] * positive[None]).sum(axis=1)  # (keys, years)
            spread = inside.max(axis=0) - inside.min(axis=0)
            if np.any(spread > tol):
                t = int(np.argmax(spread))
                outside = sorted({model.jurisdictions[j] for j in range(n_j)
                                  if not positive[j, t] and np.abs(moves[i][:, j, t]).max() > tol})
                raise ScenarioError([Problem(
                    "engine.benefit_outside", {"cost": cost.id,
                                               "agreement": cost.rule.agreement,
                                               "split": splits[i].path,
                                               "outside": ", ".join(outside) or "-"},
                    path=where)])
            rate = np.divide(cc.amounts, total, out=np.zeros(n_t), where=total > tol)
            out[i] += moves[i] * positive[None] * rate[None, None, :]
    return out


# ---------------------------------------------------------------------------------------------
# Batches of draws (Monte Carlo)


@dataclass(frozen=True)
class Facts:
    """Firm-level facts per draw and stream ``(draws, streams)``, where a draw moves them
    (a move or production that slips): the move and production years (-1 where none), and
    the pre-move gross taxes and retention a capped rule's cap and eligibility are based on."""

    move_year: np.ndarray
    production_year: np.ndarray
    pre_move_gross: np.ndarray
    pre_move_retention: np.ndarray


@dataclass(frozen=True)
class Batch:
    """What a batch of draws gives each jurisdiction: ``allocated``, ``subsidy`` and
    ``cost_share`` ``(draws, jurisdictions, years)``; ``pv_net_benefit`` and its own
    no-cooperation counterfactual ``standalone_pv`` ``(draws, jurisdictions)``."""

    allocated: np.ndarray
    subsidy: np.ndarray
    cost_share: np.ndarray
    pv_net_benefit: np.ndarray
    standalone_pv: np.ndarray

    @property
    def gain(self) -> np.ndarray:
        return self.pv_net_benefit - self.standalone_pv


def run_batch(model: Model, gross: np.ndarray, compliance: np.ndarray | None = None, *,
              stay: np.ndarray | None = None, facts: Facts | None = None,
              discount: np.ndarray | None = None, cache: dict | None = None) -> Batch:
    """Run many draws at once, each exactly as :meth:`Model.run` would.

    ``gross`` ``(draws, streams, years)`` replaces the stream amounts; ``compliance``
    ``(draws, agreements)`` each agreement's compliance; ``stay`` ``(draws, stay rows,
    years)`` what migrated firms would pay had they stayed (the counterfactual follows the
    draw: a firm that fails fails at home too); ``facts`` the firm-level facts a draw moves;
    ``discount`` ``(draws, years)`` the discount factors (an uncertain discount rate).
    ``cache`` (a dict kept by the caller for this model) saves rebuilding what does not
    change between batches of the same size.

    The rules see the draws as a draw-major stream axis (see :class:`sharing.rules.Pool`),
    so non-linear rules (stock/increment, caps with their cumulative sums, floors, tiers,
    costs by benefit) are exact per draw. Memory grows with the number of draws passed:
    callers chunk (``sharing.risk``).
    """
    s = model.streams
    n_d, n_j, n_t = gross.shape[0], len(model.jurisdictions), len(model.years)
    if compliance is None:
        compliance = np.tile([a.compliance for a in model.scenario.agreements], (n_d, 1))
    same_discount = discount is None
    discount = np.broadcast_to(model.discount if discount is None else discount, (n_d, n_t))
    allocated = np.zeros((n_d, n_j, n_t))
    subsidy = np.zeros((n_d, n_j, n_t))
    subsidy_alone = np.zeros((n_d, n_j))
    by_agreement: dict[int, np.ndarray] = {}
    cache = {} if cache is None else cache
    if "static" not in cache:  # one assignment: threads may share the cache
        cache["static"] = (_alone(model), _benefit_positions(model),
                           {ca.position: _reads_gross(model.scenario.agreements[ca.position].rule)
                            for ca in model.agreements})
    alone, benefit_of, reads_gross = cache["static"]
    for ca in model.agreements:
        ag = model.scenario.agreements[ca.position]
        take = _rows(ca.rows)
        kk = len(ca.rows)
        # The agreement's rows, draw-major: a contiguous (draws × rows, years) array.
        money = (gross[:, take] * s.retention[take]).reshape(-1, n_t)
        if ag.base == "gross":
            amounts = pool_gross = np.ascontiguousarray(gross[:, take]).reshape(-1, n_t)
        else:
            amounts = money
            pool_gross = (np.ascontiguousarray(gross[:, take]).reshape(-1, n_t)
                          if reads_gross[ca.position]
                          else np.broadcast_to(np.nan, money.shape))
        key = ("pool", ca.position, n_d)
        if facts is not None or key not in cache:
            cache[key] = _batch_pool(ca, n_d, facts, take, ag.base)
        pool = cache[key].changed(amounts=amounts, gross=pool_gross)
        try:
            split = ag.rule.split(pool, "rule")
        except RuleError as e:
            raise ScenarioError([e.problem.at(path=f"agreements[{ca.position}].rule")]) \
                from None
        amount = split.amount
        if ag.base == "gross":
            amount = (amount.reshape(len(amount), n_d, kk, n_t)
                      * s.retention[take][None, None]).reshape(amount.shape)
        cols, sums = _by_jurisdiction(split.who, amount, n_j, n_d)
        parts = [(cols, sums)]  # (jurisdictions, what they get (len(cols), draws, T))
        transfers = split.transfers
        c = compliance[:, ca.position]
        if np.any(c < 1.0):
            # Allocations are linear in the slots and c is one number per draw: the rule's
            # allocation at c, and the host keeps (1 − c) of the money.
            sums *= c[None, :, None]
            hosts, kept = _by_jurisdiction(pool.roles["host"][None], money[None], n_j, n_d)
            kept *= (1.0 - c)[None, :, None]
            parts.append((hosts, kept))
            if transfers is not None:
                transfers = transfers * c[:, None, None]
        mine = allocated
        if ca.position in benefit_of:  # a cost is shared by this agreement's benefit
            mine = by_agreement[ca.position] = np.zeros((n_d, n_j, n_t))
        for cols, sums in parts:
            mine[:, cols] += sums.transpose(1, 0, 2)
        if transfers is not None:
            mine += transfers
        if mine is not allocated:
            allocated += mine
        if split.subsidy is not None:
            sub = split.subsidy
            cols, sums = _by_jurisdiction(sub.who, sub.amount, n_j, n_d)
            subsidy[:, cols] += sums.transpose(1, 0, 2)
            # v({j}) counts a subsidy only where its agreement can hold with j alone.
            pv = np.einsum("dkt,dt->dk", sub.amount[0].reshape(n_d, kk, n_t), discount)
            w = sub.who[0, :kk]
            counts = alone.subsidy_ok[ca.rows, w]
            np.add.at(subsidy_alone.T, w, (pv * counts[None]).T)
    rest = np.flatnonzero(~model.covered)
    if rest.size:
        allocated += np.einsum("dkt,kj->djt", gross[:, rest] * s.retention[rest],
                               alone.host[rest])
    cost_share, cost_alone = _costs_batch(model, by_agreement, n_d, discount)
    net = allocated + subsidy - cost_share
    pv = np.einsum("djt,dt->dj", net, discount)
    if same_discount:  # one pass over the draws' gross amounts
        pv_retained = np.einsum("dkt,kt->dk", gross, s.retention * model.discount[None])
    else:
        pv_retained = np.einsum("dkt,kt,dt->dk", gross, s.retention, discount)
    standalone = pv_retained @ alone.streams + subsidy_alone + cost_alone
    if len(model.stay.firm):
        stay_gross = model.stay_gross(gross) if stay is None else stay
        stay_pv = np.einsum("dkt,dt->dk", stay_gross * model.stay.retention, discount)
        standalone = standalone + stay_pv @ alone.stay
    return Batch(allocated, subsidy, cost_share, pv, standalone)


def _reads_gross(rule) -> bool:
    """Whether a rule tree reads the pool's gross tax besides its amounts (an extension
    triggered by the firm's gross tax)."""
    return any(isinstance(r, Capped) and r.extension is not None
               and r.extension.below is not None for r in walk(rule))


def _batch_pool(ca: CompiledAgreement, n_d: int, facts: Facts | None, take, base: str) -> Pool:
    """The agreement's pool for ``n_d`` draws, but for the amounts."""
    t = ca.template
    kk = len(ca.rows)
    draw = np.repeat(np.arange(n_d), kk)
    if facts is None:
        move, production = np.tile(t.move_year, n_d), np.tile(t.production_year, n_d)
        pre, pre_gross = np.tile(t.pre_move, n_d), np.tile(t.pre_move_gross, n_d)
    else:
        move = facts.move_year[:, take].ravel()
        production = facts.production_year[:, take].ravel()
        pre_gross = facts.pre_move_gross[:, take].ravel()
        pre = pre_gross if base == "gross" else \
            pre_gross * facts.pre_move_retention[:, take].ravel()
    return replace(
        t, draws=n_d,
        roles={k: np.tile(v, n_d) for k, v in t.roles.items()}, tax=np.tile(t.tax, n_d),
        group=np.tile(t.group, n_d) + t.n_groups * draw, n_groups=t.n_groups * n_d,
        move_year=move, production_year=production, pre_move=pre, pre_move_gross=pre_gross,
        stream_id=lambda i: t.stream_id(i % kk))


def _by_jurisdiction(who: np.ndarray, amount: np.ndarray, n_j: int,
                     n_d: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum slot amounts ``(m, draws × k, T)`` into the jurisdictions the slots name:
    ``(cols, sums)``, ``sums`` ``(len(cols), draws, T)``.

    Slots name the same jurisdictions in every draw when roles and ids do not depend on the
    draw: each jurisdiction's slots are then added up for all draws at once, in slot order,
    so that each draw's sum is the same whatever the number of draws (BLAS products are
    not)."""
    m, rows, n_t = amount.shape
    per_draw = who.reshape(m, n_d, -1)
    first = per_draw[:, 0]
    if (per_draw != first[:, None]).any():
        keys = who + n_j * np.repeat(np.arange(n_d), rows // n_d)[None]
        full = to_jurisdictions(keys, amount, n_j * n_d).reshape(n_d, n_j, n_t)
        return np.arange(n_j), full.transpose(1, 0, 2)
    cols, place = np.unique(first, return_inverse=True)
    place = place.reshape(first.shape)
    slots = amount.reshape(m, n_d, -1, n_t).transpose(0, 2, 1, 3)  # (m, k, draws, T)
    sums = np.empty((len(cols), n_d, n_t))
    for c in range(len(cols)):
        mi, ki = np.nonzero(place == c)
        np.sum(slots[mi, ki], axis=0, out=sums[c])
    return cols, sums


def _benefit_positions(model: Model) -> set[int]:
    """The agreements whose allocation shares a cost (``by_benefit``)."""
    positions = {a.id: i for i, a in enumerate(model.scenario.agreements)}
    return {positions[c.rule.agreement] for c in model.scenario.costs
            if isinstance(c.rule, ByBenefit)}


def _costs_batch(model: Model, by_agreement: dict[int, np.ndarray], n_d: int,
                 discount: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cost shares per draw ``(draws, jurisdictions, years)``, and what they take from each
    jurisdiction's no-cooperation value ``(draws, jurisdictions)`` (a cost counts there only
    where its parties are that jurisdiction alone), as :func:`_costs` and
    :func:`coalition_items` do for one run."""
    sc = model.scenario
    n_j, n_t = len(model.jurisdictions), len(model.years)
    total = np.zeros((n_d, n_j, n_t))
    alone = np.zeros((n_d, n_j))
    positions = {a.id: i for i, a in enumerate(sc.agreements)}
    fixed = _costs(model, {ca.position: np.zeros((n_j, n_t)) for ca in model.agreements})[2]
    for cc, static in zip(model.costs, fixed, strict=True):
        cost = sc.costs[cc.position]
        if isinstance(cost.rule, ByBenefit):
            parties = (np.array([model.index[j] for j in cost.rule.parties])
                       if cost.rule.parties else cc.parties)
            benefit = np.maximum(by_agreement[positions[cost.rule.agreement]][:, parties], 0.0)
            whole = benefit.sum(axis=1, keepdims=True)
            weights = np.where(whole > 0, benefit / np.where(whole > 0, whole, 1.0),
                               1.0 / len(parties))
            parts = cc.amounts[None, None, :] * weights
            parts[:, -1] = cc.amounts[None, :] - parts[:, :-1].sum(axis=1)
            shared = np.zeros((n_d, n_j, n_t))
            shared[:, parties] += parts
        else:
            shared = np.broadcast_to(static, (n_d, n_j, n_t))
        total += shared
        members = np.zeros(n_j, dtype=bool)
        members[cc.parties] = True
        if members.sum() == 1:
            alone -= np.einsum("djt,dt->dj", shared, discount) * members[None]
    return total, alone


@dataclass(frozen=True)
class Alone:
    """The linear maps from a draw's present values to each jurisdiction's no-cooperation
    value v({j}) (:func:`standalone_values` for one run): ``streams`` (streams ×
    jurisdictions) from each stream's retained PV, ``stay`` (stay rows × jurisdictions) from
    what migrated firms would pay at home, ``subsidy_ok`` (streams × jurisdictions) whether
    a subsidy on a stream paid to j counts with j alone, ``host`` the one-hot host matrix."""

    streams: np.ndarray
    stay: np.ndarray
    subsidy_ok: np.ndarray
    host: np.ndarray


def _alone(model: Model) -> Alone:
    sc, s = model.scenario, model.streams
    n_j, k = len(model.jurisdictions), len(s)
    host = np.zeros((k, n_j))
    host[np.arange(k), s.host] = 1.0
    streams = np.where((s.kind == KINDS.index("stream"))[:, None], host, 0.0)
    for p, park in enumerate(sc.parks):
        rows = np.flatnonzero(s.park == p)
        partners = {model.index[j] for j in park.partners}
        without = np.zeros(n_j)
        for jid, frac in sc.standalone.get(park.id, {}).items():
            without[model.index[jid]] = frac
        for j in range(n_j):
            streams[rows, j] = host[rows, j] if partners <= {j} else without[j]
    stay = np.zeros((len(model.stay.firm), n_j))
    stay[np.arange(len(model.stay.firm)), model.stay.origin] = 1.0
    parks = [{model.index[j] for j in p.partners} for p in sc.parks]
    subsidy_ok = np.zeros((k, n_j), dtype=bool)
    for j in range(n_j):
        park_alone = np.array([p >= 0 and parks[p] <= {j} for p in s.park], dtype=bool)
        ok = np.where(s.park >= 0, park_alone, s.firm < 0)
        subsidy_ok[:, j] = ok & (s.host == j)
    return Alone(streams, stay, subsidy_ok, host)
