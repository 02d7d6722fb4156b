"""Static run configuration and the swept parameters (STYLE section 2, items 1-2).

`StaticConfig` fixes every shape and loop length, so it is a frozen (hashable) dataclass
closed over by `make_run`; `RunParams` holds what a sweep varies, as traced arrays, so
changing grid values never recompiles.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from tbal_jax.types import Array

SEED_PERCENT = 20  # n_s = int(0.2 * N_q)   (SPEC section 2)
BATCH_PERCENT = 5  # n_b = int(0.05 * N_q)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Pool sizes and the preset model of a dataset (SPEC sections 5, 7)."""

    n_pool: int
    n_val_pool: int
    dim: int
    model: str


DATASET_SPECS = {
    "unit_ball": DatasetSpec(
        n_pool=16_000, n_val_pool=4_000, dim=30, model="unit_ball_svm"
    ),
    "circles": DatasetSpec(
        n_pool=8_000, n_val_pool=2_000, dim=2, model="circles_logistic"
    ),
}


def seed_size(n_train):
    """n_s = int(0.2 N_q), in integer arithmetic (works on ints and integer arrays)."""
    return (n_train * SEED_PERCENT) // 100


def batch_size(n_train):
    """n_b = int(0.05 N_q)."""
    return (n_train * BATCH_PERCENT) // 100


def max_rounds_for(n_train: int) -> int:
    """Rounds <= 1 + ceil((N_q - n_s) / n_b)  (SPEC section 2, step 6)."""
    return 1 + math.ceil((n_train - seed_size(n_train)) / batch_size(n_train))


@dataclasses.dataclass(frozen=True)
class StaticConfig:
    """Everything that sets a shape or a loop length; one compiled program per value."""

    dataset: str = "unit_ball"
    max_n_val: int = 4_000  # capacity of the validation buffer
    max_n_train: int = 500  # capacity of the training buffer (largest budget N_q)
    max_rounds: int = 17
    score: str = "max_prob"
    query: str = "margin_random"
    estimator: str = "sigma"
    model: str | None = None  # None: the dataset's preset model
    round_segments: int = (
        3  # scans over rounds, each training on a static buffer prefix
    )
    method: str = (
        "tbal"  # "tbal", or the baselines "al" (gives AL, AL+SC), "pl" (PL, PL+SC)
    )

    @property
    def spec(self) -> DatasetSpec:
        return DATASET_SPECS[self.dataset]

    @property
    def model_name(self) -> str:
        return self.model or self.spec.model

    @property
    def max_batch(self) -> int:
        return batch_size(self.max_n_train)

    @classmethod
    def for_grid(
        cls, dataset: str, n_val, n_train, method: str = "tbal", **kwargs
    ) -> "StaticConfig":
        """Capacities that fit a grid: the largest N_v and N_q, and the most rounds
        (one for PL, which trains once)."""
        rounds = 1 if method == "pl" else max(max_rounds_for(int(q)) for q in n_train)
        return cls(
            dataset=dataset,
            max_n_val=int(max(n_val)),
            max_n_train=int(max(n_train)),
            max_rounds=rounds,
            method=method,
            **kwargs,
        )


class RunParams(NamedTuple):
    """Swept values of one run (or, batched, of a grid): all traced."""

    n_val: Array  # N_v, int32
    n_train: Array  # N_q, int32
    eps: Array  # tolerance, float32
    c1: Array  # slack constant, float32


def grid_params(n_val, n_train, eps, c1) -> RunParams:
    """The Cartesian product of the grid axes, flattened (order: n_val, n_train, eps, c1,
    the last varying fastest), as host arrays in 64-bit; `device_params` casts them."""
    axes = np.meshgrid(
        np.asarray(n_val),
        np.asarray(n_train),
        np.asarray(eps),
        np.asarray(c1),
        indexing="ij",
    )
    n_v, n_q, e, c = (a.ravel() for a in axes)
    return RunParams(
        n_v.astype(np.int64),
        n_q.astype(np.int64),
        e.astype(np.float64),
        c.astype(np.float64),
    )


def device_params(params: RunParams) -> RunParams:
    """The dtypes a run is compiled for: int32 sizes, float32 eps and C1."""
    return RunParams(
        np.asarray(params.n_val, np.int32),
        np.asarray(params.n_train, np.int32),
        np.asarray(params.eps, np.float32),
        np.asarray(params.c1, np.float32),
    )
