"""The `Experiment` type: a named grid over the swept values, the components its runs
use, and the report that presents them (algorithm.md section 8).

An experiment's axes are a `RunParams` of tuples, one per swept value of `params.SWEPT`
(an axis it does not name takes its declaration's `preset` values), so a new swept
value needs no change here. Its components are registered names: `dataset`, and the
`methods` (protocols), `estimators`, `models` (None: the dataset's own), `scores` and
`queries` it crosses, one compiled sweep per combination (a *unit*). `kind` names its
report (`tbal_jax.reports`), which says which axes may take several values and what is
written.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from tbal_jax.config import StaticConfig
from tbal_jax.datasets import DATASETS, Dataset
from tbal_jax.errors import ConfigError
from tbal_jax.estimators import ESTIMATORS, SIGMA
from tbal_jax.grid import grid_params
from tbal_jax.labels import DEFAULT_VARIANT
from tbal_jax.models import MODELS, Model
from tbal_jax.params import SWEPT, RunParams
from tbal_jax.protocols import PROTOCOLS
from tbal_jax.queries import MARGIN_RANDOM, QUERIES, RANDOM
from tbal_jax.reports import REPORTS, Report
from tbal_jax.scores import MAX_PROB, SCORES
from tbal_jax.validate import check_grid

PAPER_SEED_STRIDE = 7  # the paper's seeds are 0, 7, 14, ...
SWEEP_AXES = ("n_val", "n_train", "eps")  # the axes a figure's x can be
UNIT_FIELDS = ("methods", "estimators", "models", "scores", "queries")
COMPONENT_REGISTRIES = {
    "methods": PROTOCOLS,
    "estimators": ESTIMATORS,
    "models": MODELS,
    "scores": SCORES,
    "queries": QUERIES,
}


def axes(**given) -> RunParams:
    """An experiment's axes: the values given, as tuples; every other swept value takes
    its declaration's `preset` (a swept value without one must be given)."""
    for name in given:
        if name not in RunParams._fields:
            raise ConfigError(
                f"unknown swept value {name!r}; choose one of "
                + ", ".join(RunParams._fields)
            )
    values = {}
    for name, decl in SWEPT._asdict().items():
        if name in given:
            values[name] = tuple(given[name])
        elif decl.preset:
            values[name] = tuple(decl.preset)
        else:
            raise ConfigError(f"no values for {name}: give the {decl.help}")
    return RunParams(**values)


class Unit(tuple):
    """One compiled sweep of an experiment: (method, estimator, model, score, query),
    names (model None: the dataset's own)."""

    __slots__ = ()
    _parts = ("method", "estimator", "model", "score", "query")

    def __new__(cls, method, estimator, model, score, query):
        return super().__new__(cls, (method, estimator, model, score, query))

    method = property(lambda self: self[0])
    estimator = property(lambda self: self[1])
    model = property(lambda self: self[2])
    score = property(lambda self: self[3])
    query = property(lambda self: self[4])

    @property
    def name(self) -> str:
        """The store's name for it: the method, then each part that differs from the
        preset, tagged with its kind (e_, s_, q_, m_), so no two units share one; a
        protocol that queries at random up front (PL) names no query."""
        parts = [self.method]
        fields = ("estimator", "score", "query")
        if PROTOCOLS.get(self.method).budget_up_front:  # it queries at random
            fields = ("estimator", "score")
        for field in fields:
            value = getattr(self, field)
            if value != DEFAULT_VARIANT[field]:
                parts.append(f"{field[0]}_{value}")
        model = getattr(self.model, "name", self.model)  # a Model or its name
        return "-".join(parts + ([f"m_{model}"] if model else []))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Experiment:
    """A named grid, its components and its report (module docstring).

    `x` is the swept axis (`"auto"`: the first of `SWEEP_AXES` with several values, N_v
    if none has); `title` heads the figure's title (default: the dataset's label);
    `n_test` held-out test points per seed give population metrics (synthetic data;
    a fixed dataset's test split, when it has one, always does);
    `seeds` is how many of the paper's seeds a run takes by default; `classes` the
    class count a preset is meant for (checked against the loaded data)."""

    name: str
    dataset: str
    x: str
    axes: RunParams
    kind: str = "sweep"
    title: str = ""
    methods: tuple[str, ...] = tuple(PROTOCOLS)
    estimators: tuple[str, ...] = (SIGMA.name,)
    models: tuple[str | None, ...] = (None,)
    scores: tuple[str, ...] = (MAX_PROB.name,)
    queries: tuple[str, ...] = (MARGIN_RANDOM.name,)
    n_test: int = 0
    seeds: int = 10
    classes: int | None = None

    def __getattr__(self, name: str):
        """`exp.n_val` and the other swept values read the axes."""
        if name in RunParams._fields:
            return getattr(self.axes, name)
        raise AttributeError(name)

    @property
    def units(self) -> list[Unit]:
        """Every combination of the unit fields, one compiled sweep each. A protocol
        that takes its whole budget up front (PL) queries at random whatever the query
        strategy, so its units say `random` and are not repeated per query."""
        units = []
        for combo in itertools.product(*(getattr(self, f) for f in UNIT_FIELDS)):
            unit = Unit(*combo)
            if PROTOCOLS.get(unit.method).budget_up_front:
                unit = Unit(*unit[:4], RANDOM.name)
            if unit not in units:
                units.append(unit)
        return units

    def unit(self, **parts) -> Unit:
        """One unit: the named parts (method, estimator, model, score, query), the
        experiment's first value for the others."""
        fields = dict(zip(Unit._parts, (getattr(self, f)[0] for f in UNIT_FIELDS)))
        unknown = set(parts) - set(fields)
        if unknown:
            raise ConfigError(f"a unit has no {', '.join(sorted(unknown))}")
        return Unit(**(fields | parts))

    @property
    def grid(self) -> RunParams:
        return grid_params(**self.axes._asdict())

    @property
    def axis(self) -> str:
        """The swept axis (resolves `x="auto"`)."""
        if self.x != "auto":
            return self.x
        return next((a for a in SWEEP_AXES if len(getattr(self.axes, a)) > 1), "n_val")

    @property
    def report(self) -> Report:
        return REPORTS.get(self.kind)

    def with_grid(self, **overrides) -> Experiment:
        """The same experiment with some axes, unit fields or `dataset` replaced; a
        value of None keeps what it has."""
        given = {k: v for k, v in overrides.items() if v is not None}
        grid = {k: tuple(v) for k, v in given.items() if k in RunParams._fields}
        rest = {k: v for k, v in given.items() if k not in RunParams._fields}
        for k, v in rest.items():
            if k in UNIT_FIELDS:
                rest[k] = tuple(v)
        return dataclasses.replace(self, axes=self.axes._replace(**grid), **rest)

    def figure_title(self, seeds=None, rows=None) -> str:
        return self.report.title(self, seeds, rows)

    def heading(self) -> str:
        """`title`, or the dataset's label."""
        if self.title:
            return self.title
        if self.dataset in DATASETS:
            return DATASETS.get(self.dataset).label or self.dataset
        return self.dataset

    def check(self, dataset: Dataset) -> None:
        """Check the components, the grid against `dataset`, and the report's rules."""
        for field, registry in COMPONENT_REGISTRIES.items():
            values = getattr(self, field)
            if not values:
                raise ConfigError(
                    f"no {field}: give at least one of {', '.join(registry.names())}"
                )
            if len(set(values)) < len(values):
                listed = ",".join(str(v) for v in values)
                raise ConfigError(f"{field}={listed}: name each once")
            for v in values:
                if isinstance(v, str):
                    registry.get(v)
                elif field == "models" and v is not None and not isinstance(v, Model):
                    raise ConfigError(
                        f"models: {v!r} is neither a Model nor a registered name"
                    )
        if self.classes is not None and dataset.num_classes != self.classes:
            raise ConfigError(
                f"{self.name} is the preset for {self.classes} classes; "
                f"{dataset.source or dataset.name} has {dataset.num_classes}"
            )
        for model in self.models:  # the data before the grid: the more basic mistake
            reason = (MODELS.resolve(model) or dataset.model).supports(dataset)
            if reason:
                raise ConfigError(reason)
        check_grid(dataset, **self.axes._asdict())
        guaranteed = [e for e in self.estimators if ESTIMATORS.get(e).guaranteed]
        if self.axes.delta != tuple(SWEPT.delta.preset) and not guaranteed:
            raise ConfigError(
                f"delta={','.join(f'{d:g}' for d in self.axes.delta)} changes nothing: "
                f"{', '.join(self.estimators)} use no delta; pick a guaranteed estimator "
                "("
                + ", ".join(e.name for e in ESTIMATORS.values() if e.guaranteed)
                + ")"
            )
        self.report.check(self)
        for unit in self.units:  # a model that cannot serve the data, before compiling
            self.static_config(dataset, unit).check()

    def static_config(self, dataset: Dataset, unit: Unit) -> StaticConfig:
        return StaticConfig.for_grid(
            dataset,
            self.n_val,
            self.n_train,
            unit.method,
            estimator=unit.estimator,
            model=unit.model,
            score=unit.score,
            query=unit.query,
            n_test=dataset.n_test if dataset.fixed else self.n_test,
        )

    def describe(self) -> dict:
        """JSON-ready: every field, the axes by name, a model object with its
        settings."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["axes"] = {k: list(v) for k, v in self.axes._asdict().items()}
        out["models"] = [
            dataclasses.asdict(m) if isinstance(m, Model) else m for m in self.models
        ]
        return out


def paper_seeds(count: int) -> np.ndarray:
    """The first `count` seeds of the paper's sequence 0, 7, 14, ..."""
    return PAPER_SEED_STRIDE * np.arange(count)
