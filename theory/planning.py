"""Planning inverses: validation size <-> guaranteed or detectable excess (SPEC 11).

Questions a practitioner asks before paying annotators:
  * `validation_size_for_upper_bound`: how many validation points make the upper bound's
    validation term (1/p0) eps_dev(n_v) at most a target excess over eps_a?
  * `upper_bound_excess_for_validation_size`: the converse, that term at a given n_v.
  * `detectable_excess_for_validation_size`: with n validation points, below which
    excess over eps_a can no procedure tell the region's error apart from eps_a
    (the converse of `theory.lower_bound.validation_lower_bound`)?
The upper-bound side uses the VC capacity `vc_complexity` of the reference notebook.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

from theory._validation import mass, positive, probability, tolerance
from theory.complexity import vc_complexity
from theory.lower_bound import two_point_kl
from theory.upper_bound import validation_term

_N_MAX = 2.0**53  # largest n searched: integers are exact in float64 up to here
_EPS_BISECTION_STEPS = 128  # halvings of (0, 1 - eps_a]: far below float64 resolution


def upper_bound_excess_for_validation_size(
    n_v: ArrayLike,
    delta: ArrayLike,
    d: ArrayLike = 30,
    p0: ArrayLike = 1.0,
    n_classes: int = 1,
) -> np.ndarray:
    """Excess over eps_a that the upper bound's validation term guarantees at n_v.

    excess(n_v) = (1/p0) sqrt((C_VC(n_v) + ln(k / delta)) / n_v),
    C_VC(n) = max(d ln(n/d), min(n, d) ln 2)

    (`theory.upper_bound.validation_term` with `vc_complexity`; SPEC section 11). The
    assumptions are those of the upper bound: iid validation from the pool's
    distribution, p0 lower-bounds the auto-labeled region's mass, delta / k per class.

    Args:
        n_v: Validation points (> 0), any shape.
        delta: Failure probability, in (0, 1).
        d: VC dimension (> 0).
        p0: Lower bound on the auto-labeled region's mass, in (0, 1].
        n_classes: k, number of classes in the union bound (integer >= 1).

    Returns:
        The excess, float64, of the broadcast shape.

    Raises:
        ValueError: on any input outside its range.
    """
    n_v = positive("n_v", n_v)
    return validation_term(n_v, partial(vc_complexity, d=d), delta, p0, n_classes)


def _first_integer_at_most(
    excess: Callable[[np.ndarray], np.ndarray],
    target: np.ndarray,
    decreasing_from: np.ndarray,
) -> np.ndarray:
    """Smallest integer n in [1, _N_MAX] with excess(n) <= target, elementwise (or inf).

    excess must be vectorised and non-increasing on the integers >= decreasing_from.
    Below decreasing_from every integer is tried at once; from there on, bisection.
    """
    head_end = max(float(np.max(decreasing_from)), 2.0)  # at least n = 1, for argmax
    head = np.arange(1.0, head_end).reshape((-1,) + (1,) * target.ndim)
    in_head = (excess(head) <= target) & (head < decreasing_from)
    head_first = np.where(in_head.any(axis=0), np.argmax(in_head, axis=0) + 1.0, np.inf)

    low = decreasing_from.astype(np.float64)
    high = np.full(target.shape, _N_MAX)
    reachable = excess(high) <= target
    # invariant: the first n that meets the target (if reachable) lies in [low, high]
    while np.any(low < high):
        middle = np.floor((low + high) / 2.0)
        below = excess(middle) <= target
        high = np.where(below, middle, high)
        low = np.where(below, low, middle + 1.0)
    tail_first = np.where(reachable, high, np.inf)
    return np.minimum(head_first, tail_first)


def validation_size_for_upper_bound(
    target_excess: ArrayLike,
    delta: ArrayLike,
    d: ArrayLike = 30,
    p0: ArrayLike = 1.0,
    n_classes: int = 1,
) -> np.ndarray:
    """Smallest n_v whose upper-bound validation term is at most target_excess.

    n_v* = min{n in {1, 2, ...} : `upper_bound_excess_for_validation_size`(n) <= target}
    (SPEC section 11; same assumptions as the upper bound).

    Monotonicity, handled exactly: with L = ln(k / delta) >= 0 the squared term
    (C_VC(n) + L) / n decreases for n <= 2 d (floor regime), has derivative of the
    sign of d - d ln(n/d) - L for n >= 2 d, so it may rise up to n = d e^(1 - L/d),
    and it decreases for every n >= d e. The integers below ceil(d e) are all
    evaluated at once; on the decreasing range from ceil(d e) on, integer bisection
    finds the first n that meets the target. The answer is the smaller of the two,
    hence the exact minimum. The search stops at 2^53 (float64 integer range):
    beyond that the result is +inf.

    Args:
        target_excess: Allowed excess over eps_a from the validation term, > 0.
        delta: Failure probability, in (0, 1).
        d: VC dimension (> 0).
        p0: Lower bound on the auto-labeled region's mass, in (0, 1].
        n_classes: k, number of classes in the union bound (integer >= 1).

    Returns:
        n_v*, float64 holding integers (+inf if beyond 2^53), of the broadcast shape.
        Memory and time grow with d e (the evaluated head) times the output size.

    Raises:
        ValueError: on any input outside its range.
    """
    target, delta, d, p0 = np.broadcast_arrays(
        positive("target_excess", target_excess),
        probability("delta", delta),
        positive("d", d),
        mass("p0", p0),
    )
    n_v = _first_integer_at_most(
        lambda n: upper_bound_excess_for_validation_size(n, delta, d, p0, n_classes),
        target,
        np.ceil(np.e * d),
    )
    return n_v[()]


def detectable_excess_for_validation_size(
    n: ArrayLike, delta: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """Smallest excess over eps_a that n validation points can possibly certify.

    eps*(n) = inf{eps in (0, 1 - eps_a] : validation_lower_bound(eps) <= n}
            = the eps where n p0 KL2(eps, eps_a) = ln(1 / (4 delta))

    (SPEC section 11; README derivation). For every eps < eps*, the lower bound exceeds
    n: no procedure using n iid validation points can, with failure probability
    <= delta, auto-label a region of mass p0 and error eps_a while refusing one of error
    eps_a + eps. So eps* is the excess error that n points cannot rule out. Found by
    bisection in eps (KL2 is increasing in eps), vectorised; accurate to float64
    resolution. 0 when delta >= 1/4 (the lower bound is then vacuous); +inf when even
    eps = 1 - eps_a is below the resolution, i.e. n p0 ln(1/eps_a) < ln(1/(4 delta)).

    Args:
        n: Validation points (> 0).
        delta: Required failure probability, in (0, 1).
        p0: Mass of the region, in (0, 1].
        eps_a: The tolerance (error under H0), in [0, 1).

    Returns:
        eps*, float64, of the broadcast shape.

    Raises:
        ValueError: on n <= 0, delta outside (0, 1), p0 outside (0, 1] or eps_a outside
            [0, 1).
    """
    needed_kl = np.log(1.0 / (4.0 * probability("delta", delta))) / (
        positive("n", n) * mass("p0", p0)
    )
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
