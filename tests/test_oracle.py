"""The engine against the slow reference implementation in ``tests/reference.py``.

Random small scenarios (``tests/strategies.py``) are run through ``sharing.simulate`` and
through the reference; every jurisdiction-year amount, every stream's allocation and the
summary columns must agree to 1e-9 relative to the scale of the amounts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import reference
from hypothesis import HealthCheck, given, settings
from strategies import capped_scenario_dicts, scenario_dicts

import sharing

ROOT = Path(__file__).resolve().parents[1]
RTOL = 1e-9
BY_YEAR = ("collected", "retained", "allocated", "unpaid", "subsidy", "cost_share")
SUMMARY = ("collected", "retained", "allocated", "net_transfer", "unpaid", "subsidy",
           "cost_share", "net_benefit", "pv_net_benefit", "no_agreement_pv")


def scale_of(ref: reference.Reference) -> float:
    """The size of the amounts in play: tolerances are relative to it."""
    values = [abs(v) for st in ref.streams for v in st.gross.values()]
    values += [abs(v) for table in (ref.allocated, ref.cost_share, ref.unpaid)
               for per_year in table.values() for v in per_year.values()]
    values += [v for amounts in ref.cost_amounts.values() for v in amounts.values()]
    return max([1.0, *values])


def assert_matches(res: sharing.Result, ref: reference.Reference) -> None:
    """Every jurisdiction-year amount of ``res.by_year`` and every summary column."""
    tol = RTOL * scale_of(ref)
    by_year = res.by_year
    assert list(by_year["year"]) == [t for t in ref.years for _ in ref.jurisdictions]
    assert list(by_year["jurisdiction"]) == [j for _ in ref.years for j in ref.jurisdictions]
    for column in BY_YEAR:
        table = getattr(ref, column)
        want = np.array([table[j][t] for t in ref.years for j in ref.jurisdictions])
        got = by_year[column].to_numpy()
        bad = np.flatnonzero(~(np.abs(got - want) <= tol))
        assert bad.size == 0, (column, [(by_year["year"].iat[i], by_year["jurisdiction"].iat[i],
                                         got[i], want[i]) for i in bad[:5]])
    summary = res.summary
    assert list(summary["jurisdiction"]) == ref.jurisdictions
    expected = ref.summary()
    for column in SUMMARY:
        want = np.array([expected[j][column] for j in ref.jurisdictions])
        got = summary[column].to_numpy()
        assert np.all(np.abs(got - want) <= tol * len(ref.years)), (column, got, want)


def assert_stream_flows_match(res: sharing.Result, ref: reference.Reference) -> None:
    """Every stream's allocation per jurisdiction and year (``res.flows``, kind allocated)."""
    tol = RTOL * scale_of(ref)
    flows = res.flows
    allocated = flows[flows["kind"] == "allocated"]
    got: dict = {}
    for key, v in zip(zip(allocated["stream"], allocated["year"], allocated["jurisdiction"],
                          strict=True), allocated["amount"], strict=True):
        got[key] = got.get(key, 0.0) + v
    want: dict = {}
    for sid, per_year in ref.stream_allocated.items():
        for t, per_j in per_year.items():
            for j, v in per_j.items():
                want[(sid, t, j)] = want.get((sid, t, j), 0.0) + v
    bad = [(key, got.get(key, 0.0), want.get(key, 0.0)) for key in set(got) | set(want)
           if not abs(got.get(key, 0.0) - want.get(key, 0.0)) <= tol]
    assert not bad, sorted(bad)[:5]
    subsidy = flows[flows["kind"] == "subsidy"]
    got = {}
    for key, v in zip(zip(subsidy["source"], subsidy["year"], subsidy["jurisdiction"],
                          strict=True), subsidy["amount"], strict=True):
        got[key] = got.get(key, 0.0) + v
    want = {k: v for k, v in ref.subsidy_by_source.items() if v != 0}
    assert got.keys() == want.keys(), (sorted(got), sorted(want))
    assert all(abs(got[k] - want[k]) <= tol for k in got), (got, want)


def assert_streams_match(sc: sharing.Scenario, ref_streams: list[reference.Stream]) -> None:
    model = sharing.compile_scenario(sc)
    s = model.streams
    jur = list(model.jurisdictions)
    engine = {}
    for i, sid in enumerate(s.ids):
        engine[str(sid)] = {
            "host": jur[s.host[i]], "tax": reference.TAX_NAMES[s.tax[i]],
            "origin": jur[s.origin[i]] if s.origin[i] >= 0 else None,
            "destination": jur[s.destination[i]] if s.destination[i] >= 0 else None,
            "move_year": int(s.move_year[i]) if s.move_year[i] >= 0 else None,
            "pre_move_gross": float(s.pre_move_gross[i]),
            "gross": s.gross[i], "retention": s.retention[i],
        }
    assert sorted(engine) == sorted(st.id for st in ref_streams)
    for st in ref_streams:
        e = engine[st.id]
        assert (e["host"], e["tax"], e["origin"], e["destination"], e["move_year"]) == (
            st.host, st.tax, st.origin, st.destination, st.move_year), st.id
        assert e["pre_move_gross"] == pytest.approx(st.pre_move_gross)
        years = list(model.years)
        np.testing.assert_allclose(e["gross"], [st.gross[t] for t in years], rtol=1e-12,
                                   atol=1e-9, err_msg=st.id)
        np.testing.assert_allclose(e["retention"], [st.retention[t] for t in years],
                                   rtol=0, atol=0, err_msg=st.id)


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario_dicts())
def test_engine_matches_reference(data):
    sc = sharing.parse_scenario(data)
    try:
        ref = reference.simulate(sc)
    except reference.Invalid:
        with pytest.raises(sharing.ScenarioError):
            sharing.simulate(sc)
        return
    res = sharing.simulate(sc)
    assert_matches(res, ref)
    assert_stream_flows_match(res, ref)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(capped_scenario_dicts())
def test_capped_rule_matches_reference(data):
    # Relocated firms under one capped rule: start from the move, production (达产) or a fixed
    # year, extension while the cap is not reached or below a tax threshold, end subsidy.
    test_engine_matches_reference.hypothesis.inner_test(data)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario_dicts())
def test_stream_table_matches_reference(data):
    # The stream table alone: agreements (which may be refused) and what refers to them go.
    bare = {k: v for k, v in data.items() if k not in ("agreements", "costs", "contributions")}
    sc = sharing.parse_scenario(bare)
    assert_streams_match(sc, reference.build_streams(sc))


def test_gaozhu_example_matches_reference():
    sc = sharing.load_scenario(ROOT / "scenarios" / "gaozhu.yaml")
    ref = reference.simulate(sc)
    assert_streams_match(sc, ref.streams)
    res = sharing.simulate(sc)
    assert_matches(res, ref)
    assert_stream_flows_match(res, ref)


def test_reference_claims_rules_agree_with_published_talmud_table():
    # Aumann & Maschler (1985) Table 1: claims 100/200/300.
    claims = [100.0, 200.0, 300.0]
    table = {100.0: [100 / 3] * 3, 200.0: [50.0, 75.0, 75.0], 300.0: [50.0, 100.0, 150.0]}
    for estate, want in table.items():
        assert reference.divide(estate, claims, "talmud") == pytest.approx(want, abs=1e-9)
    assert reference.divide(300.0, claims, "cea") == pytest.approx([100.0] * 3)
    assert reference.divide(300.0, claims, "cel") == pytest.approx([0.0, 100.0, 200.0])
    assert reference.divide(300.0, claims, "proportional") == pytest.approx([50, 100, 150])
