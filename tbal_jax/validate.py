"""Input checks that run on the host before anything is compiled.

Every check raises `ConfigError` with one line that names the bad value and says what to
fix; the command line prints that line and exits non-zero, without a traceback.
"""

from __future__ import annotations

import math
import numbers

from tbal_jax.config import SWEPT, RunParams, StaticConfig
from tbal_jax.data import Dataset, get_dataset
from tbal_jax.errors import ConfigError
from tbal_jax.thresholds import MAX_CAPACITY

__all__ = ["ConfigError", "check_grid", "check_seeds", "check_capacity"]


def _numbers(name: str, values) -> list[float]:
    """Finite real numbers (NumPy scalars included), no repeats: a repeated grid value
    would count the same runs twice in the summary."""
    values = list(values)
    if not values:
        raise ConfigError(f"{name} is empty: give at least one value")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ConfigError(f"{name}={v!r} is not a number")
        if not math.isfinite(v):
            raise ConfigError(f"{name}={v} is not a finite number")
    if len(set(values)) < len(values):
        raise ConfigError(f"{name}={','.join(str(v) for v in values)} repeats a value")
    return values


def _upper(dataset: Dataset, high) -> float:
    """A `Swept.high`: a number, or the name of a dataset size (the validation pool is
    also capped by the threshold search's capacity)."""
    if high == "n_val_pool":
        return min(dataset.n_val_pool, MAX_CAPACITY)
    if isinstance(high, str):
        return getattr(dataset, high)
    return high


def check_grid(dataset: Dataset | str, *axes, **named) -> None:
    """Check every swept axis (given in `RunParams` order, positionally or by name)
    against its declaration in `config.SWEPT` and the dataset's pools (SPEC 2, 3, 7)."""
    if isinstance(dataset, str):
        dataset = get_dataset(dataset)
    for name, values, decl in zip(RunParams._fields, RunParams(*axes, **named), SWEPT):
        high = _upper(dataset, decl.high)
        for v in _numbers(name, values):
            if decl.integer and float(v) != int(v):
                raise ConfigError(f"{name}={v} is not a whole number")
            above = v >= high if decl.open_high else v > high
            if v < decl.low or above:
                raise ConfigError(
                    f"{name}={v} is out of range: {decl.why} "
                    f"({decl.low:g}..{high:g} for {dataset.name})"
                )


def check_seeds(seeds) -> None:
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("no seeds: give --seeds=S with S >= 1")
    for s in seeds:
        if int(s) != s or not 0 <= s < 2**32:
            raise ConfigError(f"seed {s} is not a whole number in [0, 2^32)")


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
