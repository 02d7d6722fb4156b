"""Synthetic datasets of SPEC section 7, drawn from a run's key.

A dataset is a pair of pools: the unlabeled pool X_u (N points) and the validation pool.
Points are drawn i.i.d., so a prefix of a pool *is* a uniform draw without replacement from
it (SPEC section 2, steps 1-2): the seed training set is the first n_s pool points and the
validation set the first N_v validation-pool points. This needs no permutation (a sort, slow
on XLA's CPU backend) and makes the validation sets of one seed nested across N_v, so a
sweep over N_v compares like with like (common random numbers).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from tbal_jax.types import Array, Key


class Pools(NamedTuple):
    """The two pools of one run (SPEC section 1)."""

    pool_x: Array  # (N, d) float32, the unlabeled pool X_u
    pool_y: Array  # (N,) int32 true labels, seen only through the oracle
    val_x: Array  # (V, d) float32, the validation pool
    val_y: Array  # (V,) int32


def _split_pools(x: Array, y: Array, n_val_pool: int) -> Pools:
    return Pools(x[n_val_pool:], y[n_val_pool:], x[:n_val_pool], y[:n_val_pool])


def unit_ball(key: Key, n_pool: int, n_val_pool: int, dim: int) -> Pools:
    """Uniform points in the unit ball of R^dim, labelled by a homogeneous halfspace.

    SPEC section 7: x = r*u with u uniform on the sphere and r = U(0,1)^(1/d);
    y = 1[w*.x >= 0] with w* = (1,...,1)/sqrt(d). No noise, no margin.
    """
    n = n_pool + n_val_pool
    k_dir, k_rad = jax.random.split(key)
    u = jax.random.normal(k_dir, (n, dim), jnp.float32)
    u = u / jnp.linalg.norm(u, axis=1, keepdims=True)
    r = jax.random.uniform(k_rad, (n, 1), jnp.float32) ** (1.0 / dim)
    x = r * u
    y = (x.sum(axis=1) >= 0).astype(jnp.int32)  # sign of w*.x, w* = 1/sqrt(d)
    return _split_pools(x, y, n_val_pool)


def circles(
    key: Key,
    n_pool: int,
    n_val_pool: int,
    dim: int = 2,
    noise: float = 0.05,
    factor: float = 0.5,
) -> Pools:
    """Two concentric circles with Gaussian noise (SPEC section 7).

    Class 0 lies on the unit circle, class 1 on the circle of radius `factor`; each point
    gets N(0, noise^2) noise per coordinate. Labels are i.i.d. fair coins (scikit-learn's
    `make_circles` splits exactly half/half; the difference is immaterial for the
    statistics and keeps pools i.i.d.).
    """
    del dim  # always 2; kept so every dataset has the same signature
    n = n_pool + n_val_pool
    k_lab, k_ang, k_noise = jax.random.split(key, 3)
    y = jax.random.bernoulli(k_lab, 0.5, (n,)).astype(jnp.int32)
    angle = jax.random.uniform(k_ang, (n,), jnp.float32, 0.0, 2.0 * jnp.pi)
    radius = jnp.where(y == 1, factor, 1.0)
    x = radius[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    x = x + noise * jax.random.normal(k_noise, (n, 2), jnp.float32)
    return _split_pools(x, y, n_val_pool)


DATASETS = {"unit_ball": unit_ball, "circles": circles}
