"""Upper bounds on TBAL's auto-labeling error (SPEC section 11, upper bound).

Shape of the bound (the paper's exact theorem was not available; SPEC section 11): with
high probability the auto-labeling error of a round is at most

    eps_a + (1/p0) * eps_dev(n_val) + eps_dev(n_auto),

with eps_dev the uniform deviation of `theory.complexity.uniform_deviation`.

Symbols and assumptions, shared by every function here:
    eps_a: the tolerance TBAL targets (the threshold is chosen so that the validation
        estimate of the error above it is at most eps_a).
    n_val: validation points used in the round; they are iid from the same
        distribution as the round's remaining unlabeled pool (SPEC section 2 removes
        used validation points to keep this true).
    p0: a lower bound on the probability mass of the auto-labeled region under that
        distribution; the validation term is inflated by 1/p0 because the conditional
        error of the region is estimated from the ~p0 * n_val points that fall in it.
    n_auto: points auto-labeled in the round; the last term bounds the gap between
        their empirical error and the region's conditional error.
    delta: each of the two deviation terms holds with probability >= 1 - delta (as in
        the reference instantiation), so the bound holds with probability
        >= 1 - 2 delta by a union bound; pass delta / 2 for an overall 1 - delta.
    n_classes: TBAL picks one threshold per class; a union bound over k classes uses
        delta / k in every deviation term.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from theory._validation import (
    class_count,
    mass,
    nonnegative,
    positive,
    probability,
    tolerance,
)
from theory.complexity import Complexity, uniform_deviation, vc_complexity


def _class_deviation(
    n: np.ndarray, complexity: Complexity, delta: ArrayLike, n_classes: int
) -> np.ndarray:
    """eps_dev(n, C, delta / k): a deviation term, union bound over k classes."""
    delta_per_class = probability("delta", delta) / class_count("n_classes", n_classes)
    return uniform_deviation(n, complexity, delta_per_class)


def validation_term(
    n_val: ArrayLike,
    complexity: Complexity,
    delta: ArrayLike,
    p0: ArrayLike = 1.0,
    n_classes: int = 1,
) -> np.ndarray:
    """The n_val-term of the upper bound: (1/p0) * eps_dev(n_val, C, delta / k).

    This is the part of the bound that validation data pays for (module docstring for
    the symbols and assumptions; SPEC section 11).

    Args:
        n_val: Validation points (> 0), any shape.
        complexity: Capacity term C (callable n -> C(n), or its value); see
            `theory.complexity.uniform_deviation`.
        delta: Failure probability, in (0, 1).
        p0: Lower bound on the auto-labeled region's mass, in (0, 1].
        n_classes: k, number of classes in the union bound (integer >= 1).

    Returns:
        The term, float64, of the broadcast shape of the inputs.

    Raises:
        ValueError: on n_val <= 0, delta outside (0, 1), p0 outside (0, 1] or k < 1.
    """
    deviation = _class_deviation(positive("n_val", n_val), complexity, delta, n_classes)
    return (deviation / mass("p0", p0))[()]


def round_error_bound(
    n_val: ArrayLike,
    n_auto: ArrayLike,
    complexity: Complexity,
    delta: ArrayLike,
    p0: ArrayLike = 1.0,
    eps_a: ArrayLike = 0.01,
    n_classes: int = 1,
) -> np.ndarray:
    """Upper bound on one round's auto-labeling error (SPEC section 11).

    B = eps_a + (1/p0) * eps_dev(n_val, C, delta/k) + eps_dev(n_auto, C, delta/k),
    eps_dev(n, C, delta) = sqrt((C(n) + ln(1/delta)) / n).

    Holds with probability >= 1 - 2 delta under the module's assumptions (iid
    validation from the round's remaining pool; p0 lower-bounds the auto-labeled
    region's mass; eps_a is the tolerance TBAL targets). A capacity given as a value
    rather than a callable is n-independent (like `rademacher_complexity`) and is used
    in both terms.

    Args:
        n_val: Validation points used in the round (> 0).
        n_auto: Points auto-labeled in the round (> 0).
        complexity: Capacity term C (callable n -> C(n), or its value).
        delta: Failure probability per deviation term, in (0, 1).
        p0: Lower bound on the auto-labeled region's mass, in (0, 1].
        eps_a: Tolerance TBAL targets, in [0, 1).
        n_classes: k, number of classes in the union bound (integer >= 1).

    Returns:
        B, float64, of the broadcast shape of the inputs.

    Raises:
        ValueError: on n_val <= 0, n_auto <= 0, delta outside (0, 1), p0 outside (0, 1],
            eps_a outside [0, 1) or k < 1.
    """
    return (
        tolerance("eps_a", eps_a)
        + validation_term(n_val, complexity, delta, p0, n_classes)
        + _class_deviation(positive("n_auto", n_auto), complexity, delta, n_classes)
    )[()]


def multi_round_upper_bound(
    n_val_per_round: ArrayLike,
    n_auto_per_round: ArrayLike,
    complexity: Complexity,
    delta: ArrayLike,
    p0: ArrayLike = 1.0,
    eps_a: ArrayLike = 0.01,
    n_classes: int = 1,
) -> np.ndarray:
    """Upper bound on a whole run's auto-labeling error from its per-round record.

    B_run = sum_i (n_auto_i / sum_j n_auto_j) * B_i,
    B_i = `round_error_bound`(n_val_i, n_auto_i, C, delta / R, p0_i, eps_a_i, k),

    over the R rounds of the record (SPEC section 11). The run's error is the
    n_auto-weighted average of the rounds' errors, so the weighted sum of round bounds
    bounds it once every round's bound holds; splitting delta evenly over the R rounds
    (and over the k classes inside each round) makes that happen with probability
    >= 1 - 2 delta. R is the length of the record's last axis, padding included, so the
    record must have a length fixed before the run (e.g. the maximum number of rounds,
    SPEC section 2); padding only makes the bound more conservative.

    Rounds with n_auto_i = 0 contribute nothing (their bound is not evaluated). A round
    with n_val_i = 0 and n_auto_i > 0 cannot happen in TBAL (no validation data, no
    threshold); if it appears, its bound and hence B_run are +inf (vacuous). A record
    in which nothing was auto-labeled gives NaN, matching the undefined auto-labeling
    error of SPEC section 1.

    Args:
        n_val_per_round: Validation points used per round, shape (..., R), >= 0.
        n_auto_per_round: Points auto-labeled per round, broadcast with
            n_val_per_round, >= 0.
        complexity: Capacity term C (callable n -> C(n), called on the counts of the
            rounds that auto-labeled; or its value, broadcastable to (..., R)).
        delta: Overall failure probability per deviation-term family, in (0, 1),
            scalar or of the batch shape (...).
        p0: Lower bound on each round's auto-labeled mass, in (0, 1], broadcastable to
            (..., R).
        eps_a: Tolerance TBAL targets, in [0, 1), broadcastable to (..., R).
        n_classes: k, number of classes in each round's union bound (integer >= 1).

    Returns:
        B_run, float64, of the batch shape (...) (the record's shape without its last
        axis, broadcast with delta).

    Raises:
        ValueError: on negative counts, a record without a rounds axis, or any of the
            parameter errors of `round_error_bound`.
    """
    n_val, n_auto = np.broadcast_arrays(
        nonnegative("n_val_per_round", n_val_per_round),
        nonnegative("n_auto_per_round", n_auto_per_round),
    )
    if n_val.ndim == 0:
        raise ValueError(
            "n_val_per_round must have a trailing rounds axis, got a scalar"
        )
    delta_per_round = np.expand_dims(probability("delta", delta), -1) / n_val.shape[-1]
    p0, eps_a = mass("p0", p0), tolerance("eps_a", eps_a)
    class_count("n_classes", n_classes)
    n_val, n_auto, delta_per_round, p0, eps_a = np.broadcast_arrays(
        n_val, n_auto, delta_per_round, p0, eps_a
    )
    evaluated = (n_auto > 0) & (n_val > 0)
    if not callable(complexity):
        capacity = np.broadcast_to(np.asarray(complexity, np.float64), n_val.shape)
        complexity = capacity[evaluated]
    # +inf stays only where a round auto-labeled without validation data
    round_bounds = np.where(n_auto > 0, np.inf, 0.0)
    round_bounds[evaluated] = round_error_bound(
        n_val[evaluated],
        n_auto[evaluated],
        complexity,
        delta_per_round[evaluated],
        p0[evaluated],
        eps_a[evaluated],
        n_classes,
    )
    total_auto = n_auto.sum(axis=-1)
    weighted = (n_auto * round_bounds).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total_auto > 0, weighted / total_auto, np.nan)[()]


def reference_upper_bound(
    n_v: ArrayLike,
    d: ArrayLike = 30,
    delta: ArrayLike = 0.3,
    p0: ArrayLike = 1.0,
    n_a: ArrayLike = 10000,
    eps: ArrayLike = 0.01,
) -> np.ndarray:
    """The reference notebook's instantiation of the bound (SPEC section 11).

    B(n_v) = (1/p0) sqrt((d ln(n_v/d) + ln(1/delta)) / n_v)
             + sqrt((d ln(n_a/d) + ln(1/delta)) / n_a) + eps,

    i.e. `round_error_bound` with the VC capacity `vc_complexity` (d = VC dimension;
    its floor is inactive for n >= 2 d, which covers the published values), one class
    and eps = eps_a. At n_v = 100, 400, 800, ..., 4000 with the defaults it gives
    0.7534, 0.5866, 0.4955, 0.4478, 0.4169, 0.3947, 0.3776, 0.3639, 0.3526, 0.3430,
    0.3348.

    Args:
        n_v: Validation points (> 0), any shape.
        d: VC dimension (> 0).
        delta: Failure probability per deviation term, in (0, 1).
        p0: Lower bound on the auto-labeled region's mass, in (0, 1].
        n_a: Auto-labeled points (> 0).
        eps: Tolerance TBAL targets (eps_a), in [0, 1).

    Returns:
        B(n_v), float64, of the broadcast shape of the inputs.

    Raises:
        ValueError: on any input outside its range.
    """
    n_v, n_a, eps = positive("n_v", n_v), positive("n_a", n_a), tolerance("eps", eps)
    return round_error_bound(n_v, n_a, partial(vc_complexity, d=d), delta, p0, eps)
