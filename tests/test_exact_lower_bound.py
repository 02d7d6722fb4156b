"""The exact two-point lower bound on the validation size (theory.exact_lower_bound)."""

import numpy as np
import pytest

import theory


@pytest.mark.parametrize(
    "eps_a,eps,want", [(0.01, 0.01, 1556), (0.1, 0.1, 134), (0.0, 0.01, 293)]
)
def test_reference_values(eps_a, eps, want):
    assert theory.exact_lower_bound(eps_a, eps, 0.05) == want


@pytest.mark.parametrize(
    "eps_a,eps", [(0.01, 0.01), (0.0, 0.05), (0.2, 0.1), (0.05, 0.02)]
)
def test_smallest_n_and_bretagnolle_huber_below(eps_a, eps):
    n = theory.exact_lower_bound(eps_a, eps, 0.05)
    assert theory.minimax_test_error(n, eps_a, eps) <= 0.05
    assert theory.minimax_test_error(n - 1, eps_a, eps) > 0.05
    bh = float(theory.validation_lower_bound(eps, 0.05, 1.0, eps_a))
    assert bh <= n <= 4 * bh


def test_randomisation_matters_at_eps_a_zero():
    """Without randomising, certifying only at w = 0 needs 0.99^n <= 0.05 (299 points);
    the randomised test needs 0.99^n / (1 + 0.99^n) <= 0.05 (293)."""
    assert np.ceil(np.log(0.05) / np.log(0.99)) == 299
    assert theory.exact_lower_bound(0.0, 0.01, 0.05) == 293


def test_a_simulated_test_meets_the_bound():
    """The optimal test, simulated at the bound's n, errs at most delta either way."""
    rng = np.random.default_rng(0)
    n = theory.exact_lower_bound(0.1, 0.1, 0.05)
    w_good, w_bad = rng.binomial(n, 0.1, 200_000), rng.binomial(n, 0.2, 200_000)
    # the best deterministic cut is within one point of the randomised one
    errors = [max((w_bad < c).mean(), (w_good >= c).mean()) for c in range(n)]
    assert min(errors) <= 0.05 + 0.01


def test_p0_and_vacuous_delta():
    assert (
        theory.exact_lower_bound(0.0, 0.01, 0.05, p0=0.5) == 585
    )  # thinned: Bin(n, p0) in the region
    assert theory.exact_lower_bound(0.0, 0.01, 0.6) == 0
    with pytest.raises(ValueError):
        theory.exact_lower_bound(0.5, 0.6, 0.05)
