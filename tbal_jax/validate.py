"""Input checks that run on the host before anything is compiled.

Every check raises `ConfigError` with one line that names the bad value and says what to
fix; the command line prints that line and exits non-zero, without a traceback.
"""

from __future__ import annotations

import math
import numbers

from tbal_jax.config import DATASET_SPECS, StaticConfig, max_rounds_for
from tbal_jax.thresholds import MAX_CAPACITY


EPS_MIN = 1e-6  # the run computes in float32
C1_MAX = 1e3


class ConfigError(ValueError):
    """A bad setting, caught before compilation."""


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
        if not EPS_MIN <= e < 1.0:
            raise ConfigError(
                f"eps={e} is out of range: the tolerance must lie in (0, 1), "
                f"at least {EPS_MIN:g} (the run computes in float32)"
            )
    for c in _numbers("c1", c1):
        if not 0.0 <= c <= C1_MAX:
            raise ConfigError(
                f"c1={c} is out of range: the slack constant must lie in "
                f"[0, {C1_MAX:g}]"
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
    rounds = 1 if cfg.method == "pl" else max(max_rounds_for(int(q)) for q in n_train)
    if rounds > cfg.max_rounds:
        raise ConfigError(
            f"n_train={max(n_train)} needs {rounds} rounds, the config "
            f"has {cfg.max_rounds}; build it with StaticConfig.for_grid"
        )
