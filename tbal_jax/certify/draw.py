"""One round of TBAL on a model's own scores (algorithm.md section 13): no fit, no query.

Each draw takes N_v validation rows among the labelled rows without replacement (the
first N_v of the seed's random order of them: one order per seed for all its cells, and
one compiled program for the whole grid); every other row is the pool.
A method turns the validation rows (and, for conformal labelling, the pool's scores)
into one threshold per group; a pool row is machine-labelled when its confidence is at
least its group's threshold. The pool's true labels are all known (rows without one are
left out of the error), so each draw's error is the population error of its labelling,
exactly.

Groups: `per_class` groups rows by predicted class (the paper's per-class thresholds);
`global` puts every row in one group (one threshold for all classes).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tbal_jax.certify.table import NO_LABEL, ScoresTable
from tbal_jax.types import Array

GROUPINGS = ("per_class", "global")


class Prepared(NamedTuple):
    """A table's arrays for one grouping, on the device, with the orders the methods
    use (computed once on the host: the table's scores never change between draws)."""

    conf: Array  # (n,) float32
    group: Array  # (n,) int32: predicted class, or 0 for `global`
    label: Array  # (n,) int32: in group terms, wrong <=> label != group; NO_LABEL if none
    known: Array  # (n,) bool: the row has a true label
    wrong: Array  # (n,) bool: labelled and mispredicted
    labelled_rows: Array  # (L,) int32 indices of the labelled rows
    by_group: Array  # (n,) rows sorted by (group, confidence descending)
    tie_end: Array  # (n,) position in `by_group` of the last row tied with this one
    sorted_conf: Array  # (n,) conf[by_group]
    starts: Array  # (k + 1,) first position of each group in `by_group`
    known_before: Array  # (n + 1,) labelled rows among the first i of `by_group`
    wrong_before: Array  # (n + 1,) wrong rows among the first i of `by_group`
    levels: Array  # (D,) the distinct confidences, descending
    k: int  # number of groups


def prepare(table: ScoresTable, grouping: str) -> Prepared:
    """The table's arrays for `grouping` (`GROUPINGS`)."""
    known = table.labelled
    wrong = known & (table.y != table.yhat)
    if grouping == "global":
        group = np.zeros(table.n, np.int32)
        label = np.where(known, wrong.astype(np.int32), NO_LABEL).astype(np.int32)
        k = 1
    else:
        group, label, k = table.yhat, table.y, table.k
    conf = table.confidence
    order = np.lexsort((-conf.astype(np.float64), group)).astype(np.int32)
    key = np.stack([group[order], conf[order].view(np.int32)], axis=1)
    new_block = np.ones(table.n, bool)
    new_block[1:] = np.any(key[1:] != key[:-1], axis=1)
    block = np.cumsum(new_block) - 1
    ends = np.flatnonzero(np.append(new_block[1:], True))
    return Prepared(
        conf=jnp.asarray(conf),
        group=jnp.asarray(group, jnp.int32),
        label=jnp.asarray(label, jnp.int32),
        known=jnp.asarray(known),
        wrong=jnp.asarray(wrong),
        labelled_rows=jnp.asarray(np.flatnonzero(known), jnp.int32),
        by_group=jnp.asarray(order),
        tie_end=jnp.asarray(ends[block], jnp.int32),
        sorted_conf=jnp.asarray(conf[order]),
        starts=jnp.asarray(np.searchsorted(group[order], np.arange(k + 1)), jnp.int32),
        known_before=jnp.asarray(np.append(0, np.cumsum(known[order])), jnp.int32),
        wrong_before=jnp.asarray(np.append(0, np.cumsum(wrong[order])), jnp.int32),
        levels=jnp.asarray(np.unique(conf)[::-1].copy()),
        k=k,
    )


class Sample(NamedTuple):
    """One draw's split: the validation buffer (first `n_val` entries active, in draw
    order) and the pool mask over the table's rows."""

    rows: Array  # (V,) table rows of the validation buffer, in draw order
    active: Array  # (V,) bool: the first n_val entries
    pool: Array  # (n,) bool: rows not in the validation set


def order(prep: Prepared, key, capacity: int) -> Array:
    """The first `capacity` labelled rows of a uniformly random order of them.

    Rounds of a stable sort by fresh random keys, as `jax.random.permutation` does, but
    each round one sort of single uint32 keys (random high bits | the row's current
    position in the low b bits, so the sort also carries the permutation): about twice
    as fast on XLA's CPU backend as sorting (key, index) pairs. Ties in a round's random
    bits keep the previous round's random order; the rounds make the chance that two
    rows are tied in every round negligible (3 log2(L) random bits in all, jax's rule).
    """
    size = prep.labelled_rows.shape[0]
    b = max(int(size - 1).bit_length(), 1)
    rounds = -(-3 * b // (32 - b))
    position = jnp.arange(size, dtype=jnp.uint32)
    current = jnp.arange(size, dtype=jnp.int32)
    for r in range(rounds):
        bits = jax.random.bits(jax.random.fold_in(key, r), (size,), jnp.uint32)
        ranked = jnp.sort(((bits >> b) << b) | position)
        current = current[(ranked & ((1 << b) - 1)).astype(jnp.int32)]
    return prep.labelled_rows[current[:capacity]]


def split(prep: Prepared, rows: Array, n_val) -> Sample:
    """The first N_v rows of the draw's order are the validation set; the rest is the
    pool."""
    active = jnp.arange(rows.shape[0]) < n_val
    in_val = jnp.zeros(prep.conf.shape[0], bool).at[rows].set(active)
    return Sample(rows, active, ~in_val)


class Outcome(NamedTuple):
    """One draw's result (algorithm.md section 13's metrics)."""

    thresholds: Array  # (k,) +inf where nothing is machine-labelled
    n_auto: Array  # pool rows machine-labelled
    n_auto_known: Array  # of which with a true label
    n_wrong: Array  # of which wrong
    n_pool: Array  # pool rows
    human: Array  # human labels used: validation rows + rows routed to the human


def _ends_above(prep: Prepared, thresholds) -> Array:
    """(k,) the end in `by_group` of each group's rows with confidence >= its threshold
    (a binary search per group in its confidence-descending segment)."""
    lo, hi = prep.starts[:-1], prep.starts[1:]
    last = prep.sorted_conf.shape[0] - 1

    def step(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) // 2
        above = (lo < hi) & (prep.sorted_conf[jnp.minimum(mid, last)] >= thresholds)
        return jnp.where(above, mid + 1, lo), jnp.where(above | (lo >= hi), hi, mid)

    steps = max(int(prep.sorted_conf.shape[0]).bit_length(), 1) + 1
    lo, _ = jax.lax.fori_loop(0, steps, step, (lo, hi))
    return lo


def label_pool(prep: Prepared, sample: Sample, thresholds, routes_rest: bool) -> Outcome:
    """Machine-label the pool rows at or above their group's threshold, and count: the
    table's rows above the thresholds from its sorted prefix counts (O(k log n)), less
    the validation rows above them (O(N_v)); no pass over the table."""
    start, end = prep.starts[:-1], _ends_above(prep, thresholds)
    rows = sample.rows
    val_auto = sample.active & (prep.conf[rows] >= thresholds[prep.group[rows]])
    val_wrong = jnp.sum(val_auto & prep.wrong[rows])
    n_val_auto = jnp.sum(val_auto)
    n_auto = jnp.sum(end - start) - n_val_auto
    n_pool = prep.conf.shape[0] - jnp.sum(sample.active)
    n_val = jnp.sum(sample.active)
    return Outcome(
        thresholds=thresholds,
        n_auto=n_auto,
        n_auto_known=jnp.sum(prep.known_before[end] - prep.known_before[start])
        - n_val_auto,
        n_wrong=jnp.sum(prep.wrong_before[end] - prep.wrong_before[start]) - val_wrong,
        n_pool=n_pool,
        human=n_val + (n_pool - n_auto if routes_rest else 0),
    )


def make_draws(prep: Prepared, method, n_vals: tuple[int, ...]):
    """`draws(keys (S,), eps (E,), delta) -> Outcome` of shape (S, V, E) for the V
    validation sizes `n_vals`: per seed one random order of the labelled rows, shared
    by all its cells; for each N_v (a static size: the method works on exactly N_v rows,
    not on a masked buffer of the largest) `split`, the method's thresholds at each eps,
    `label_pool`. One program for the whole grid; compile it once per method."""

    makers = {v: method.make(prep, v) for v in n_vals}

    def seed(key, eps, delta):
        rows = order(prep, key, max(n_vals))
        per_size = []
        for v in n_vals:
            sample = split(prep, rows[:v], v)

            def cell(e, sample=sample, v=v):
                t = makers[v](sample, e, delta)
                return label_pool(prep, sample, t, method.routes_rest)

            per_size.append(jax.vmap(cell)(eps))
        return jax.tree.map(lambda *a: jnp.stack(a), *per_size)

    return jax.jit(jax.vmap(seed, in_axes=(0, None, None)))
