"""Datasets (SPEC section 7) behind one small interface: `Dataset.split(key, arrays)`.

A run sees its data as `Pools`: the unlabeled pool X_u and the validation pool, with the
order in which that seed draws from them. The seed training set is the first n_s points of
the pool order, the queries made before any model exists follow it, and the validation set
is the first N_v points of the validation order (SPEC section 2, steps 0-2).

- **Synthetic** datasets (unit ball, circles) draw their points i.i.d. from the key, so
  the draw order is the array order: a prefix is a uniform draw without replacement, no
  permutation is needed, and one seed's validation sets are nested across N_v (common
  random numbers).
- **Fixed** datasets (Fashion-MNIST, digits, a user's .npz; see `tbal_jax.loaders`) hold
  their arrays once (`DataArrays`). The compiled sweep takes them as an argument that is
  not vmapped, so they are never an HLO constant and never copied per seed or per run; each
  seed draws a random permutation of the pool and of the validation pool. Without a given
  validation pool, each seed's permutation of the whole array also splits it: its first
  `n_val_pool` points are the validation pool, the rest the pool in draw order. Those
  points stay in the pool arrays with a rank of at least `n_pool`, and a run never labels
  them (`run.EXCLUDED`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tbal_jax.errors import lookup
from tbal_jax.models import CIRCLES_LOGISTIC, UNIT_BALL_SVM, Model
from tbal_jax.types import Array, Key


class Pools(NamedTuple):
    """The two pools of one run and its draw order (SPEC sections 1-2)."""

    pool_x: Array  # (N, d) float32, the unlabeled pool X_u
    pool_y: Array  # (N,) int32 true labels, seen only through the oracle
    val_x: Array  # (V, d) float32, the validation pool
    val_y: Array  # (V,) int32
    pool_order: Array  # (N,) int32 pool indices in draw order; the first n_pool are X_u
    pool_rank: (
        Array  # (N,) int32 each point's place in that order (>= n_pool: not in X_u)
    )
    val_order: Array  # (V,) int32 validation-pool indices in draw order


class DataArrays(NamedTuple):
    """A fixed dataset's arrays: pool (x, y) and, if given, the validation pool."""

    x: Array  # (n, d) float32
    y: Array  # (n,) int32
    x_val: Array | None = None
    y_val: Array | None = None


def _in_array_order(x: Array, y: Array, n_val_pool: int) -> Pools:
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
    return _in_array_order(x, y, n_val_pool)


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
    del dim  # always 2; kept so every generator has the same signature
    n = n_pool + n_val_pool
    k_lab, k_ang, k_noise = jax.random.split(key, 3)
    y = jax.random.bernoulli(k_lab, 0.5, (n,)).astype(jnp.int32)
    angle = jax.random.uniform(k_ang, (n,), jnp.float32, 0.0, 2.0 * jnp.pi)
    radius = jnp.where(y == 1, factor, 1.0)
    x = radius[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    x = x + noise * jax.random.normal(k_noise, (n, 2), jnp.float32)
    return _in_array_order(x, y, n_val_pool)


def _rank(order: Array) -> Array:
    """The inverse permutation: rank[order[j]] = j."""
    n = order.shape[0]
    return jnp.zeros(n, jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A dataset: its sizes, its preset model, and how a seed draws its pools.

    Synthetic datasets have a generator `draw(key, n_pool, n_val_pool, dim) -> Pools`.
    Fixed datasets have `arrays` (held once, passed to the compiled sweep unbatched, and
    left out of equality and hashing: two datasets of the same shapes share one compiled
    program). `source` says where the data came from (a file or folder).
    """

    name: str
    num_classes: int
    dim: int
    n_pool: int  # N: points that can be labelled
    n_val_pool: int  # points the validation set is drawn from
    model: Model
    draw: Callable | None = None
    source: str = ""
    arrays: DataArrays | None = dataclasses.field(
        default=None, compare=False, hash=False, repr=False
    )

    @property
    def fixed(self) -> bool:
        return self.draw is None

    @property
    def val_given(self) -> bool:
        """A fixed dataset with its own validation pool (else split off per seed)."""
        return self.arrays is not None and self.arrays.x_val is not None

    def device_arrays(self):
        """The arrays the compiled sweep takes (an empty tuple for synthetic data)."""
        if self.arrays is None:
            return ()
        return jax.tree.map(jnp.asarray, self.arrays)

    def test_sample(self, key: Key, n: int) -> tuple[Array, Array]:
        """`n` fresh points of a synthetic dataset (SPEC 7's test set), for population
        metrics; fixed datasets have none (`validate.check_static` refuses)."""
        pools = self.draw(key, n, 0, self.dim)
        return pools.pool_x, pools.pool_y

    def split(self, key: Key, arrays) -> Pools:
        """One seed's pools and draw order (see the module docstring)."""
        if not self.fixed:
            return self.draw(key, self.n_pool, self.n_val_pool, self.dim)
        if arrays.x_val is not None:
            k_pool, k_val = jax.random.split(key)
            order = jax.random.permutation(k_pool, self.n_pool).astype(jnp.int32)
            val_order = jax.random.permutation(k_val, self.n_val_pool).astype(jnp.int32)
            return Pools(
                arrays.x,
                arrays.y,
                arrays.x_val,
                arrays.y_val,
                order,
                _rank(order),
                val_order,
            )
        # one permutation of the whole array: validation pool first, then the pool
        perm = jax.random.permutation(key, arrays.x.shape[0]).astype(jnp.int32)
        pool_order = jnp.roll(perm, -self.n_val_pool)
        return Pools(
            arrays.x, arrays.y, arrays.x, arrays.y, pool_order, _rank(pool_order), perm
        )


UNIT_BALL = Dataset(
    "unit_ball",
    num_classes=2,
    dim=30,
    n_pool=16_000,
    n_val_pool=4_000,
    model=UNIT_BALL_SVM,
    draw=unit_ball,
)
CIRCLES = Dataset(
    "circles",
    num_classes=2,
    dim=2,
    n_pool=8_000,
    n_val_pool=2_000,
    model=CIRCLES_LOGISTIC,
    draw=circles,
)
SYNTHETIC = {d.name: d for d in (UNIT_BALL, CIRCLES)}


def get_dataset(name: str) -> Dataset:
    """A synthetic dataset by name (fixed ones come from `tbal_jax.loaders`)."""
    return lookup(SYNTHETIC, name, "dataset", " (real data: tbal_jax.loaders)")


def host_pools(dataset: Dataset, key: Key) -> Pools:
    """One seed's pools on the host (NumPy), for figures and tests."""
    return jax.tree.map(np.asarray, dataset.split(key, dataset.device_arrays()))
