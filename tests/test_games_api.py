"""The public API of ``sharing.games``: construction, access, allocations and error messages."""

import math

import numpy as np
import pandas as pd
import pytest

from sharing.games import (
    Allocation,
    Game,
    GameError,
    bankruptcy_game,
    claims,
    core_violation,
    least_core,
    nucleolus,
    per_capita_nucleolus,
    prenucleolus,
    scrb,
    shapley,
    tau_value,
)

PLAYERS = ["A", "B", "C"]
VALUES = {
    ("A",): 0,
    ("B",): 0,
    ("C",): 0,
    ("A", "B"): 4,
    ("A", "C"): 4,
    ("B", "C"): 4,
    ("A", "B", "C"): 9,
}
SOLVERS = [shapley, nucleolus, prenucleolus, per_capita_nucleolus, tau_value, scrb, least_core]


@pytest.fixture
def game():
    return Game(PLAYERS, VALUES, kind="value")


def test_access(game):
    assert game.players == ("A", "B", "C")
    assert game.kind == "value"
    assert game.n == 3
    assert game.value(("C", "A")) == 4
    assert game[frozenset({"B", "A"})] == 4
    assert game["A"] == 0
    assert game[()] == 0
    assert game.values.shape == (8,)
    with pytest.raises(ValueError):
        game.values[3] = 1.0
    assert repr(game) == "Game(players=['A', 'B', 'C'], kind='value')"


def test_constructors_agree(game):
    by_mask = Game.from_values(PLAYERS, [0, 0, 0, 4, 0, 4, 4, 9])
    by_function = Game.from_function(PLAYERS, lambda s: {0: 0, 1: 0, 2: 4, 3: 9}[len(s)])
    np.testing.assert_array_equal(by_mask.values, game.values)
    np.testing.assert_array_equal(by_function.values, game.values)


def test_from_function_receives_frozensets():
    seen = []
    Game.from_function(["x", "y"], lambda s: seen.append(s) or 1.0, kind="cost")
    assert seen == [frozenset({"x"}), frozenset({"y"}), frozenset({"x", "y"})]


def test_to_frame_and_csv_round_trip(game, tmp_path):
    frame = game.to_frame()
    assert list(frame.columns) == ["coalition", "value"]
    assert frame["coalition"].tolist() == ["A", "B", "C", "A+B", "A+C", "B+C", "A+B+C"]
    path = tmp_path / "game.csv"
    frame.to_csv(path, index=False)
    again = Game.from_csv(path)
    assert again.players == game.players
    np.testing.assert_array_equal(again.values, game.values)


def test_from_csv_separators_and_empty_row(tmp_path):
    path = tmp_path / "cost.csv"
    path.write_text('Coalition,Value\n,0\nCQ,10\nSC,8\n"CQ, SC",15\n', encoding="utf-8")
    g = Game.from_csv(path, kind="cost")
    assert g.players == ("CQ", "SC")
    assert g.kind == "cost"
    assert g[("SC", "CQ")] == 15
    path.write_text('coalition,value\n{},0\nCQ,10\nSC,8\n"{SC CQ}",15\n', encoding="utf-8")
    assert Game.from_csv(path)[("CQ", "SC")] == 15


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,value\nA,1\n", "needs columns 'coalition' and 'value'"),
        ("coalition,value\nA,1\nB,x\nA+B,3\n", r"line 3: value 'x' for coalition \{B\}"),
        ("coalition,value\nA,1\nB,1\n", r"missing value for coalition \{A, B\}"),
        ("coalition,value\nA,1\nB,1\nA+B,2\nB+A,3\n", r"coalition \{A, B\} is given twice"),
        ("coalition,value\n,5\nA,1\n", "the empty coalition must be worth 0, got 5"),
    ],
)
def test_from_csv_errors(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GameError, match=message):
        Game.from_csv(path)


@pytest.mark.parametrize(
    ("players", "values", "kind", "message"),
    [
        ([], {}, "value", "at least one player"),
        (["A", "B", "A"], {}, "value", "duplicate players: A"),
        ("AB", {}, "value", "not a single string"),
        (["A", 3], {}, "value", "non-empty strings, got 3"),
        (["A"], {"A": 1}, "benefit", "kind must be 'value' or 'cost', got 'benefit'"),
        (["A", "B"], {"A": 1, "B": 1}, "value", r"missing value for coalition \{A, B\}"),
        (["A", "B"], {"A": 1, "C": 1}, "value", "unknown player 'C'.*players are A, B"),
        (["A", "B"], {"A": 1, "B": "lots", ("A", "B"): 2}, "value", r"\{B\} is not a number"),
        (["A", "B"], {"A": 1, "B": math.nan, ("A", "B"): 2}, "value", r"\{B\} is not finite"),
        (["A", "B"], {"A": 1, "B": 1, ("A", "B"): math.inf}, "value", r"\{A, B\} is not fin"),
        (["A", "B"], {"A": 1, ("A", "A"): 1}, "value", "'A' appears twice"),
        (["A"], {"A": 1, (): 2}, "value", "empty coalition must be worth 0"),
    ],
)
def test_bad_games(players, values, kind, message):
    with pytest.raises(GameError, match=message):
        Game(players, values, kind=kind)


def test_bad_from_values():
    with pytest.raises(GameError, match=r"length 2\*\*2 = 4 for 2 players, got shape \(3,\)"):
        Game.from_values(["A", "B"], [0, 1, 2])
    with pytest.raises(GameError, match=r"value for coalition \{A, B\} is not finite"):
        Game.from_values(["A", "B"], [0, 1, 1, np.inf])
    with pytest.raises(GameError, match=r"value for coalition \{B\} is not finite \(nan\)"):
        Game.from_values(["A", "B"], [0, 1, np.nan, 2])
    with pytest.raises(GameError, match="numeric array"):
        Game.from_values(["A", "B"], [0, 1, "x", 2])
    with pytest.raises(GameError, match=r"too many for an explicit game"):
        Game.from_values([f"p{i}" for i in range(26)], [0.0])


def test_from_function_bad_value():
    with pytest.raises(GameError, match=r"value for coalition \{A, B\} is not a number: None"):
        Game.from_function(["A", "B"], lambda s: None if len(s) == 2 else 1)


def test_allocation_is_read_only_mapping(game):
    x = nucleolus(game)
    assert isinstance(x, Allocation)
    assert set(dict(x)) == {"A", "B", "C"}
    assert len(x) == 3 and list(x) == ["A", "B", "C"]
    assert x.concept == "nucleolus" and x.game is game
    assert x.std_error is None
    with pytest.raises(TypeError):
        x["A"] = 1.0
    with pytest.raises(TypeError):
        x.explanation["lps_solved"] = 0
    assert sum(x.shares().values()) == pytest.approx(1.0)
    assert "nucleolus 核仁" in x.explain()


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_solver_returns_an_efficient_allocation(game, solver):
    x = solver(game)
    assert list(x) == ["A", "B", "C"]
    assert sum(x.values()) == pytest.approx(9.0)
    assert isinstance(x.explain(), str)


def test_nucleolus_explanation(game):
    x = nucleolus(game)
    exp = x.explanation
    assert exp["kohlberg"]["passed"] is True
    assert exp["lps_solved"] >= 1 and exp["rows_generated"] >= 1
    (level,) = exp["levels"]
    assert level["excess"] == pytest.approx(-2.0)
    assert set(level["coalitions"]) == {
        frozenset({"A", "B"}),
        frozenset({"A", "C"}),
        frozenset({"B", "C"}),
    }
    text = x.explain()
    assert "Kohlberg check: passed" in text
    assert "excess -2 fixed for {A, B}, {A, C}, {B, C}" in text


def test_sampled_shapley_reports_standard_errors(game):
    x = shapley(game, samples=5000, seed=1)
    assert x.concept == "shapley (sampled)"
    assert set(x.std_error) == set(PLAYERS)
    assert sum(x.values()) == pytest.approx(9.0, abs=1e-12)
    for p in PLAYERS:
        assert abs(x[p] - 3.0) < 5 * x.std_error[p] + 1e-12
    assert dict(shapley(game, samples=5000, seed=1)) == dict(x)
    assert "std. error" in x.explain()
    with pytest.raises(GameError, match="samples must be at least 2"):
        shapley(game, samples=1)


def test_shares_undefined_for_zero_total():
    g = Game(["A", "B"], {"A": 1, "B": -1, ("A", "B"): 0})
    with pytest.raises(GameError, match="sum to zero"):
        shapley(g).shares()


def test_core_violation(game):
    assert core_violation(game, {"A": 3, "B": 3, "C": 3}) is None
    blocked = core_violation(game, {"A": 1, "B": 1, "C": 7})
    assert blocked.coalition == frozenset({"A", "B"})
    assert blocked.amount == pytest.approx(2.0)
    assert blocked.inefficiency == 0.0
    assert "coalition {A, B} is blocked by 2" in str(blocked)
    short = core_violation(game, {"A": 3, "B": 3, "C": 2})
    assert short.inefficiency == pytest.approx(-1.0)
    assert short.coalition is None
    assert "misses the grand total by -1" in str(short)
    over = core_violation(game, {"A": 4, "B": 4, "C": 4})
    assert over.coalition is None and over.inefficiency == pytest.approx(3.0)


def test_core_violation_cost_game():
    # cost game: x(S) - c(S) > 0 means S would rather go alone
    g = Game(["A", "B"], {"A": 5, "B": 5, ("A", "B"): 8}, kind="cost")
    assert core_violation(g, {"A": 4, "B": 4}) is None
    v = core_violation(g, {"A": 6, "B": 2})
    assert v.coalition == frozenset({"A"}) and v.amount == pytest.approx(1.0)


def test_core_violation_bad_allocation(game):
    with pytest.raises(GameError, match="missing C; unknown D"):
        core_violation(game, {"A": 3, "B": 3, "D": 3})
    with pytest.raises(GameError, match=r"\{B\} is not a number"):
        core_violation(game, {"A": 3, "B": "x", "C": 3})


def test_claims_and_bankruptcy_game_api():
    x = claims(estate=200, claims={"A": 100, "B": 200, "C": 300}, rule="talmud")
    assert dict(x) == pytest.approx({"A": 50, "B": 75, "C": 75})
    assert x.concept == "talmud rule" and x.game is None
    assert x.explanation["estate"] == 200
    g = bankruptcy_game(200, {"A": 100, "B": 200, "C": 300})
    assert g.players == ("A", "B", "C")
    assert g[("B", "C")] == 100 and g["C"] == 0 and g[("A", "B", "C")] == 200


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: claims(10, {"A": 5, "B": -1}), "claim of B must be a finite non-negative"),
        (lambda: claims(10, {"A": 5, "B": "x"}), "claim of B is not a number"),
        (lambda: claims(250, {"A": 100, "B": 100}), "estate 250 exceeds total claims 200"),
        (lambda: claims(-1, {"A": 100}), "estate must be a finite non-negative number, got -1"),
        (lambda: claims(10, {"A": 100}, rule="shapley"), "valid rules are proportional, cea"),
        (lambda: claims(10, {}), "non-empty mapping"),
        (lambda: bankruptcy_game(250, {"A": 100, "B": 100}), "estate 250 exceeds total"),
        (lambda: bankruptcy_game(10, {"A": -100}), "claim of A must be a finite non-negative"),
    ],
)
def test_bad_claims(call, message):
    with pytest.raises(GameError, match=message):
        call()


def test_empty_imputation_set():
    g = Game(["A", "B"], {"A": 3, "B": 3, ("A", "B"): 5})
    with pytest.raises(GameError, match=r"imputation set is empty.*sum to 6.*use prenucleolus"):
        nucleolus(g)
    assert dict(prenucleolus(g)) == pytest.approx({"A": 2.5, "B": 2.5})


def test_tau_value_undefined():
    # Every pair is worth v(N) = 1: utopia payoffs M_i = v(N) - v(N - i) = 0 but minimal
    # rights m_i = v({i, j}) - M_j = 1 > M_i, so the game is not quasi-balanced.
    g = Game.from_function(["A", "B", "C"], lambda s: 1.0 if len(s) >= 2 else 0.0)
    with pytest.raises(GameError, match="not quasi-balanced"):
        tau_value(g)


def test_scrb_warns_on_negative_remaining_benefit():
    # Separable costs SC = c(N) - c(N-i) = (10 - 8.5, 10 - 5.5, 10 - 5.5) = (1.5, 4.5, 4.5);
    # remaining benefits r = c(i) - SC = (-0.5, 0.5, 0.5); NSC = 10 - 10.5 = -0.5, so
    # x = SC + NSC r / sum(r) = (1.5 + 0.5, 4.5 - 0.5, 4.5 - 0.5) = (2, 4, 4).
    g = Game(
        ["A", "B", "C"],
        {
            "A": 1,
            "B": 5,
            "C": 5,
            ("A", "B"): 5.5,
            ("A", "C"): 5.5,
            ("B", "C"): 8.5,
            ("A", "B", "C"): 10,
        },
        kind="cost",
    )
    x = scrb(g)
    assert dict(x) == pytest.approx({"A": 2, "B": 4, "C": 4})
    assert len(x.warnings) == 1 and "remaining benefit of A is negative (-0.5)" in x.warnings[0]
    assert "Warning: remaining benefit of A" in x.explain()


def test_single_player_game():
    g = Game(["A"], {"A": 5})
    for solver in SOLVERS:
        assert dict(solver(g)) == pytest.approx({"A": 5.0})
    assert core_violation(g, {"A": 5}) is None


def test_cost_game_frame_keeps_kind():
    g = Game(["A", "B"], {"A": 5, "B": 5, ("A", "B"): 8}, kind="cost")
    assert isinstance(g.to_frame(), pd.DataFrame)
    x = nucleolus(g)
    assert dict(x) == pytest.approx({"A": 4, "B": 4})
    assert x.explanation["excess"] == "x(S) - c(S)"
