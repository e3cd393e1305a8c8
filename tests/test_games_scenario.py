"""Games from the model: v(S) by hand on a tiny scenario, consistency with the summary, and
solutions written back as agreements that `simulate` reproduces."""

from __future__ import annotations

from pathlib import Path

import pytest

import sharing
from sharing.games import Game, GameError, nucleolus, shapley, to_agreement

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "name": "小例", "name_en": "tiny", "years": {"start": 2021, "end": 2022},
    "jurisdictions": [{"id": j, "name": j, "name_en": j, "province": "other"} for j in "abc"],
    "retention": {"default": {"vat": 1.0}},
    "parks": [{"id": "P", "partners": ["a", "b"],
               "sites": [{"host": "a", "taxes": {"vat": {"by_year": {2021: 100, 2022: 100}}}}]}],
    "firms": [{"id": "F", "origin": "c", "destination": "b", "move_year": 2022,
               "pre_move": {"vat": 10}}],
    "streams": [{"id": "S", "host": "c", "tax": "vat", "base": 5}],
    "costs": [{"id": "K", "park": "P", "by_year": {2021: 30}, "paid_by": "a",
               "rule": {"type": "fixed", "shares": {"a": 0.5, "b": 0.5}}}],
    "agreements": [{"id": "park_deal", "covers": {"park": "P"},
                    "rule": {"type": "fixed", "shares": {"a": 0.5, "b": 0.5}}}],
    "standalone": {"P": {"a": 0.5}},
}


def test_coalition_values_by_hand():
    # Park P (a's site, 100 a year) is built only with a and b; alone a reaches half of it.
    # Firm F moves from c to b in 2022 only if b and c cooperate; otherwise c keeps it
    # (10 a year). Stream S (5 a year at c) is always c's. Cost K (30) comes with the park.
    g = Game.from_scenario(sharing.parse_scenario(TINY))
    expected = {
        ("a",): 0.5 * 200,                   # standalone half of the park
        ("b",): 0.0,
        ("c",): 10 + 10 + 10,                # firm stays (2 × 10) + stream (2 × 5)
        ("a", "b"): 200 - 30,                # park built, cost paid; firm stays with c
        ("a", "c"): 100 + 30,
        ("b", "c"): 0 + 20 + 10,             # no park; firm moves: c 10 in 2021, b 10 in 2022
        ("a", "b", "c"): 200 - 30 + 20 + 10,
    }
    for coalition, value in expected.items():
        assert g[coalition] == pytest.approx(value), coalition


def test_game_matches_summary():
    sc = sharing.load_scenario(ROOT / "scenarios" / "gaozhu.yaml")
    g = Game.from_scenario(sc)
    summary = sharing.simulate(sc).summary.set_index("jurisdiction")
    assert g[g.players] == pytest.approx(summary["pv_net_benefit"].sum())
    for p in g.players:
        assert g[(p,)] == pytest.approx(summary.loc[p, "standalone_pv"])


@pytest.mark.parametrize("solve", [nucleolus, shapley], ids=["nucleolus", "shapley"])
def test_solution_written_back_is_reproduced(solve):
    sc = sharing.load_scenario(ROOT / "scenarios" / "gaozhu.yaml")
    x = solve(Game.from_scenario(sc))
    fair = to_agreement(x, sc, "gaozhu_revenue")
    rule = fair.agreements[0].rule
    assert rule.type == "optimized" and rule.method == x.concept
    shares = rule.stages[0].shares
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(round(v * 1e6) == pytest.approx(v * 1e6, abs=1e-6) for v in shares.values())
    # Shares are written rounded to 1e-6: each payoff moves by less than 1e-6 of the pool.
    summary = sharing.simulate(fair).summary.set_index("jurisdiction")
    for p, amount in x.items():
        assert summary.loc[p, "pv_net_benefit"] == pytest.approx(amount, rel=1e-6)
    # The title and reference no longer claim the old rule (存量各自、增量五五).
    ag = fair.agreements[0]
    assert ag.name.endswith("）") and "份额按" in ag.name and "shares by" in ag.name_en
    assert ag.reference.startswith("份额按") and "formerly: " in ag.reference
    by_year = sharing.simulate(fair).by_year
    assert set(by_year["year"]) == set(range(2023, 2036))


def test_tiny_game_solution_written_back():
    sc = sharing.parse_scenario(TINY)
    x = nucleolus(Game.from_scenario(sc))
    # Core: x_c <= v(abc) - v(ab) = 30 and x_c >= v(c) = 30, so x_c = 30; x_a + x_b = 170
    # with x_a >= 100: the nucleolus splits the 70 above (100, 0) equally -> (135, 35, 30).
    assert dict(x) == pytest.approx({"a": 135.0, "b": 35.0, "c": 30.0})
    # Written back into the park deal (pool 200, cost 30 split 15/15): c keeps 10 (firm in
    # 2021) + 10 (stream) and needs 10 more = 5% of the pool, for losing the firm to b;
    # a: 0.75 × 200 − 15 = 135; b: 0.20 × 200 − 15 + 10 (firm in 2022) = 35.
    fair = to_agreement(x, sc, "park_deal")
    shares = fair.agreements[0].rule.stages[0].shares
    assert shares == pytest.approx({"a": 0.75, "b": 0.20, "c": 0.05})
    summary = sharing.simulate(fair).summary.set_index("jurisdiction")
    assert summary["pv_net_benefit"].to_dict() == pytest.approx(dict(x))


def test_sub_game_that_is_not_the_scenario_is_refused():
    # With c left out of the game, c "never cooperates", but the scenario still moves the
    # firm to b: no re-split of the park deal reproduces that sub-game's solution.
    sc = sharing.parse_scenario(TINY)
    x = nucleolus(Game.from_scenario(sc, players=["a", "b"]))
    with pytest.raises(GameError, match="misses the nucleolus") as err:
        to_agreement(x, sc, "park_deal")
    assert "重新分配协议 'park_deal' 与nucleolus相差" in err.value.problem.message("zh")


def test_errors_name_the_problem():
    sc = sharing.parse_scenario(TINY)
    with pytest.raises(GameError, match="unknown jurisdiction") as err:
        Game.from_scenario(sc, players=["a", "zz"])
    assert err.value.problem.message("zh").startswith("未知辖区 'zz'；情景中有：a, b")
    x = nucleolus(Game.from_scenario(sc))
    with pytest.raises(GameError, match="unknown agreement 'nope'") as err:
        to_agreement(x, sc, "nope")
    assert err.value.problem.message("zh").startswith("未知协议 'nope'；情景中有：")


def test_central_subsidy_counts_only_when_the_firm_moves():
    # Firm F moves from o to d in 2021 (10 a year, all retained), 2021–2023, no discounting.
    # Capped rule: o gets half for one year (5 in 2021), then the centre pays o 7 once in
    # 2022 (end_subsidy: the cap, none here, was not reached). The subsidy comes from outside
    # the players, so it is in v(S) only when the agreement can hold: o and d both in S.
    data = {
        "name": "补助", "name_en": "subsidy", "years": {"start": 2021, "end": 2023},
        "jurisdictions": [{"id": j, "name": j, "name_en": j, "province": "other"}
                          for j in ("o", "d", "x")],
        "retention": {"default": {"vat": 1.0}},
        "firms": [{"id": "F", "origin": "o", "destination": "d", "move_year": 2021,
                   "pre_move": {"vat": 10}}],
        "agreements": [{"id": "deal", "covers": {"firm": "F"},
                        "rule": {"type": "capped", "share": 0.5, "max_years": 1,
                                 "end_subsidy": {"amount": 7}}}],
    }
    sc = sharing.parse_scenario(data)
    g = Game.from_scenario(sc)
    expected = {
        ("o",): 30,             # the firm stays at o: 3 × 10, no agreement, no subsidy
        ("d",): 0, ("x",): 0, ("d", "x"): 0,
        ("o", "x"): 30,
        ("o", "d"): 30 + 7,     # the firm moves: 30 between them, plus the centre's 7
        ("o", "d", "x"): 37,
    }
    for coalition, value in expected.items():
        assert g[coalition] == pytest.approx(value), coalition
    summary = sharing.simulate(sc).summary.set_index("jurisdiction")
    assert summary["pv_net_benefit"].to_dict() == pytest.approx({"o": 5 + 7, "d": 25, "x": 0})
    assert summary["standalone_pv"].to_dict() == pytest.approx({"o": 30, "d": 0, "x": 0})
    assert summary["no_agreement_pv"].to_dict() == pytest.approx({"o": 0, "d": 30, "x": 0})
