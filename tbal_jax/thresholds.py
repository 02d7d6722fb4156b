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

Ties: exact arithmetic accepts u == eps (e.g. 2/40 = 0.05), so the comparison is
u <= eps * (1 + TIE_RTOL), which absorbs float32 rounding; the reference's float64
`1 - correct/n` rejects some exact ties by one ulp. With C1 = 0 no non-tie err lies within
TIE_RTOL of eps for n <= 10^5, so only exact ties are affected.

Implementation: the grid path bins each score to the last grid point at or below it
(`segment_sum` histogram, then suffix sums): O(n + grid), no sort. The raw path (at most
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

Estimator = Callable[[Array, Array, Array, Array, Array, Array], Array]


def sigma_slack(err: Array, n: Array, c1: Array) -> Array:
    """`sigma`: err + C1*sqrt(err(1-err)) (all published runs; not a confidence bound)."""
    del n
    return err + c1 * jnp.sqrt(err * (1.0 - err))


def hoeffding_slack(err: Array, n: Array, c1: Array) -> Array:
    """`hoeffding`: err + C1/sqrt(n)."""
    return err + c1 / jnp.sqrt(n)


def _feasible(counts: Array, eps: Array, c1: Array, slack) -> Array:
    """counts (..., 2k): per class [n_y, wrong_y] pairs -> feasible (..., k)."""
    pairs = counts.reshape(counts.shape[:-1] + (-1, 2))
    n, wrong = pairs[..., 0], pairs[..., 1]
    err = wrong / jnp.maximum(n, 1.0)
    upper = slack(err, jnp.maximum(n, 1.0), c1)
    return (n > MIN_COUNT) & (upper <= eps * (1.0 + TIE_RTOL))


def _channels(preds: Array, labels: Array, active: Array, num_classes: int) -> Array:
    """One-hot (n, 2k) of [predicted y, predicted y and wrong], zero when inactive."""
    channel = 2 * preds + (labels != preds)
    in_class = jax.nn.one_hot(2 * preds, 2 * num_classes, dtype=jnp.float32)
    wrong = jax.nn.one_hot(channel, 2 * num_classes, dtype=jnp.float32) * (
        labels != preds)[:, None]
    return (in_class + wrong) * active[:, None]


def _suffix_sums(hist: Array, block: int = 128) -> Array:
    """Reverse cumulative sum along axis 0, in two levels (XLA's CPU cumsum is slow on
    long axes): within blocks, then across block totals."""
    g = hist.shape[0]
    pad = -g % block
    blocks = jnp.pad(hist, ((0, pad), (0, 0))).reshape(-1, block, hist.shape[1])
    inner = jax.lax.cumsum(blocks, axis=1, reverse=True)
    totals = inner[:, 0, :]
    after = jax.lax.cumsum(totals, axis=0, reverse=True) - totals
    return (inner + after[:, None, :]).reshape(-1, hist.shape[1])[:g]


def _grid_thresholds(scores, channels, active, eps, c1, slack, num_classes):
    lo = jnp.min(jnp.where(active, scores, jnp.inf))
    hi = jnp.max(jnp.where(active, scores, -jnp.inf))
    flat = (hi - lo) <= FLAT_SPAN
    delta = jnp.where(flat, 1.0, (hi - lo) / (GRID_SIZE - 1))
    grid = lo + jnp.arange(GRID_SIZE, dtype=scores.dtype) * delta
    # bin = index of the last grid point <= score (one correction each way for rounding)
    b = jnp.clip(jnp.floor((scores - lo) / delta), 0, GRID_SIZE - 1).astype(jnp.int32)
    b = jnp.where(scores < grid[b], b - 1, b)
    up = jnp.minimum(b + 1, GRID_SIZE - 1)
    b = jnp.where((b < GRID_SIZE - 1) & (scores >= grid[up]), b + 1, b)
    b = jnp.where(active, jnp.clip(b, 0, GRID_SIZE - 1), 0)
    hist = jax.ops.segment_sum(channels, b, num_segments=GRID_SIZE)
    feasible = _feasible(_suffix_sums(hist), eps, c1, slack)
    feasible &= (jnp.arange(GRID_SIZE) == 0)[:, None] | ~flat
    first = jnp.argmax(feasible, axis=0)
    return jnp.where(feasible.any(axis=0), grid[first], jnp.inf)


def _raw_thresholds(scores, channels, active, eps, c1, slack, capacity):
    idx = jnp.nonzero(active, size=capacity, fill_value=0)[0]
    valid = jnp.arange(capacity) < jnp.sum(active)
    s = jnp.where(valid, scores[idx], -jnp.inf)
    neg_s, order = jax.lax.sort((-s, jnp.arange(capacity)), num_keys=1)
    s = -neg_s  # descending
    counts = jnp.cumsum((channels[idx] * valid[:, None])[order], axis=0)
    # a candidate's point set ends at the last point of its tie block
    block_end = jnp.append(s[1:] != s[:-1], True) & (s > -jnp.inf)
    feasible = _feasible(counts, eps, c1, slack) & block_end[:, None]
    return jnp.min(jnp.where(feasible, s[:, None], jnp.inf), axis=0)


def paper_estimator(num_classes: int, capacity: int, slack) -> Estimator:
    """SPEC section 3 for a validation buffer of static size `capacity`."""
    raw_capacity = min(capacity, GRID_ABOVE)

    def estimate(scores, preds, labels, active, eps, c1):
        channels = _channels(preds, labels, active, num_classes)
        raw = _raw_thresholds(scores, channels, active, eps, c1, slack, raw_capacity)
        if capacity <= GRID_ABOVE:
            return raw
        grid = _grid_thresholds(scores, channels, active, eps, c1, slack, num_classes)
        return jnp.where(jnp.sum(active) > GRID_ABOVE, grid, raw)

    return estimate


ESTIMATORS = {
    "sigma": lambda k, cap: paper_estimator(k, cap, sigma_slack),
    "hoeffding": lambda k, cap: paper_estimator(k, cap, hoeffding_slack),
}
