"""Upper bounds on TBAL's auto-labeling error (algorithm.md section 11, upper bound).

The general form (README section 1, the ratio argument): with high probability a round's
observed auto-labeling error is at most

    min(1, eps_a + (1 + eps_a) eps_dev(n_val) / p0 + eps_dev(n_auto)),

with eps_dev the uniform deviation of `theory.complexity.uniform_deviation`. The exact
reference instantiation (`reference_upper_bound`) keeps the notebook's own shape,
eps_a + eps_dev(n_val) / p0 + eps_dev(n_auto), for reproduction.

Symbols and assumptions, shared by every function here:
    eps_a: the tolerance TBAL targets; the threshold is chosen so that the validation
        estimate of the region's error is at most eps_a (true of every estimator of
        algorithm.md sections 3 and 12: their slacks only add to the plug-in estimate).
    n_val: validation points used in the round, iid from the same distribution as the
        round's remaining unlabeled pool (algorithm.md section 2 removes used validation points
        to keep this approximately true).
    p0: a lower bound on the *true* probability mass of the auto-labeled region under
        that distribution (`multi_round_upper_bound`'s callers estimate it per round
        from a run's record).
    n_auto: points auto-labeled in the round, iid from the distribution restricted to
        the region; the last term bounds their empirical error above the region's
        conditional error.
    delta: the validation side (two one-sided families, delta / 2 each) and the n_auto
        term each fail with probability <= delta, so the bound holds with probability
        >= 1 - 2 delta; pass delta / 2 for an overall 1 - delta.
    n_classes: one threshold per class; a union over k classes uses delta / k.
What it bounds: the 0-1 error of the auto-labeled points, for a class of regions whose
capacity is C (VC/Sauer for {score >= t, prediction = y}); with the Rademacher capacity
it bounds a Lipschitz surrogate instead (`theory.complexity.rademacher_complexity`).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.typing import ArrayLike

from theory._deprecation import former_order
from theory._validation import (
    InvalidArgumentError,
    count,
    mass,
    nonnegative,
    probability,
    tolerance,
)
from theory.complexity import Complexity, uniform_deviation, vc_complexity


def _class_deviation(
    n: np.ndarray, complexity: Complexity, delta: ArrayLike, n_classes: ArrayLike
) -> np.ndarray:
    """eps_dev(n, C, delta / k): a deviation term, union bound over k classes."""
    delta_per_class = probability("delta", delta) / count("n_classes", n_classes)
    return uniform_deviation(n, complexity, delta_per_class)


@former_order("n_classes", "eps_a")
def validation_term(
    n_val: ArrayLike,
    complexity: Complexity,
    delta: ArrayLike,
    p0: ArrayLike = 1.0,
    *,
    eps_a: ArrayLike = 0.0,
    n_classes: ArrayLike = 1,
) -> np.ndarray:
    """The n_val-term of the general bound: (1 + eps_a) eps_dev(n_val, C, delta / (2k))
    / p0 (README section 1, the ratio argument).

    With q = P(region, wrong), p = P(region) >= p0 and their validation frequencies
    q^, p^: uniformly over the class, q <= q^ + D and p^ <= p + D (two one-sided
    families, delta / 2 each, D = eps_dev(n_val, C, delta / (2k))). The chosen region
    has q^ <= eps_a p^, so q <= eps_a (p + D) + D and the conditional error
    q / p <= eps_a + (1 + eps_a) D / p0. (When only the validation mass p^ is known,
    p >= p^ - D gives (eps_a p^ + D) / (p^ - D) instead.) The 1/p0 is that of the ratio,
    not of the ~p0 n_val points in the region (a count argument would give 1/sqrt(p0)
    but needs the region fixed in advance). Keyword-only eps_a and n_classes; the
    former order (..., p0, n_classes, eps_a) still works, with a DeprecationWarning.

    Args:
        n_val: Validation points (integer >= 1), any shape.
        complexity: Capacity term C (callable n -> C(n), or its value); see
            `theory.complexity.uniform_deviation`.
        delta: Failure probability of the validation side, in (0, 1).
        p0: Lower bound on the auto-labeled region's true mass, in (0, 1].
        eps_a: Tolerance TBAL targets, in [0, 1).
        n_classes: k, number of classes in the union bound (integer >= 1).

    Returns:
        The term, float64, of the broadcast shape of the inputs.

    Raises:
        ValueError: on n_val not an integer >= 1, delta outside (0, 1), p0 outside
            (0, 1], k not an integer >= 1 or eps_a outside [0, 1).
    """
    deviation = _class_deviation(
        count("n_val", n_val), complexity, probability("delta", delta) / 2, n_classes
    )
    return ((1.0 + tolerance("eps_a", eps_a)) * deviation / mass("p0", p0))[()]


def round_error_bound(
    n_val: ArrayLike,
    n_auto: ArrayLike,
    complexity: Complexity,
    delta: ArrayLike,
    p0: ArrayLike = 1.0,
    eps_a: ArrayLike = 0.01,
    n_classes: ArrayLike = 1,
) -> np.ndarray:
    """Upper bound on one round's observed auto-labeling error (README section 1).

    B = min(1, eps_a + `validation_term` + eps_dev(n_auto, C, delta/k)),
    eps_dev(n, C, delta) = sqrt((C(n) + ln(1/delta)) / n).

    Holds with probability >= 1 - 2 delta under the module's assumptions. A capacity
    given as a value rather than a callable is n-independent (like
    `rademacher_complexity`) and is used in both terms.

    Args:
        n_val: Validation points used in the round (integer >= 1).
        n_auto: Points auto-labeled in the round (integer >= 1).
        complexity: Capacity term C (callable n -> C(n), or its value).
        delta: Failure probability of each side, in (0, 1).
        p0: Lower bound on the auto-labeled region's true mass, in (0, 1].
        eps_a: Tolerance TBAL targets, in [0, 1).
        n_classes: k, number of classes in the union bound (integer >= 1).

    Returns:
        B, float64, of the broadcast shape of the inputs.

    Raises:
        ValueError: on n_val or n_auto not an integer >= 1, delta outside (0, 1), p0
            outside (0, 1], eps_a outside [0, 1) or k not an integer >= 1.
    """
    region = tolerance("eps_a", eps_a) + validation_term(
        n_val, complexity, delta, p0, eps_a=eps_a, n_classes=n_classes
    )
    auto = _class_deviation(count("n_auto", n_auto), complexity, delta, n_classes)
    return np.minimum(region + auto, 1.0)[()]


def multi_round_upper_bound(
    n_val_per_round: ArrayLike,
    n_auto_per_round: ArrayLike,
    complexity: Complexity,
    delta: ArrayLike,
    p0: ArrayLike = 1.0,
    eps_a: ArrayLike = 0.01,
    n_classes: ArrayLike = 1,
) -> np.ndarray:
    """Upper bound on a whole run's auto-labeling error from its per-round record.

    B_run = sum_i (n_auto_i / sum_j n_auto_j) * B_i,
    B_i = `round_error_bound`(n_val_i, n_auto_i, C, delta / R, p0_i, eps_a_i, k),

    over the R rounds of the record (algorithm.md section 11). The run's error is the
    n_auto-weighted average of the rounds' errors, so the weighted sum of round bounds
    bounds it once every round's bound holds; splitting delta evenly over the R rounds
    (and over the k classes inside each round) makes that happen with probability
    >= 1 - 2 delta. p0 may differ per round (e.g. estimated from the run's own record,
    `tbal_jax.bounds.round_masses`). R is the length of the record's last axis, padding included, so the
    record must have a length fixed before the run (e.g. the maximum number of rounds,
    algorithm.md section 2); padding only makes the bound more conservative.

    Rounds with n_auto_i = 0 contribute nothing (their bound is not evaluated). A round
    with n_val_i = 0 and n_auto_i > 0 cannot happen in TBAL (no validation data, no
    threshold); if it appears, its bound and hence B_run are +inf (vacuous). A record
    in which nothing was auto-labeled gives NaN, matching the undefined auto-labeling
    error of algorithm.md section 1.

    Args:
        n_val_per_round: Validation points used per round, shape (..., R), integers
            >= 0.
        n_auto_per_round: Points auto-labeled per round, broadcast with
            n_val_per_round, integers >= 0.
        complexity: Capacity term C (callable n -> C(n), called on the counts of the
            rounds that auto-labeled; or its value, broadcastable to (..., R)).
        delta: Overall failure probability per deviation-term family, in (0, 1),
            scalar or of the batch shape (...).
        p0: Lower bound on each round's auto-labeled mass, in (0, 1], broadcastable to
            (..., R).
        eps_a: Tolerance TBAL targets, in [0, 1), broadcastable to (..., R).
        n_classes: k, number of classes in each round's union bound (integer >= 1),
            broadcastable to (..., R).

    Returns:
        B_run, float64, of the batch shape (...) (the record's shape without its last
        axis, broadcast with delta).

    Raises:
        ValueError: on counts that are not integers >= 0, a record without a rounds
            axis, or any of the parameter errors of `round_error_bound`.
    """
    n_val, n_auto = np.broadcast_arrays(
        count("n_val_per_round", n_val_per_round, minimum=0),
        count("n_auto_per_round", n_auto_per_round, minimum=0),
    )
    if n_val.ndim == 0:
        raise InvalidArgumentError(
            "n_val_per_round must have a trailing rounds axis, got a scalar"
        )
    delta_per_round = np.expand_dims(probability("delta", delta), -1) / n_val.shape[-1]
    p0, eps_a = mass("p0", p0), tolerance("eps_a", eps_a)
    n_classes = count("n_classes", n_classes)
    capacity = 0.0 if callable(complexity) else nonnegative("complexity", complexity)
    n_val, n_auto, delta_per_round, p0, eps_a, n_classes, capacity = (
        np.broadcast_arrays(
            n_val, n_auto, delta_per_round, p0, eps_a, n_classes, capacity
        )
    )
    evaluated = (n_auto > 0) & (n_val > 0)
    if not callable(complexity):
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
        n_classes[evaluated],
    )
    total_auto = n_auto.sum(axis=-1)
    weighted = (n_auto * round_bounds).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total_auto > 0, weighted / total_auto, np.nan)[()]


@former_order("d", "delta", "p0", "n_a", "eps", renamed={"eps": "eps_a"})
def reference_upper_bound(
    n_v: ArrayLike,
    *,
    delta: ArrayLike = 0.3,
    p0: ArrayLike = 1.0,
    eps_a: ArrayLike = 0.01,
    d: ArrayLike = 30,
    n_a: ArrayLike = 10000,
) -> np.ndarray:
    """The reference notebook's instantiation of the bound (algorithm.md section 11).

    B(n_v) = (1/p0) sqrt((d ln(n_v/d) + ln(1/delta)) / n_v)
             + sqrt((d ln(n_a/d) + ln(1/delta)) / n_a) + eps_a,

    the notebook's shape (eps_a + D/p0 + D_a, not the ratio form of `round_error_bound`)
    with its VC capacity `vc_complexity` (d = VC dimension; its floor is inactive for
    n >= 2 d, which covers the published values), one class, and delta per term (so
    1 - 2 delta overall, as in the notebook). At n_v = 100, 400, 800, ..., 4000 with
    the defaults it gives 0.7534, 0.5866, 0.4955, 0.4478, 0.4169, 0.3947, 0.3776,
    0.3639, 0.3526, 0.3430, 0.3348. Keyword-only arguments after n_v; the former
    order (n_v, d, delta, p0, n_a, eps) and the former keyword eps (now eps_a, the
    notebook's eps) still work, with a DeprecationWarning.

    Args:
        n_v: Validation points (integer >= 1), any shape.
        delta: Failure probability per deviation term, in (0, 1).
        p0: Lower bound on the auto-labeled region's mass, in (0, 1].
        eps_a: Tolerance TBAL targets (the notebook's eps), in [0, 1).
        d: VC dimension (finite, > 0).
        n_a: Auto-labeled points (integer >= 1).

    Returns:
        B(n_v), float64, of the broadcast shape of the inputs.

    Raises:
        ValueError: on any input outside its range.
    """
    n_v, n_a = count("n_v", n_v), count("n_a", n_a)
    vc = partial(vc_complexity, d=d)
    return (
        tolerance("eps_a", eps_a)
        + uniform_deviation(n_v, vc, delta) / mass("p0", p0)
        + uniform_deviation(n_a, vc, delta)
    )[()]
