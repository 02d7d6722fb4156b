"""Step 3 of every threshold estimator: which accepted candidate each class uses
(algorithm.md sections 3 and 12): the smallest (`select_smallest`, algorithm.md section 3 and
`clopper_pearson`), the last of a fixed sequence walked down from the top
(`select_fixed_sequence`, `ltt`), or the end of a binary search (`select_binary_search`,
`sgr`). Each takes (levels, k, accept, n_min) and returns a candidate index per class,
`NONE` where no candidate is accepted."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from tbal_jax.estimators.counts import (
    DENSE_CLASSES,
    GRID_SIZE,
    Levels,
    counts_at,
    of_class,
)
from tbal_jax.types import Array

MIN_COUNT = 25  # a threshold is kept only if more than MIN_COUNT points lie above it

NONE = jnp.iinfo(jnp.int32).max  # "no candidate" as a candidate index


def _per_class_min(levels: Levels, num_classes: int, values: Array, where: Array):
    """min of `values` over the entries of each class where `where` holds, NONE where none.
    A scatter-min for many classes; up to DENSE_CLASSES a dense masked min (the same
    result, without XLA's serial scatter on the CPU)."""
    masked = jnp.where(where, values, NONE)
    if num_classes <= DENSE_CLASSES:
        mine = levels.cls[None, :] == jnp.arange(num_classes)[:, None]
        return jnp.min(jnp.where(mine, masked[None, :], NONE), axis=1)
    return jax.ops.segment_min(masked, levels.cls, num_segments=num_classes + 1)[
        :num_classes
    ]


def _eligible(levels: Levels, n_min: Array) -> Array:
    """Real levels with n >= the class's n_min (which the estimator sets to at least
    its minimum count + 1: n > MIN_COUNT in algorithm.md section 3)."""
    return levels.valid & (levels.n >= of_class(n_min, levels.cls))


def select_smallest(levels, num_classes, accept, n_min):
    """The smallest accepted candidate (algorithm.md section 3, step 3, and `clopper_pearson`);
    acceptance need not be monotone in t."""
    ok = _eligible(levels, n_min) & accept(levels.n, levels.wrong, levels.cls)
    return _per_class_min(levels, num_classes, levels.first_cand, ok)


def select_fixed_sequence(levels, num_classes, accept, n_min):
    """Learn then Test, fixed sequence (algorithm.md section 12, `ltt`): from the largest candidate
    with n >= n_min, walk down while the test rejects; the last candidate that did."""
    eligible = _eligible(levels, n_min)
    passes = accept(levels.n, levels.wrong, levels.cls)
    pos = jnp.arange(levels.cls.shape[0])
    first_fail = _per_class_min(levels, num_classes, pos, eligible & ~passes)
    before_fail = pos < of_class(jnp.append(first_fail, NONE), levels.cls)
    return _per_class_min(
        levels, num_classes, levels.first_cand, eligible & passes & before_fail
    )


def select_binary_search(levels, num_classes, accept, n_min):
    """Selection with Guaranteed Risk (algorithm.md section 12, `sgr`): over the `count` candidates
    with n >= n_min (and > MIN_COUNT), in ascending t, lo = -1, hi = count; test
    mid = (lo + hi) // 2: accepted, hi = mid, else lo = mid; the candidate at hi (none
    if hi = count)."""
    capacity = levels.cls.shape[0]
    first = levels.start[:num_classes]
    # count = 1 + the candidate index of the class's ceil(n_min)-th highest point
    need = jnp.maximum(jnp.ceil(n_min[:num_classes]), MIN_COUNT + 1).astype(jnp.int32)
    has = levels.start[1:] - first >= need
    count = jnp.where(
        has, levels.cand[jnp.minimum(first + need - 1, capacity - 1)] + 1, 0
    )
    classes = jnp.arange(num_classes)

    def step(_, bracket):
        lo, hi = bracket
        mid = (lo + hi) // 2
        n, wrong = counts_at(levels, num_classes, jnp.maximum(mid, 0))
        ok = accept(n, wrong, classes)
        live = hi - lo > 1
        return jnp.where(live & ~ok, mid, lo), jnp.where(live & ok, mid, hi)

    steps = math.ceil(math.log2(max(GRID_SIZE, capacity) + 1))
    _, hi = jax.lax.fori_loop(0, steps, step, (jnp.full_like(count, -1), count))
    return jnp.where(hi < count, hi, NONE)
