"""Step 1 of every threshold estimator, the counts (algorithm.md sections 3 and 12).

`count_levels` builds the candidate set T of algorithm.md section 3 (the 10,001-point grid when
n_v > 500, else the raw scores) and, per class y, the pairs (n_y(t), wrong_y(t)) that T
produces. They change only where a point of class y crosses a candidate, so they are
evaluated at the occupied candidates only: a co-sort of the validation points by
(predicted class, candidate index) makes one *level* per block of points sharing a
candidate, carrying its counts and the smallest candidate that yields them. O(N_v log
N_v) time and O(N_v) memory for any k (the previous k x 10,001 histogram took 1.6 GiB per
64 runs at k = 200, N_v = 10,000). The sort keys pack (class, candidate, wrong) into
one int32 (`_pack`), which bounds the validation capacity (`MAX_CAPACITY`).

With `fixed=(lo, hi, m)` the candidates are instead m levels spread evenly over the
score's possible range [lo, hi], chosen before any data are seen (algorithm.md section 12,
"candidates fixed in advance"): |T| = m whatever N_v, and a point scoring below lo lies
in no region {score >= t} and is counted at no candidate.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from tbal_jax.prefix import prefix_count
from tbal_jax.types import Array

GRID_SIZE = 10_001
GRID_ABOVE = 500  # grid candidates when n_v > GRID_ABOVE, raw scores otherwise
FLAT_SPAN = 1e-8
MAX_CAPACITY = 1 << 20  # validation buffer (with k, bounded by the int32 sort key)
DENSE_CLASSES = 16  # up to this many classes, per-class reads by selects, not gathers


class Levels(NamedTuple):
    """The validation points co-sorted by (predicted class, candidate index descending);
    entry i is the level "the first n points of class `cls[i]`" (algorithm.md section 3, step 2)."""

    cls: Array  # (V,) predicted class; k for inactive points (sorted last)
    cand: Array  # (V,) candidate index of the point (largest candidate <= its score)
    n: Array  # (V,) n_y(t): points of the class at or above the level's candidates
    wrong: Array  # (V,) wrong_y(t) of those
    first_cand: Array  # (V,) smallest candidate index with these counts
    valid: Array  # (V,) a real level: active and the last point of its candidate block
    key: Array  # (V,) the packed sort keys, ascending (for `counts_at`)
    wrong_cum: Array  # (V,) inclusive cumulative count of wrong points, sorted order
    start: Array  # (k + 1,) first sorted position of each class
    n_candidates: Array  # |T|: 10,001 (1 when flat) on the grid, else distinct scores
    value: Callable[[Array], Array]  # candidate index -> threshold value


def _grid_bins(scores, active):
    """Grid candidates (algorithm.md section 3, step 1): each score's bin is the index of the last grid
    point at or below it; returns (bins, grid value function, flat)."""
    lo = jnp.min(jnp.where(active, scores, jnp.inf))
    hi = jnp.max(jnp.where(active, scores, -jnp.inf))
    flat = (hi - lo) <= FLAT_SPAN
    step = jnp.where(flat, 1.0, (hi - lo) / (GRID_SIZE - 1))  # the grid's spacing

    def grid(i):  # the i-th candidate, computed the same way wherever it is needed
        return lo + i.astype(scores.dtype) * step

    b = jnp.clip(jnp.floor((scores - lo) / step), 0, GRID_SIZE - 1).astype(jnp.int32)
    b = jnp.where(scores < grid(b), b - 1, b)  # one correction each way for rounding
    b = jnp.where((b < GRID_SIZE - 1) & (scores >= grid(b + 1)), b + 1, b)
    return jnp.where(active, jnp.clip(b, 0, GRID_SIZE - 1), 0), grid, flat


def _fixed_bins(scores, lo: float, hi: float, size: int):
    """Candidates fixed in advance: `size` levels lo + i (hi - lo) / (size - 1), from the
    score's range alone; returns (bins, value function, below), `below` marking the
    points under the lowest level (in no candidate's region)."""
    lo_ = jnp.asarray(lo, scores.dtype)
    step = jnp.asarray((hi - lo) / (size - 1), scores.dtype)

    def value(i):
        return lo_ + i.astype(scores.dtype) * step

    b = jnp.clip(jnp.floor((scores - lo_) / step), 0, size - 1).astype(jnp.int32)
    b = jnp.where(scores < value(b), b - 1, b)  # one correction each way for rounding
    b = jnp.where((b < size - 1) & (scores >= value(b + 1)), b + 1, b)
    below = scores < value(jnp.zeros((), jnp.int32))
    return jnp.clip(b, 0, size - 1), value, below


_INT_MAX = jnp.iinfo(jnp.int32).max


def _flip_negative(i: Array) -> Array:
    """Reverse the order of the negative float bit patterns (its own inverse)."""
    return jnp.where(i < 0, i ^ 0x7FFFFFFF, i)


def _order_key(x: Array) -> Array:
    """float32 -> int32 with the same order (-0.0 counts as 0.0): XLA sorts one int32
    array about 5x faster than floats or tuples on CPU."""
    return _flip_negative(jax.lax.bitcast_convert_type(x + 0.0, jnp.int32))


def _from_order_key(i: Array) -> Array:
    return jax.lax.bitcast_convert_type(_flip_negative(i), jnp.float32)


def _raw_candidates(scores, active, raw_capacity):
    """Raw candidates (n_v <= 500): the distinct active scores. A point's candidate
    index is its score's rank among them; returns (index per point, value function,
    number of distinct scores)."""
    capacity = scores.shape[0]
    # the positions of the first raw_capacity active points (capacity past the last):
    # jnp.nonzero's scatter is slower on XLA's CPU than a search of the running count
    idx = jnp.searchsorted(
        prefix_count(active), jnp.arange(1, raw_capacity + 1), side="left"
    )
    keys = jnp.where(
        idx < capacity, _order_key(scores)[jnp.minimum(idx, capacity - 1)], _INT_MAX
    )
    ranked = jnp.sort(keys)
    new = jnp.append(True, ranked[1:] != ranked[:-1])
    distinct_rank = prefix_count(new) - 1
    rank = distinct_rank[jnp.searchsorted(ranked, keys, side="left")]
    distinct = jnp.zeros(raw_capacity, jnp.int32).at[distinct_rank].set(ranked)
    cand = jnp.zeros(capacity, jnp.int32).at[idx].set(rank, mode="drop")

    def value(i):
        return _from_order_key(distinct[jnp.clip(i, 0, raw_capacity - 1)])

    return cand, value, jnp.sum(new & (ranked < _INT_MAX))


def _key_bits(num_classes: int, capacity: int) -> int:
    """Bits of a candidate index in the packed sort key (class | candidate | wrong)."""
    cand_bits = max(GRID_SIZE - 1, capacity - 1).bit_length()
    if num_classes.bit_length() + cand_bits + 1 > 31:
        raise ValueError(
            f"{num_classes} classes with a validation capacity of {capacity} do not fit "
            "the int32 sort key; use fewer classes or a smaller validation size"
        )
    return cand_bits


def _pack(cls: Array, cand: Array, wrong: Array, bits: int) -> Array:
    """The sort key: class ascending, then candidate index descending, then wrong."""
    return (cls << (bits + 1)) | ((((1 << bits) - 1) - cand) << 1) | wrong


def of_class(per_class: Array, cls: Array) -> Array:
    """per_class[cls] for co-sorted entries (inactive ones, class k, read the last
    entry); up to DENSE_CLASSES + 1 entries a chain of selects, the same values without
    XLA's CPU gather."""
    last = per_class.shape[0] - 1
    if last > DENSE_CLASSES:
        return per_class[jnp.minimum(cls, last)]
    out = jnp.broadcast_to(per_class[0], cls.shape)
    for c in range(1, last + 1):
        out = jnp.where(cls >= c, per_class[c], out)
    return out


def count_levels(
    scores: Array,
    preds: Array,
    labels: Array,
    active: Array,
    num_classes: int,
    fixed: tuple[float, float, int] | None = None,
) -> Levels:
    """Step 1, counts: (n, wrong) per class at every occupied candidate, in
    O(N_v log N_v) time and O(N_v) memory for any k: one sort of packed int32 keys
    (class, candidate index descending, wrong). `fixed=(lo, hi, m)`: the m candidates
    fixed in advance over [lo, hi] (module docstring) instead of the data's."""
    capacity = scores.shape[0]
    bits = _key_bits(num_classes, capacity)
    top = (1 << bits) - 1
    if fixed is not None:
        lo, hi, size = fixed
        if not 2 <= size <= GRID_SIZE:
            raise ValueError(f"{size} fixed candidates: give 2 to {GRID_SIZE}")
        cand, value, below = _fixed_bins(scores, lo, hi, size)
        active = active & ~below
        cand = jnp.where(active, cand, 0)
        n_candidates = jnp.asarray(size, jnp.int32)
    else:
        grid_mode = jnp.sum(active) > GRID_ABOVE
        bins, grid, flat = _grid_bins(scores, active)
        raw, raw_value, n_distinct = _raw_candidates(
            scores, active, min(capacity, GRID_ABOVE)
        )
        cand = jnp.where(grid_mode, bins, raw)
        n_candidates = jnp.where(grid_mode, jnp.where(flat, 1, GRID_SIZE), n_distinct)

        def value(i):
            return jnp.where(grid_mode, grid(i), raw_value(i))

    cls = jnp.where(active, preds, num_classes).astype(jnp.int32)
    wrong = (active & (labels != preds)).astype(jnp.int32)
    key = jnp.sort(_pack(cls, cand, wrong, bits))
    cls, cand, wrong = key >> (bits + 1), top - ((key >> 1) & top), key & 1
    pos = jnp.arange(capacity)
    start = jnp.searchsorted(cls, jnp.arange(num_classes + 1), side="left")
    wrong_cum = prefix_count(wrong)
    same_next = jnp.append(cls[1:] == cls[:-1], False)
    next_cand = jnp.append(cand[1:], 0)
    wrong_before = (wrong_cum - wrong)[jnp.minimum(start, capacity - 1)]  # per class
    return Levels(
        cls=cls,
        cand=cand,
        n=(pos + 1 - of_class(start, cls)).astype(jnp.int32),
        wrong=wrong_cum - of_class(wrong_before, cls),
        first_cand=jnp.where(same_next, next_cand + 1, 0),
        valid=(cls < num_classes) & ~(same_next & (cand == next_cand)),
        key=key,
        wrong_cum=wrong_cum,
        start=start,
        n_candidates=n_candidates,
        value=value,
    )


def counts_at(levels: Levels, num_classes: int, cand: Array) -> tuple[Array, Array]:
    """(n_y(t), wrong_y(t)) for each class y at candidate index cand[y]: a binary search
    for the last packed key of class y with a candidate index >= cand[y]."""
    bits = _key_bits(num_classes, levels.key.shape[0])
    first = levels.start[:num_classes]
    last_key = _pack(jnp.arange(num_classes), cand, 1, bits)
    end = jnp.searchsorted(levels.key, last_key, side="right")
    cum = jnp.append(0, levels.wrong_cum)  # cum[i] = wrong points before position i
    return end - first, cum[end] - cum[first]
