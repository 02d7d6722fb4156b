"""Grids of swept values: their Cartesian product (`grid_params`) and the dtypes a run is
compiled for (`device_params`), both derived from `params.SWEPT`."""

from __future__ import annotations

import numpy as np

from tbal_jax.params import SWEPT, RunParams
from tbal_jax.validate import check_grid


def grid_params(*axes, **named) -> RunParams:
    """The Cartesian product of the grid axes (given in `RunParams` order, positionally
    or by name), flattened with the last axis varying fastest, as host arrays in 64-bit;
    `device_params` casts them."""
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
