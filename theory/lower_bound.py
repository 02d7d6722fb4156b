"""Lower bound on the validation data needed to certify an error (SPEC section 11).

Two-point testing (Le Cam) with the Bretagnolle-Huber inequality; the full derivation is
in theory/README.md. Symbols, shared by every function here:
    p0: probability mass of the region to be auto-labeled, in (0, 1].
    eps_a: the region's conditional error under H0 (acceptable: the tolerance), [0, 1).
    eps: the excess error under H1 (region error eps_a + eps, not acceptable), > 0,
        with eps_a + eps <= 1.
    delta: the failure probability the procedure must achieve, in (0, 1).
    n: number of validation points, iid; each falls in the region with probability
        p0 and then reveals whether the model errs there, a Bernoulli indicator;
        outside the region the two hypotheses agree.
Result: every procedure that auto-labels the region with probability >= 1 - delta under
H0 and with probability <= delta under H1 needs

    n >= ln(1 / (4 delta)) / (p0 * KL2(eps, eps_a)),
    KL2(eps, eps_a) = min(KL(Ber(eps_a + eps) || Ber(eps_a)),
                          KL(Ber(eps_a) || Ber(eps_a + eps))),

the smaller of the two KL directions (Bretagnolle-Huber holds with either; the smaller
gives the stronger bound, and it is the finite one when eps_a = 0 or eps_a + eps = 1).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from theory._validation import (
    checked,
    mass,
    positive,
    probability,
    tolerance,
    unit_interval,
)


def _xlog_ratio(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x ln(x / y) with 0 ln(0 / y) = 0 and x ln(x / 0) = +inf for x > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, np.where(y == 0, np.inf, x * np.log(x / y)))


def kl_bernoulli(p: ArrayLike, q: ArrayLike) -> np.ndarray:
    """KL divergence KL(Ber(p) || Ber(q)) in nats (SPEC section 11, lower bound).

    KL = p ln(p/q) + (1 - p) ln((1 - p)/(1 - q)), with 0 ln 0 = 0; it is +inf when
    Ber(p) puts mass where Ber(q) has none (q = 0 < p or q = 1 > p).

    Args:
        p: Parameter of the first Bernoulli, in [0, 1].
        q: Parameter of the second Bernoulli, in [0, 1], broadcast against p.

    Returns:
        KL, float64 in [0, inf], of the broadcast shape.

    Raises:
        ValueError: if p or q is outside [0, 1].
    """
    p = unit_interval("p", p)
    q = unit_interval("q", q)
    return (_xlog_ratio(p, q) + _xlog_ratio(1.0 - p, 1.0 - q))[()]


def _hypotheses(eps: ArrayLike, eps_a: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Checks eps > 0, eps_a in [0, 1) and eps_a + eps <= 1; returns both as float64."""
    eps = positive("eps", eps)
    eps_a = tolerance("eps_a", eps_a)
    checked("eps_a + eps", eps_a + eps, lambda x: x <= 1, "be <= 1")
    return eps, eps_a


def two_point_kl(eps: ArrayLike, eps_a: ArrayLike = 0.01) -> np.ndarray:
    """Per-region-point divergence of the two hypotheses, the smaller KL direction.

    KL2(eps, eps_a) = min(KL(Ber(eps_a + eps) || Ber(eps_a)),
                          KL(Ber(eps_a) || Ber(eps_a + eps))).

    For eps_a = 0 it equals KL(Ber(0) || Ber(eps)) = -ln(1 - eps) (the other direction
    is +inf). For small eps both directions are ~ eps^2 / (2 eps_a (1 - eps_a)), and the
    third-order terms make KL(Ber(eps_a) || Ber(eps_a + eps)) the smaller one when
    eps_a < 1/2; for large eps either direction can be the smaller.
    KL2 is increasing in eps. See the module docstring and SPEC section 11.

    Args:
        eps: Excess error of H1, > 0, with eps_a + eps <= 1.
        eps_a: Error of H0 (the tolerance), in [0, 1).

    Returns:
        KL2, float64 in (0, inf], of the broadcast shape.

    Raises:
        ValueError: if eps <= 0, eps_a is outside [0, 1) or eps_a + eps > 1.
    """
    eps, eps_a = _hypotheses(eps, eps_a)
    alternative = eps_a + eps
    return np.minimum(
        kl_bernoulli(alternative, eps_a), kl_bernoulli(eps_a, alternative)
    )[()]


def _small_eps_kl(eps: np.ndarray, eps_a: np.ndarray) -> np.ndarray:
    """Leading term of KL2 as eps -> 0: eps^2 / (2 eps_a (1 - eps_a)), or eps at 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eps_a > 0, eps**2 / (2.0 * eps_a * (1.0 - eps_a)), eps)


def _required_samples(
    delta: ArrayLike, p0: ArrayLike, divergence: np.ndarray
) -> np.ndarray:
    """max(ln(1 / (4 delta)), 0) / (p0 * divergence): the sample-size lower bound."""
    log_term = np.maximum(np.log(1.0 / (4.0 * probability("delta", delta))), 0.0)
    return (log_term / (mass("p0", p0) * divergence))[()]


def failure_probability_lower_bound(
    n: ArrayLike, eps: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """Smallest worst-case failure probability any procedure can have with n points.

    P_fail >= (1/4) exp(-n p0 KL2(eps, eps_a))   (SPEC section 11; README derivation).

    For every test between H0 (region error eps_a) and H1 (region error eps_a + eps)
    based on n iid validation points, hence for every threshold procedure that must
    auto-label the region under H0 and must not under H1, the larger of its two error
    probabilities is at least this value (module docstring for the assumptions).

    Args:
        n: Number of validation points (> 0).
        eps: Excess error of H1, > 0, with eps_a + eps <= 1.
        p0: Mass of the region, in (0, 1].
        eps_a: Error of H0 (the tolerance), in [0, 1).

    Returns:
        The lower bound on max(P_H0(fail), P_H1(fail)), float64 in [0, 1/4], of the
        broadcast shape.

    Raises:
        ValueError: on n <= 0, eps <= 0, p0 outside (0, 1], eps_a outside [0, 1) or
            eps_a + eps > 1.
    """
    n = positive("n", n)
    p0 = mass("p0", p0)
    return (0.25 * np.exp(-n * p0 * two_point_kl(eps, eps_a)))[()]


def validation_lower_bound(
    eps: ArrayLike, delta: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """Validation points needed to certify the tolerance with resolution eps.

    n >= ln(1 / (4 delta)) / (p0 KL2(eps, eps_a)), and 0 when delta >= 1/4
    (SPEC section 11; README derivation).

    Any procedure that, with probability >= 1 - delta, auto-labels a region of mass p0
    whose error is eps_a and refuses it when its error is eps_a + eps needs at least
    this many iid validation points. It grows like 1/eps^2 for eps << eps_a (the
    "pitfall"; see `validation_lower_bound_small_eps`) and like 1/eps when eps_a = 0.
    The value is the real-valued threshold; the smallest admissible integer is its
    ceiling.

    Args:
        eps: Excess error to be ruled out, > 0, with eps_a + eps <= 1.
        delta: Allowed failure probability, in (0, 1).
        p0: Mass of the region, in (0, 1].
        eps_a: The tolerance (error under H0), in [0, 1).

    Returns:
        The lower bound on n, float64 >= 0, of the broadcast shape.

    Raises:
        ValueError: on eps <= 0, delta outside (0, 1), p0 outside (0, 1], eps_a outside
            [0, 1) or eps_a + eps > 1.
    """
    return _required_samples(delta, p0, two_point_kl(eps, eps_a))


def validation_lower_bound_small_eps(
    eps: ArrayLike, delta: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """Small-eps form of `validation_lower_bound`: KL2 replaced by its leading term.

    n ~ 2 eps_a (1 - eps_a) ln(1 / (4 delta)) / (p0 eps^2)   for 0 < eps_a < 1,
    n ~ ln(1 / (4 delta)) / (p0 eps)                          for eps_a = 0,

    from KL2 = eps^2 / (2 eps_a (1 - eps_a)) (1 + O(eps / (eps_a (1 - eps_a)))) and,
    at eps_a = 0, KL2 = -ln(1 - eps) = eps (1 + O(eps)) (SPEC section 11; README).
    Valid (relative error of order eps / (eps_a (1 - eps_a))) when
    eps << eps_a (1 - eps_a); it is not uniform in eps_a: for eps_a -> 0 at fixed eps
    the first form blows up while the exact bound tends to the second. Zero when
    delta >= 1/4.

    Args:
        eps: Excess error to be ruled out, > 0, with eps_a + eps <= 1.
        delta: Allowed failure probability, in (0, 1).
        p0: Mass of the region, in (0, 1].
        eps_a: The tolerance (error under H0), in [0, 1).

    Returns:
        The approximate lower bound on n, float64 >= 0, of the broadcast shape.

    Raises:
        ValueError: on the same inputs as `validation_lower_bound`.
    """
    return _required_samples(delta, p0, _small_eps_kl(*_hypotheses(eps, eps_a)))


def _binomial_pmf(n: int, p: float) -> np.ndarray:
    """P(Bin(n, p) = w) for w = 0..n, through the ratio recursion in log space."""
    if p <= 0.0:
        return np.eye(1, n + 1)[0]
    if p >= 1.0:
        return np.eye(1, n + 1, n)[0]
    w = np.arange(n)
    steps = np.log((n - w) / (w + 1.0)) + np.log(p) - np.log1p(-p)
    log_pmf = n * np.log1p(-p) + np.concatenate([[0.0], np.cumsum(steps)])
    return np.exp(log_pmf)


def minimax_test_error(n: int, eps_a: float, eps: float) -> float:
    """The smallest achievable max(P(certify | error eps_a + eps), P(refuse | error
    eps_a)) with n points in the region: the optimal (likelihood-ratio, randomised)
    test of Bin(n, eps_a) against Bin(n, eps_a + eps). It certifies when the count of
    errors w < c, with probability gamma at w = c, for the best (c, gamma)."""
    good, bad = _binomial_pmf(n, eps_a), _binomial_pmf(n, eps_a + eps)
    below_good = np.concatenate([[0.0], np.cumsum(good)[:-1]])  # P(w < c)
    below_bad = np.concatenate([[0.0], np.cumsum(bad)[:-1]])
    # certify below c and with probability gamma at c: balance the two errors
    gamma = np.clip(
        (1.0 - below_good - below_bad) / np.maximum(good + bad, 1e-300), 0.0, 1.0
    )
    wrongly_certified = below_bad + gamma * bad
    wrongly_refused = 1.0 - below_good - gamma * good
    return float(np.min(np.maximum(wrongly_certified, wrongly_refused)))


def exact_lower_bound(eps_a: float, eps: float, delta: float, p0: float = 1.0) -> int:
    """The smallest validation size with which some procedure certifies a region of
    error eps_a and refuses one of error eps_a + eps, each with failure probability at
    most delta: the exact two-point (minimax) bound, by the optimal randomised test on
    binomials (`minimax_test_error`), found by bisection (the error does not grow with
    n: a test may ignore points). Bretagnolle-Huber (`validation_lower_bound`) is a
    lower bound on it.

    Examples (delta = 0.05): eps_a = eps = 0.01: 1556; eps_a = eps = 0.1: 134;
    eps_a = 0, eps = 0.01: 293.

    p0 < 1 (a region of mass p0): returns ceil(n / p0), the validation size whose
    expected count in the region is the n needed there; the points outside carry no
    information. This treats the count in the region as its mean, an approximation.
    """
    eps_a = float(tolerance("eps_a", eps_a))
    eps = float(positive("eps", eps))
    delta = float(probability("delta", delta))
    p0 = float(mass("p0", p0))
    if eps_a + eps > 1.0:
        raise ValueError(f"eps_a + eps = {eps_a + eps:g} exceeds 1")
    if delta >= 0.5:
        return 0  # a coin toss already errs with probability 1/2
    hi = 1
    while minimax_test_error(hi, eps_a, eps) > delta:
        hi *= 2
    lo = hi // 2  # error(lo) > delta, or lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if minimax_test_error(mid, eps_a, eps) > delta:
            lo = mid
        else:
            hi = mid
    return int(np.ceil(hi / p0))
