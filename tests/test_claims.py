"""Tests for the claims (bankruptcy) rules in ``sharing.claims``."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharing.claims import RULES, divide

# Aumann & Maschler (1985), J. Econ. Theory 36:195-213, Table 1 (the Mishnah's division for a
# man with three wives whose marriage contracts are 100, 200 and 300).
TALMUD_CLAIMS = [100.0, 200.0, 300.0]
TALMUD_TABLE = {
    100.0: [100 / 3, 100 / 3, 100 / 3],
    200.0: [50.0, 75.0, 75.0],
    300.0: [50.0, 100.0, 150.0],
}


@pytest.mark.parametrize("estate", sorted(TALMUD_TABLE))
def test_talmud_published_table(estate):
    np.testing.assert_allclose(
        divide(estate, TALMUD_CLAIMS, "talmud"), TALMUD_TABLE[estate], atol=1e-12
    )


def test_talmud_table_vectorised():
    estates = np.array(sorted(TALMUD_TABLE))
    got = divide(estates, TALMUD_CLAIMS, "talmud")
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got.T, [TALMUD_TABLE[e] for e in estates], atol=1e-12)


@pytest.mark.parametrize(
    ("estate", "claims", "rule", "expected"),
    [
        # CEA: lam = 60 gives 30 + 60 + 60 = 150.
        (150, [30, 90, 120], "cea", [30, 60, 60]),
        # CEA: lam = 10 is below every claim.
        (30, [30, 90, 120], "cea", [10, 10, 10]),
        # CEL: losses 240 - 150 = 90 shared equally: mu = 30 -> (0, 60, 90).
        (150, [30, 90, 120], "cel", [0, 60, 90]),
        # CEL: mu = 80 -> (0, 10, 40).
        (50, [30, 90, 120], "cel", [0, 10, 40]),
        # Proportional: 30 * (1, 2, 3) / 6.
        (30, [10, 20, 30], "proportional", [5, 10, 15]),
        # Talmud, estate above half the claims (half-claims 15, 45, 60 sum to 120): each gets
        # half plus CEL on half-claims of 60: mu = 22.5 (claimant 1 loses all 15 of her half)
        # -> (0, 22.5, 37.5) -> (15, 67.5, 97.5).
        (180, [30, 90, 120], "talmud", [15, 67.5, 97.5]),
        # Estate equals the total: everyone is paid in full.
        (240, [30, 90, 120], "talmud", [30, 90, 120]),
        (240, [30, 90, 120], "cea", [30, 90, 120]),
        (240, [30, 90, 120], "cel", [30, 90, 120]),
        # Zero estate.
        (0, [30, 90, 120], "cel", [0, 0, 0]),
    ],
)
def test_hand_worked(estate, claims, rule, expected):
    np.testing.assert_allclose(divide(estate, claims, rule), expected, atol=1e-12)


@pytest.mark.parametrize("rule", RULES)
def test_all_zero_claims(rule):
    np.testing.assert_array_equal(divide(0.0, [0.0, 0.0], rule), [0.0, 0.0])
    with pytest.raises(ValueError, match="exceeds total claims 0"):
        divide(1.0, [0.0, 0.0], rule)


def test_claims_per_column():
    claims = np.array([[10.0, 0.0], [20.0, 5.0]])
    got = divide(np.array([15.0, 5.0]), claims, "cea")
    np.testing.assert_allclose(got, [[7.5, 0.0], [7.5, 5.0]])
    # A scalar estate with per-column claims broadcasts over the columns.
    assert divide(5.0, claims, "cea").shape == (2, 2)


@pytest.mark.parametrize(
    ("estate", "claims", "rule", "message"),
    [
        (250, [100, 100], "cea", "estate 250 exceeds total claims 200"),
        ([10, 250], [100, 100], "cea", r"estate 250 exceeds total claims 200 \(column 1\)"),
        (-1, [100, 100], "cea", "estate must be non-negative"),
        (np.nan, [100, 100], "cea", "estate must be a finite"),
        (10, [100, -5], "cea", "claims must be non-negative"),
        (10, [100, np.inf], "cea", "claims must be finite"),
        (10, [100, 100], "shapley", "valid rules are proportional, cea, cel, talmud"),
        ([10, 20, 30], np.ones((2, 2)), "cea", "3 estates do not match 2 claim columns"),
    ],
)
def test_bad_input(estate, claims, rule, message):
    with pytest.raises(ValueError, match=message):
        divide(estate, claims, rule)


def test_rounding_noise_above_total_is_accepted():
    claims = [0.1, 0.2, 0.3]
    np.testing.assert_allclose(divide(0.6000000000000001, claims, "cel"), claims)


claims_vectors = st.lists(
    st.floats(0, 1e6, allow_nan=False, allow_subnormal=False), min_size=1, max_size=7
)


@st.composite
def problems(draw):
    c = np.array(draw(claims_vectors))
    frac = draw(st.floats(0, 1))
    return min(frac * c.sum(), c.sum()), c


@settings(max_examples=150, deadline=None)
@given(problems(), st.sampled_from(RULES))
def test_feasible_and_efficient(problem, rule):
    estate, c = problem
    x = divide(estate, c, rule)
    assert x.shape == c.shape
    assert np.all(x >= 0) and np.all(x <= c)
    assert abs(x.sum() - estate) <= 1e-12 * max(c.sum(), 1.0) * len(c)


@settings(max_examples=150, deadline=None)
@given(problems(), st.sampled_from(RULES))
def test_order_preservation(problem, rule):
    # c_i <= c_j implies x_i <= x_j and c_i - x_i <= c_j - x_j (Thomson 2003, section 4).
    estate, c = problem
    x = divide(estate, c, rule)
    tol = 1e-9 * max(c.sum(), 1.0)
    order = np.argsort(c, kind="stable")
    assert np.all(np.diff(x[order]) >= -tol)
    assert np.all(np.diff((c - x)[order]) >= -tol)


@settings(max_examples=100, deadline=None)
@given(problems(), st.sampled_from(RULES), st.randoms(use_true_random=False))
def test_symmetry_and_anonymity(problem, rule, rnd):
    estate, c = problem
    c = np.concatenate([c, c[:1]])  # claimants 0 and n-1 have equal claims
    estate = min(estate * 1.5, c.sum())
    x = divide(estate, c, rule)
    assert x[0] == pytest.approx(x[-1], abs=1e-9 * max(c.sum(), 1.0))
    perm = list(range(len(c)))
    rnd.shuffle(perm)
    np.testing.assert_allclose(divide(estate, c[perm], rule), x[perm], atol=1e-9 * c.sum())


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.lists(
            st.lists(st.floats(0, 1e4, allow_subnormal=False), min_size=n, max_size=n),
            min_size=1,
            max_size=8,
        )
    ),
    st.lists(st.floats(0, 1), min_size=8, max_size=8),
    st.sampled_from(RULES),
)
def test_vectorised_equals_columnwise(columns, fracs, rule):
    c = np.array(columns).T  # (n, T)
    estates = np.minimum(np.array(fracs[: c.shape[1]]) * c.sum(axis=0), c.sum(axis=0))
    got = divide(estates, c, rule)
    for t in range(c.shape[1]):
        np.testing.assert_allclose(got[:, t], divide(estates[t], c[:, t], rule), atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(problems())
def test_talmud_is_self_dual_and_cea_cel_are_dual(problem):
    # Talmud is self-dual and CEA, CEL are each other's duals (Thomson 2003, section 6):
    # R(E, c) = c - R*(C - E, c).
    estate, c = problem
    total = c.sum()
    tol = 1e-9 * max(total, 1.0)
    np.testing.assert_allclose(
        divide(estate, c, "talmud"), c - divide(total - estate, c, "talmud"), atol=tol
    )
    np.testing.assert_allclose(
        divide(estate, c, "cea"), c - divide(total - estate, c, "cel"), atol=tol
    )
