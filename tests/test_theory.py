"""Tests of the `theory` package (algorithm.md section 11): bounds, derivation, planning."""

from __future__ import annotations

import math
import time
import warnings
from decimal import Decimal, localcontext
from functools import partial

import numpy as np
import pytest

import theory
from theory import (
    bretagnolle_huber_log_term,
    detectable_excess_for_validation_size,
    failure_probability_lower_bound,
    kl_bernoulli,
    multi_round_upper_bound,
    rademacher_complexity,
    reference_upper_bound,
    round_error_bound,
    two_point_kl,
    uniform_deviation,
    upper_bound_excess_for_validation_size,
    validation_lower_bound,
    validation_lower_bound_closed_form,
    validation_size_for_upper_bound,
    validation_term,
    vc_complexity,
)

PUBLISHED_N_V = [100, 400, 800, 1200, 1600, 2000, 2400, 2800, 3200, 3600, 4000]
PUBLISHED_BOUND = [
    0.7534,
    0.5866,
    0.4955,
    0.4478,
    0.4169,
    0.3947,
    0.3776,
    0.3639,
    0.3526,
    0.3430,
    0.3348,
]
VC30 = partial(vc_complexity, d=30)
SAUER30 = partial(theory.sauer_complexity, d=30)


# ---------------------------------------------------------------------- upper bound


def test_reference_upper_bound_reproduces_published_values():
    values = reference_upper_bound(np.array(PUBLISHED_N_V))
    np.testing.assert_array_equal(np.round(values, 4), PUBLISHED_BOUND)


def test_reference_upper_bound_matches_notebook_formula():
    for n_v in PUBLISHED_N_V:
        direct = (
            math.sqrt((30 * math.log(n_v / 30) + math.log(1 / 0.3)) / n_v)
            + math.sqrt((30 * math.log(10000 / 30) + math.log(1 / 0.3)) / 10000)
            + 0.01
        )
        assert reference_upper_bound(n_v) == pytest.approx(direct, rel=1e-14)


def test_general_form_is_the_ratio_argument():
    n_v = np.array(PUBLISHED_N_V, dtype=float)
    general = round_error_bound(n_v, 10000, VC30, delta=0.3, p0=0.8, eps_a=0.01)
    by_hand = np.minimum(
        0.01
        + 1.01 * uniform_deviation(n_v, vc_complexity(n_v, 30), 0.15) / 0.8
        + uniform_deviation(10000, vc_complexity(10000, 30), 0.3),
        1.0,
    )
    np.testing.assert_allclose(general, by_hand, rtol=1e-15)
    # the ratio form with an empirical mass p^: (eps_a p^ + D) / (p^ - D) is larger
    d = uniform_deviation(400, VC30, 0.15)
    assert (0.01 + d) / (1 - d) > 0.01 + 1.01 * d


def test_p0_inflates_only_the_validation_term():
    base = reference_upper_bound(400)
    half = reference_upper_bound(400, p0=0.5)
    assert half - base == pytest.approx(uniform_deviation(400, VC30, 0.3))
    assert validation_term(400, VC30, 0.3, 0.5) == pytest.approx(
        2 * validation_term(400, VC30, 0.3, 1.0)
    )


def test_vc_complexity_floor():
    assert vc_complexity(1000, 30) == pytest.approx(30 * math.log(1000 / 30))
    assert vc_complexity(10, 30) == pytest.approx(10 * math.log(2))
    assert vc_complexity(45, 30) == pytest.approx(30 * math.log(2))
    n = np.arange(1, 500)
    assert np.all(np.diff(vc_complexity(n, 30)) >= 0)


def test_union_over_classes_is_delta_over_k():
    k = 10
    with_union = round_error_bound(500, 2000, VC30, 0.3, 0.8, 0.01, n_classes=k)
    by_delta = round_error_bound(500, 2000, VC30, 0.3 / k, 0.8, 0.01)
    assert with_union == pytest.approx(by_delta, rel=1e-15)
    assert with_union > round_error_bound(500, 2000, VC30, 0.3, 0.8, 0.01)


def test_rademacher_complexity_path():
    capacity = rademacher_complexity(weight_norm=2.0, data_radius=1.5, lipschitz=4.0)
    assert capacity == pytest.approx(8 * (4.0 * 2.0 * 1.5) ** 2 + math.log(2))
    n, delta = 800.0, 0.1
    deviation = uniform_deviation(n, capacity, delta)
    two_sided = 2 * 4.0 * 2.0 * 1.5 / math.sqrt(n) + math.sqrt(
        math.log(2 / delta) / (2 * n)
    )
    assert two_sided <= deviation <= math.sqrt(2) * two_sided
    assert round_error_bound(n, 3000, capacity, delta, eps_a=0.0) == pytest.approx(
        min(
            uniform_deviation(n, capacity, delta / 2)
            + uniform_deviation(3000, capacity, delta),
            1.0,
        )
    )
    # k > 2 classes: the multi-class margin bound's factor 2 k
    assert rademacher_complexity(2.0, 1.5, 4.0, n_classes=10) == pytest.approx(
        8 * (20 * 4.0 * 2.0 * 1.5) ** 2 + math.log(2)
    )


def test_user_supplied_complexity_callable_and_array():
    rigorous_vc = lambda n: 4 * 30 * (1 + np.log(n / 30))  # noqa: E731
    n = np.array([300.0, 3000.0])
    expected = np.sqrt((rigorous_vc(n) + math.log(1 / 0.05)) / n)
    np.testing.assert_allclose(
        uniform_deviation(n, rigorous_vc, 0.05), expected, rtol=1e-15
    )
    np.testing.assert_allclose(
        uniform_deviation(n, rigorous_vc(n), 0.05), expected, rtol=1e-15
    )
    assert round_error_bound(300, 300, 7.0, 0.05, eps_a=0.0) == pytest.approx(
        math.sqrt((7.0 + math.log(40)) / 300) + math.sqrt((7.0 + math.log(20)) / 300)
    )


def test_multi_round_with_one_round_equals_single_round():
    single = round_error_bound(700, 4000, VC30, 0.2, 0.7, 0.01, n_classes=3)
    multi = multi_round_upper_bound([700], [4000], VC30, 0.2, 0.7, 0.01, n_classes=3)
    assert multi == pytest.approx(single, rel=1e-14)


def test_multi_round_weights_and_delta_split():
    n_val, n_auto = [900, 600, 400, 0], [3000, 1000, 0, 0]
    multi = multi_round_upper_bound(n_val, n_auto, VC30, 0.3)
    rounds = round_error_bound([900, 600], [3000, 1000], VC30, 0.3 / 4)
    assert multi == pytest.approx(0.75 * rounds[0] + 0.25 * rounds[1], rel=1e-14)
    # splitting delta over rounds makes each round's bound (and the weighted sum) larger
    unsplit = round_error_bound([900, 600], [3000, 1000], VC30, 0.3)
    assert np.all(rounds > unsplit)
    assert multi > 0.75 * unsplit[0] + 0.25 * unsplit[1]
    # padding with idle rounds only makes the bound more conservative
    assert multi_round_upper_bound(n_val + [0], n_auto + [0], VC30, 0.3) > multi


def test_multi_round_degenerate_records():
    assert np.isnan(multi_round_upper_bound([100, 50], [0, 0], VC30, 0.3))
    assert multi_round_upper_bound([100, 0], [10, 10], VC30, 0.3) == np.inf
    batch = multi_round_upper_bound(
        [[4000, 3000, 0], [200, 0, 0]],
        [[10000, 5000, 0], [0, 0, 0]],
        VC30,
        [[0.1], [0.2]],
    )
    assert batch.shape == (2, 2)  # (delta, run)
    assert np.all(np.isfinite(batch[:, 0])) and np.all(np.isnan(batch[:, 1]))
    assert batch[0, 0] > batch[1, 0]


def test_multi_round_small_rounds_are_finite():
    # rounds that auto-label fewer than d points use the VC floor, not a negative log
    value = multi_round_upper_bound([500, 300], [2000, 3], VC30, 0.3)
    assert np.isfinite(value) and value > reference_upper_bound(500, n_a=2000)


# ---------------------------------------------------------------------- lower bound


def _kl_brute(p: float, q: float) -> float:
    total = 0.0
    for a, b in ((p, q), (1 - p, 1 - q)):
        if a > 0:
            total += math.inf if b == 0 else a * math.log(a / b)
    return total


def test_kl_bernoulli_against_direct_formula():
    grid = [0.0, 1e-6, 0.01, 0.1, 0.25, 0.5, 0.77, 0.99, 1.0]
    p, q = np.meshgrid(grid, grid, indexing="ij")
    values = kl_bernoulli(p, q)
    assert values.shape == p.shape
    for i, j in np.ndindex(p.shape):
        expected = _kl_brute(p[i, j], q[i, j])
        if math.isinf(expected):
            assert values[i, j] == np.inf
        else:
            # the direct formula itself loses digits near p = q (next test)
            assert values[i, j] == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_kl_bernoulli_known_values():
    assert kl_bernoulli(0.5, 0.5) == 0.0
    assert kl_bernoulli(1.0, 0.5) == pytest.approx(math.log(2))
    assert kl_bernoulli(0.0, 0.3) == pytest.approx(-math.log(0.7))
    assert kl_bernoulli(0.3, 0.0) == np.inf
    assert kl_bernoulli(0.5, 0.25) == pytest.approx(
        0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    )


def test_two_point_kl_is_the_smaller_direction():
    eps, eps_a = np.array([1e-3, 0.05, 0.6]), 0.3
    both = np.stack(
        [kl_bernoulli(eps_a + eps, eps_a), kl_bernoulli(eps_a, eps_a + eps)]
    )
    # equal up to the rounding of (eps_a + eps) - eps_a, which two_point_kl avoids
    np.testing.assert_allclose(two_point_kl(eps, eps_a), both.min(axis=0), rtol=1e-14)
    # finite at eps_a = 0, where KL(Ber(eps) || Ber(0)) = inf
    assert two_point_kl(0.2, 0.0) == pytest.approx(-math.log(0.8))
    # small eps, eps_a < 1/2: the smaller one is KL(Ber(eps_a) || Ber(eps_a + eps))
    assert two_point_kl(1e-3, 0.3) == pytest.approx(
        kl_bernoulli(0.3, 0.3 + 1e-3), rel=1e-14
    )
    assert two_point_kl(1e-3, 0.3) < kl_bernoulli(0.3 + 1e-3, 0.3)


def test_kl_bernoulli_has_no_cancellation():
    """Against 50-digit mpmath values of KL(Ber(p) || Ber(q)) at the same floats: the
    direct p ln(p/q) + ... loses 8 digits at q = 1e-8, p - q = 1e-8."""
    for p, q, want in [
        (2e-08, 1e-08, 3.862943661198907e-09),
        (0.00100001, 0.001, 5.004988338378924e-14),
        (0.30000001, 0.3, 2.3809523633287667e-16),
    ]:
        assert kl_bernoulli(p, q) == pytest.approx(want, rel=1e-14)
    # second-order expansion x^2 / (2 q (1 - q)) at x = 1e-9
    assert kl_bernoulli(0.3 + 1e-9, 0.3) == pytest.approx(
        (0.3 + 1e-9 - 0.3) ** 2 / (2 * 0.3 * 0.7), rel=1e-7
    )


def test_bretagnolle_huber_log_term():
    assert bretagnolle_huber_log_term(0.05) == pytest.approx(-math.log(4 * 0.05 * 0.95))
    # valid up to delta < 1/2: 56 points at delta = 0.3 where ln(1/(4 delta)) gave 0
    assert math.ceil(validation_lower_bound(0.01, 0.3, 1.0, 0.01)) == 56
    np.testing.assert_array_equal(bretagnolle_huber_log_term([0.5, 0.7]), 0.0)


def test_failure_probability_is_the_direct_statement():
    n, eps, p0, eps_a = 300, 0.02, 0.6, 0.05
    kl = min(_kl_brute(eps_a + eps, eps_a), _kl_brute(eps_a, eps_a + eps))
    assert failure_probability_lower_bound(n, eps, p0, eps_a) == pytest.approx(
        0.5 * (1 - math.sqrt(1 - math.exp(-n * p0 * kl)))
    )
    # the failure bound crosses delta at the lower bound on n (816.5 here)
    n_needed = validation_lower_bound(eps, 0.05, p0, eps_a)
    around = failure_probability_lower_bound(
        [math.floor(n_needed), math.ceil(n_needed)], eps, p0, eps_a
    )
    assert around[0] > 0.05 >= around[1]
    assert around == pytest.approx(0.05, rel=2e-3)


def test_validation_lower_bound_formula_and_vacuous_delta():
    eps, delta, p0, eps_a = 0.01, 0.05, 0.5, 0.02
    expected = math.log(1 / (4 * delta * (1 - delta))) / (p0 * two_point_kl(eps, eps_a))
    assert validation_lower_bound(eps, delta, p0, eps_a) == pytest.approx(expected)
    np.testing.assert_array_equal(validation_lower_bound(eps, [0.5, 0.9]), 0.0)
    assert validation_lower_bound(0.01, 0.05, 1.0, 0.01) == pytest.approx(532.39, 1e-4)


def test_lower_bound_grows_like_inverse_square():
    eps = 0.1 * 0.5 ** np.arange(16)
    n = validation_lower_bound(eps, 0.01, eps_a=0.1)
    assert np.all(np.diff(n) > 0)
    ratios = n[1:] / n[:-1]
    assert abs(ratios[-1] - 4) < 1e-4
    assert np.all(np.diff(np.abs(ratios - 4)) < 0)  # converging to 4
    # non-asymptotic chi-square form: n >= eps_a (1 - eps_a) log term / eps^2
    assert np.all(n >= 0.1 * 0.9 * bretagnolle_huber_log_term(0.01) / eps**2)


def test_lower_bound_at_zero_tolerance_grows_like_inverse_eps():
    eps = 1e-2 * 0.5 ** np.arange(10)
    n = validation_lower_bound(eps, 0.01, eps_a=0.0)
    assert np.isfinite(n).all()
    assert abs(n[-1] / n[-2] - 2) < 1e-4


def test_closed_form_is_a_lower_bound_and_asymptotically_equal():
    """Never above Bretagnolle-Huber on a grid where the old small-eps form overstated
    it in 36% of the cells (up to 4.65x); equal to it as eps -> 0."""
    eps_a, eps = np.meshgrid(np.linspace(0, 0.95, 39), np.geomspace(1e-4, 0.5, 40))
    ok = eps_a + eps <= 1
    closed = validation_lower_bound_closed_form(eps[ok], 0.05, 0.3, eps_a[ok])
    sharp = validation_lower_bound(eps[ok], 0.05, 0.3, eps_a[ok])
    assert np.all(closed <= sharp * (1 + 1e-12))
    for eps_a in (0.0, 0.01, 0.1, 0.5, 0.9):
        tiny = 1e-5 * max(eps_a * (1 - eps_a), 1e-2)
        assert validation_lower_bound_closed_form(
            tiny, 0.05, 0.3, eps_a
        ) == pytest.approx(validation_lower_bound(tiny, 0.05, 0.3, eps_a), rel=1e-3)


@pytest.mark.parametrize(
    "eps_a,eps,want", [(0.01, 0.01, 1556), (0.1, 0.1, 134), (0.0, 0.01, 293)]
)
def test_exact_lower_bound_reference_values(eps_a, eps, want):
    assert theory.exact_lower_bound(eps=eps, delta=0.05, eps_a=eps_a) == want
    assert theory.minimax_test_error(want, eps=eps, eps_a=eps_a) <= 0.05
    assert theory.minimax_test_error(want - 1, eps=eps, eps_a=eps_a) > 0.05


def test_exact_lower_bound_thinned_sample():
    """p0 < 1: Bin(n, p0) points land in the region, and the optimal test uses their
    count too. At eps_a = 0 a test of W alone (certify at w = 0, randomised) has error
    r / (1 + r), r = (1 - p0 eps)^n, and needs 588 points at p0 = 1/2; the optimal one
    needs 585; 2 x 293 = 586 is neither."""
    r = (1 - 0.5 * 0.01) ** np.arange(580, 600)
    assert 580 + int(np.argmax(r / (1 + r) <= 0.05)) == 588
    assert theory.exact_lower_bound(eps=0.01, delta=0.05, p0=0.5, eps_a=0.0) == 585
    bh = validation_lower_bound(0.1, 0.05, 0.2, 0.1)
    assert (
        bh <= theory.exact_lower_bound(eps=0.1, delta=0.05, p0=0.2, eps_a=0.1) <= 4 * bh
    )


def test_minimax_test_error_against_a_brute_force_maximum():
    """max over a fine grid of l of sum_x min(l P0(x), (1 - l) P1(x)) over all (m, w)."""
    from scipy import stats

    n, p0, eps_a, eps = 40, 0.5, 0.1, 0.2
    m, w = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    region = stats.binom.pmf(m, n, p0)
    good = region * stats.binom.pmf(w, m, eps_a)
    bad = region * stats.binom.pmf(w, m, eps_a + eps)
    grid = np.linspace(0, 1, 20001)
    brute = max(np.minimum(lam * good, (1 - lam) * bad).sum() for lam in grid)
    exact = theory.minimax_test_error(n, eps=eps, p0=p0, eps_a=eps_a)
    assert brute <= exact + 1e-12 and exact - brute < 1e-4


def test_exact_resolvable_excess_round_trip():
    for n, eps_a in [(400, 0.01), (1000, 0.0), (150, 0.1)]:
        excess = theory.exact_resolvable_excess(n, delta=0.05, eps_a=eps_a)
        needed = partial(theory.exact_lower_bound, delta=0.05, eps_a=eps_a)
        assert needed(eps=excess * (1 + 1e-9)) <= n
        assert needed(eps=excess * (1 - 1e-3)) > n
        assert excess >= detectable_excess_for_validation_size(n, 0.05, 1.0, eps_a)
    assert theory.exact_resolvable_excess(100, delta=0.5, eps_a=0.01) == 0.0


def test_multiclass_lower_bound():
    one = validation_lower_bound(0.01, 0.05, 0.5, 0.01)
    assert theory.multiclass_validation_lower_bound(
        0.01, 0.05, [0.5], 0.01
    ) == pytest.approx(one)
    # the smallest class region decides the two-point term
    assert theory.multiclass_validation_lower_bound(
        0.01, 0.05, [0.5, 0.1], 0.01
    ) == pytest.approx(validation_lower_bound(0.01, 0.05, 0.1, 0.01))
    # many equal classes: Fano's ln k term takes over
    k = 1000
    fano = ((1 - 0.05) * math.log(k) - math.log(2)) / (
        (1 / k) * two_point_kl(0.01, 0.01)
    )
    got = theory.multiclass_validation_lower_bound(0.01, 0.05, np.full(k, 1 / k), 0.01)
    assert got == pytest.approx(fano)
    assert got > validation_lower_bound(0.01, 0.05, 1 / k, 0.01)


# ------------------------------------------------------------------------- planning


def test_upper_bound_excess_is_the_validation_term():
    n_v = np.array(PUBLISHED_N_V)
    np.testing.assert_allclose(
        upper_bound_excess_for_validation_size(n_v, 0.3, d=30, eps_a=0.01),
        validation_term(n_v, SAUER30, 0.3, 1.0, eps_a=0.01, n_classes=1),
        rtol=1e-14,
    )


def test_sauer_complexity():
    assert theory.sauer_complexity(100, 30) == pytest.approx(59.169, abs=1e-3)
    assert vc_complexity(100, 30) == pytest.approx(36.119, abs=1e-3)
    n = np.arange(1, 31)
    np.testing.assert_allclose(theory.sauer_complexity(n, 30), n * math.log(2))
    n = np.arange(31, 5000)
    sauer = theory.sauer_complexity(n, 30)
    assert np.all(sauer >= 30 * np.log(n / 30))
    assert np.all(sauer <= 30 * (1 + np.log(n / 30)))
    assert np.all(np.diff(sauer, 2) <= 1e-12)  # increments never grow
    big = theory.sauer_complexity(2.0**53, 30)  # no cancellation at large n
    assert big == pytest.approx(30 * 53 * math.log(2) - math.lgamma(31), rel=1e-9)


@pytest.mark.parametrize("d", [1, 5, 30])
def test_validation_size_for_upper_bound_round_trip(d):
    targets = np.array([0.05, 0.1, 0.2, 0.35, 0.5, 0.6, 0.61, 0.62, 0.7, 0.9, 1.2, 3.0])
    kwargs = dict(delta=0.1, d=d, p0=0.9, n_classes=2, eps_a=0.01)
    n_v = validation_size_for_upper_bound(targets, **kwargs)
    assert np.all(n_v == np.floor(n_v)) and np.all(n_v >= 1)
    assert np.all(upper_bound_excess_for_validation_size(n_v, **kwargs) <= targets)
    previous = n_v > 1
    assert np.all(
        upper_bound_excess_for_validation_size(n_v[previous] - 1, **kwargs)
        > targets[previous]
    )
    # monotone: every larger n meets the target too (the reference d ln(n/d) was not)
    n = np.arange(1, 20_000)
    assert np.all(np.diff(upper_bound_excess_for_validation_size(n, **kwargs)) <= 0)


def test_validation_size_beyond_search_range_is_inf():
    assert validation_size_for_upper_bound(1e-9, 0.1) == np.inf


def test_detectable_excess_round_trip():
    n = np.array([1.0, 10.0, 100.0, 1e4, 1e7])
    for eps_a in (0.0, 0.01, 0.2):
        eps_star = detectable_excess_for_validation_size(n, 0.05, 0.5, eps_a)
        ok = np.isfinite(eps_star)
        assert ok[1:].all()
        bound = validation_lower_bound(eps_star[ok], 0.05, 0.5, eps_a)
        np.testing.assert_allclose(bound, n[ok], rtol=1e-9)
        assert np.all(bound <= n[ok] * (1 + 1e-12))
        below = validation_lower_bound(eps_star[ok] * (1 - 1e-6), 0.05, 0.5, eps_a)
        assert np.all(below > n[ok])
    assert np.all(
        np.diff(detectable_excess_for_validation_size(n, 0.05, 0.5, 0.01)) < 0
    )


def test_detectable_excess_edge_cases():
    assert detectable_excess_for_validation_size(100, 0.5) == 0.0
    assert detectable_excess_for_validation_size(100, 0.3) > 0.0
    # n p0 ln(1/eps_a) < ln(1/(4 delta)): even the largest excess cannot be certified
    assert detectable_excess_for_validation_size(1, 0.05, 1.0, 0.3) == np.inf


# --------------------------------------------------------------- argument convention

DEPRECATED_ORDERS = [  # (function, call in the former order, in the convention's)
    (
        "exact_lower_bound",
        (0.01, 0.02, 0.05, 0.5),
        (),
        {"eps": 0.02, "delta": 0.05, "p0": 0.5, "eps_a": 0.01},
    ),
    (
        "minimax_test_error",
        (300, 0.01, 0.02, 0.5),
        (300,),
        {"eps": 0.02, "p0": 0.5, "eps_a": 0.01},
    ),
    (
        "exact_resolvable_excess",
        (400, 0.01, 0.05, 0.5),
        (400,),
        {"delta": 0.05, "p0": 0.5, "eps_a": 0.01},
    ),
    (
        "validation_term",
        (400, 7.0, 0.1, 0.5, 3, 0.02),
        (400, 7.0, 0.1, 0.5),
        {"eps_a": 0.02, "n_classes": 3},
    ),
    (
        "upper_bound_excess_for_validation_size",
        (400, 0.1, 5, 0.5, 3, 0.02),
        (400, 0.1),
        {"p0": 0.5, "eps_a": 0.02, "d": 5, "n_classes": 3},
    ),
    (
        "validation_size_for_upper_bound",
        (0.3, 0.1, 5, 0.5, 3, 0.02),
        (0.3, 0.1),
        {"p0": 0.5, "eps_a": 0.02, "d": 5, "n_classes": 3},
    ),
    (
        "reference_upper_bound",
        (400, 20, 0.2, 0.5, 5000, 0.02),
        (400,),
        {"delta": 0.2, "p0": 0.5, "eps_a": 0.02, "d": 20, "n_a": 5000},
    ),
    (
        "binomial_round_error_bound",
        (500, 7, 2000, 0.05, 100),
        (),
        {
            "errors": 7,
            "n_region": 500,
            "n_auto": 2000,
            "delta": 0.05,
            "n_candidates": 100,
        },
    ),
]


@pytest.mark.parametrize("name, old, args, kwargs", DEPRECATED_ORDERS)
def test_former_argument_order_warns_and_gives_the_same_value(name, old, args, kwargs):
    """The former positional order gives the same number with a DeprecationWarning
    whose suggested call gives it too; the convention's call warns not at all."""
    function = getattr(theory, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = function(*args, **kwargs)
    with pytest.warns(DeprecationWarning, match=f"^{name}: the positional order") as w:
        former = function(*old)
    assert former == new
    message = str(w[0].message)
    assert "\n" not in message and w[0].filename == __file__
    suggested = message.split("; call ", 1)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert eval(suggested, vars(theory)) == new


def test_former_keyword_eps_of_the_reference_bound():
    with pytest.warns(DeprecationWarning, match="keyword eps= is deprecated"):
        former = reference_upper_bound(400, eps=0.02)
    assert former == reference_upper_bound(400, eps_a=0.02)
    with pytest.raises(TypeError, match="multiple values"):
        reference_upper_bound(400, eps=0.02, eps_a=0.02)


def test_former_order_rejects_ambiguous_calls():
    with pytest.raises(TypeError, match="multiple values for 'eps'"):
        theory.exact_lower_bound(0.01, 0.02, 0.05, eps=0.02)
    with pytest.raises(TypeError, match="at most 4 positional"):
        theory.exact_lower_bound(0.01, 0.02, 0.05, 1.0, 0.1)


# ------------------------------------------------------------------- shapes, errors


def test_vectorisation_gives_broadcast_shapes():
    n_v = np.array([100.0, 400.0, 1600.0])[:, None]
    delta = np.array([0.1, 0.3])
    assert reference_upper_bound(n_v, delta=delta).shape == (3, 2)
    assert round_error_bound(n_v, 1000, VC30, delta).shape == (3, 2)
    assert uniform_deviation(n_v, VC30, delta).shape == (3, 2)
    eps = np.array([0.01, 0.02, 0.05])[:, None, None]
    p0 = np.array([0.5, 1.0])[:, None]
    eps_a = np.array([0.0, 0.01, 0.1, 0.2])
    assert validation_lower_bound(eps, 0.05, p0, eps_a).shape == (3, 2, 4)
    assert validation_lower_bound_closed_form(eps, 0.05, p0, eps_a).shape == (3, 2, 4)
    assert failure_probability_lower_bound(100, eps, p0, eps_a).shape == (3, 2, 4)
    assert two_point_kl(eps, eps_a).shape == (3, 1, 4)
    assert validation_size_for_upper_bound([[0.1], [0.2]], delta, d=30).shape == (
        2,
        2,
    )
    assert upper_bound_excess_for_validation_size(n_v, delta).shape == (3, 2)
    assert detectable_excess_for_validation_size(n_v, delta, p0=0.5).shape == (3, 2)
    assert multi_round_upper_bound(np.full((4, 3, 5), 100), 10, VC30, 0.3).shape == (
        4,
        3,
    )
    assert isinstance(reference_upper_bound(100), float)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: reference_upper_bound(100, delta=0.0), "delta"),
        (lambda: reference_upper_bound(100, delta=1.0), "delta"),
        (lambda: validation_lower_bound(0.01, -0.1), "delta"),
        (lambda: detectable_excess_for_validation_size(10, 1.5), "delta"),
        (lambda: validation_size_for_upper_bound(0.1, 2.0), "delta"),
        (lambda: validation_lower_bound(0.0, 0.1), "eps"),
        (lambda: validation_lower_bound_closed_form(-0.01, 0.1), "eps"),
        (lambda: failure_probability_lower_bound(10, -1.0), "eps"),
        (lambda: validation_lower_bound(0.01, 0.1, p0=0.0), "p0"),
        (lambda: reference_upper_bound(100, p0=1.5), "p0"),
        (lambda: round_error_bound(100, 100, VC30, 0.1, p0=[0.5, -1.0]), "p0"),
        (lambda: reference_upper_bound(0), "n_v"),
        (lambda: reference_upper_bound([100, -5]), "n_v"),
        (lambda: reference_upper_bound(100, n_a=0), "n_a"),
        (lambda: validation_term(0, VC30, 0.1), "n_val"),
        (lambda: upper_bound_excess_for_validation_size(0, 0.1), "n_v"),
        (lambda: round_error_bound(100, 0, VC30, 0.1), "n_auto"),
        (
            lambda: multi_round_upper_bound([-1, 5], [1, 1], VC30, 0.1),
            "n_val_per_round",
        ),
        (lambda: validation_size_for_upper_bound(0.0, 0.1), "target_excess"),
        (lambda: round_error_bound(100, 100, VC30, 0.1, n_classes=0), "n_classes"),
        (lambda: uniform_deviation(100, -1.0, 0.1), "complexity"),
        (lambda: kl_bernoulli(1.2, 0.5), "p"),
        (lambda: two_point_kl(0.5, 0.7), "eps_a + eps"),
        # issue 20: fractional, negative, infinite and nan inputs
        (lambda: theory.minimax_test_error(-3, eps=0.01), "n"),
        (lambda: theory.minimax_test_error(10.5, eps=0.01), "n"),
        (lambda: failure_probability_lower_bound(2.5, 0.01), "n"),
        (lambda: detectable_excess_for_validation_size(np.inf, 0.05), "n"),
        (lambda: theory.exact_resolvable_excess(np.inf, delta=0.05), "n"),
        (lambda: theory.exact_resolvable_excess(100, delta=0.05, p0=2.0), "p0"),
        (lambda: theory.exact_lower_bound(eps=1.5, delta=0.05), "eps"),
        (lambda: theory.exact_lower_bound(eps=np.nan, delta=0.05), "eps"),
        (lambda: theory.exact_lower_bound(eps=0.01, delta=0.05, p0=1.5), "p0"),
        (lambda: theory.exact_lower_bound(eps=0.01, delta=np.nan), "delta"),
        (lambda: theory.exact_lower_bound(eps=0.01, delta=0.05, eps_a=1.0), "eps_a"),
        (lambda: validation_lower_bound(0.01, 0.05, eps_a=np.nan), "eps_a"),
        (
            lambda: theory.multiclass_validation_lower_bound(0.01, [0.05, 2.0], 0.5),
            "delta",
        ),
        (
            lambda: theory.multiclass_validation_lower_bound(0.01, 0.05, [0.75, 0.5]),
            "p0_per_class",
        ),
        (
            lambda: theory.clopper_pearson_upper(1, 10, 0.05, n_candidates=0.5),
            "n_candidates",
        ),
        (
            lambda: theory.hoeffding_upper(1, 10, 0.05, n_candidates=1e-9),
            "n_candidates",
        ),
        (
            lambda: theory.kl_chernoff_upper(1, 10, 0.05, n_candidates=np.inf),
            "n_candidates",
        ),
        (lambda: theory.clopper_pearson_upper(1, np.inf, 0.05), "n"),
        (lambda: theory.clopper_pearson_upper(-1, 10, 0.05), "errors"),
        (lambda: theory.kl_chernoff_upper(5, 3, 0.05), "errors"),
        (
            lambda: theory.binomial_round_error_bound(
                errors=1, n_region=10, n_auto=np.inf, delta=0.05
            ),
            "n_auto",
        ),
        (lambda: reference_upper_bound(np.inf), "n_v"),
        (lambda: reference_upper_bound(100, d=np.inf), "d"),
        (lambda: round_error_bound(100.5, 100, VC30, 0.1), "n_val"),
        (
            lambda: multi_round_upper_bound([1.5, 5], [1, 1], VC30, 0.1),
            "n_val_per_round",
        ),
        (lambda: multi_round_upper_bound(5, 1, VC30, 0.1), "n_val_per_round"),
        (lambda: theory.sauer_complexity(100, 2.5), "d"),
        (lambda: vc_complexity(np.inf, 30), "n"),
        (lambda: theory.rademacher_complexity(1.0, 1.0, n_classes=2.5), "n_classes"),
        (lambda: theory.rademacher_complexity(np.nan, 1.0), "weight_norm"),
        (lambda: uniform_deviation(100, np.nan, 0.1), "complexity"),
        (lambda: upper_bound_excess_for_validation_size(100, 0.1, d=0), "d"),
        (lambda: validation_size_for_upper_bound(np.inf, 0.1), "target_excess"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_value(call, name):
    with pytest.raises(theory.InvalidArgumentError) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message and message.startswith(name + " ")
    assert "np." not in message and "array" not in message


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: theory.clopper_pearson_upper(2, 1, 0.05),
            "errors must be <= n, got errors = 2.0, n = 1.0",
        ),
        (
            lambda: theory.binomial_round_error_bound(
                errors=[1, 7], n_region=[5, 6], n_auto=5, delta=0.05
            ),
            "errors must be <= n_region, got errors = 7.0, n_region = 6.0",
        ),
        (
            lambda: two_point_kl(0.5, np.float64(0.7)),
            "eps_a + eps must be <= 1, got eps_a = 0.7, eps = 0.5",
        ),
        (
            lambda: validation_lower_bound(0.01, 0.05, 1.5),
            "p0 must lie in (0, 1], got 1.5",
        ),
        (
            lambda: theory.minimax_test_error(np.float64(0.5), eps=0.1),
            "n must be an integer >= 1, got 0.5",
        ),
        (
            lambda: theory.clopper_pearson_upper(1, 10, 0.05, n_candidates=0.5),
            "n_candidates must be an integer >= 1, got 0.5",
        ),
        (lambda: reference_upper_bound(np.inf), "n_v must be an integer >= 1, got inf"),
        (
            lambda: validation_lower_bound(np.nan, 0.05),
            "eps must lie in (0, 1], got nan",
        ),
        (
            lambda: theory.multiclass_validation_lower_bound(0.01, 0.05, [0.75, 0.5]),
            "p0_per_class must sum to at most 1, got 1.25",
        ),
    ],
)
def test_error_messages_show_plain_numbers(call, message):
    with pytest.raises(theory.InvalidArgumentError) as info:
        call()
    assert str(info.value) == message


# --------------------------------------------------------------- issue 20: broadcasting

BROADCAST = [  # (function, scalar arguments, two values for each numeric argument)
    ("kl_bernoulli", {"p": 0.2, "q": 0.3}),
    ("two_point_kl", {"eps": 0.02, "eps_a": 0.01}),
    ("bretagnolle_huber_log_term", {"delta": 0.05}),
    (
        "failure_probability_lower_bound",
        {"n": 300, "eps": 0.02, "p0": 0.6, "eps_a": 0.05},
    ),
    ("validation_lower_bound", {"eps": 0.02, "delta": 0.05, "p0": 0.6, "eps_a": 0.05}),
    (
        "validation_lower_bound_closed_form",
        {"eps": 0.02, "delta": 0.05, "p0": 0.6, "eps_a": 0.05},
    ),
    (
        "multiclass_validation_lower_bound",
        {"eps": 0.02, "delta": 0.05, "p0_per_class": [0.5, 0.1, 0.1], "eps_a": 0.05},
    ),
    ("minimax_test_error", {"n": 100, "eps": 0.1, "p0": 0.6, "eps_a": 0.05}),
    ("exact_lower_bound", {"eps": 0.1, "delta": 0.05, "p0": 0.6, "eps_a": 0.05}),
    ("exact_resolvable_excess", {"n": 100, "delta": 0.05, "p0": 0.6, "eps_a": 0.05}),
    (
        "detectable_excess_for_validation_size",
        {"n": 100, "delta": 0.05, "p0": 0.6, "eps_a": 0.05},
    ),
    ("vc_complexity", {"n": 100, "d": 30}),
    ("sauer_complexity", {"n": 100, "d": 30}),
    (
        "rademacher_complexity",
        {"weight_norm": 2.0, "data_radius": 1.5, "lipschitz": 4.0, "n_classes": 2},
    ),
    ("uniform_deviation", {"n": 100, "complexity": 7.0, "delta": 0.05}),
    (
        "validation_term",
        {
            "n_val": 400,
            "complexity": 7.0,
            "delta": 0.05,
            "p0": 0.6,
            "eps_a": 0.05,
            "n_classes": 2,
        },
    ),
    (
        "round_error_bound",
        {
            "n_val": 400,
            "n_auto": 900,
            "complexity": 7.0,
            "delta": 0.05,
            "p0": 0.6,
            "eps_a": 0.05,
            "n_classes": 2,
        },
    ),
    (
        "multi_round_upper_bound",
        {
            "n_val_per_round": [400, 300],
            "n_auto_per_round": [900, 100],
            "complexity": 7.0,
            "delta": 0.05,
            "p0": 0.6,
            "eps_a": 0.05,
            "n_classes": 2,
        },
    ),
    (
        "reference_upper_bound",
        {"n_v": 400, "delta": 0.05, "p0": 0.6, "eps_a": 0.05, "d": 30, "n_a": 900},
    ),
    (
        "clopper_pearson_upper",
        {"errors": 3, "n": 100, "delta": 0.05, "n_candidates": 10},
    ),
    ("kl_chernoff_upper", {"errors": 3, "n": 100, "delta": 0.05, "n_candidates": 10}),
    ("hoeffding_upper", {"errors": 3, "n": 100, "delta": 0.05, "n_candidates": 10}),
    (
        "binomial_round_error_bound",
        {
            "errors": 3,
            "n_region": 100,
            "n_auto": 900,
            "delta": 0.05,
            "n_candidates": 10,
        },
    ),
    (
        "upper_bound_excess_for_validation_size",
        {"n_v": 400, "delta": 0.05, "p0": 0.6, "eps_a": 0.05, "d": 30, "n_classes": 2},
    ),
    (
        "validation_size_for_upper_bound",
        {
            "target_excess": 0.5,
            "delta": 0.05,
            "p0": 0.6,
            "eps_a": 0.05,
            "d": 30,
            "n_classes": 2,
        },
    ),
]
SECOND = {  # another valid value of each argument (the first is the scalar above)
    "p": 0.6,
    "q": 0.05,
    "eps": 0.05,
    "eps_a": 0.0,
    "delta": 0.2,
    "p0": 1.0,
    "p0_per_class": [0.3, 0.3, 0.3],
    "n": 150,
    "d": 5,
    "weight_norm": 1.0,
    "data_radius": 0.5,
    "lipschitz": 1.0,
    "n_classes": 10,
    "complexity": 1.0,
    "n_val": 100,
    "n_auto": 50,
    "n_val_per_round": [200, 50],
    "n_auto_per_round": [30, 0],
    "n_v": 100,
    "n_a": 50,
    "errors": 0,
    "n_candidates": 1,
    "n_region": 30,
    "target_excess": 0.9,
}


@pytest.mark.parametrize(
    "name, arguments, varied",
    [(n, a, v) for n, a in BROADCAST for v in a],
    ids=[f"{n}-{v}" for n, a in BROADCAST for v in a],
)
def test_every_numeric_argument_broadcasts(name, arguments, varied):
    """An array for any one numeric argument gives the array of the scalar results
    (issue 20: exact_lower_bound(eps=[...]) and others raised TypeError)."""
    function = getattr(theory, name)
    values = [arguments[varied], SECOND[varied]]
    stacked = np.array(values)
    per_round = name == "multi_round_upper_bound" and varied != "delta"
    if per_round and stacked.ndim == 1:
        stacked = stacked[:, None]  # (runs, 1) against the record's rounds axis
    each = [function(**{**arguments, varied: value}) for value in values]
    together = function(**{**arguments, varied: stacked})
    assert np.shape(together) == (2,)
    np.testing.assert_allclose(together, each, rtol=1e-13)


def test_broadcast_table_covers_the_public_functions():
    functions = {n for n in theory.__all__ if n[0].islower()}
    assert {name for name, _ in BROADCAST} == functions


# ------------------------------------------------------------------ issue 20: extremes


def _decimal_kl(p: Decimal, q: Decimal) -> Decimal:
    """KL(Ber(p) || Ber(q)) in 60-digit decimal arithmetic (0 < p, q < 1)."""
    return p * (p / q).ln() + (1 - p) * ((1 - p) / (1 - q)).ln()


@pytest.mark.parametrize(
    "delta",
    [5e-324, 1e-300, 1e-17, 1e-15, 1e-8, 0.01, 0.0999, 0.1, 0.25, 0.4, 0.49, 0.4999999],
)
def test_bretagnolle_huber_log_term_is_accurate_at_every_delta(delta):
    """Against ln(1/(4 delta (1 - delta))) in 60-digit decimals at the same float: the
    former -log1p(-(1 - 2 delta)^2) lost digits below 1e-15 and was inf at 1e-17."""
    with localcontext() as context:
        context.prec = 60
        d = Decimal(delta)
        want = float(-(4 * d * (1 - d)).ln())
    assert bretagnolle_huber_log_term(delta) == pytest.approx(want, rel=1e-14)


def test_tiny_delta_lower_bounds_are_finite_and_ordered():
    bh = validation_lower_bound(0.01, 1e-17)
    exact = theory.exact_lower_bound(eps=0.01, delta=1e-17)
    assert np.isfinite(bh) and bh < exact <= 4 * bh
    with localcontext() as context:
        context.prec = 60
        log_term = -(4 * Decimal(1e-17) * (1 - Decimal(1e-17))).ln()
        kl = _decimal_kl(Decimal(0.01), Decimal(0.01) + Decimal(0.01))
        assert bh == pytest.approx(float(log_term / kl), rel=1e-13)
    # the smallest delta the exact search still resolves in float64
    bh, exact = (
        validation_lower_bound(0.01, 1e-300),
        theory.exact_lower_bound(eps=0.01, delta=1e-300),
    )
    assert np.isfinite(bh) and bh < exact <= 4 * bh


def test_an_underflowing_divergence_gives_inf_points_not_nan():
    """KL2(1e-300, 0.01) ~ 5e-601 underflows: the bound is +inf (its value, 1e601,
    overflows float64), and 0 where delta >= 1/2 needs nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for bound in (validation_lower_bound, validation_lower_bound_closed_form):
            np.testing.assert_array_equal(bound(1e-300, [0.05, 0.5]), [np.inf, 0.0])
        multiclass = theory.multiclass_validation_lower_bound
        assert multiclass(1e-300, 0.05, [0.5, 0.5]) == np.inf


def test_two_point_kl_keeps_the_digits_of_a_tiny_excess():
    """eps = 1e-10 against eps_a = 0.01: (eps_a + eps) - eps_a keeps only 8 digits of
    eps, so KL2 from kl_bernoulli(eps_a, eps_a + eps) is off by 8e-9; from eps itself
    it matches the 60-digit value."""
    eps, eps_a = 1e-10, 0.01
    with localcontext() as context:
        context.prec = 60
        p, q = Decimal(eps_a) + Decimal(eps), Decimal(eps_a)
        want = float(min(_decimal_kl(p, q), _decimal_kl(q, p)))
    assert two_point_kl(eps, eps_a) == pytest.approx(want, rel=1e-14)
    assert abs(kl_bernoulli(eps_a, eps_a + eps) / want - 1) > 1e-9


def test_exact_lower_bound_at_a_tiny_excess_is_computed_within_its_limits():
    """eps = 1e-6 exhausted 8 GiB (every outcome from w = 0 up); its outcomes now fit
    the 2^20 limit (about 1e11 points, in seconds)."""
    bh = validation_lower_bound(1e-6, 0.05)
    exact = theory.exact_lower_bound(eps=1e-6, delta=0.05)
    assert bh < exact <= 4 * bh
    # the search is the smallest n: one point fewer is not enough
    assert theory.minimax_test_error(exact, eps=1e-6) <= 0.05
    assert theory.minimax_test_error(exact - 1, eps=1e-6) > 0.05


@pytest.mark.parametrize(
    "call, limit",
    [
        (lambda: theory.exact_lower_bound(eps=1e-300, delta=0.05), "n <= 2**53"),
        (lambda: theory.exact_lower_bound(eps=1e-300, delta=0.05, eps_a=0.0), "2**53"),
        (lambda: theory.exact_lower_bound(eps=1e-6, delta=0.05, p0=0.5), "2**20"),
        (lambda: theory.exact_resolvable_excess(10**15, delta=0.05), "2**20"),
        (lambda: theory.minimax_test_error(10**15, eps=1e-3), "2**20"),
    ],
)
def test_exact_values_beyond_their_limits_raise_at_once(call, limit):
    """eps = 1e-300 never returned (the doubling of n had no end); a thinned sample or
    a huge n would have held ~1e12 outcomes. Now one line names the limit and the
    Bretagnolle-Huber function that has none."""
    start = time.perf_counter()
    with pytest.raises(theory.ExactCostError) as info:
        call()
    assert time.perf_counter() - start < 5.0
    message = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in message
    assert limit in message and "validation_lower_bound" in message


def test_public_api_is_exported():
    assert sorted(theory.__all__) == sorted(
        name
        for name in dir(theory)
        if not name.startswith("_") and callable(getattr(theory, name))
    )
