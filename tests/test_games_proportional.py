"""games.proportional: v(N) in proportion to the stand-alone values, by hand and as properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharing import games


def test_hand_worked_three_players():
    # v(a)=10, v(b)=20, v(c)=30, v(N)=120: 120 × (10, 20, 30) / 60 = (20, 40, 60)
    g = games.Game.from_values(["a", "b", "c"], [0, 10, 20, 40, 30, 50, 60, 120])
    x = games.proportional(g)
    assert dict(x) == pytest.approx({"a": 20.0, "b": 40.0, "c": 60.0})
    assert x.concept == "proportional"


def test_cost_game_and_zero_total():
    g = games.Game.from_values(["a", "b"], [0, 30, 10, 32], kind="cost")
    assert dict(games.proportional(g)) == pytest.approx({"a": 24.0, "b": 8.0})
    with pytest.raises(games.GameError, match="sum to zero"):
        games.proportional(games.Game.from_values(["a", "b"], [0, 5, -5, 3]))


@given(st.lists(st.floats(1, 1e6), min_size=3, max_size=3), st.floats(0, 1e7))
def test_efficient_and_proportional(alone, grand):
    a, b, c = alone
    g = games.Game.from_values(["a", "b", "c"], [0, a, b, a + b, c, a + c, b + c, grand])
    x = games.proportional(g)
    assert sum(x.values()) == pytest.approx(grand, rel=1e-12, abs=1e-9)
    assert x["a"] * b == pytest.approx(x["b"] * a, rel=1e-9, abs=1e-6)
