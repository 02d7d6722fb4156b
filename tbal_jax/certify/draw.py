"""One round of TBAL on a model's own scores (algorithm.md section 13): no fit, no query.

Each draw takes N_v validation rows among the labelled rows without replacement (the
first N_v of the seed's random order of them, so one buffer of the grid's largest N_v
serves every N_v with a mask: one compiled program for the whole grid, and one order
per seed for all its cells); every other row is the pool.
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
    """The first `capacity` labelled rows of the draw's random order (one sort of random
    bits: the same uniform permutation as `jax.random.permutation`, one pass)."""
    bits = jax.random.bits(key, prep.labelled_rows.shape, jnp.uint32)
    return prep.labelled_rows[jnp.argsort(bits)[:capacity]]


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


def label_pool(prep: Prepared, sample: Sample, thresholds, routes_rest: bool) -> Outcome:
    """Machine-label the pool rows at or above their group's threshold, and count."""
    auto = sample.pool & (prep.conf >= thresholds[prep.group])
    n_auto = jnp.sum(auto)
    n_pool = jnp.sum(sample.pool)
    n_val = jnp.sum(sample.active)
    human = n_val + (n_pool - n_auto if routes_rest else 0)
    return Outcome(
        thresholds=thresholds,
        n_auto=n_auto,
        n_auto_known=jnp.sum(auto & prep.known),
        n_wrong=jnp.sum(auto & prep.wrong),
        n_pool=n_pool,
        human=human,
    )


def make_draws(prep: Prepared, method, capacity: int):
    """`draws(keys (S,), n_val (C,), eps (C,), delta) -> Outcome` of shape (S, C): per
    seed one random order of the labelled rows, shared by its C cells (N_v, eps); each
    cell `split`, the method's thresholds, `label_pool`. Compile it once per method."""

    thresholds_of = method.make(prep, capacity)

    def cell(rows, n_val, eps, delta):
        sample = split(prep, rows, n_val)
        t = thresholds_of(sample, eps, delta)
        return label_pool(prep, sample, t, method.routes_rest)

    def seed(key, n_val, eps, delta):
        rows = order(prep, key, capacity)
        return jax.vmap(cell, in_axes=(None, 0, 0, None))(rows, n_val, eps, delta)

    return jax.jit(jax.vmap(seed, in_axes=(0, None, None, None)))
