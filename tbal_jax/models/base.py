"""The model interface (algorithm.md section 5).

A `Model` is a frozen, hashable dataclass that holds its hyperparameters and three pure
functions, in the style of optax's `GradientTransformation`:

- `init(key, dim, k) -> weights`: starting parameters for inputs of dimension `dim` and
  `k` classes (the key is for models with a random initialisation, such as an MLP);
- `fit(key, weights, x, y, mask) -> weights`: train on a fixed-capacity buffer `x` (Q, d)
  with labels `y` (Q,) where only rows with `mask` count. The linear models here minimise
  a strictly convex objective, so the result is its unique minimiser (the "fresh model"
  of algorithm.md section 2, step 2) up to the solver's stopping tolerance, whatever the start,
  and they warm-start from the previous round's solution to save solver steps; the MLP
  (`tbal_jax.models.mlp`) reads only the shapes of `weights` and trains from a fresh random
  initialisation drawn from `key`;
- `logits(weights, x) -> (n, k)` class logits; probabilities are their softmax;
- `features_and_logits(weights, x) -> (z, logits)`: also the features z a learnt
  confidence function sees (`tbal_jax.scores.fitted`): the inputs for linear models,
  the last hidden layer for the MLP.

`skip_settled_rows` (a class attribute, False by default) asks the run to score only
the rows whose outcome is still open (`tbal_jax.open_rows`): worth it where a row's
forward pass costs far more than gathering the row, as for the MLP. `serial_runs` (False
here) asks that runs batched by `vmap` score those rows one run after another
(`tbal_jax.serial`), as the MLP does on a CPU.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

import jax.numpy as jnp

from tbal_jax.types import Array, Key, PyTree

if TYPE_CHECKING:  # pragma: no cover
    from tbal_jax.datasets.base import Dataset


PRODUCT_COLUMNS = 16  # see `shared_data_product`


def shared_data_product(x: Array, w: Array) -> Array:
    """x @ w (n, k) for rows `x` that many runs share under vmap (a seed's pool,
    validation or test rows; a fixed dataset's rows), rounded the same however many runs
    share them.

    Under vmap JAX folds the runs' weights into one product x @ [w_1 ... w_R] of R k
    columns, and XLA's CPU kernels round a column differently with the column count and
    its place: on an AVX2 machine a unit-ball run's scores changed in the last bit with
    the grid's size, which moved thresholds and so the run's results (the sweep's
    reproducibility, `tbal_jax.sweep`). Padding each run's columns with zeros to a
    multiple of PRODUCT_COLUMNS gives every column the same rounding, equal bit for bit
    to the unbatched product (measured for R = 1..44 runs in nested seed x cell vmaps,
    k = 1 and 10, d = 30 and 784). For k = 10, d = 784 it costs 1.2x the product's time;
    for one column, `shared_data_dot` is cheaper."""
    k = w.shape[1]
    padded = -(-k // PRODUCT_COLUMNS) * PRODUCT_COLUMNS
    return (x @ jnp.pad(w, ((0, 0), (0, padded - k))))[:, :k]


def shared_data_dot(x: Array, w: Array) -> Array:
    """x @ w (n,) for one weight vector `w` (d,), as `shared_data_product` but as a
    multiply and a sum over d, which no kernel choice rounds differently: under vmap
    over 88 runs of a (16000, 30) pool it takes 1.9x the plain product's time, against
    19x for the padded product."""
    return jnp.sum(x * w[None, :], axis=1)


class Model(abc.ABC):
    """The model interface (see the module docstring); subclasses are frozen dataclasses
    whose fields are the hyperparameters."""

    name: str
    skip_settled_rows: ClassVar[bool] = False
    serial_runs: ClassVar[bool] = False

    @abc.abstractmethod
    def init(self, key: Key, dim: int, k: int) -> PyTree: ...

    @abc.abstractmethod
    def fit(
        self, key: Key, weights: PyTree, x: Array, y: Array, mask: Array
    ) -> PyTree: ...

    @abc.abstractmethod
    def logits(self, weights: PyTree, x: Array) -> Array: ...

    def features_and_logits(self, weights: PyTree, x: Array) -> tuple[Array, Array]:
        """(z, logits) with z = the inputs (a model without hidden layers)."""
        return x, self.logits(weights, x)

    @property
    def title(self) -> str:
        """The name figures and tables show (`label`, or the name)."""
        return getattr(self, "label", "") or self.name

    def supports(self, dataset: Dataset) -> str | None:
        """Why this model cannot be trained on `dataset` (one line), or None if it can;
        checked on the host before anything compiles (`StaticConfig.check`)."""
        del dataset
        return None
