"""Static run configuration, the swept values and the protocols (STYLE section 2).

`StaticConfig` fixes every shape and loop length, so it is a frozen (hashable) dataclass
closed over by `make_run`; `RunParams` holds what a sweep varies, as traced arrays, so
changing grid values never recompiles.

The swept values are declared once, in `SWEPT`: a `RunParams` whose fields are `Swept`
declarations (dtype, meaning, valid range). The grid (`grid_params`), the device dtypes
(`device_params`), the compiled program's input shapes (`sweep.py`), the result columns
(`results.py`), the command-line overrides (`experiments/run.py`) and the input checks
(`validate.py`) are all derived from it, so a new swept value is one field here and one
line in `SWEPT`.

A `Protocol` (SPEC sections 2 and 6) says, as data, how a run spends its labels: TBAL
auto-labels inside the loop; AL queries its whole budget and labels once at the end; PL
takes its whole budget at random up front, trains once and labels once at the end.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from tbal_jax.errors import lookup
from tbal_jax.types import Array

if TYPE_CHECKING:  # pragma: no cover
    from tbal_jax.data import Dataset
    from tbal_jax.models import Model

SEED_PERCENT = 20  # n_s = int(0.2 * N_q)   (SPEC section 2)
BATCH_PERCENT = 5  # n_b = int(0.05 * N_q)


def seed_size(n_train):
    """n_s = int(0.2 N_q), in integer arithmetic (works on ints and integer arrays)."""
    return (n_train * SEED_PERCENT) // 100


def batch_size(n_train):
    """n_b = int(0.05 N_q)."""
    return (n_train * BATCH_PERCENT) // 100


def max_rounds_for(n_train: int) -> int:
    """Rounds <= 1 + ceil((N_q - n_s) / n_b)  (SPEC section 2, step 6)."""
    return 1 + math.ceil((n_train - seed_size(n_train)) / batch_size(n_train))


class RunParams(NamedTuple):
    """Swept values of one run (or, batched, of a grid): all traced. Declared in `SWEPT`."""

    n_val: Array  # N_v
    n_train: Array  # N_q
    eps: Array  # tolerance
    c1: Array  # slack constant
    delta: Array = 0.05  # confidence level of the guaranteed estimators (SPEC 12)


@dataclasses.dataclass(frozen=True)
class Swept:
    """The declaration of one swept value.

    `low`/`high` bound it (inclusive unless `open_high`); a `high` given as a string names
    a `Dataset` attribute ("n_pool", "n_val_pool") or the validation capacity, resolved by
    `validate.check_grid`. `why` completes the error message when a value is out of range.
    """

    dtype: type
    help: str
    low: float
    high: float | str
    why: str
    open_high: bool = False

    @property
    def integer(self) -> bool:
        return np.issubdtype(self.dtype, np.integer)


SWEPT = RunParams(
    n_val=Swept(
        np.int32,
        "validation sizes N_v",
        1,
        "n_val_pool",
        "the validation size must be between 1 and the validation pool",
    ),
    n_train=Swept(
        np.int32,
        "training budgets N_q",
        20,
        "n_pool",
        "the training budget must be between 20 (so that the batch int(0.05*n_train) "
        "is at least 1) and the pool size",
    ),
    eps=Swept(
        np.float32,
        "tolerances eps",
        1e-6,
        1.0,
        "the tolerance must lie in (0, 1), at least 1e-06 (the run computes in float32)",
        open_high=True,
    ),
    c1=Swept(
        np.float32,
        "slack constants C1",
        0.0,
        1e3,
        "the slack constant must lie in [0, 1000]",
    ),
    delta=Swept(
        np.float32,
        "confidence levels delta of the guaranteed estimators",
        1e-6,
        1.0,
        "delta must lie in (0, 1), at least 1e-06 (the run computes in float32)",
        open_high=True,
    ),
)


def grid_params(*axes, **named) -> RunParams:
    """The Cartesian product of the grid axes (given in `RunParams` order, positionally
    or by name), flattened with the last axis varying fastest, as host arrays in 64-bit;
    `device_params` casts them."""
    from tbal_jax.validate import check_grid  # it imports this module

    check_grid(None, *axes, **named)
    values = RunParams(*axes, **named)
    mesh = np.meshgrid(*(np.asarray(v) for v in values), indexing="ij")
    return RunParams(
        *(
            a.ravel().astype(np.int64 if d.integer else np.float64)
            for a, d in zip(mesh, SWEPT)
        )
    )


def device_params(params: RunParams) -> RunParams:
    """The dtypes a run is compiled for (`SWEPT`): int32 sizes, float32 eps, C1, delta."""
    return RunParams(*(np.asarray(v, d.dtype) for v, d in zip(params, SWEPT)))


@dataclasses.dataclass(frozen=True)
class Protocol:
    """How a run spends its labels (SPEC sections 2 and 6), as data.

    - `auto_label_in_loop`: estimate thresholds and auto-label every round (TBAL);
    - `budget_up_front`: query the whole budget N_q at random before the first round and
      train once (PL), rather than a seed set n_s and batches;
    - `final_labelling`: after the loop, label once with the final model: every remaining
      point (outcome `name`) and those above thresholds estimated once on the whole
      validation set (outcome `name + "_sc"`).
    """

    name: str
    auto_label_in_loop: bool
    budget_up_front: bool
    final_labelling: bool

    @property
    def outcomes(self) -> tuple[str, ...]:
        if self.final_labelling:
            return (self.name, self.name + "_sc")
        return (self.name,)

    def rounds_for(self, n_train: int) -> int:
        return 1 if self.budget_up_front else max_rounds_for(n_train)


TBAL = Protocol(
    "tbal", auto_label_in_loop=True, budget_up_front=False, final_labelling=False
)
AL = Protocol(
    "al", auto_label_in_loop=False, budget_up_front=False, final_labelling=True
)
PL = Protocol(
    "pl", auto_label_in_loop=False, budget_up_front=True, final_labelling=True
)
PROTOCOLS = {p.name: p for p in (TBAL, AL, PL)}


@dataclasses.dataclass(frozen=True)
class StaticConfig:
    """Everything that sets a shape or a loop length; one compiled program per value."""

    dataset: Dataset
    max_n_val: int = 4_000  # capacity of the validation buffer
    max_n_train: int = 500  # capacity of the training buffer (largest budget N_q)
    max_rounds: int = 17
    score: str = "max_prob"
    query: str = "margin_random"
    estimator: str = "sigma"
    model: Model | None = None  # None: the dataset's preset model
    round_segments: int = (
        3  # scans over rounds, each training on a static buffer prefix
    )
    protocol: Protocol = TBAL
    n_test: int = 0  # held-out test points per seed (SPEC 7's test set); 0: none

    @property
    def the_model(self) -> Model:
        return self.model or self.dataset.model

    @property
    def max_batch(self) -> int:
        return batch_size(self.max_n_train)

    @classmethod
    def for_grid(
        cls, dataset, n_val, n_train, protocol: Protocol | str = TBAL, **kwargs
    ) -> StaticConfig:
        """Capacities that fit a grid: the largest N_v and N_q, and the most rounds.
        `dataset` is a `Dataset` or the name of a synthetic one; `protocol` a `Protocol`
        or its name."""
        from tbal_jax.data import get_dataset
        from tbal_jax.validate import check_for_grid

        check_for_grid(dataset, n_val, n_train, protocol)
        if isinstance(dataset, str):
            dataset = get_dataset(dataset)
        if isinstance(protocol, str):
            protocol = get_protocol(protocol)
        return cls(
            dataset=dataset,
            max_n_val=int(max(n_val)),
            max_n_train=int(max(n_train)),
            max_rounds=max(protocol.rounds_for(int(q)) for q in n_train),
            protocol=protocol,
            **kwargs,
        )


def get_protocol(name: str) -> Protocol:
    return lookup(PROTOCOLS, name, "method")
