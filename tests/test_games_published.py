"""Solutions of games whose answers are printed in the literature or derived by hand below."""

import pytest

from sharing.games import (
    Game,
    bankruptcy_game,
    claims,
    core_violation,
    least_core,
    nucleolus,
    prenucleolus,
    scrb,
    shapley,
    tau_value,
)

TALMUD_CLAIMS = {"wife100": 100, "wife200": 200, "wife300": 300}
# Aumann & Maschler (1985), "Game theoretic analysis of a bankruptcy problem from the Talmud",
# J. Econ. Theory 36:195-213, Table 1 (Mishnah Kethubot 93a).
TALMUD_TABLE = {
    100: (100 / 3, 100 / 3, 100 / 3),
    200: (50, 75, 75),
    300: (50, 100, 150),
}


def approx(values, abs=1e-7):
    return pytest.approx(list(values), abs=abs)


@pytest.mark.parametrize("estate", sorted(TALMUD_TABLE))
def test_talmud_table_is_the_nucleolus_of_the_bankruptcy_game(estate):
    # Aumann & Maschler (1985), Theorem A: the Talmud's division is the nucleolus of the
    # bankruptcy game v(S) = max(0, E - sum of the claims outside S) (O'Neill 1982).
    expected = TALMUD_TABLE[estate]
    game = bankruptcy_game(estate, TALMUD_CLAIMS)
    assert list(nucleolus(game).values()) == approx(expected)
    assert list(claims(estate, TALMUD_CLAIMS, rule="talmud").values()) == approx(expected)


def test_contested_garment():
    # Mishnah Baba Metzia 2a, discussed by Aumann & Maschler (1985), section 1: two hold a
    # garment, one claims all of it (100), the other half (50): they get 75 and 25.
    assert dict(nucleolus(bankruptcy_game(100, {"half": 50, "all": 100}))) == pytest.approx(
        {"half": 25, "all": 75}
    )


def test_shapley_of_bankruptcy_game_is_random_arrival():
    # O'Neill (1982), Math. Soc. Sci. 2:345-371: the Shapley value of the bankruptcy game is the
    # random-arrival rule.  Hand computation for E = 200, claims (100, 200, 300), claimants paid
    # in full in order of arrival until the estate runs out, over the 6 orders:
    # 123: (100, 100, 0)  132: (100, 0, 100)  213, 231: (0, 200, 0)  312, 321: (0, 0, 200)
    # -> totals (200, 500, 500) / 6.
    x = shapley(bankruptcy_game(200, TALMUD_CLAIMS))
    assert list(x.values()) == approx([200 / 6, 500 / 6, 500 / 6])


@pytest.mark.parametrize(("estate", "expected"), [(200, (40, 80, 80)), (300, (50, 100, 150))])
def test_tau_value_of_bankruptcy_game_is_adjusted_proportional(estate, expected):
    # Curiel, Maschler & Tijs (1987), "Bankruptcy games", Z. Oper. Res. 31:A143-A159: the tau
    # value of a bankruptcy game is the adjusted proportional rule.  Here every minimal right
    # max(0, E - sum of the other claims) is 0, so the estate is divided in proportion to the
    # claims truncated at E: E = 200 -> 200 * (100, 200, 200) / 500; E = 300 -> proportional.
    x = tau_value(bankruptcy_game(estate, TALMUD_CLAIMS))
    assert list(x.values()) == approx(expected)


def test_glove_game():
    # One left glove (L) and two right gloves (R1, R2); a pair is worth 1.  The core is the
    # single point (1, 0, 0), hence so is the nucleolus; Shapley: L is pivotal in the 4 orders
    # where it is not first, so phi_L = 4/6 and each right glove gets 1/6.
    def pairs(s):
        return float("L" in s and len(s) >= 2)

    g = Game.from_function(["L", "R1", "R2"], pairs)
    assert list(shapley(g).values()) == approx([2 / 3, 1 / 6, 1 / 6])
    x = nucleolus(g)
    assert list(x.values()) == approx([1, 0, 0])
    assert core_violation(g, x) is None
    assert least_core(g).explanation["epsilon"] == pytest.approx(0, abs=1e-9)


def test_un_security_council_shapley_shubik():
    # Shapley & Shubik (1954), APSR 48:787-792, power in the Security Council, here in its
    # 15-member form: a motion passes with 9 votes including all 5 permanent members.  By hand:
    # a non-permanent member is pivotal when it comes 9th after all 5 permanent members and 3
    # of the other 9 non-permanent ones: C(9,3) 8! 6! / 15! = 4/2145; each permanent member
    # gets (1 - 10 * 4/2145) / 5 = 421/2145.
    players = [f"P{i}" for i in range(5)] + [f"E{i}" for i in range(10)]

    def passes(s):
        return float(sum(p.startswith("P") for p in s) == 5 and len(s) >= 9)

    x = shapley(Game.from_function(players, passes))
    assert x["P0"] == pytest.approx(421 / 2145, abs=1e-12)
    assert x["E9"] == pytest.approx(4 / 2145, abs=1e-12)


def test_airport_game():
    # Littlechild & Owen (1973), Manage. Sci. 20:370-372: for c(S) = max_{i in S} c_i the
    # Shapley value shares each runway segment equally among the planes that use it.
    # Costs 6, 12, 24: segment 6 / 3 planes = 2 each, segment 6 / 2 = 3, segment 12 / 1
    # -> (2, 5, 17).  Nucleolus by hand (cost excess x(S) - c(S)): e({a}) = x_a - 6 and
    # e({b, c}) = x_b + x_c - 24 = -x_a give the first level t = -3 with x_a = 3; then
    # e({a, b}) = x_b - 9 and e({a, c}) = -x_b balance at x_b = 4.5: (3, 4.5, 16.5).
    cost = {"a": 6, "b": 12, "c": 24}
    g = Game.from_function(list(cost), lambda s: max(cost[p] for p in s), kind="cost")
    assert list(shapley(g).values()) == approx([2, 5, 17])
    x = nucleolus(g)
    assert list(x.values()) == approx([3, 4.5, 16.5])
    assert [lv["excess"] for lv in x.explanation["levels"]][:2] == approx([-3, -4.5])


# Shoham & Leyton-Brown (2009), "Multiagent Systems", Definition 12.2.18, as corrected in the
# book's errata: for this game both (8, 2, 2) and (15/2, 2, 5/2) solve the first LP, and fixing
# the coalition {2, 3} that is tight at (8, 2, 2) leads away from the answer, the mistake
# analysed by Guajardo & Jörnsten (2015), Eur. J. Oper. Res. 241:931-935.
ERRATA_GAME = {
    "1": 4,
    "2": 3,
    "3": 2,
    ("1", "2"): 10,
    ("1", "3"): 11,
    ("2", "3"): 5,
    ("1", "2", "3"): 12,
}


def test_errata_game_prenucleolus():
    # By hand (efficient x, no individual rationality): e({2}) = 3 - x2 and
    # e({1, 3}) = 11 - (12 - x2) = x2 - 1 give t >= 1 with x2 = 2; (8, 2, 2) also reaches t = 1
    # (excess of {2, 3} is 5 - 4 = 1).  With x2 = 2 fixed, e({1, 2}) = 8 - x1 and
    # e({2, 3}) = 3 - x3 with x1 + x3 = 10 balance at x1 = 7.5: level 0.5.
    g = Game(["1", "2", "3"], ERRATA_GAME)
    x = prenucleolus(g)
    assert list(x.values()) == approx([7.5, 2, 2.5])
    levels = x.explanation["levels"]
    assert [lv["excess"] for lv in levels] == approx([1, 0.5])
    assert set(levels[0]["coalitions"]) == {frozenset({"2"}), frozenset({"1", "3"})}
    assert frozenset({"2", "3"}) not in levels[0]["coalitions"]
    assert least_core(g).explanation["epsilon"] == pytest.approx(1)


def test_errata_game_nucleolus():
    # With individual rationality x2 >= 3, e({1, 3}) = x2 - 1 >= 2 is lowest at x2 = 3; then
    # e({1, 2}) = x3 - 2 >= 0 and e({2, 3}) = x1 - 7 with x1 + x3 = 9 give x3 = 2, x1 = 7.
    x = nucleolus(Game(["1", "2", "3"], ERRATA_GAME))
    assert list(x.values()) == approx([7, 3, 2])
    assert x.explanation["kohlberg"]["passed"]


def test_swedish_municipalities_scrb():
    # Young, Okada & Hashimoto (1979), IIASA WP-79-077, "Cost allocation in water resources
    # development - a case study of Sweden" (also Water Resour. Res. 18(3):463-475, 1982):
    # Table 8 prints each municipality's stand-alone cost c(i) and marginal (separable) cost
    # c(N) - c(N - i); the total is c(N) = 83.82 million crowns; Table 7 prints the SCRB shares.
    # SCRB depends on nothing else, so the other coalitions are filled with stand-alone sums.
    alone = {"A": 21.95, "H": 17.08, "K": 10.91, "L": 15.88, "M": 20.81, "T": 21.98}
    separable = {"A": 17.36, "H": 9.85, "K": 0.82, "L": 6.40, "M": 12.90, "T": 14.06}
    total = 83.82
    printed = {"A": 19.54, "H": 13.28, "K": 5.62, "L": 10.90, "M": 16.66, "T": 17.82}
    players = list(alone)

    def cost(s):
        if len(s) == 6:
            return total
        if len(s) == 5:
            (out,) = set(players) - s
            return total - separable[out]
        return sum(alone[p] for p in s)

    x = scrb(Game.from_function(players, cost, kind="cost"))
    # the inputs are rounded to cents, so the shares agree to about a cent
    assert dict(x) == pytest.approx(printed, abs=0.01)
    assert x.warnings == []
    assert x.explanation["separable"] == pytest.approx(separable)
