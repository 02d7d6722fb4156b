"""Input checks that run on the host before anything is compiled.

One set of checks for the command line and every public function (`run_sweep`,
`run_one`, `StaticConfig.for_grid`, `grid_params`, `run_experiment`, the loaders). Each
raises `ConfigError` with one line that names the bad value and says what to fix; the
command line prints that line and exits with status 2, without a traceback. The ranges
come from the declaration of the swept values (`params.SWEPT`) and the dataset's pools.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import TYPE_CHECKING

import numpy as np

from tbal_jax.datasets import Dataset, resolve_dataset
from tbal_jax.errors import ConfigError, lookup
from tbal_jax.estimators import MAX_CAPACITY
from tbal_jax.params import SWEPT, RunParams
from tbal_jax.protocols import PROTOCOLS, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from tbal_jax.config import StaticConfig

__all__ = [
    "ConfigError",
    "check_axes",
    "check_capacity",
    "check_cells",
    "check_chunking",
    "check_for_grid",
    "check_grid",
    "check_seeds",
]
SEED_LIMIT = 2**32  # jax.random.key takes a uint32 seed: larger ones would wrap
DECLARED = SWEPT._asdict()


def _values(name: str, values) -> list:
    """A 1-d, non-empty sequence of values (a list, tuple or array)."""
    if isinstance(values, (str, bytes, dict)) or np.ndim(values) != 1:
        raise ConfigError(
            f"{name}={values!r} is not a list of values; give e.g. [1, 2]"
        )
    values = list(values)
    if not values:
        raise ConfigError(f"{name} is empty: give at least one value")
    return values


def _upper(dataset: Dataset | None, high) -> float:
    """A `Swept.high`: a number, or the name of a dataset size (the validation pool is
    also capped by the threshold search's capacity); no bound without a dataset."""
    if not isinstance(high, str):
        return high
    if dataset is None:
        return math.inf
    if high == "n_val_pool":
        return min(dataset.n_val_pool, MAX_CAPACITY)
    return getattr(dataset, high)


def _where(dataset: Dataset) -> str:
    """A dataset as an error names it: its file, if it was read from one."""
    return dataset.source if os.path.isfile(dataset.source) else dataset.name


def _check_value(name: str, v, dataset: Dataset | None) -> None:
    """One swept value: a finite real number (NumPy scalars included), whole where the
    declaration is an integer, inside the declared range."""
    decl = DECLARED[name]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise ConfigError(f"{name}={v!r} is not a number")
    if not math.isfinite(v):
        raise ConfigError(f"{name}={v} is not a finite number")
    if decl.integer and float(v) != int(v):
        raise ConfigError(f"{name}={v} is not a whole number")
    high = _upper(dataset, decl.high)
    above = v >= high if decl.open_high else v > high
    if v < decl.low or above:
        where = f" for {_where(dataset)}" if dataset is not None else ""
        raise ConfigError(
            f"{name}={v} is out of range: {decl.why} ({decl.low:g}..{high:g}{where})"
        )


def _dataset(dataset) -> Dataset:
    return resolve_dataset(dataset)


def check_axes(dataset: Dataset | str | None, **axes) -> None:
    """Named grid axes (`RunParams` fields): each a non-empty list of valid values
    without repeats (a repeated value would count the same runs twice); `dataset=None`
    checks everything but the dataset's pool sizes."""
    if dataset is not None:
        dataset = _dataset(dataset)
    for name, values in axes.items():
        lookup(DECLARED, name, "swept value")
        values = _values(name, values)
        for v in values:
            _check_value(name, v, dataset)
        if len(set(values)) < len(values):
            raise ConfigError(
                f"{name}={','.join(str(v) for v in values)} repeats a value"
            )


def _named(axes: tuple, named: dict) -> dict:
    """Axes given positionally (in `RunParams` order) or by name, as one dict; the axes
    with defaults (`delta`) may be left out."""
    if len(axes) > len(RunParams._fields):
        raise ConfigError(
            f"{len(axes)} grid axes given; the swept values are "
            + ", ".join(RunParams._fields)
        )
    given = dict(zip(RunParams._fields, axes))
    for name in named:
        lookup(DECLARED, name, "swept value")
        if name in given:
            raise ConfigError(f"{name} is given twice")
    given |= named
    missing = [f for f in RunParams._fields if f not in given]
    missing = [f for f in missing if f not in RunParams._field_defaults]
    if missing:
        raise ConfigError(f"no values for {', '.join(missing)}: give every grid axis")
    return given


def check_grid(dataset: Dataset | str | None, *axes, **named) -> None:
    """Check every grid axis (given in `RunParams` order, positionally or by name)
    against its declaration in `config.SWEPT` and the dataset's pools (algorithm.md section 2, 3, 7)."""
    check_axes(dataset, **_named(axes, named))


def check_for_grid(dataset, n_val, n_train, protocol) -> None:
    """`StaticConfig.for_grid`'s arguments: a dataset, its N_v and N_q axes, a method."""
    check_axes(dataset, n_val=n_val, n_train=n_train)
    if not isinstance(protocol, Protocol):
        PROTOCOLS.get(protocol)


def check_cells(dataset: Dataset, grid) -> None:
    """A flattened grid (one entry per cell, as `grid_params` makes it): every axis of
    the same length, every value valid, no cell twice."""
    if not isinstance(grid, RunParams):
        raise ConfigError(
            f"grid={type(grid).__name__} is not a RunParams; build it with grid_params"
        )
    lengths = {name: np.size(v) for name, v in grid._asdict().items()}
    if len(set(lengths.values())) > 1:
        raise ConfigError(
            "grid axes have different lengths ("
            + ", ".join(f"{n} {k}" for n, k in lengths.items())
            + "); build the grid with grid_params"
        )
    columns = {name: _values(name, np.ravel(v)) for name, v in grid._asdict().items()}
    for name, values in columns.items():
        for v in set(values):
            _check_value(name, v, dataset)
    cells = list(zip(*columns.values()))
    if len(set(cells)) < len(cells):
        raise ConfigError("the grid holds a cell twice: it would count its runs twice")


def check_seeds(seeds) -> np.ndarray:
    """Seeds: integers in [0, 2^32) without repeats (a repeat would count its runs
    twice); returned as an int64 array."""
    seeds = _values("seeds", seeds)
    for s in seeds:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise ConfigError(f"seed {s!r} is not an integer")
        if not 0 <= s < SEED_LIMIT:
            raise ConfigError(f"seed {s} is out of range: give seeds in [0, 2^32)")
    if len({int(s) for s in seeds}) < len(seeds):
        repeated = sorted({int(s) for s in seeds if seeds.count(s) > 1})
        raise ConfigError(f"seeds repeat {', '.join(map(str, repeated))}")
    return np.asarray(seeds, np.int64)


def check_chunking(chunk_runs, memory_budget_gib) -> None:
    """Runs per compiled chunk (an integer >= 1) and a memory budget (GiB > 0)."""
    if isinstance(chunk_runs, bool) or not isinstance(chunk_runs, numbers.Integral):
        raise ConfigError(f"chunk_runs={chunk_runs!r} is not an integer")
    if chunk_runs < 1:
        raise ConfigError(f"chunk_runs={chunk_runs}: must be at least 1")
    check_memory_budget(memory_budget_gib)


def check_memory_budget(gib, name: str = "memory_budget") -> None:
    """A memory budget per chunk: GiB above 0, finite; `name` is how the message names
    it (a command line gives its flag)."""
    if (
        isinstance(gib, bool)
        or not isinstance(gib, numbers.Real)
        or not 0 < gib < math.inf
    ):
        raise ConfigError(f"{name}={gib!r}: give GiB above 0 (a finite number)")


def check_capacity(cfg: StaticConfig, n_val, n_train) -> None:
    """A grid must fit the static configuration it runs under: larger sizes would be
    silently capped by the fixed buffers and the fixed number of rounds."""
    for name, values, top in (
        ("n_val", n_val, cfg.max_n_val),
        ("n_train", n_train, cfg.max_n_train),
    ):
        if max(values) > top:
            raise ConfigError(
                f"{name}={max(values)} exceeds the configured capacity "
                f"{top}; build the config with StaticConfig.for_grid"
            )
    rounds = max(cfg.protocol.rounds_for(int(q)) for q in n_train)
    if rounds > cfg.max_rounds:
        raise ConfigError(
            f"n_train={max(n_train)} needs {rounds} rounds, the config "
            f"has {cfg.max_rounds}; build it with StaticConfig.for_grid"
        )
