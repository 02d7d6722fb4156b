"""The swept values of a run and their declarations, and the sizes the
loop derives from N_q (algorithm.md section 2).

`RunParams` holds what a sweep varies, as traced arrays, so changing grid values never
recompiles. The swept values are declared once, in `SWEPT`: a `RunParams` whose fields
are `Swept` declarations (dtype, meaning, valid range). The grid (`grid.grid_params`),
the device dtypes (`grid.device_params`), the compiled program's input shapes
(`sweep.py`), the result columns (`results.py`), the command-line overrides
(`experiments/run.py`), an experiment's axes (`presets.base.Experiment`) and the input
checks (`validate.py`) are all derived from it, so a new swept value is one field of
`RunParams` and one entry in `SWEPT`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from tbal_jax.types import Array

SEED_PERCENT = 20  # n_s = int(0.2 * N_q)   (algorithm.md section 2)
BATCH_PERCENT = 5  # n_b = int(0.05 * N_q)


def seed_size(n_train):
    """n_s = int(0.2 N_q), in integer arithmetic (works on ints and integer arrays)."""
    return (n_train * SEED_PERCENT) // 100


def batch_size(n_train):
    """n_b = int(0.05 N_q)."""
    return (n_train * BATCH_PERCENT) // 100


def max_rounds_for(n_train: int) -> int:
    """Rounds <= 1 + ceil((N_q - n_s) / n_b)  (algorithm.md section 2, step 6)."""
    return 1 + math.ceil((n_train - seed_size(n_train)) / batch_size(n_train))


class RunParams(NamedTuple):
    """Swept values of one run (or, batched, of a grid): all traced. Declared in `SWEPT`."""

    n_val: Array  # N_v
    n_train: Array  # N_q
    eps: Array  # tolerance
    c1: Array  # slack constant
    delta: Array = 0.05  # confidence level of the guaranteed estimators (algorithm.md section 12)


@dataclasses.dataclass(frozen=True)
class Swept:
    """The declaration of one swept value.

    `low`/`high` bound it (inclusive unless `open_high`); a `high` given as a string names
    a `Dataset` attribute ("n_pool", "n_val_pool") or the validation capacity, resolved by
    `validate.check_grid`. `why` completes the error message when a value is out of range.
    `preset` is the values an experiment takes when it names none (empty: it must name
    them).
    """

    dtype: type
    help: str
    low: float
    high: float | str
    why: str
    open_high: bool = False
    preset: tuple = ()

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
        preset=(0.0, 0.25),  # the paper draws one figure per value
    ),
    delta=Swept(
        np.float32,
        "confidence levels delta of the guaranteed estimators",
        1e-6,
        1.0,
        "delta must lie in (0, 1), at least 1e-06 (the run computes in float32)",
        open_high=True,
        preset=(0.05,),
    ),
)
