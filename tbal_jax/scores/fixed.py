"""Fixed confidence scores g(x) and predicted classes from class logits (algorithm.md
sections 3-4): nothing to learn, no validation data spent.

A `Score` maps logits (n, k) to (score (n,), predicted class (n,) int32); the prediction
is the argmax (first class on ties, so z = 0 gives class 0).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, ClassVar

import jax
import jax.numpy as jnp

from tbal_jax.types import Array


@dataclasses.dataclass(frozen=True)
class Score:
    """A confidence score: `score(logits) -> (confidence (n,), predicted class (n,))`.
    `span(k)` is the range [lo, hi] it can take with k classes, where candidates fixed in
    advance are placed (algorithm.md section 12); None for an unbounded score."""

    fitted: ClassVar[bool] = False  # nothing to learn (see `tbal_jax.scores.fitted`)

    name: str
    label: str
    fn: Callable[[Array], tuple[Array, Array]]
    span: Callable[[int], tuple[float, float]] | None = None

    def __call__(self, logits: Array) -> tuple[Array, Array]:
        return self.fn(logits)


def top_two(values: Array) -> tuple[Array, Array]:
    """Largest and second-largest entry of each row (k >= 2). Two classes take plain
    max/min of the columns: reductions along a 2-wide axis are slow on XLA's CPU backend."""
    if values.shape[-1] == 2:
        return (
            jnp.maximum(values[..., 0], values[..., 1]),
            jnp.minimum(values[..., 0], values[..., 1]),
        )
    first = values.max(axis=-1)
    is_first = jax.nn.one_hot(jnp.argmax(values, axis=-1), values.shape[-1], dtype=bool)
    return first, jnp.where(is_first, -jnp.inf, values).max(axis=-1)


def class_value(per_class: Array, pred: Array) -> Array:
    """per_class[pred], as a select for two classes (a gather is slow on XLA's CPU)."""
    if per_class.shape[-1] == 2:
        return jnp.where(pred == 1, per_class[..., 1], per_class[..., 0])
    return per_class[pred]


def predicted_class(logits: Array) -> Array:
    """argmax of the logits, the first class on ties (so z = 0 gives class 0)."""
    if logits.shape[-1] == 2:
        return (logits[..., 1] > logits[..., 0]).astype(jnp.int32)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def max_prob(logits: Array) -> tuple[Array, Array]:
    """Confidence = max class probability (the paper preset)."""
    first, second = top_two(logits)
    if logits.shape[-1] == 2:
        conf = jax.nn.sigmoid(first - second)
    else:
        conf = 1.0 / jnp.sum(jnp.exp(logits - first[..., None]), axis=-1)
    return conf, predicted_class(logits)


def prob_margin(logits: Array) -> Array:
    """p_(1) - p_(2); for two classes tanh((z_(1) - z_(2)) / 2)."""
    if logits.shape[-1] == 2:
        first, second = top_two(logits)
        return jnp.tanh(0.5 * (first - second))
    first, second = top_two(jax.nn.softmax(logits, axis=-1))
    return first - second


def margin(logits: Array) -> tuple[Array, Array]:
    """Probability margin p_(1) - p_(2)."""
    return prob_margin(logits), predicted_class(logits)


def abs_logit(logits: Array) -> tuple[Array, Array]:
    """Logit gap z_(1) - z_(2); for a binary linear model this is |w.x (+ b)|."""
    first, second = top_two(logits)
    return first - second, predicted_class(logits)
