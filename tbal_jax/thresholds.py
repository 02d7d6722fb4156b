"""Per-class threshold estimation, exactly as SPEC section 3 (the paper preset).

An estimator is a pure function
    estimate(scores, preds, labels, active, eps, c1) -> thresholds (k,)
over a fixed-capacity validation buffer where only `active` entries are the current
validation set. A class with no feasible threshold gets +inf (nothing auto-labelled).
New estimators plug in through `ESTIMATORS` without touching the loop.

SPEC section 3, restated:
1. Candidates T from the scores of all active points: if n_v > 500 the grid
   min(s) + k*delta, k = 0..10000, delta = (max s - min s)/10000 (T = {min s} if
   max - min <= 1e-8); else the raw scores.
2. For class y, S_y = active points predicted y; for t in T, n_y(t) = #{j in S_y: s_j >= t},
   kept only if n_y(t) > 25; err_y(t) = fraction of those with label != y; the slack gives
   u = err + C1*sqrt(err(1-err)) (`sigma`) or err + C1/sqrt(n_y(t)) (`hoeffding`).
3. t[y] = the smallest kept t with u <= eps, else +inf.

Ties: exact arithmetic accepts u == eps (e.g. 2/40 = 0.05); the reference's float64
`1 - correct/n` rejects some such ties by one ulp. Here err = wrong/n is a correctly
rounded float32 division, which equals float32(eps) whenever wrong/n == eps exactly, so
with C1 = 0 exact ties are accepted as they are. The comparison u <= eps * (1 + TIE_RTOL)
only absorbs rounding in the slack arithmetic when C1 > 0; for an eps with few
significant digits (0.01, 0.05, ...) no non-tie err lies that close to it.

Implementation: counts are packed as n + 2^16 * wrong in one int32 per point, so one
integer sum carries both. The grid path bins each score to the last grid point at or below
it (`segment_sum` histogram per predicted class, then suffix sums): O(n + grid), no sort. The raw path (at most
500 points) compacts the active points, sorts them by score and counts with a cumulative
sum, evaluated at the end of each block of tied scores. Both are exact for their definition; under `vmap` both run and the right
one is selected per round.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from tbal_jax.types import Array

GRID_SIZE = 10_001
GRID_ABOVE = 500  # grid candidates when n_v > GRID_ABOVE, raw scores otherwise
MIN_COUNT = 25  # a threshold is kept only if more than MIN_COUNT points lie above it
FLAT_SPAN = 1e-8
TIE_RTOL = 1e-6
_WRONG = 1 << 16  # counts are packed as n + _WRONG * wrong in one int32
MAX_CAPACITY = (1 << 15) - 1  # so that packed sums stay below 2^31

Estimator = Callable[[Array, Array, Array, Array, Array, Array], Array]


def sigma_slack(err: Array, n: Array, c1: Array) -> Array:
    """`sigma`: err + C1*sqrt(err(1-err)) (all published runs; not a confidence bound)."""
    del n
    return err + c1 * jnp.sqrt(err * (1.0 - err))


def hoeffding_slack(err: Array, n: Array, c1: Array) -> Array:
    """`hoeffding`: err + C1/sqrt(n)."""
    return err + c1 / jnp.sqrt(n)


def _feasible(packed_counts: Array, eps: Array, c1: Array, slack) -> Array:
    """Packed suffix counts n + 2^16 * wrong -> the feasibility test of SPEC 3, step 2-3."""
    n = (packed_counts & (_WRONG - 1)).astype(jnp.float32)
    wrong = (packed_counts >> 16).astype(jnp.float32)
    err = wrong / jnp.maximum(n, 1.0)
    upper = slack(err, jnp.maximum(n, 1.0), c1)
    return (n > MIN_COUNT) & (upper <= eps * (1.0 + TIE_RTOL))


def _grid_thresholds(scores, preds, packed, active, eps, c1, slack, num_classes):
    lo = jnp.min(jnp.where(active, scores, jnp.inf))
    hi = jnp.max(jnp.where(active, scores, -jnp.inf))
    flat = (hi - lo) <= FLAT_SPAN
    delta = jnp.where(flat, 1.0, (hi - lo) / (GRID_SIZE - 1))

    def grid(k):  # the k-th candidate, computed the same way wherever it is needed
        return lo + k.astype(scores.dtype) * delta

    # bin = index of the last grid point <= score (one correction each way for rounding)
    b = jnp.clip(jnp.floor((scores - lo) / delta), 0, GRID_SIZE - 1).astype(jnp.int32)
    b = jnp.where(scores < grid(b), b - 1, b)
    b = jnp.where((b < GRID_SIZE - 1) & (scores >= grid(b + 1)), b + 1, b)
    b = jnp.where(active, jnp.clip(b, 0, GRID_SIZE - 1), 0)
    # one histogram row per predicted class; suffix sums give n_y(t_k), wrong_y(t_k)
    hist = jax.ops.segment_sum(
        packed, preds * GRID_SIZE + b, num_segments=num_classes * GRID_SIZE
    )
    counts = jax.lax.cumsum(hist.reshape(num_classes, GRID_SIZE), axis=1, reverse=True)
    feasible = _feasible(counts, eps, c1, slack)
    feasible &= ((jnp.arange(GRID_SIZE) == 0) | ~flat)[None, :]  # T = {min s} when flat
    first = jnp.argmax(feasible, axis=1)
    return jnp.where(feasible.any(axis=1), grid(first), jnp.inf)


def _raw_thresholds(
    scores, preds, packed, active, eps, c1, slack, num_classes, capacity
):
    idx = jnp.nonzero(active, size=capacity, fill_value=0)[0]
    valid = jnp.arange(capacity) < jnp.sum(active)
    s = jnp.where(valid, scores[idx], -jnp.inf)
    neg_s, order = jax.lax.sort((-s, jnp.arange(capacity)), num_keys=1)
    s = -neg_s  # descending
    rows = idx[order]
    per_class = jnp.where(
        (preds[rows][:, None] == jnp.arange(num_classes)[None, :])
        & valid[order][:, None],
        packed[rows][:, None],
        0,
    )
    counts = jnp.cumsum(per_class, axis=0)
    # a candidate's point set ends at the last point of its tie block
    block_end = jnp.append(s[1:] != s[:-1], True) & (s > -jnp.inf)
    feasible = _feasible(counts, eps, c1, slack) & block_end[:, None]
    return jnp.min(jnp.where(feasible, s[:, None], jnp.inf), axis=0)


def paper_estimator(num_classes: int, capacity: int, slack) -> Estimator:
    """SPEC section 3 for a validation buffer of static size `capacity`."""
    if capacity > MAX_CAPACITY:
        raise ValueError(f"validation capacity {capacity} exceeds {MAX_CAPACITY}")
    raw_capacity = min(capacity, GRID_ABOVE)

    def estimate(scores, preds, labels, active, eps, c1):
        packed = jnp.where(active, 1 + _WRONG * (labels != preds), 0).astype(jnp.int32)
        raw = _raw_thresholds(
            scores, preds, packed, active, eps, c1, slack, num_classes, raw_capacity
        )
        if capacity <= GRID_ABOVE:
            return raw
        grid = _grid_thresholds(
            scores, preds, packed, active, eps, c1, slack, num_classes
        )
        return jnp.where(jnp.sum(active) > GRID_ABOVE, grid, raw)

    return estimate


ESTIMATORS = {
    "sigma": lambda k, cap: paper_estimator(k, cap, sigma_slack),
    "hoeffding": lambda k, cap: paper_estimator(k, cap, hoeffding_slack),
}
