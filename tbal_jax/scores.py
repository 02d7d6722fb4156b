"""Confidence scores g(x) and predicted classes from class logits (SPEC sections 3-4).

Each score function maps logits (n, k) to (score (n,), predicted class (n,) int32); the
prediction is the argmax (first class on ties, so z = 0 gives class 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tbal_jax.types import Array


def top_two(values: Array) -> tuple[Array, Array]:
    """Largest and second-largest entry of each row (k >= 2), without a sort: `top_k`
    along a 2-wide class axis is slow on XLA's CPU backend."""
    first = values.max(axis=-1)
    is_first = jax.nn.one_hot(jnp.argmax(values, axis=-1), values.shape[-1], dtype=bool)
    second = jnp.where(is_first, -jnp.inf, values).max(axis=-1)
    return first, second


def max_prob(logits: Array) -> tuple[Array, Array]:
    """Confidence = max class probability (the paper preset)."""
    top = logits.max(axis=-1, keepdims=True)
    conf = 1.0 / jnp.sum(jnp.exp(logits - top), axis=-1)
    return conf, jnp.argmax(logits, axis=-1).astype(jnp.int32)


def margin(logits: Array) -> tuple[Array, Array]:
    """Probability margin p_(1) - p_(2)."""
    first, second = top_two(jax.nn.softmax(logits, axis=-1))
    return first - second, jnp.argmax(logits, axis=-1).astype(jnp.int32)


def abs_logit(logits: Array) -> tuple[Array, Array]:
    """Logit gap z_(1) - z_(2); for a binary linear model this is |w.x (+ b)|."""
    first, second = top_two(logits)
    return first - second, jnp.argmax(logits, axis=-1).astype(jnp.int32)


SCORES = {"max_prob": max_prob, "margin": margin, "abs_logit": abs_logit}
