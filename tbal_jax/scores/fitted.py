"""Confidence functions that learn from validation data (algorithm.md section 14).

A `FittedScore` is a confidence function g fitted each round on a calibration part
D_cal of the current validation set (the authors' sequel, Colander, and the post-hoc
calibrators it compares with); the thresholds are then estimated on the rest, D_th,
with the run's estimator. Its two pure functions, in the style of `models.base.Model`:

- `fit(key, z, logits, y, cal, th, coverage) -> params`: learn g on the rows of the
  fixed-capacity buffers where `cal` holds. `z` (V, d_z) are the model's features (the
  MLP's last hidden layer, a linear model's inputs), `logits` (V, k) its class logits,
  `y` (V,) the true labels. `th` marks D_th and `coverage(conf, mask)` is the share of
  the `mask` rows whose confidence `conf` (V,) clears the thresholds the run's
  estimator sets on those rows: a checkpoint rule may read it (Colander's does);
- `confidence(params, z, logits) -> (n,)`: g's confidence in the model's predicted
  class, the argmax of the logits (g never changes the prediction).

`split(key, active, nu)` draws D_cal and D_th (algorithm.md section 14, step 3a).
Add one: a subclass in a module of this package and one `SCORES.register(...)` line
in `tbal_jax.scores`.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Callable, ClassVar

import jax
import jax.numpy as jnp

from tbal_jax.types import Array, Key, PyTree

Coverage = Callable[[Array, Array], Array]  # (conf (V,), mask (V,)) -> share covered


@dataclasses.dataclass(frozen=True)
class FittedScore(abc.ABC):
    """A confidence function learnt on D_cal (module docstring). `nu` is D_cal's share
    of the validation points each round."""

    fitted: ClassVar[bool] = True

    name: str
    label: str
    nu: float = 0.5

    def span(self, k: int) -> tuple[float, float]:
        """Every fitted confidence lies in [0, 1] (where fixed candidates go)."""
        del k
        return (0.0, 1.0)

    @abc.abstractmethod
    def fit(
        self,
        key: Key,
        z: Array,
        logits: Array,
        y: Array,
        cal: Array,
        th: Array,
        coverage: Coverage,
    ) -> PyTree: ...

    @abc.abstractmethod
    def confidence(self, params: PyTree, z: Array, logits: Array) -> Array: ...


def random_rank(key: Key, mask: Array) -> Array:
    """Each slot's place in a uniformly random order of the `mask` slots, which come
    first (0 .. n-1); the other slots follow."""
    u = jnp.where(mask, jax.random.uniform(key, mask.shape), 2.0)
    return jnp.argsort(jnp.argsort(u))


def split(key: Key, active: Array, nu: float) -> tuple[Array, Array]:
    """(D_cal, D_th) masks: a uniformly random floor(nu * n) of the n `active` slots,
    and the other active slots (algorithm.md section 14, step 3a)."""
    rank = random_rank(key, active)
    n_cal = jnp.floor(nu * jnp.sum(active)).astype(rank.dtype)
    cal = active & (rank < n_cal)
    return cal, active & ~cal
