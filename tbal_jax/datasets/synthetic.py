"""The paper's synthetic datasets (algorithm.md section 7): uniform points in the unit ball
labelled by a halfspace, and two noisy concentric circles. Points are drawn i.i.d. from
the key, so the draw order is the array order (`tbal_jax.datasets.base`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tbal_jax.datasets.base import Dataset, Pools
from tbal_jax.models.linear import CIRCLES_LOGISTIC, UNIT_BALL_SVM
from tbal_jax.types import Array, Key


def in_array_order(x: Array, y: Array, n_val_pool: int) -> Pools:
    """Points drawn i.i.d.: the first `n_val_pool` are the validation pool, the rest
    the pool, and the draw order is the array order."""
    identity = jnp.arange(x.shape[0] - n_val_pool, dtype=jnp.int32)
    return Pools(
        x[n_val_pool:],
        y[n_val_pool:],
        x[:n_val_pool],
        y[:n_val_pool],
        identity,
        identity,
        jnp.arange(n_val_pool, dtype=jnp.int32),
    )


def unit_ball(key: Key, n_pool: int, n_val_pool: int, dim: int) -> Pools:
    """Uniform points in the unit ball of R^dim, labelled by a homogeneous halfspace.

    algorithm.md section 7: x = r*u with u uniform on the sphere and r = U(0,1)^(1/d);
    y = 1[w*.x >= 0] with w* = (1,...,1)/sqrt(d). No noise, no margin.
    """
    n = n_pool + n_val_pool
    k_dir, k_rad = jax.random.split(key)
    u = jax.random.normal(k_dir, (n, dim), jnp.float32)
    u = u / jnp.linalg.norm(u, axis=1, keepdims=True)
    r = jax.random.uniform(k_rad, (n, 1), jnp.float32) ** (1.0 / dim)
    x = r * u
    y = (x.sum(axis=1) >= 0).astype(jnp.int32)  # sign of w*.x, w* = 1/sqrt(d)
    return in_array_order(x, y, n_val_pool)


def circles(
    key: Key,
    n_pool: int,
    n_val_pool: int,
    dim: int = 2,
    noise: float = 0.05,
    factor: float = 0.5,
) -> Pools:
    """Two concentric circles with Gaussian noise (algorithm.md section 7).

    Class 0 lies on the unit circle, class 1 on the circle of radius `factor`; each point
    gets N(0, noise^2) noise per coordinate. Labels are i.i.d. fair coins (scikit-learn's
    `make_circles` splits exactly half/half; the difference is immaterial for the
    statistics and keeps pools i.i.d.).
    """
    del dim  # always 2; kept so every generator has the same signature
    n = n_pool + n_val_pool
    k_lab, k_ang, k_noise = jax.random.split(key, 3)
    y = jax.random.bernoulli(k_lab, 0.5, (n,)).astype(jnp.int32)
    angle = jax.random.uniform(k_ang, (n,), jnp.float32, 0.0, 2.0 * jnp.pi)
    radius = jnp.where(y == 1, factor, 1.0)
    x = radius[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    x = x + noise * jax.random.normal(k_noise, (n, 2), jnp.float32)
    return in_array_order(x, y, n_val_pool)


UNIT_BALL = Dataset(
    "unit_ball",
    num_classes=2,
    dim=30,
    n_pool=16_000,
    n_val_pool=4_000,
    model=UNIT_BALL_SVM,
    draw=unit_ball,
    label="Unit ball",
)
CIRCLES = Dataset(
    "circles",
    num_classes=2,
    dim=2,
    n_pool=8_000,
    n_val_pool=2_000,
    model=CIRCLES_LOGISTIC,
    draw=circles,
    label="Circles",
)
