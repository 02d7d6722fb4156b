"""Lower bounds on the validation data needed to certify an error (algorithm.md section 11).

Le Cam's two-point method: the sharp Bretagnolle-Huber form, its closed-form chi-square
relaxation and a k-class (Fano) form; the exact minimax value of the two-point test on
binomials is in `theory.exact`, the divergences in `theory.divergence`. Derivations in
theory/README.md, section 2. Symbols, shared by every function here:
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

from theory._validation import checked, count, hypotheses, mass, probability
from theory.divergence import two_point_kl


def _points(needed: np.ndarray, per_point: np.ndarray) -> np.ndarray:
    """needed / per_point information, the points a bound asks for: 0 where nothing
    is needed (needed <= 0), +inf where the per-point KL underflows to 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(needed > 0, needed / per_point, 0.0)


def bretagnolle_huber_log_term(delta: ArrayLike) -> np.ndarray:
    """ln(1 / (4 delta (1 - delta))) for delta < 1/2, else 0 (README section 2, step 3).

    The KL a test needs for both error probabilities <= delta: from
    TV <= sqrt(1 - exp(-KL)) and P0(refuse) + P1(certify) >= 1 - TV. Computed without
    cancellation: as -ln 4 - ln delta - log1p(-delta) below delta = 0.1 (relative error
    ~1e-16 down to the smallest float, 5e-324, where 4 delta (1 - delta) itself would
    lose digits or underflow), and as -log1p(-(1 - 2 delta)^2) above, accurate near
    1/2 where the logs cancel (4 delta (1 - delta) = 1 - (1 - 2 delta)^2).

    Args:
        delta: Allowed failure probability, in (0, 1).

    Returns:
        The log term, float64 >= 0, of delta's shape.

    Raises:
        ValueError: if delta is outside (0, 1).
    """
    delta = probability("delta", delta)
    small = np.minimum(delta, 0.1)
    logs = -np.log(4.0) - np.log(small) - np.log1p(-small)
    with np.errstate(divide="ignore"):
        central = -np.log1p(-((1.0 - 2.0 * delta) ** 2))
    return np.where(delta < 0.1, logs, np.where(delta < 0.5, central, 0.0))[()]


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
        n: Number of validation points, an integer >= 1.
        eps: Excess error of H1, > 0, with eps_a + eps <= 1.
        p0: Mass of the region, in (0, 1].
        eps_a: Error of H0 (the tolerance), in [0, 1).

    Returns:
        The lower bound on max(P_H0(fail), P_H1(fail)), float64 in [0, 1/2], of the
        broadcast shape.

    Raises:
        ValueError: on n not an integer >= 1, eps outside (0, 1], p0 outside (0, 1],
            eps_a outside [0, 1) or eps_a + eps > 1.
    """
    kl = count("n", n) * mass("p0", p0) * two_point_kl(eps, eps_a)
    return (0.5 * (1.0 - np.sqrt(-np.expm1(-kl))))[()]


def validation_lower_bound(
    eps: ArrayLike, delta: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """Validation points needed to certify the tolerance with resolution eps.

    n >= ln(1 / (4 delta (1 - delta))) / (p0 KL2(eps, eps_a)), and 0 when
    delta >= 1/2 (Bretagnolle-Huber; algorithm.md section 11; README section 2).

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
        ValueError: on eps outside (0, 1], delta outside (0, 1), p0 outside (0, 1], eps_a
            outside [0, 1) or eps_a + eps > 1.
    """
    divergence = two_point_kl(eps, eps_a)
    return _points(bretagnolle_huber_log_term(delta), mass("p0", p0) * divergence)[()]


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
    eps, eps_a = hypotheses(eps, eps_a)
    h0, h1 = eps_a * (1.0 - eps_a), (eps_a + eps) * (1.0 - eps_a - eps)
    with np.errstate(divide="ignore"):
        k = np.minimum(eps**2 / (2.0 * np.minimum(h0, h1)), eps**2 / np.maximum(h0, h1))
    return _points(bretagnolle_huber_log_term(delta), mass("p0", p0) * k)[()]


def multiclass_validation_lower_bound(
    eps: ArrayLike, delta: ArrayLike, p0_per_class: ArrayLike, eps_a: ArrayLike = 0.01
) -> np.ndarray:
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
        p0_per_class: Masses p_y of the k >= 1 class regions, shape (..., k) (the
            last axis runs over the classes; a scalar is one class), each in (0, 1];
            the regions are disjoint, so each row sums to at most 1 (less when part of
            the space is in no region).
        eps_a: The tolerance (error under H0), in [0, 1).

    Returns:
        The lower bound on n, float64 >= 0, of the broadcast shape of eps, delta,
        eps_a and p0_per_class's leading axes (...).

    Raises:
        ValueError: on inputs outside their ranges, or masses summing to more than 1.
    """
    masses = np.atleast_1d(mass("p0_per_class", p0_per_class))
    total = masses.sum(axis=-1)
    checked("p0_per_class", total, lambda t: t <= 1 + 1e-9, "sum to at most 1")
    divergence = two_point_kl(eps, eps_a)
    delta = probability("delta", delta)
    fano = (1.0 - delta) * np.log(masses.shape[-1]) - np.log(2.0)
    two_point = _points(bretagnolle_huber_log_term(delta), masses.min(-1) * divergence)
    return np.maximum(two_point, _points(fano, masses.mean(-1) * divergence))[()]
