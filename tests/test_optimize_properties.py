"""Property tests of the optimizer on random small scenarios (hypothesis), and the engine's
affine map against the slow reference implementation (tests/reference.py).

- every solution meets every constraint (to 1e-7 of the payoff scale; shares as written);
- ``simulate(opt.scenario)`` reproduces ``opt.payoffs``;
- maximin ≥ the current deal's minimum gain when the current deal is feasible;
- a returned relaxation, applied, is feasible;
- least-core payoffs lie in the core when the shares can reach the core;
- Nash matches its closed form ``x_i = d_i + w_i (V − Σd)`` on two sides;
- the map ``payoff = c + A w`` is what the reference implementation computes at random w.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import scenario_dicts

import sharing
from sharing import games
from sharing.engine import DecidedSplit, affine_map, compile_scenario
from sharing.optimizer import optimize
from sharing.rules import RATIO_SPLITS, Floor, walk_paths
from sharing.scenario import ScenarioError
from sharing.writeback import Provenance, SharesWrite, write_shares

JIDS = ("a", "b", "c")
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
MADE = Provenance("test", "份额", "shares", "test")


@st.composite
def deals(draw) -> dict:
    """2–3 jurisdictions, a park with sites at its partners, a ratio split (fixed, or the
    increment of a stock/increment), maybe a second agreement on a plain stream, costs shared
    by fixed shares or by benefit, compliance, a gross base, standalone fractions."""
    n = draw(st.integers(2, 3))
    jids = list(JIDS[:n])
    years = draw(st.integers(2, 6))
    data: dict = {
        "name": "随机", "name_en": "random", "years": {"start": 2021, "end": 2020 + years},
        "discount_rate": draw(st.sampled_from([0.0, 0.03])),
        "jurisdictions": [{"id": j, "name": f"辖区{j}", "name_en": j.upper(),
                           "province": "other"} for j in jids],
    }
    amount = st.integers(10, 1000).map(float)
    sites = [{"host": h, "taxes": {"vat": {"base": draw(amount), "base_year": 2021,
                                           "growth": draw(st.sampled_from([0.0, 0.1, 0.3]))},
                                   "eit": {"base": draw(amount)}}}
             for h in draw(st.lists(st.sampled_from(jids), min_size=1, max_size=n, unique=True))]
    data["parks"] = [{"id": "P", "partners": jids, "sites": sites}]
    shares = draw(st.lists(st.integers(1, 9), min_size=n, max_size=n))
    fixed = {"type": "fixed", "shares": {j: s / sum(shares) for j, s in zip(jids, shares,
                                                                             strict=True)}}
    fixed["shares"][jids[-1]] = 1.0 - sum(list(fixed["shares"].values())[:-1])
    rule = fixed if draw(st.booleans()) else {"type": "stock_increment", "base_year": 2021,
                                               "increment": fixed}
    deal = {"id": "deal", "covers": {"park": "P"}, "rule": rule}
    if draw(st.integers(0, 3)) == 0:
        deal["compliance"] = draw(st.sampled_from([0.5, 0.9]))
    if draw(st.integers(0, 3)) == 0:
        deal["base"] = "gross"
    data["agreements"] = [deal]
    if draw(st.booleans()):
        host, other = draw(st.permutations(jids))[:2]
        data["streams"] = [{"id": "s", "host": host, "tax": "pit", "base": draw(amount)}]
        data["agreements"].append({"id": "side", "covers": {"stream": "s"},
                                   "rule": {"type": "fixed",
                                            "shares": {host: 0.7, other: 0.3}}})
    kind = draw(st.sampled_from(["none", "fixed", "by_benefit"]))
    if kind != "none":
        cost = {"id": "k", "park": "P", "by_year": {2021: draw(amount)}, "paid_by": jids[0]}
        cost["rule"] = ({"type": "by_benefit", "agreement": "deal"} if kind == "by_benefit"
                        else {"type": "fixed", "shares": dict.fromkeys(jids, 1 / n)})
        if kind == "fixed":
            cost["rule"]["shares"][jids[-1]] = 1 - (n - 1) / n
        data["costs"] = [cost]
    data["standalone"] = {"P": {j: draw(st.sampled_from([0.0, 0.1, 0.3])) for j in jids}}
    return data


@st.composite
def specs(draw, n: int) -> dict:
    jids = list(JIDS[:n])
    constraints: dict = {}
    if draw(st.booleans()):
        lo = draw(st.sampled_from([0.0, 0.1, 0.2, 0.4]))
        constraints["bounds"] = {draw(st.sampled_from(jids)): [lo, lo + draw(
            st.sampled_from([0.1, 0.3, 0.6]))]}
    if draw(st.integers(0, 3)) == 0:
        constraints["host_minimum"] = draw(st.sampled_from([0.2, 0.4]))
    if draw(st.integers(0, 3)) == 0:
        constraints["yearly_floor"] = {draw(st.sampled_from(jids)): draw(
            st.sampled_from([5.0, 50.0, 200.0]))}
    if draw(st.integers(0, 3)) == 0:
        constraints["net_transfer_max"] = {draw(st.sampled_from(jids)): draw(
            st.sampled_from([0.0, 100.0]))}
    if draw(st.integers(0, 3)) == 0:
        constraints["step"] = draw(st.sampled_from([0.05, 0.1]))
    if draw(st.integers(0, 4)) == 0:
        constraints["participation"] = {"margin": draw(st.sampled_from([0.0, 20.0]))}
    return {"objective": draw(st.sampled_from(["maximin_gain", "lexmaximin_gain",
                                               "proportional", "closest_to_current"])),
            "constraints": constraints}


def assert_meets(opt, spec: dict) -> None:
    """Every constraint of ``spec`` holds for the written shares and their simulation."""
    res = sharing.simulate(opt.scenario)
    scale = max(1.0, float(np.abs(res.pv_net_benefit).max()),
                float(np.abs(res.allocated).max()))
    tol = 1e-7 * scale
    ids = list(res.model.jurisdictions)
    c = spec.get("constraints", {})
    shares = opt.shares
    assert (shares["share"] >= 0).all() and (shares["share"] <= 1).all()
    for _, block in shares.groupby(["agreement", "path", "stage_start"]):
        assert block["share"].sum() == pytest.approx(1.0, abs=1e-12)
    margin = c.get("participation", {}).get("margin", 0.0)
    gain = res.pv_net_benefit - res.standalone_pv
    changed = set(shares["jurisdiction"])
    for j, g in zip(ids, gain, strict=True):
        if j in changed:
            assert g >= margin - tol, (j, g)
    for j, (lo, hi) in c.get("bounds", {}).items():
        mine = shares[shares["jurisdiction"] == j]["share"]
        assert (mine >= lo - 1e-12).all() and (mine <= hi + 1e-12).all()
    for j, floor in c.get("yearly_floor", {}).items():
        assert res.allocated[ids.index(j)].min() >= floor - tol
    for j, most in c.get("net_transfer_max", {}).items():
        paid = (res.retained - res.allocated)[ids.index(j)] @ res.model.discount
        assert paid <= most + tol
    if "step" in c:
        units = shares["share"] / c["step"]
        assert np.allclose(units, np.round(units), atol=1e-9)


@given(deals(), st.data())
@SETTINGS
def test_solutions_meet_every_constraint_and_reproduce(data, draw):
    sc = sharing.parse_scenario(data)
    spec = draw.draw(specs(len(sc.jurisdictions)))
    opt = optimize(sc, spec)
    if opt.status == "optimal":
        assert_meets(opt, spec)
        again = sharing.simulate(opt.scenario)
        assert again.pv_net_benefit == pytest.approx(
            opt.payoffs["pv_net_benefit"].to_numpy(), rel=1e-12, abs=1e-9)
    else:
        assert opt.status == "infeasible"
        if len(opt.relaxation):  # the smallest relaxation, applied, is feasible
            assert optimize(sc, opt.relaxed_spec()).status == "optimal"


@given(deals())
@SETTINGS
def test_maximin_is_at_least_the_current_minimum_gain(data):
    sc = sharing.parse_scenario(data)
    res = sharing.simulate(sc)
    opt = optimize(sc, objective="maximin_gain")
    current = res.pv_net_benefit - res.standalone_pv
    players = [sc.jurisdiction_ids.index(j) for j in set(opt.shares["jurisdiction"])
               if j in sc.jurisdiction_ids]
    assume(players)
    if (current >= 0).all():  # the current deal meets participation
        assert opt.status == "optimal"
        gain = opt.payoffs["gain"].to_numpy()
        scale = max(1.0, float(np.abs(res.pv_net_benefit).max()))
        assert gain[players].min() >= current[players].min() - 1e-6 * scale


@given(deals())
@SETTINGS
def test_least_core_lies_in_the_core_when_the_shares_reach_it(data):
    sc = sharing.parse_scenario(data)
    in_core = optimize(sc, {"constraints": {"core": "all"}})
    assume(in_core.status == "optimal")
    opt = optimize(sc, objective="least_core")
    assert opt.status == "optimal"
    game = games.Game.from_scenario(sc)
    payoff = dict(zip(opt.payoffs["jurisdiction"], opt.payoffs["pv_net_benefit"], strict=True))
    violation = games.core_violation(game, payoff)
    scale = max(1.0, float(np.abs(game.values).max()))
    assert violation is None or violation.amount <= 1e-6 * scale


@given(st.floats(50, 500), st.floats(0, 0.45), st.floats(0, 0.45), st.floats(0.1, 0.9))
@settings(max_examples=25, deadline=None)
def test_nash_matches_its_closed_form_on_two_sides(pool, da, db, wa):
    data = {"name": "两方", "name_en": "two", "years": {"start": 2021, "end": 2021},
            "jurisdictions": [{"id": j, "name": j, "name_en": j, "province": "other"}
                              for j in "ab"],
            "retention": {"default": {"vat": 1.0}},
            "parks": [{"id": "P", "partners": ["a", "b"],
                       "sites": [{"host": "a", "taxes": {"vat": {"by_year": {2021: pool}}}}]}],
            "agreements": [{"id": "d", "covers": {"park": "P"},
                            "rule": {"type": "fixed", "shares": {"a": 0.5, "b": 0.5}}}],
            "standalone": {"P": {"a": da, "b": db}}}
    sc = sharing.parse_scenario(data)
    opt = optimize(sc, {"objective": "nash", "weights": {"a": wa, "b": 1 - wa}})
    d = np.array([da, db]) * pool
    expected = d + np.array([wa, 1 - wa]) * (pool - d.sum())
    assert opt.status == "optimal"
    assert opt.payoffs["pv_net_benefit"].to_numpy() == pytest.approx(expected, abs=1e-6 * pool)


# ---------------------------------------------------------------------------------------------
# The affine map against the reference implementation


def decidable(sc) -> list[DecidedSplit]:
    years = np.arange(sc.years.start, sc.years.end + 1)
    out = []
    for position, ag in enumerate(sc.agreements):
        for path, node, active, above in walk_paths(ag.rule, years):
            if not isinstance(node, RATIO_SPLITS) or any(isinstance(r, Floor) for r in above):
                continue
            if hasattr(node, "stages"):
                active = active & np.any([(years >= s.years[0]) & (years <= s.years[1])
                                          for s in node.stages], axis=0)
            if not active.any():
                continue
            ys = years[active]
            keys = sorted({k for s in node.stages for k in s.shares}) if hasattr(
                node, "stages") else sorted(node.shares) if hasattr(node, "shares") and \
                isinstance(node.shares, dict) else None
            if keys is None:
                continue
            stages = ((int(ys[0]), int(ys[-1])),) if len(ys) < 2 else (
                (int(ys[0]), int(ys[0])), (int(ys[0]) + 1, int(ys[-1])))
            out.append(DecidedSplit(position, path, tuple(keys), stages))
    return out


@given(scenario_dicts(negative=True), st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_affine_map_matches_the_reference(data, rnd):
    try:
        sc = sharing.parse_scenario(data)
        model = compile_scenario(sc)
        model.run()
    except ScenarioError:
        assume(False)
    splits = decidable(sc)
    assume(splits)
    try:
        amap = affine_map(model, splits)
    except ScenarioError:  # a cost shared by benefit that would not be linear
        assume(False)
    rng = np.random.default_rng(rnd.randint(0, 2**32 - 1))
    w = rng.dirichlet(np.ones(amap.n_columns))  # overwritten per block below
    writes = []
    for i, d in enumerate(splits):
        stages = []
        for s, span in enumerate(d.stages):
            cols = np.flatnonzero((amap.column_split == i) & (amap.column_stage == s))
            w[cols] = rng.dirichlet(np.ones(len(cols)))
            stages.append((span, {d.parties[amap.column_party[c]]: float(w[c]) for c in cols}))
        writes.append(SharesWrite(d.position, d.path, tuple(stages)))
    try:
        ref = reference.simulate(write_shares(sc, writes, MADE))
    except reference.Invalid:
        assume(False)
    payoff, allocated = amap.predict(w)
    summary = ref.summary()
    ids = [j.id for j in sc.jurisdictions]
    want = np.array([summary[j]["pv_net_benefit"] for j in ids])
    want_alloc = np.array([[ref.allocated[j][t] for t in ref.years] for j in ids])
    scale = max(1.0, float(np.abs(want_alloc).max()), float(np.abs(want).max()))
    assert payoff == pytest.approx(want, abs=1e-9 * scale * len(ref.years))
    assert allocated == pytest.approx(want_alloc, abs=1e-9 * scale)
