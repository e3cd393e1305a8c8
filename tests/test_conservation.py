"""Conservation properties on random scenarios (``tests/strategies.py``).

* Every stream's money allocations sum to its retained revenue in every year (``res.flows``;
  a ``base: gross`` rule decides on gross tax but moves the retained money), and each rule's
  own ``split`` sums to the base it was given.
* With no refunds, every jurisdiction's effective share of a stream lies in [0, 1].
* Costs are fully allocated; allocations over all jurisdictions add up to what was shared
  (fixed-return transfers net to zero), so the summary's net transfers total zero.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from strategies import scenario_dicts

import sharing

RTOL = 1e-9
SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def simulate_or_none(data: dict) -> tuple[sharing.Scenario, sharing.Result | None]:
    """Scenarios the engine refuses (a filter that catches nothing ...) have nothing to
    conserve; refusals themselves are checked against the reference in test_oracle."""
    sc = sharing.parse_scenario(data)
    try:
        return sc, sharing.simulate(sc)
    except sharing.ScenarioError:
        return sc, None


def scale_of(res: sharing.Result) -> float:
    by_year = res.by_year
    columns = ["collected", "retained", "allocated", "cost_share"]
    return max(1.0, float(np.abs(by_year[columns].to_numpy()).max()))


def flow_table(res: sharing.Result, kind: str, by: list[str]) -> dict:
    flows = res.flows
    rows = flows[flows["kind"] == kind]
    return rows.groupby(by)["amount"].sum().to_dict()


@SETTINGS
@given(scenario_dicts())
def test_each_stream_allocations_sum_to_its_base(data):
    _sc, res = simulate_or_none(data)
    if res is None:
        return
    tol = RTOL * scale_of(res)
    allocated = flow_table(res, "allocated", ["stream", "year"])
    retained = flow_table(res, "retained", ["stream", "year"])
    for key in set(allocated) | set(retained):
        assert abs(allocated.get(key, 0.0) - retained.get(key, 0.0)) <= tol, key


def pools(model: sharing.Model):
    """(agreement, rule, pool) for every agreement, with the run's base amounts."""
    s = model.streams
    retained = s.gross * s.retention
    for ca in model.agreements:
        ag = model.scenario.agreements[ca.position]
        base = s.gross if ag.base == "gross" else retained
        yield ag, ag.rule, replace(ca.template, amounts=base[ca.rows], gross=s.gross[ca.rows])


def per_stream(split, n_jurisdictions: int) -> np.ndarray:
    """Allocations ``(streams, jurisdictions, years)`` from a Split (slot-major layout:
    ``who`` is ``(slots, streams)``, ``amount`` ``(slots, streams, years)``)."""
    m, k, n_years = split.amount.shape
    out = np.zeros((k, n_jurisdictions, n_years))
    for slot in range(m):
        for s in range(k):
            out[s, split.who[slot, s]] += split.amount[slot, s]
    return out


@SETTINGS
@given(scenario_dicts())
def test_rule_splits_sum_to_the_pool(data):
    _sc, res = simulate_or_none(data)
    if res is None:
        return
    model = res.model
    tol = RTOL * scale_of(res)
    for ag, rule, pool in pools(model):
        split = rule.split(pool)
        x = per_stream(split, len(model.jurisdictions))
        assert np.all(np.abs(x.sum(axis=1) - pool.amounts) <= tol), ag.id
        if split.transfers is not None:
            assert np.all(np.abs(split.transfers.sum(axis=0)) <= tol), ag.id


@SETTINGS
@given(scenario_dicts(negative=False))
def test_effective_shares_between_zero_and_one_without_refunds(data):
    _sc, res = simulate_or_none(data)
    if res is None:
        return
    model = res.model
    tol = RTOL * scale_of(res)
    for ag, rule, pool in pools(model):
        assert np.all(pool.amounts >= 0), ag.id
        x = per_stream(rule.split(pool), len(model.jurisdictions))
        assert np.all(x >= -tol), ag.id
        assert np.all(x <= pool.amounts[:, None, :] + tol), ag.id
    # and after compliance, in the flows
    allocated = res.flows[res.flows["kind"] == "allocated"]
    assert (allocated["amount"] >= -tol).all()


@SETTINGS
@given(scenario_dicts())
def test_costs_fully_allocated(data):
    sc, res = simulate_or_none(data)
    if res is None:
        return
    tol = RTOL * scale_of(res)
    years = list(res.model.years)
    want = {y: sum(c.by_year.get(y, 0.0) for c in sc.costs) for y in years}
    got = res.by_year.groupby("year")["cost_share"].sum()
    for y in years:
        assert abs(got[y] - want[y]) <= tol, y
    per_cost = flow_table(res, "cost_share", ["stream"])
    for cost in sc.costs:
        assert abs(per_cost.get(cost.id, 0.0) - sum(cost.by_year.values())) <= tol * len(years)
    totals = res.totals
    assert abs(totals["cost_share"] - sum(sum(c.by_year.values()) for c in sc.costs)) <= (
        tol * len(years))


@SETTINGS
@given(scenario_dicts())
def test_allocations_add_up_to_what_was_shared(data):
    # Σ_j allocated = Σ retained every year, whatever the base, so net transfers total zero
    # (fixed-return transfers net to zero too).
    _sc, res = simulate_or_none(data)
    if res is None:
        return
    tol = RTOL * scale_of(res)
    by_year = res.by_year.groupby("year")[["allocated", "retained", "net_transfer"]].sum()
    for year, row in by_year.iterrows():
        assert abs(row["allocated"] - row["retained"]) <= tol, year
        assert abs(row["net_transfer"]) <= tol, year
    n_years = len(res.model.years)
    totals = res.totals
    assert abs(totals["net_transfer"]) <= tol * n_years
    assert abs(totals["allocated"] - totals["retained"]) <= tol * n_years
    transfers = res.flows[res.flows["kind"] == "transfer"]
    for year, total in transfers.groupby("year")["amount"].sum().items():
        assert abs(total) <= tol, year
