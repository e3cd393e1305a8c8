"""The engine: scenario -> tax streams -> allocations -> Result, vectorised over streams × years.

:func:`compile_scenario` turns a validated scenario into a :class:`Model` once: the stream
table (gross amounts, retention, host and firm roles as numpy arrays), each agreement's stream
rows, and the costs. :meth:`Model.run` then applies the rules and can be called many times
with perturbed gross amounts or compliance rates (Monte Carlo) without re-parsing anything.

Without an agreement a stream's host keeps its retained revenue. Counterfactuals for the
cooperative game (a park is built only if all its partners take part; a firm moves only if
origin and destination both do) are computed from the same arrays by :func:`coalition_items`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from sharing.rules import Pool, RuleError, Split, split_by_shares
from sharing.scenario import (
    ByBenefit,
    Projection,
    Scenario,
    ScenarioError,
    checked,
    load_scenario,
    located,
)
from sharing.taxes import TAXES, retention_table

if TYPE_CHECKING:
    from sharing.result import Result

KINDS = ("park", "firm", "stream")


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

    def run(self, gross: np.ndarray | None = None,
            compliance: dict[str, float] | None = None) -> Result:
        """Simulate. ``gross`` replaces the stream amounts (same shape as
        ``streams.gross``); ``compliance`` overrides agreements' compliance by id."""
        from sharing.result import Result

        return Result.from_run(self, _allocate(self, gross, compliance or {}))


def simulate_file(path: str | Path) -> Result:
    """Load, compile and run a scenario file; every problem names the file and line."""
    sc = load_scenario(path)
    try:
        return compile_scenario(sc).run()
    except ScenarioError as err:
        raise located(err, path) from None


# ---------------------------------------------------------------------------------------------
# Compiling


def compile_scenario(sc: Scenario) -> Model:
    """Build the stream table and agreement rows.

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
    parts, suffixes, stay = _streams(sc, years, index)
    streams = _assemble(parts, suffixes, table, years, retention_in)
    stay_ret = table[stay["origin"], stay["tax"]] if len(stay["origin"]) else \
        np.zeros((0, len(years)))
    model_stay = Stay(stay["firm"], stay["origin"], stay["destination"], stay["gross"], stay_ret)
    agreements, covered = _agreements(sc, streams, years, index)
    costs = tuple(_cost(sc, i, years, index) for i in range(len(sc.costs)))
    discount = (1.0 + sc.discount_rate) ** -(years - years[0]).astype(float)
    return Model(sc, years, jur, streams, model_stay, agreements, costs, discount, covered, index)


def _streams(sc: Scenario, years: np.ndarray, index: dict[str, int]):
    parts: list[dict] = []
    suffixes: dict[str, int] = {}
    n_years = len(years)

    def add(suffix, kind, source, gross, tax, host, park=-1, firm=-1, spec=-1,
            origin=-1, destination=-1, move_year=-1, production_year=-1, pre_move_gross=0.0):
        n = len(gross)
        full = lambda v, dt=int: np.broadcast_to(np.asarray(v, dtype=dt), (n,))  # noqa: E731
        parts.append(dict(
            suffix=full(suffixes.setdefault(suffix, len(suffixes))), kind=full(KINDS.index(kind)),
            source=np.asarray(source, dtype=object) if not isinstance(source, str)
            else np.full(n, source, dtype=object),
            park=full(park), firm=full(firm), spec=full(spec), tax=full(tax), host=full(host),
            origin=full(origin), destination=full(destination), move_year=full(move_year),
            production_year=full(production_year), pre_move_gross=full(pre_move_gross, float),
            gross=gross.reshape(n, n_years)))

    for p, park in enumerate(sc.parks):
        for s, site in enumerate(park.sites):
            for tax, proj in site.taxes.items():
                suffix = f"#{s}" if sum(x.host == site.host for x in park.sites) > 1 else ""
                add(f"/{site.host}{suffix}/{tax}", "park", park.id,
                    project(proj, years)[None, :], TAXES.index(tax), index[site.host], park=p)
    for k, spec in enumerate(sc.streams):
        add("", "stream", spec.id, project(spec, years)[None, :], TAXES.index(spec.tax),
            index[spec.host], spec=k)
    stay = _firm_streams(sc, years, index, add)
    return parts, tuple(suffixes), stay


def _firm_streams(sc: Scenario, years: np.ndarray, index: dict[str, int], add) -> dict:
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
            early = mv > years[0]
            late = mv <= years[-1]
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


def _assemble(parts: list[dict], suffixes: tuple[str, ...], table: np.ndarray,
              years: np.ndarray, retention_in) -> Streams:
    if not parts:
        raise ScenarioError(["scenario has no tax streams: add parks, firms or streams"])
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    cols["retention"] = table[cols["host"], cols["tax"]]
    cols["pre_move_retention"] = _retention_before_move(cols, years, table, retention_in)
    return Streams(suffixes=suffixes, **cols)


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
            raise ScenarioError([f"agreements[{a}].covers: agreement {ag.id!r} covers no "
                                 "stream (check the park, firm, tax and host ids)"])
        twice = np.flatnonzero(mask & (owner >= 0))
        if twice.size:
            other = sc.agreements[owner[twice[0]]].id
            raise ScenarioError([
                f"agreements[{a}].covers: stream {streams.id_of(twice[0])!r} is already covered "
                f"by agreement {other!r}; a stream may be shared by one agreement only "
                f"({twice.size} stream(s) overlap)"])
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
        raise ScenarioError([f"costs[{c}].by_year: year {outside[0]} is outside the simulated "
                             f"years {years[0]}-{years[-1]}"])
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

    One sparse (jurisdictions × streams) indicator product per slot: no large index arrays.
    """
    n_slots, k, n_years = amount.shape
    out = np.zeros((n, n_years))
    ones, cols = np.ones(k), np.arange(k)
    for m in range(n_slots):
        indicator = sparse.csr_matrix((ones, (who[m], cols)), shape=(n, k))
        out += indicator @ amount[m]
    return out


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
            raise ScenarioError([f"agreements[{ca.position}].rule: {e}"]) from None
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
                    raise ScenarioError([f"costs[{cc.position}].rule: {e}"]) from None
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
    for p, park in enumerate(sc.parks):
        rows = np.flatnonzero(s.park == p)
        a = by_host(rows, pv, s.host)
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
        stay_code = np.searchsorted(codes, stay_pair)
        stay_pv = (model.stay.gross * model.stay.retention) @ model.discount
        size = len(codes) * n_j
        a_rows.extend(np.bincount(inverse * n_j + s.host[firm_rows], weights=pv[firm_rows],
                                  minlength=size).reshape(len(codes), n_j))
        b_rows.extend(np.bincount(stay_code * n_j + model.stay.origin, weights=stay_pv,
                                  minlength=size).reshape(len(codes), n_j))
        req.extend((1 << (codes // n_j)) | (1 << (codes % n_j)))
    for cc, shared in zip(model.costs, alloc.cost_rows, strict=True):
        a_rows.append(-(shared @ model.discount))
        b_rows.append(np.zeros(n_j))
        req.append(_mask(cc.parties))
    required, values = subsidy_items(model, alloc)
    a_rows.extend(values)
    b_rows.extend(np.zeros_like(values))
    req.extend(required)
    return CoalitionItems(np.array(a_rows), np.array(b_rows), np.array(req, dtype=np.int64))


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
    parks = np.array([_mask(model.index[j] for j in p.partners)
                      for p in model.scenario.parks] or [0], dtype=np.int64)
    one = np.int64(1)
    required = np.where(s.park[rows] >= 0, parks[np.maximum(s.park[rows], 0)],
                        np.where(s.firm[rows] >= 0,
                                 (one << s.origin[rows]) | (one << s.destination[rows]), 0))
    required |= one << s.host[rows]
    codes, inverse = np.unique(required, return_inverse=True)
    return codes, np.bincount(inverse * n_j + who, weights=value,
                              minlength=len(codes) * n_j).reshape(len(codes), n_j)


def _mask(indices) -> int:
    out = 0
    for i in indices:
        out |= 1 << int(i)
    return out


def standalone_values(items: CoalitionItems) -> np.ndarray:
    """v({j}) for every jurisdiction j: what it gets if nobody cooperates with it."""
    n_j = items.with_coalition.shape[1]
    alone = (1 << np.arange(n_j))[None, :]
    cond = (items.required[:, None] & ~alone) == 0
    return np.where(cond, items.with_coalition, items.without).sum(axis=0)


def coalition_values(items: CoalitionItems, players: list[int]) -> np.ndarray:
    """v(S) for every subset S of ``players`` (bitmask order over ``players``), where
    jurisdictions outside ``players`` never cooperate."""
    n = len(players)
    masks = np.arange(1 << n)
    members = ((masks[:, None] >> np.arange(n)) & 1).astype(bool)
    full = np.zeros(1 << n, dtype=np.int64)
    for k, j in enumerate(players):
        full |= members[:, k].astype(np.int64) << j
    cond = (items.required[None, :] & ~full[:, None]) == 0
    a = items.with_coalition[:, players]
    b = items.without[:, players]
    in_s = members.astype(float)
    return (np.where(cond, in_s @ a.T, in_s @ b.T)).sum(axis=1)
