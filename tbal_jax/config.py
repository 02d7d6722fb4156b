"""The static run configuration, with the swept values, grids and
protocols it is used with re-exported (`config.SWEPT`, `config.grid_params`, ...).

`StaticConfig` fixes every shape and loop length, so it is a frozen (hashable) dataclass
closed over by `make_run`; it holds the run's components as objects (dataset, model,
score, query, estimator, protocol), resolved from their registries once. What a sweep
varies is a `params.RunParams` of traced arrays, so changing grid values never
recompiles.
"""

from __future__ import annotations

import dataclasses
import numbers

from tbal_jax.datasets import Dataset, resolve_dataset
from tbal_jax.errors import ConfigError
from tbal_jax.estimators import ESTIMATORS, SIGMA, Estimator
from tbal_jax.grid import device_params, grid_params
from tbal_jax.models import MODELS, Model
from tbal_jax.params import (
    BATCH_PERCENT,
    SEED_PERCENT,
    SWEPT,
    RunParams,
    Swept,
    batch_size,
    max_rounds_for,
    seed_size,
)
from tbal_jax.protocols import AL, PL, PROTOCOLS, TBAL, Protocol, get_protocol
from tbal_jax.queries import MARGIN_RANDOM, QUERIES, Query
from tbal_jax.scores import MAX_PROB, SCORES, FittedScore, Score
from tbal_jax.validate import check_for_grid

COMPONENTS = {  # the fields of a StaticConfig that name a registered component
    "score": SCORES,
    "query": QUERIES,
    "estimator": ESTIMATORS,
    "model": MODELS,
    "protocol": PROTOCOLS,
}

__all__ = [
    "AL",
    "BATCH_PERCENT",
    "COMPONENTS",
    "PL",
    "PROTOCOLS",
    "SEED_PERCENT",
    "SWEPT",
    "TBAL",
    "Protocol",
    "RunParams",
    "StaticConfig",
    "Swept",
    "batch_size",
    "device_params",
    "get_protocol",
    "grid_params",
    "max_rounds_for",
    "seed_size",
]


@dataclasses.dataclass(frozen=True)
class StaticConfig:
    """Everything that sets a shape or a loop length; one compiled program per value."""

    dataset: Dataset
    max_n_val: int = 4_000  # capacity of the validation buffer
    max_n_train: int = 500  # capacity of the training buffer (largest budget N_q)
    max_rounds: int = 17
    score: Score | FittedScore = MAX_PROB
    query: Query = MARGIN_RANDOM
    estimator: Estimator = SIGMA
    model: Model | None = None  # None: the dataset's preset model
    round_segments: int = (
        3  # scans over rounds, each training on a static buffer prefix
    )
    protocol: Protocol = TBAL
    n_test: int = 0  # held-out test points per seed (algorithm.md section 7's test set;
    # a fixed dataset's test split, all of it)

    def __post_init__(self):
        """Components may be given by their registered names; they are resolved here,
        once (an unknown name is a one-line `ConfigError`)."""
        for name, registry in COMPONENTS.items():
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, registry.get(value))
        if isinstance(self.dataset, str):
            object.__setattr__(self, "dataset", resolve_dataset(self.dataset))

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
        `dataset` is a `Dataset` or a registered name (loaded with its defaults);
        `protocol` and the other components objects or their names."""
        check_for_grid(dataset, n_val, n_train, protocol)
        dataset = resolve_dataset(dataset)
        protocol = PROTOCOLS.resolve(protocol)
        return cls(
            dataset=dataset,
            max_n_val=int(max(n_val)),
            max_n_train=int(max(n_train)),
            max_rounds=max(protocol.rounds_for(int(q)) for q in n_train),
            protocol=protocol,
            **kwargs,
        )

    def check(self) -> None:
        """Components of the right kinds, capacities that make sense, and a model that
        can serve the dataset: one line naming what to fix, before anything compiles."""
        if not isinstance(self.dataset, Dataset):
            resolve_dataset(self.dataset)  # raises the one-line error
        kinds = {"score": (Score, FittedScore), "query": Query, "estimator": Estimator}
        kinds |= {"protocol": Protocol, "model": (Model, type(None))}
        for name, kind in kinds.items():
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise ConfigError(
                    f"{name}={value!r} is not a {COMPONENTS[name].kind}; give one of "
                    + ", ".join(COMPONENTS[name].names())
                )
        for name in ("max_n_val", "max_n_train", "max_rounds", "round_segments"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ConfigError(f"{name}={value!r} must be an integer >= 1")
        if not isinstance(self.n_test, numbers.Integral) or self.n_test < 0:
            raise ConfigError(f"n_test={self.n_test!r} must be an integer >= 0")
        if self.n_test and self.dataset.fixed and self.n_test != self.dataset.n_test:
            raise ConfigError(
                f"n_test={self.n_test}: {self.dataset.name} is a fixed dataset with "
                + (
                    f"a test split of {self.dataset.n_test} points; use n_test="
                    f"{self.dataset.n_test} or 0"
                    if self.dataset.n_test
                    else "no test split (an .npz may give x_test and y_test); "
                    "use n_test=0"
                )
            )
        if self.estimator.candidates == "fixed" and self.score.span is None:
            raise ConfigError(
                f"estimator {self.estimator.name} places its candidates over the "
                f"score's range, and score {self.score.name} is unbounded; use "
                "max_prob or margin, or candidates from the data"
            )
        if self.score.fitted and not 0.0 <= self.score.nu < 1.0:
            raise ConfigError(
                f"score {self.score.name}: nu={self.score.nu!r} is D_cal's share of "
                "the validation set; it must lie in [0, 1)"
            )
        reason = self.the_model.supports(self.dataset)
        if reason:
            raise ConfigError(reason)
