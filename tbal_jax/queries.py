"""Query strategies: which unlabeled points get human labels next (algorithm.md sections 2, 4).

`select(key, logits, has_model, draw_priority, unlabeled, batch, capacity)` returns
`capacity` pool indices and a mask of the first `batch` valid ones (batch <= capacity is
a traced number; capacity is static). Only unlabeled points are ever chosen, and never the
same point twice. Without a model (`has_model` false) model-based strategies take the
points of highest `draw_priority`: the seed's draw order (`tbal_jax.datasets`), so the first
queries are a uniform random draw.
Selection uses `lax.top_k` on a priority, which is cheap on XLA's CPU backend (a full
sort of the pool is not). `QUERIES` is the registry (`--query=NAME`); add one: a
function here and one `QUERIES.register(...)` line.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from tbal_jax.registry import Registry
from tbal_jax.scores import prob_margin
from tbal_jax.types import Array, Key

Select = Callable[[Key, Array, Array, Array, Array, Array, int], tuple[Array, Array]]


@dataclasses.dataclass(frozen=True)
class Query:
    """A query strategy: `select(key, logits, has_model, draw_priority, unlabeled,
    batch, capacity) -> (indices (capacity,), valid (capacity,))`."""

    name: str
    label: str
    select: Select

    def __call__(self, *args) -> tuple[Array, Array]:
        return self.select(*args)


def _entropy(logits: Array) -> Array:
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


def _take_top(priority: Array, unlabeled: Array, batch: Array, capacity: int):
    """The `batch` unlabeled points of highest priority (ties: lowest index)."""
    priority = jnp.where(unlabeled, priority, -jnp.inf)
    _, idx = jax.lax.top_k(priority, capacity)
    valid = (jnp.arange(capacity) < batch) & unlabeled[idx]
    return idx, valid


def random(key, logits, has_model, draw_priority, unlabeled, batch, capacity):
    """Uniformly at random among the unlabeled points."""
    return _take_top(
        jax.random.uniform(key, unlabeled.shape), unlabeled, batch, capacity
    )


def margin(key, logits, has_model, draw_priority, unlabeled, batch, capacity):
    """The smallest margins p_(1) - p_(2)."""
    del key
    return _take_top(
        jnp.where(has_model, -prob_margin(logits), draw_priority),
        unlabeled,
        batch,
        capacity,
    )


def entropy(key, logits, has_model, draw_priority, unlabeled, batch, capacity):
    """The largest predictive entropies."""
    del key
    return _take_top(
        jnp.where(has_model, _entropy(logits), draw_priority),
        unlabeled,
        batch,
        capacity,
    )


def margin_random(
    key, logits, has_model, draw_priority, unlabeled, batch, capacity, c: int = 2
):
    """Paper preset (algorithm.md section 4): the c*batch smallest margins, then batch of those
    uniformly at random."""
    shortlist, in_shortlist = _take_top(
        jnp.where(has_model, -prob_margin(logits), draw_priority),
        unlabeled,
        c * batch,
        c * capacity,
    )
    u = jax.random.uniform(key, shortlist.shape)
    pick, valid = _take_top(u, in_shortlist, batch, capacity)
    return shortlist[pick], valid


QUERIES: Registry[Query] = Registry("query")
MARGIN_RANDOM = QUERIES.register(
    Query("margin_random", "margin shortlist, then random", margin_random)
)
RANDOM = QUERIES.register(Query("random", "random", random))
QUERIES.register(Query("margin", "smallest margin", margin))
QUERIES.register(Query("entropy", "largest entropy", entropy))
