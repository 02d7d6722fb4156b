"""The dataset interface (algorithm.md section 7): `Dataset.split(key, arrays)` and `Source`.

A run sees its data as `Pools`: the unlabeled pool X_u and the validation pool, with the
order in which that seed draws from them. The seed training set is the first n_s points of
the pool order, the queries made before any model exists follow it, and the validation set
is the first N_v points of the validation order (algorithm.md section 2, steps 0-2).

- **Synthetic** datasets (unit ball, circles) draw their points i.i.d. from the key, so
  the draw order is the array order: a prefix is a uniform draw without replacement, no
  permutation is needed, and one seed's validation sets are nested across N_v (common
  random numbers).
- **Fixed** datasets (Fashion-MNIST, digits, a user's .npz; see `tbal_jax.datasets`) hold
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

from tbal_jax.models.base import Model
from tbal_jax.types import Array, Key


class Pools(NamedTuple):
    """The two pools of one run and its draw order (algorithm.md sections 1-2)."""

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
    """A fixed dataset's arrays: pool (x, y) and, if given, the validation pool and a
    held-out test split (never trained or validated on: population metrics)."""

    x: Array  # (n, d) float32
    y: Array  # (n,) int32
    x_val: Array | None = None
    y_val: Array | None = None
    x_test: Array | None = None
    y_test: Array | None = None


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
    label: str = ""
    arrays: DataArrays | None = dataclasses.field(
        default=None, compare=False, hash=False, repr=False
    )
    n_test: int = 0  # a fixed dataset's held-out test split (0: none)

    options = ()  # a synthetic dataset loads with no option (see `Source`)

    def load(self) -> Dataset:
        """The registry entry's loader (`tbal_jax.datasets.load_dataset`): a synthetic
        dataset is its own loaded form."""
        return self

    def unavailable(self) -> None:
        """A synthetic dataset can always be drawn."""
        return None

    @property
    def title(self) -> str:
        """The name figures and tables show."""
        return self.label or self.name

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

    def test_sample(self, key: Key, n: int, arrays=()) -> tuple[Array, Array]:
        """Held-out points for population metrics (algorithm.md section 7's test set):
        `n` fresh points of a synthetic dataset, or a fixed dataset's whole test split
        (`arrays.x_test`, n = `n_test`; `StaticConfig.check` refuses another n)."""
        if self.fixed:
            return arrays.x_test, arrays.y_test
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


@dataclasses.dataclass(frozen=True)
class Source:
    """A registry entry for data read from somewhere (a file, a folder, a package):
    `load(**options)` returns the `Dataset`; `options` names the keyword options it
    takes, among `data` (a file), `data_dir` (a folder) and `val_fraction`, so that an
    option given to a dataset that cannot use it is refused, not ignored."""

    name: str
    label: str
    loader: Callable[..., Dataset]
    options: tuple[str, ...] = ()
    missing: Callable[..., str | None] | None = None  # why it cannot load here, or None

    def load(self, **options) -> Dataset:
        return self.loader(**options)

    def unavailable(self, **options) -> str | None:
        """Why the data cannot be loaded on this machine (files not installed), or
        None; `--experiment=all` skips such datasets and says why."""
        return self.missing(**options) if self.missing else None


def host_pools(dataset: Dataset, key: Key) -> Pools:
    """One seed's pools on the host (NumPy), for figures and tests."""
    return jax.tree.map(np.asarray, dataset.split(key, dataset.device_arrays()))
