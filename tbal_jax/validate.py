"""Input checks that run on the host before anything is compiled.

Every check raises `ConfigError` with one line that names the bad value and says what to
fix; the command line prints that line and exits non-zero, without a traceback.
"""

from __future__ import annotations

import math

from tbal_jax.config import DATASET_SPECS
from tbal_jax.thresholds import MAX_CAPACITY


class ConfigError(ValueError):
    """A bad setting, caught before compilation."""


def _numbers(name: str, values) -> list[float]:
    values = list(values)
    if not values:
        raise ConfigError(f"{name} is empty: give at least one value")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise ConfigError(f"{name}={v!r} is not a number")
    return values


def _integers(name: str, values, low: int, high: int, why: str) -> None:
    for v in _numbers(name, values):
        if float(v) != int(v):
            raise ConfigError(f"{name}={v} is not a whole number")
        if not low <= v <= high:
            raise ConfigError(f"{name}={v} is out of range: {why}")


def check_grid(dataset: str, n_val, n_train, eps, c1) -> None:
    """Check a sweep grid against a dataset's pools (SPEC sections 2, 3, 7)."""
    if dataset not in DATASET_SPECS:
        raise ConfigError(
            f"unknown dataset {dataset!r}; choose one of "
            f"{', '.join(sorted(DATASET_SPECS))}"
        )
    spec = DATASET_SPECS[dataset]
    top = min(spec.n_val_pool, MAX_CAPACITY)
    _integers(
        "n_val",
        n_val,
        1,
        top,
        f"the validation size must be between 1 and the validation pool ({top})",
    )
    _integers(
        "n_train",
        n_train,
        20,
        spec.n_pool,
        f"the training budget must be between 20 (so that the batch "
        f"int(0.05*n_train) is at least 1) and the pool size ({spec.n_pool})",
    )
    for e in _numbers("eps", eps):
        if not 0.0 < e < 1.0:
            raise ConfigError(
                f"eps={e} is out of range: the tolerance must lie in (0, 1)"
            )
    for c in _numbers("c1", c1):
        if not (c >= 0.0 and math.isfinite(c)):
            raise ConfigError(
                f"c1={c} is out of range: the slack constant must be a "
                "finite number >= 0"
            )


def check_seeds(seeds) -> None:
    seeds = list(seeds)
    if not seeds:
        raise ConfigError("no seeds: give --seeds=S with S >= 1")
    for s in seeds:
        if int(s) != s or not 0 <= s < 2**32:
            raise ConfigError(f"seed {s} is not a whole number in [0, 2^32)")
