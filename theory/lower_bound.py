"""Lower bounds on the validation data needed to certify an error (SPEC section 11).

Le Cam's two-point method: the sharp Bretagnolle-Huber form, its closed-form chi-square
relaxation, the exact minimax value of the two-point test on binomials, and a k-class
(Fano) form. Derivations in theory/README.md, section 2. Symbols, shared by every
function here:
    p0: probability mass of the region to be auto-labeled, in (0, 1].
    eps_a: the region's conditional error under H0 (acceptable: the tolerance), [0, 1).
    eps: the excess error under H1 (region error eps_a + eps, not acceptable), > 0,
        with eps_a + eps <= 1.
    delta: the failure probability the procedure must achieve, in (0, 1).
    n: number of validation points, iid; each falls in the region with probability
        p0 (so Bin(n, p0) of them land there) and then reveals whether the model errs
        there, a Bernoulli indicator; outside the region the two hypotheses agree.
Result (Bretagnolle-Huber): every procedure that auto-labels the region with probability
>= 1 - delta under H0 and with probability <= delta under H1 needs

    n >= ln(1 / (4 delta (1 - delta))) / (p0 * KL2(eps, eps_a))       (delta < 1/2),
    KL2(eps, eps_a) = min(KL(Ber(eps_a + eps) || Ber(eps_a)),
                          KL(Ber(eps_a) || Ber(eps_a + eps))).

What it bounds: the number of validation points, for the 0-1 decision "auto-label the
region or not", in the minimax sense (worst case over the two hypotheses). It does not
say that some error level cannot be promised: a procedure that never auto-labels
promises every error level; it says which excess over eps_a n points can *resolve*.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from theory._validation import (
    checked,
    class_count,
    mass,
    positive,
    probability,
    tolerance,
    unit_interval,
)

_SERIES_TERMS = 60  # |z| <= 1/2: the last term is below 2^-60 / 60
_TAIL = 1e-15  # outcome mass left out of the exact computation (conservative side)
_EPS_BISECTION_STEPS = 60  # halvings of (0, 1 - eps_a]: below 1e-18 relative


def _log1p_minus_x(z: np.ndarray) -> np.ndarray:
    """ln(1 + z) - z without cancellation: its Taylor series for |z| <= 1/2."""
    small = np.abs(z) <= 0.5
    zs = np.where(small, z, 0.0)
    series = np.zeros_like(zs)
    for j in range(_SERIES_TERMS, 1, -1):  # Horner: sum_{j>=2} (-1)^(j+1) z^j / j
        series = zs * ((-1.0) ** (j + 1) / j + series)
    series = zs * series
    with np.errstate(invalid="ignore"):
        direct = np.log1p(np.where(small, 0.0, z)) - np.where(small, 0.0, z)
    return np.where(small, series, direct)


def kl_bernoulli(p: ArrayLike, q: ArrayLike) -> np.ndarray:
    """KL divergence KL(Ber(p) || Ber(q)) in nats (SPEC section 11, lower bound).

    KL = p ln(p/q) + (1 - p) ln((1 - p)/(1 - q)), with 0 ln 0 = 0; +inf when Ber(p)
    puts mass where Ber(q) has none (q = 0 < p or q = 1 > p).

    Precision: for p close to q the two terms are each of order |p - q| and cancel to
    order (p - q)^2. There, with x = p - q,
        KL = x^2 / (q (1 - q)) + p L(x / q) + (1 - p) L(-x / (1 - q)),
    L(z) = ln(1 + z) - z by its series: every term is of order x^2, so the relative
    error stays near machine precision (1e-15 at x = 1e-8, where the direct form loses
    two digits). Elsewhere p ln(1 + x/q) + (1 - p) ln(1 - x/(1 - q)) through
    `scipy.special.xlogy` and `xlog1py` (no cancellation when |x| is not small against
    q or 1 - q), and `scipy.special.rel_entr` at q in {0, 1}.

    Args:
        p: Parameter of the first Bernoulli, in [0, 1].
        q: Parameter of the second Bernoulli, in [0, 1], broadcast against p.

    Returns:
        KL, float64 in [0, inf], of the broadcast shape.

    Raises:
        ValueError: if p or q is outside [0, 1].
    """
    p, q = np.broadcast_arrays(unit_interval("p", p), unit_interval("q", q))
    x = p - q
    near = (np.abs(x) <= 0.5 * q) & (np.abs(x) <= 0.5 * (1.0 - q)) & (q > 0) & (q < 1)
    qn = np.where(near, q, 0.5)
    xn = np.where(near, x, 0.0)
    pn = qn + xn
    close = (
        xn**2 / (qn * (1.0 - qn))
        + pn * _log1p_minus_x(xn / qn)
        + (1.0 - pn) * _log1p_minus_x(-xn / (1.0 - qn))
    )
    inside = (q > 0) & (q < 1)
    qi = np.where(inside, q, 0.5)
    xi = np.where(inside, x, 0.0)
    far = special.xlogy(qi + xi, 1.0 + xi / qi) + special.xlog1py(
        1.0 - qi - xi, -xi / (1.0 - qi)
    )
    edge = special.rel_entr(p, q) + special.rel_entr(1.0 - p, 1.0 - q)
    far = np.where(inside, far, edge)
    return np.maximum(np.where(near, close, far), 0.0)[()]


def _hypotheses(eps: ArrayLike, eps_a: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Checks eps > 0, eps_a in [0, 1) and eps_a + eps <= 1; returns both as float64."""
    eps = positive("eps", eps)
    eps_a = tolerance("eps_a", eps_a)
    checked("eps_a + eps", eps_a + eps, lambda x: x <= 1, "be <= 1")
    return eps, eps_a


def two_point_kl(eps: ArrayLike, eps_a: ArrayLike = 0.01) -> np.ndarray:
    """Per-region-point divergence of the two hypotheses, the smaller KL direction.

    KL2(eps, eps_a) = min(KL(Ber(eps_a + eps) || Ber(eps_a)),
                          KL(Ber(eps_a) || Ber(eps_a + eps)))   (README section 2).

    For eps_a = 0 it equals KL(Ber(0) || Ber(eps)) = -ln(1 - eps) (the other direction
    is +inf). For small eps both directions are ~ eps^2 / (2 eps_a (1 - eps_a)); for
    eps_a < 1/2 KL(Ber(eps_a) || Ber(eps_a + eps)) is the smaller one. Increasing in
    eps.

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


def bretagnolle_huber_log_term(delta: ArrayLike) -> np.ndarray:
    """ln(1 / (4 delta (1 - delta))) for delta < 1/2, else 0 (README section 2, step 3).

    The KL a test needs for both error probabilities <= delta: from
    TV <= sqrt(1 - exp(-KL)) and P0(refuse) + P1(certify) >= 1 - TV. Computed as
    -log1p(-(1 - 2 delta)^2), since 4 delta (1 - delta) = 1 - (1 - 2 delta)^2.

    Args:
        delta: Allowed failure probability, in (0, 1).

    Returns:
        The log term, float64 >= 0, of delta's shape.

    Raises:
        ValueError: if delta is outside (0, 1).
    """
    delta = probability("delta", delta)
    with np.errstate(divide="ignore"):
        term = -np.log1p(-((1.0 - 2.0 * delta) ** 2))
    return np.where(delta < 0.5, term, 0.0)[()]


def failure_probability_lower_bound(
    n: ArrayLike, eps: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """Smallest worst-case failure probability any procedure can have with n points.

    P_fail >= (1 - sqrt(1 - exp(-n p0 KL2(eps, eps_a)))) / 2   (README section 2).

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
        The lower bound on max(P_H0(fail), P_H1(fail)), float64 in [0, 1/2], of the
        broadcast shape.

    Raises:
        ValueError: on n <= 0, eps <= 0, p0 outside (0, 1], eps_a outside [0, 1) or
            eps_a + eps > 1.
    """
    kl = positive("n", n) * mass("p0", p0) * two_point_kl(eps, eps_a)
    return (0.5 * (1.0 - np.sqrt(-np.expm1(-kl))))[()]


def validation_lower_bound(
    eps: ArrayLike, delta: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """Validation points needed to certify the tolerance with resolution eps.

    n >= ln(1 / (4 delta (1 - delta))) / (p0 KL2(eps, eps_a)), and 0 when
    delta >= 1/2 (Bretagnolle-Huber; SPEC section 11; README section 2).

    Any procedure that, with probability >= 1 - delta, auto-labels a region of mass p0
    whose error is eps_a and refuses it when its error is eps_a + eps needs at least
    this many iid validation points. It grows like 1/eps^2 for eps << eps_a (the
    "pitfall") and like 1/eps when eps_a = 0. A real-valued threshold; about a third of
    the exact minimax value (`exact_lower_bound`) at delta = 0.05.

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
    divergence = two_point_kl(eps, eps_a)
    return (bretagnolle_huber_log_term(delta) / (mass("p0", p0) * divergence))[()]


def validation_lower_bound_closed_form(
    eps: ArrayLike, delta: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """A closed-form relaxation of `validation_lower_bound`, itself a lower bound.

    n >= ln(1 / (4 delta (1 - delta))) / (p0 K),
    K = min(eps^2 / (2 m), eps^2 / (eps_a (1 - eps_a)),
            eps^2 / ((eps_a + eps) (1 - eps_a - eps))),
    m = min(eps_a (1 - eps_a), (eps_a + eps) (1 - eps_a - eps))   (README section 2).

    K >= KL2: the first from KL(p || q) = int_p^q (s - p) / (s (1 - s)) ds
    <= (q - p)^2 / (2 min s(1 - s)) (s(1 - s) is concave, so its minimum on the
    interval is at an end), the others from KL <= chi^2 in each direction. So this never
    exceeds `validation_lower_bound`, shows the 1/eps^2 law explicitly,
    ~ 2 eps_a (1 - eps_a) ln(1/(4 delta (1 - delta))) / (p0 eps^2), and is
    asymptotically equal to it as eps -> 0 (at eps_a = 0: ~ ln(...) (1 - eps) / (p0 eps)).

    Args:
        eps: Excess error to be ruled out, > 0, with eps_a + eps <= 1.
        delta: Allowed failure probability, in (0, 1).
        p0: Mass of the region, in (0, 1].
        eps_a: The tolerance (error under H0), in [0, 1).

    Returns:
        The lower bound on n, float64 >= 0, of the broadcast shape.

    Raises:
        ValueError: on the same inputs as `validation_lower_bound`.
    """
    eps, eps_a = _hypotheses(eps, eps_a)
    h0, h1 = eps_a * (1.0 - eps_a), (eps_a + eps) * (1.0 - eps_a - eps)
    with np.errstate(divide="ignore"):
        k = np.minimum(eps**2 / (2.0 * np.minimum(h0, h1)), eps**2 / np.maximum(h0, h1))
    return (bretagnolle_huber_log_term(delta) / (mass("p0", p0) * k))[()]


def multiclass_validation_lower_bound(
    eps: ArrayLike, delta: float, p0_per_class: ArrayLike, eps_a: float = 0.01
) -> float:
    """Validation points needed to decide k class regions at once (README section 2).

    n >= max( ln(1/(4 delta (1 - delta))) / (min_y p_y KL2),
              ((1 - delta) ln k - ln 2) / (mean_y p_y KL2) ).

    k disjoint regions (one per class) of masses p_y; the procedure must, with
    probability >= 1 - delta, certify every region of error eps_a and refuse every
    region of error eps_a + eps. The first term is the two-point bound on the smallest
    region. The second is Fano's inequality over the k hypotheses "region j alone is
    bad" (KL(P_j || all good) = n p_j KL(Ber(eps_a + eps) || Ber(eps_a))) and "region j
    alone is good" (the other KL direction); either family must be decided, so the
    smaller divergence counts: the ln k factor a k-class certificate pays.

    Args:
        eps: Excess error to be ruled out, > 0, with eps_a + eps <= 1.
        delta: Allowed failure probability, in (0, 1).
        p0_per_class: Masses p_y of the k >= 1 class regions, each in (0, 1].
        eps_a: The tolerance (error under H0), in [0, 1).

    Returns:
        The lower bound on n, a float >= 0.

    Raises:
        ValueError: on inputs outside their ranges.
    """
    masses = np.atleast_1d(mass("p0_per_class", p0_per_class)).ravel()
    k = float(class_count("k", masses.size))
    delta = float(probability("delta", delta))
    divergence = float(two_point_kl(eps, eps_a))
    two_point = float(bretagnolle_huber_log_term(delta)) / (masses.min() * divergence)
    fano = max((1.0 - delta) * np.log(k) - np.log(2.0), 0.0) / (
        masses.mean() * divergence
    )
    return max(two_point, fano)


def _outcome_masses(
    n: int, p0: float, eps_a: float, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """P0(x), P1(x) over the plausible outcomes x = (m, w): M ~ Bin(n, p0) points in
    the region, W | M ~ Bin(M, eps_a) (H0) or Bin(M, eps_a + eps) (H1) wrong among
    them. Outcomes of mass below _TAIL under both are left out, so the minimax error
    computed from the rest is never too large (at most _TAIL too small)."""
    if p0 >= 1.0:
        m = np.array([n])
    else:
        lo, hi = stats.binom.ppf([_TAIL, 1.0 - _TAIL], n, p0)
        m = np.arange(max(int(lo) - 1, 0), min(int(hi) + 1, n) + 1)
    w_max = stats.binom.ppf(1.0 - _TAIL, m.max(), eps_a + eps) + 1
    w = np.arange(min(int(w_max), m.max()) + 1)
    m_mass = stats.binom.pmf(m, n, p0)[:, None]
    good = m_mass * stats.binom.pmf(w, m[:, None], eps_a)
    bad = m_mass * stats.binom.pmf(w, m[:, None], eps_a + eps)
    return good.ravel(), bad.ravel()


def minimax_test_error(n: int, eps_a: float, eps: float, p0: float = 1.0) -> float:
    """The smallest achievable max(P(certify | error eps_a + eps), P(refuse | error
    eps_a)) with n validation points (README section 2, the exact value).

    The two hypotheses give laws P0, P1 on the observation (M, W): M ~ Bin(n, p0)
    points in the region (the same under both), W | M ~ Bin(M, eps_a) or
    Bin(M, eps_a + eps) wrong among them. Over randomised tests, by the minimax theorem,
        min_test max(alpha, beta) = max_{l in [0, 1]} sum_x min(l P0(x), (1 - l) P1(x)),
    a concave, piecewise linear function of l whose maximum sits at a breakpoint
    l = P1(x) / (P0(x) + P1(x)); all are evaluated at once after sorting. At p0 = 1 this
    is the randomised likelihood-ratio test of Bin(n, eps_a) against
    Bin(n, eps_a + eps).
    """
    good, bad = _outcome_masses(n, p0, eps_a, eps)
    seen = (good + bad) > 0
    good, bad = good[seen], bad[seen]
    breakpoints = bad / (good + bad)
    order = np.argsort(breakpoints, kind="stable")
    lam, good, bad = breakpoints[order], good[order], bad[order]
    bad_before = np.concatenate([[0.0], np.cumsum(bad)[:-1]])
    good_from = np.cumsum(good[::-1])[::-1]
    return float(np.max(lam * good_from + (1.0 - lam) * bad_before))


def exact_lower_bound(eps_a: float, eps: float, delta: float, p0: float = 1.0) -> int:
    """The smallest validation size with which some procedure certifies a region of
    error eps_a and refuses one of error eps_a + eps, each with failure probability at
    most delta: the exact two-point (minimax) bound (README section 2).

    The smallest n with `minimax_test_error`(n, eps_a, eps, p0) <= delta, by doubling
    and bisection (the error does not grow with n: a test may ignore points).
    Bretagnolle-Huber (`validation_lower_bound`) is a lower bound on it.

    Examples (delta = 0.05, p0 = 1): eps_a = eps = 0.01: 1556; eps_a = eps = 0.1: 134;
    eps_a = 0, eps = 0.01: 293.

    p0 < 1: the n validation points are thinned, only Bin(n, p0) of them land in the
    region, and the count is observed (it carries no information on the error). The
    result is exact for this thinned experiment; it is close to, but not the same as,
    (result at p0 = 1) / p0 (585 rather than 586 at eps_a = 0, eps = 0.01, p0 = 1/2).
    Outcomes of total mass below 1e-15 are ignored, which can only lower the result.
    0 when delta >= 1/2 (a coin toss errs with probability 1/2 either way).
    """
    eps_a = float(tolerance("eps_a", eps_a))
    eps = float(positive("eps", eps))
    delta = float(probability("delta", delta))
    p0 = float(mass("p0", p0))
    if eps_a + eps > 1.0:
        raise ValueError(f"eps_a + eps = {eps_a + eps:g} exceeds 1")
    if delta >= 0.5:
        return 0
    hi = 1
    while minimax_test_error(hi, eps_a, eps, p0) > delta:
        hi *= 2
    lo = hi // 2  # error(lo) > delta, or lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if minimax_test_error(mid, eps_a, eps, p0) > delta:
            lo = mid
        else:
            hi = mid
    return hi


def exact_resolvable_excess(
    n: int, eps_a: float, delta: float, p0: float = 1.0
) -> float:
    """The smallest excess over eps_a that n validation points can resolve: the eps at
    which `minimax_test_error`(n, eps_a, eps, p0) falls to delta (README section 2).

    For every smaller excess, no procedure using n iid validation points can both
    certify a region of error eps_a and refuse one of error eps_a + eps with failure
    probability <= delta. Bisection in eps to 1e-18 relative; +inf when even
    eps = 1 - eps_a cannot be resolved, 0 when delta >= 1/2.
    """
    eps_a = float(tolerance("eps_a", eps_a))
    delta = float(probability("delta", delta))
    n = int(positive("n", n))
    if delta >= 0.5:
        return 0.0
    low, high = 0.0, 1.0 - eps_a
    if minimax_test_error(n, eps_a, high, p0) > delta:
        return float("inf")
    for _ in range(_EPS_BISECTION_STEPS):  # error(high) <= delta < error(low)
        middle = 0.5 * (low + high)
        if minimax_test_error(n, eps_a, middle, p0) <= delta:
            high = middle
        else:
            low = middle
    return high
