"""Planning inverses: validation size <-> guaranteed or detectable excess (algorithm.md section 11).

Questions a practitioner asks before paying annotators:
  * `validation_size_for_upper_bound`: how many validation points make the upper bound's
    validation term (1/p0) eps_dev(n_v) at most a target excess over eps_a?
  * `upper_bound_excess_for_validation_size`: the converse, that term at a given n_v.
  * `detectable_excess_for_validation_size`: with n validation points, below which
    excess over eps_a can no procedure tell the region's error apart from eps_a
    (the converse of `theory.lower_bound.validation_lower_bound`)?
The upper-bound side uses the general form's validation term (`theory.upper_bound`,
the ratio argument) with the full Sauer capacity `sauer_complexity`, which makes it
non-increasing in n_v, so the inverse is a plain bisection. The lower-bound side uses the
Bretagnolle-Huber form; `theory.exact.exact_resolvable_excess` is its exact value.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from theory._deprecation import former_order
from theory._validation import count, mass, positive, probability, tolerance
from theory.complexity import sauer_complexity
from theory.divergence import two_point_kl
from theory.lower_bound import bretagnolle_huber_log_term
from theory.upper_bound import validation_term

_N_MAX = 2.0**53  # largest n searched: integers are exact in float64 up to here
_EPS_BISECTION_STEPS = 128  # halvings of (0, 1 - eps_a]: far below float64 resolution


@former_order("d", "p0", "n_classes", "eps_a")
def upper_bound_excess_for_validation_size(
    n_v: ArrayLike,
    delta: ArrayLike,
    *,
    p0: ArrayLike = 1.0,
    eps_a: ArrayLike = 0.0,
    d: ArrayLike = 30,
    n_classes: ArrayLike = 1,
) -> np.ndarray:
    """Excess over eps_a that the general upper bound's validation term guarantees.

    excess(n_v) = (1 + eps_a) sqrt((C_S(n_v) + ln(2 k / delta)) / n_v) / p0,
    C_S(n) = ln sum_{i <= d} binom(n, i)

    (`theory.upper_bound.validation_term` with `sauer_complexity`; algorithm.md section 11). The
    assumptions are those of the upper bound: iid validation from the pool's
    distribution, p0 lower-bounds the auto-labeled region's true mass, delta / k per
    class. Keyword-only arguments after delta; the former order
    (n_v, delta, d, p0, n_classes, eps_a) still works, with a DeprecationWarning.

    Args:
        n_v: Validation points (integer >= 1), any shape.
        delta: Failure probability of the validation side, in (0, 1).
        p0: Lower bound on the auto-labeled region's mass, in (0, 1].
        eps_a: Tolerance TBAL targets, in [0, 1).
        d: VC dimension of the class of regions (integer >= 1).
        n_classes: k, number of classes in the union bound (integer >= 1).

    Returns:
        The excess, float64, of the broadcast shape.

    Raises:
        ValueError: on any input outside its range.
    """
    n_v = count("n_v", n_v)
    return validation_term(
        n_v, partial(sauer_complexity, d=d), delta, p0, eps_a=eps_a, n_classes=n_classes
    )


@former_order("d", "p0", "n_classes", "eps_a")
def validation_size_for_upper_bound(
    target_excess: ArrayLike,
    delta: ArrayLike,
    *,
    p0: ArrayLike = 1.0,
    eps_a: ArrayLike = 0.0,
    d: ArrayLike = 30,
    n_classes: ArrayLike = 1,
) -> np.ndarray:
    """Smallest n_v whose upper-bound validation term is at most target_excess.

    n_v* = min{n in {1, 2, ...} : `upper_bound_excess_for_validation_size`(n) <= target}
    (algorithm.md section 11; same assumptions as the upper bound).

    The term is non-increasing in n (`sauer_complexity`: (C_S(n) + L) / n does not grow
    for L >= 0), so the first integer that meets the target is found by integer
    bisection, and every larger n meets it too. (The reference's d ln(n/d) is not
    monotone: target 0.61 at d = 30 gave n = 60 though 63..101 violate it.) The search
    stops at 2^53 (float64 integer range): beyond that the result is +inf.
    Keyword-only arguments after delta; the former order
    (target_excess, delta, d, p0, n_classes, eps_a) still works, with a
    DeprecationWarning.

    Args:
        target_excess: Allowed excess over eps_a from the validation term, finite
            and > 0.
        delta: Failure probability of the validation side, in (0, 1).
        p0: Lower bound on the auto-labeled region's mass, in (0, 1].
        eps_a: Tolerance TBAL targets, in [0, 1).
        d: VC dimension of the class of regions (integer >= 1).
        n_classes: k, number of classes in the union bound (integer >= 1).

    Returns:
        n_v*, float64 holding integers (+inf if beyond 2^53), of the broadcast shape.

    Raises:
        ValueError: on any input outside its range.
    """
    target, delta, p0, eps_a, d, n_classes = np.broadcast_arrays(
        positive("target_excess", target_excess),
        probability("delta", delta),
        mass("p0", p0),
        tolerance("eps_a", eps_a),
        count("d", d),
        count("n_classes", n_classes),
    )

    def excess(n: np.ndarray) -> np.ndarray:
        return upper_bound_excess_for_validation_size(
            n, delta, p0=p0, eps_a=eps_a, d=d, n_classes=n_classes
        )

    low, high = np.ones(target.shape), np.full(target.shape, _N_MAX)
    reachable = excess(high) <= target
    while np.any(low < high):  # the first n meeting the target lies in [low, high]
        middle = np.floor((low + high) / 2.0)
        below = excess(middle) <= target
        high = np.where(below, middle, high)
        low = np.where(below, low, middle + 1.0)
    return np.where(reachable, high, np.inf)[()]


def detectable_excess_for_validation_size(
    n: ArrayLike, delta: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """Smallest excess over eps_a that n validation points can possibly certify.

    eps*(n) = inf{eps in (0, 1 - eps_a] : validation_lower_bound(eps) <= n}
            = the eps where n p0 KL2(eps, eps_a) = ln(1 / (4 delta (1 - delta)))

    (algorithm.md section 11; README derivation). For every eps < eps*, the lower bound exceeds
    n: no procedure using n iid validation points can, with failure probability
    <= delta, auto-label a region of mass p0 and error eps_a while refusing one of error
    eps_a + eps. So eps* is the excess error that n points cannot rule out. Found by
    bisection in eps (KL2 is increasing in eps), vectorised; accurate to float64
    resolution. 0 when delta >= 1/2 (the lower bound is then vacuous); +inf when even
    eps = 1 - eps_a is below the resolution, i.e. n p0 ln(1/eps_a) < the log term.
    Bretagnolle-Huber, hence below the exact `exact_resolvable_excess`.

    Args:
        n: Validation points (integer >= 1).
        delta: Required failure probability, in (0, 1).
        p0: Mass of the region, in (0, 1].
        eps_a: The tolerance (error under H0), in [0, 1).

    Returns:
        eps*, float64, of the broadcast shape.

    Raises:
        ValueError: on n not an integer >= 1, delta outside (0, 1), p0 outside (0, 1]
            or eps_a outside [0, 1).
    """
    needed_kl = bretagnolle_huber_log_term(delta) / (count("n", n) * mass("p0", p0))
    eps_a = tolerance("eps_a", eps_a)
    needed_kl, eps_a = np.broadcast_arrays(needed_kl, eps_a)
    low, high = np.zeros(eps_a.shape), 1.0 - eps_a
    reachable = two_point_kl(high, eps_a) >= needed_kl
    for _ in range(_EPS_BISECTION_STEPS):  # invariant: KL2(high) >= needed > KL2(low)
        middle = (low + high) / 2.0
        enough = two_point_kl(middle, eps_a) >= needed_kl
        high = np.where(enough, middle, high)
        low = np.where(enough, low, middle)
    return np.where(needed_kl <= 0, 0.0, np.where(reachable, high, np.inf))[()]
