"""Differential test against the independent coopgame-py implementation on random games."""

import numpy as np
import pytest

from sharing.games import (
    Game,
    GameError,
    bankruptcy_game,
    claims,
    least_core,
    nucleolus,
    per_capita_nucleolus,
    prenucleolus,
    shapley,
    tau_value,
)

coopgame = pytest.importorskip("coopgame")

TOL = 1e-6


def random_games(count, seed):
    """Seeded games with n <= 8 of three kinds: small integers (many ties, often an empty
    core), uniform reals, and convex games (positive dividends)."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        n = int(rng.integers(1, 9))
        kind = k % 3
        if kind == 0:
            v = rng.integers(0, 4, 1 << n).astype(float)
        elif kind == 1:
            v = rng.uniform(-1, 10, 1 << n)
        else:
            v = rng.integers(0, 3, 1 << n).astype(float)
            for i in range(n):
                half = 1 << i
                v.reshape(-1, 2, half)[:, 1, :] += v.reshape(-1, 2, half)[:, 0, :]
        v[0] = 0.0
        yield n, v


def ours(solver, n, v, kind="value"):
    return np.array(list(solver(Game.from_values([f"J{i}" for i in range(n)], v, kind)).values()))


def imputations_exist(n, v):
    return v[1 << np.arange(n)].sum() <= v[-1]


@pytest.mark.parametrize("seed", range(4))
def test_shapley_and_nucleoli_match(seed):
    compared = {"nucleolus": 0, "per-capita": 0}
    for n, v in random_games(60, seed):
        cg = coopgame.Game(v[1:])
        np.testing.assert_allclose(ours(shapley, n, v), coopgame.shapley(cg), atol=1e-9)
        np.testing.assert_allclose(
            ours(prenucleolus, n, v), coopgame.prenucleolus(cg)["allocation"], atol=TOL
        )
        if imputations_exist(n, v):
            compared["nucleolus"] += 1
            np.testing.assert_allclose(
                ours(nucleolus, n, v), coopgame.nucleolus(cg)["allocation"], atol=TOL
            )
            if n <= 6:
                compared["per-capita"] += 1
                np.testing.assert_allclose(
                    ours(per_capita_nucleolus, n, v),
                    coopgame.per_capita_nucleolus(cg)["allocation"],
                    atol=TOL,
                )
    assert compared["nucleolus"] > 20 and compared["per-capita"] > 10


@pytest.mark.parametrize("seed", range(2))
def test_least_core_and_tau_value_match(seed):
    defined = empty_core = 0
    for n, v in random_games(60, 100 + seed):
        if n == 1:
            continue
        g = Game.from_values([f"J{i}" for i in range(n)], v)
        cg = coopgame.Game(v[1:])
        eps = least_core(g).explanation["epsilon"]
        assert eps == pytest.approx(coopgame.least_core(cg, "preimputation")["epsilon"], abs=TOL)
        empty_core += eps > TOL
        try:
            expected = coopgame.tau_value(cg)
        except ValueError:  # not quasi-balanced: ours must refuse too
            with pytest.raises(GameError, match="not quasi-balanced"):
                tau_value(g)
            continue
        defined += 1
        np.testing.assert_allclose(list(tau_value(g).values()), expected, atol=TOL)
    assert defined > 10 and empty_core > 10


def test_cost_games_match():
    checked = 0
    for n, v in random_games(90, 7):
        cost = np.where(np.arange(1 << n) > 0, 10 * n - v, 0.0)
        if cost[1 << np.arange(n)].sum() < cost[-1]:
            continue
        checked += 1
        np.testing.assert_allclose(
            ours(nucleolus, n, cost, "cost"),
            coopgame.cost_nucleolus(coopgame.Game(cost[1:])),
            atol=TOL,
        )
    assert checked > 30


def test_airport_games_match():
    rng = np.random.default_rng(11)
    for _ in range(20):
        n = int(rng.integers(2, 8))
        c = np.sort(rng.integers(1, 30, n)).astype(float)
        g = Game.from_function(
            [f"J{i}" for i in range(n)], lambda s, c=c: max(c[int(p[1:])] for p in s), "cost"
        )
        expected = coopgame.airport(c.tolist())
        np.testing.assert_allclose(list(shapley(g).values()), expected["shapley"], atol=1e-9)
        np.testing.assert_allclose(list(nucleolus(g).values()), expected["nucleolus"], atol=TOL)


def test_bankruptcy_games_match():
    rng = np.random.default_rng(12)
    for _ in range(20):
        n = int(rng.integers(2, 7))
        c = rng.integers(0, 50, n).astype(float)
        estate = float(rng.uniform(0, c.sum()))
        named = {f"J{i}": ci for i, ci in enumerate(c)}
        g = bankruptcy_game(estate, named)
        np.testing.assert_allclose(
            g.values[1:], coopgame.Game.bankruptcy(estate, c.tolist()).values(), atol=1e-12
        )
        talmud = coopgame.talmud(estate, c.tolist())
        np.testing.assert_allclose(list(claims(estate, named).values()), talmud, atol=1e-9)
        np.testing.assert_allclose(list(nucleolus(g).values()), talmud, atol=TOL)


def test_both_reject_empty_imputation_sets():
    v = np.array([0, 3, 3, 5], float)
    with pytest.raises(ValueError):
        coopgame.nucleolus(coopgame.Game(v[1:]))
    with pytest.raises(GameError, match="imputation set is empty"):
        nucleolus(Game.from_values(["A", "B"], v))
