"""The published experiments (SPEC section 8), their Fashion-MNIST counterparts, and a
user's .npz, as named grids; and how to run one.

`run_experiment` is the whole pipeline behind `python -m experiments.run`: check the
inputs, sweep, write `results.csv`, `summary.csv`, `meta.json` and the figure. Notebooks
call it directly. An experiment names its dataset; `run_experiment` loads it with
`tbal_jax.loaders.load_dataset` unless it is given a loaded `Dataset` (the command line
passes `--data`, `--data_dir` and `--val_fraction` that way).
"""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import jax
import numpy as np

from tbal_jax import bounds, estimators_report, plots, results, tables
from tbal_jax.config import (
    PROTOCOLS,
    RunParams,
    StaticConfig,
    device_params,
    get_protocol,
    grid_params,
)
from tbal_jax.data import Dataset, host_pools
from tbal_jax.errors import lookup
from tbal_jax.loaders import fashion_mnist_available, load_dataset
from tbal_jax.mlp import MLP_FASHION, MLP_IMDB, MLP_TINY_IMAGENET
from tbal_jax.models import Model
from tbal_jax.run import make_run
from tbal_jax.store import (
    FULL_DISK,
    ResultStore,
    array_digest,
    atomic_path,
    code_digest,
)
from tbal_jax.sweep import (
    DEFAULT_CHUNK_RUNS,
    DEFAULT_MEMORY_BUDGET_GIB,
    SweepResult,
    run_sweep,
    seed_keys,
)
from tbal_jax.thresholds import DEFAULT_DELTA, ESTIMATORS
from tbal_jax.validate import ConfigError, check_chunking, check_grid, check_seeds

PAPER_SEED_STRIDE = 7  # the paper's seeds are 0, 7, 14, ...
C1_VALUES = (0.0, 0.25)
METHODS = tuple(PROTOCOLS)  # runs; "al" and "pl" also give "al_sc" and "pl_sc"
SWEEP_AXES = ("n_val", "n_train", "eps")
DATASET_LABELS = {
    "unit_ball": "Unit ball",
    "circles": "Circles",
    "fashion_mnist": "Fashion-MNIST",
    "digits": "Digits",
    "npz": "Your data",
}
AXIS_SYMBOLS = {
    "n_val": "$N_v$",
    "n_train": "$N_q$",
    "eps": r"$\epsilon$",
    "c1": "$C_1$",
}
AXIS_NAMES = {
    "n_val": "validation size",
    "n_train": "training budget",
    "eps": "tolerance",
}


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named grid: dataset, the swept axis `x`, and the values of every axis.

    `x="auto"` takes the axis with several values (N_v if none has); `title` heads the
    figure's title (default: the dataset's name), the rest of which comes from the grid
    (`figure_title`)."""

    name: str
    dataset: str
    x: str
    n_val: tuple
    n_train: tuple
    eps: tuple
    c1: tuple = C1_VALUES
    title: str = ""
    kind: str = "sweep"  # "bounds": compare with the theory; "scatter": one run's labels;  # "estimators": the estimators head to head (violation rate, coverage)
    methods: tuple = METHODS
    delta: tuple = (DEFAULT_DELTA,)
    estimators: tuple = ("sigma",)
    n_test: int = 0  # held-out test points per seed (population metrics)
    seeds: int = 10  # how many of the paper's seeds a run takes by default
    models: tuple = (None,)  # Model presets; None: the dataset's preset model
    classes: int | None = None  # the class count the preset is meant for (checked)

    @property
    def units(self) -> list[tuple]:
        """(method, estimator, model) triples, one compiled sweep each."""
        return [
            (m, e, model)
            for m in self.methods
            for e in self.estimators
            for model in self.models
        ]

    @staticmethod
    def unit_name(method: str, estimator: str, model: Model | None = None) -> str:
        """The store's name of a unit: the method, then what differs from the preset."""
        parts = [method] + [estimator] * (estimator != "sigma")
        return "-".join(parts + ([model.name] if model else []))

    @property
    def grid(self) -> RunParams:
        return grid_params(self.n_val, self.n_train, self.eps, self.c1, self.delta)

    def with_grid(self, **overrides) -> "Experiment":
        """The same experiment with some axes (or `methods`) replaced; None keeps one."""
        return dataclasses.replace(
            self, **{k: tuple(v) for k, v in overrides.items() if v is not None}
        )

    @property
    def axis(self) -> str:
        """The swept axis (resolves `x="auto"`)."""
        if self.x != "auto":
            return self.x
        return next((a for a in SWEEP_AXES if len(getattr(self, a)) > 1), "n_val")

    def figure_title(self, seeds=None) -> str:
        """The title, from the grid itself: `title` (default: the dataset's name), the
        swept axis, every axis with one value, and the seeds (how many, or which one a
        scatter shows)."""
        heading = self.title or DATASET_LABELS.get(self.dataset, self.dataset)
        fixed = [
            f"{AXIS_SYMBOLS[a]} = {getattr(self, a)[0]:g}"
            for a in (*SWEEP_AXES, "c1")
            if len(getattr(self, a)) == 1 and (a != self.axis or self.kind == "scatter")
        ]
        if self.kind == "scatter":
            seed = "" if seeds is None else f", seed {int(seeds[0])}"
            return f"{heading}{seed} ({', '.join(fixed)})"
        if seeds is not None:
            fixed.append(f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}")
        what = "bounds vs observed" if self.kind == "bounds" else AXIS_NAMES[self.axis]
        return f"{heading}: {what} ({', '.join(fixed)})"

    def check(self, dataset: Dataset | None = None) -> None:
        """Check the grid against `dataset` (default: this experiment's, loaded)."""
        for m in self.methods:
            get_protocol(m)
        dataset = dataset or load_dataset(self.dataset)
        if self.classes is not None and dataset.num_classes != self.classes:
            raise ConfigError(
                f"{self.name} is the preset for {self.classes} classes; "
                f"{dataset.source or dataset.name} has {dataset.num_classes}"
            )
        check_grid(
            dataset,
            self.n_val,
            self.n_train,
            self.eps,
            self.c1,
            self.delta,
        )
        for e in self.estimators:
            lookup(ESTIMATORS, e, "estimator")
        if len(set(self.estimators)) < len(self.estimators) or not self.estimators:
            raise ConfigError(f"estimators={','.join(self.estimators)}: name each once")
        if not self.methods:
            raise ConfigError("no methods: give at least one of " + ", ".join(METHODS))
        if len(set(self.methods)) < len(self.methods):
            raise ConfigError(f"methods={','.join(self.methods)} repeats a method")
        # one value on every axis but the swept one (and C1, drawn one figure each)
        fixed = set(SWEEP_AXES) - ({self.axis} if self.kind != "scatter" else set())
        if self.kind == "estimators":
            fixed.discard("eps")  # one panel per tolerance
        if self.kind != "sweep":
            fixed.update({"c1", "delta"})
        for axis in sorted(fixed):
            if len(getattr(self, axis)) != 1:
                raise ConfigError(
                    f"{self.name} takes one value of {axis}, got "
                    f"{','.join(str(v) for v in getattr(self, axis))}"
                )
        if self.kind == "bounds" and "tbal" not in self.methods:
            raise ConfigError(f"{self.name} compares TBAL with the bounds: keep tbal")

    def static_config(
        self,
        dataset: Dataset,
        method: str = "tbal",
        estimator: str = "sigma",
        model: Model | None = None,
    ) -> StaticConfig:
        return StaticConfig.for_grid(
            dataset,
            self.n_val,
            self.n_train,
            method,
            estimator=estimator,
            n_test=self.n_test,
            model=model,
        )


UNIT_BALL_N_VAL = (100,) + tuple(range(400, 4001, 400))
ESTIMATOR_N_VAL = (200, 500, 1000, 2000, 4000)
ESTIMATOR_TEST_POINTS = 20_000  # population metrics: the error's std at 1% is ~0.1%
EXPERIMENTS = {
    e.name: e
    for e in [
        Experiment(
            "unit_ball_val",
            "unit_ball",
            "n_val",
            UNIT_BALL_N_VAL,
            (500,),
            (0.01,),
        ),
        Experiment(
            "unit_ball_train",
            "unit_ball",
            "n_train",
            (4000,),
            (100, 150, 200, 250) + tuple(range(300, 1001, 100)),
            (0.01,),
        ),
        Experiment(
            "unit_ball_eps",
            "unit_ball",
            "eps",
            (4000,),
            (500,),
            (0.001, 0.005, 0.01, 0.03, 0.05),
        ),
        Experiment(
            "circles_train",
            "circles",
            "n_train",
            (2000,),
            tuple(range(100, 1501, 100)),
            (0.01,),
        ),
        Experiment(
            "circles_scatter",
            "circles",
            "n_train",
            (2000,),
            (500,),
            (0.01,),
            c1=(0.0,),
            kind="scatter",
            methods=("tbal", "al"),
        ),
        Experiment(
            "bounds_vs_empirics",
            "unit_ball",
            "n_val",
            UNIT_BALL_N_VAL,
            (500,),
            (0.01,),
            c1=(0.0,),
            kind="bounds",
            methods=("tbal",),
        ),
        Experiment(
            "estimators",
            "unit_ball",
            "n_val",
            ESTIMATOR_N_VAL,
            (500,),
            (0.01, 0.05),
            c1=(0.25,),  # for the sigma and Hoeffding slacks (the published value)
            kind="estimators",
            methods=("tbal",),
            estimators=estimators_report.ORDER,
            n_test=ESTIMATOR_TEST_POINTS,
            seeds=500,
        ),
        Experiment(
            "estimators_circles",
            "circles",
            "n_val",
            ESTIMATOR_N_VAL[:-1],
            (500,),
            (0.01,),
            c1=(0.25,),
            kind="estimators",
            methods=("tbal",),
            estimators=estimators_report.ORDER,
            n_test=ESTIMATOR_TEST_POINTS,
            seeds=500,
        ),
        Experiment(
            "fashion_mnist_val",
            "fashion_mnist",
            "n_val",
            (500, 1000, 2000, 4000, 6000, 8000, 10000),
            (1000,),
            (0.05,),
            title="Fashion-MNIST, softmax regression",
        ),
        Experiment(
            "fashion_mnist_train",
            "fashion_mnist",
            "n_train",
            (5000,),
            (200, 500, 1000, 2000, 3000, 5000),
            (0.05,),
            title="Fashion-MNIST, softmax regression",
        ),
        Experiment(
            "fashion_mnist_mlp",
            "fashion_mnist",
            "n_val",
            (500, 1000, 2000, 4000, 10000),
            (1000,),
            (0.05,),
            c1=(0.0,),
            methods=("tbal",),
            models=(None, MLP_FASHION),  # softmax regression and the MLP, same seeds
            title="Fashion-MNIST, softmax regression vs MLP",
        ),
        Experiment(
            "imdb_val",
            "npz",
            "n_val",
            tuple(range(100, 1001, 100)),
            (500,),
            (0.05,),
            models=(MLP_IMDB,),
            classes=2,
            title="IMDB, MLP on your embeddings",
        ),
        Experiment(
            "imdb_train",
            "npz",
            "n_train",
            (1000,),
            (200, 400, 600, 800, 1000),
            (0.05,),
            models=(MLP_IMDB,),
            classes=2,
            title="IMDB, MLP on your embeddings",
        ),
        Experiment(
            "tiny_imagenet_val",
            "npz",
            "n_val",
            tuple(range(2000, 10001, 2000)),
            (6000,),
            (0.10,),
            models=(MLP_TINY_IMAGENET,),
            classes=200,
            seeds=5,
            title="Tiny-ImageNet, MLP on your CLIP features",
        ),
        Experiment(
            "tiny_imagenet_train",
            "npz",
            "n_train",
            (10000,),
            tuple(range(2000, 10001, 2000)),
            (0.10,),
            models=(MLP_TINY_IMAGENET,),
            classes=200,
            seeds=5,
            title="Tiny-ImageNet, MLP on your CLIP features",
        ),
        Experiment(
            "npz",
            "npz",
            "auto",
            (500,),
            (500,),
            (0.05,),
        ),
    ]
}
NEEDS_DATA = {  # not part of --experiment=all: they run on the user's --data=PATH.npz
    "npz",
    "imdb_val",
    "imdb_train",
    "tiny_imagenet_val",
    "tiny_imagenet_train",
}


def get_experiment(name: str) -> Experiment:
    return lookup(EXPERIMENTS, name, "experiment", " (see --list)")


def paper_seeds(count: int) -> np.ndarray:
    """The first `count` seeds of the paper's sequence 0, 7, 14, ..."""
    return PAPER_SEED_STRIDE * np.arange(count)


def available_experiments(data_dir: str | None = None) -> tuple[list, list]:
    """(names that `--experiment=all` runs, names it skips and why): every experiment
    but `npz`; the Fashion-MNIST ones only where their files are."""
    runs, skipped = [], []
    for name, exp in EXPERIMENTS.items():
        if name in NEEDS_DATA:
            continue
        if exp.dataset == "fashion_mnist" and not fashion_mnist_available(data_dir):
            skipped.append(f"{name} (no Fashion-MNIST files; see --data_dir)")
            continue
        runs.append(name)
    return runs, skipped


def run_experiment(
    exp: Experiment,
    seeds,
    out_dir: Path,
    chunk_runs: int = DEFAULT_CHUNK_RUNS,
    dataset: Dataset | None = None,
    memory_budget_gib: float = DEFAULT_MEMORY_BUDGET_GIB,
    overwrite: bool = False,
) -> dict:
    """Sweep `exp` over `seeds` and write every output into `out_dir`.

    `dataset` is the loaded data (default: `load_dataset(exp.dataset)`). Inputs and the
    folder are checked first (a `ConfigError` says what to fix); each finished chunk is
    saved at once (`tbal_jax.store`), so a stopped run resumes where it stopped when it is
    run again (Ctrl-C and a full disk raise a one-line `Stopped`); a folder holding
    another configuration's results is refused unless `overwrite`. The results are
    written before any figure, so a plotting failure loses nothing computed. Each method
    is one compiled sweep; "al" and "pl" rows come with their "_sc" twins.
    """
    if not isinstance(exp, Experiment):
        raise ConfigError(f"exp={exp!r} is not an Experiment; use get_experiment(name)")
    dataset = dataset or load_dataset(exp.dataset)
    exp.check(dataset)
    seeds = check_seeds(seeds)
    check_chunking(chunk_runs, memory_budget_gib)
    store = ResultStore(
        out_dir,
        _fingerprint(exp, dataset, seeds),
        overwrite,
        stale=_output_patterns(),
        writer=jax.process_index() == 0,
    )
    with store:
        try:
            if exp.kind == "scatter":
                out = _scatter(exp, dataset, seeds, store.folder)
                store.finish(out["figure"])
                return out
            sweeps = {
                unit: _sweep(
                    exp, unit, dataset, seeds, store, chunk_runs, memory_budget_gib
                )
                for unit in exp.units
            }
            if not store.writer:
                return {}
            return _write_outputs(exp, dataset, sweeps, store, memory_budget_gib)
        except KeyboardInterrupt as err:
            raise store.stopped(err) from None
        except OSError as err:
            if err.errno in FULL_DISK:
                raise store.stopped(err) from None
            raise


def _fingerprint(exp: Experiment, dataset: Dataset, seeds: np.ndarray) -> dict:
    """What a run's results depend on: the grid, the data, the seeds, the versions and
    the package's code."""
    arrays = dataset.arrays or ()
    return {
        "experiment": dataclasses.asdict(exp),
        "dataset": results.describe_dataset(dataset) | {"digest": array_digest(arrays)},
        "seeds": [int(s) for s in seeds],
        "versions": {
            k: v
            for k, v in results.environment()["versions"].items()
            if k in ("tbal-jax", "jax", "jaxlib")
        },
        "code": code_digest(),
    }


def _output_patterns() -> tuple[str, ...]:
    """The names of the files `run_experiment` writes (for `--overwrite` to clear)."""
    figures = tuple(
        f"{n}{tail}"
        for n in EXPERIMENTS
        for tail in (".p*", "_c1_*.p*", "_violation.p*", "_coverage.p*")
    )
    return (
        "results.csv",
        "summary.csv",
        "meta.json",
        "bounds.csv",
        "estimators.csv",
        "table*",
        *figures,
    )


def _sweep(exp, unit, dataset, seeds, store, chunk_runs, memory_budget_gib):
    """One (method, estimator) sweep over the seeds the store does not hold yet, each
    chunk saved as it finishes; returns (all seeds' `SweepResult` from the store,
    timings)."""
    cfg = exp.static_config(dataset, *unit)
    method = exp.unit_name(*unit)
    grid = exp.grid
    todo = store.todo(method, seeds)

    def save(chunk):
        part = types.SimpleNamespace(
            seeds=chunk.seeds, grid=grid, outcomes=chunk.output.outcomes
        )
        rows = results.run_rows(exp.name, cfg, part)
        store.save_chunk(
            method, chunk, lambda p: results.write_csv(p, rows, results.RUN_COLUMNS)
        )

    timing = {
        "static_config": results.describe_config(cfg),
        "resumed_seeds": len(seeds) - len(todo),  # saved by an earlier, stopped run
        "compile_seconds": 0.0,
        "run_seconds": 0.0,
        "chunks": 0,
        "seeds_per_chunk": 0,
        "peak_bytes_per_chunk": 0,
    }
    if len(todo):
        done = run_sweep(
            cfg,
            todo,
            grid,
            chunk_runs=chunk_runs,
            label=f"{exp.name}/{method}",
            memory_budget_gib=memory_budget_gib,
            on_chunk=save,
        )
        timing |= {
            "compile_seconds": done.compile_seconds,
            "run_seconds": done.run_seconds,
            "chunks": done.chunks,
            "seeds_per_chunk": done.seeds_per_chunk,
            "peak_bytes_per_chunk": done.peak_bytes,
        }
    if not store.writer:
        return None, timing
    out = store.output(method, seeds)
    keys = ("compile_seconds", "run_seconds", "chunks", "seeds_per_chunk")
    return SweepResult(
        seeds,
        grid,
        out.outcomes,
        out.rounds,
        *(timing[k] for k in keys),
        timing["peak_bytes_per_chunk"],
    ), timing


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> Path:
    with atomic_path(path) as tmp:
        results.write_csv(tmp, rows, columns)
    return path


def _write_outputs(exp, dataset, sweeps, store, memory_budget_gib) -> dict:
    """results.csv, summary.csv, meta.json, then the tables and figures."""
    out_dir = store.folder
    rows = []
    for unit, (sweep, _) in sweeps.items():
        rows += results.run_rows(exp.name, exp.static_config(dataset, *unit), sweep)
    summary = results.summarise_rows(rows)
    timings = {exp.unit_name(*unit): timing for unit, (_, timing) in sweeps.items()}
    seeds = next(iter(sweeps.values()))[0].seeds
    paths = {
        "results": _write_csv(out_dir / "results.csv", rows, results.RUN_COLUMNS),
        "summary": _write_csv(
            out_dir / "summary.csv", summary, results.SUMMARY_COLUMNS
        ),
        "meta": out_dir / "meta.json",
    }
    with atomic_path(paths["meta"]) as tmp:
        results.write_json(
            tmp,
            {
                "experiment": dataclasses.asdict(exp),
                "dataset": results.describe_dataset(dataset),
                "seeds": [int(s) for s in seeds],
                "runs": len(rows),
                "methods": timings,
                "compile_seconds": sum(t["compile_seconds"] for t in timings.values()),
                "run_seconds": sum(t["run_seconds"] for t in timings.values()),
                "memory_budget_gib": memory_budget_gib,
                **results.environment(),
            },
        )
    out = paths | {"summary_rows": summary, "tables": [], "figure": []}
    if exp.kind == "estimators":
        out |= estimators_report.write(exp, rows, seeds, out_dir, atomic_path)
        store.finish([*paths.values(), *out["tables"], *out["figure"]])
        return out
    if exp.kind == "bounds":
        out |= _write_bounds(
            exp, sweeps[("tbal", "sigma", None)][0], dataset.n_pool, out_dir
        )
        store.finish([*paths.values(), out["bounds"], *out["figure"]])
        return out
    for c1 in exp.c1:
        suffix = f"_c1_{c1:g}".replace(".", "p") if len(exp.c1) > 1 else ""
        in_c1 = [r for r in summary if r["c1"] == c1]
        title = exp.with_grid(c1=[c1]).figure_title(seeds)
        out["figure"] += plots.sweep_figure(
            in_c1, exp.axis, title, out_dir / f"{exp.name}{suffix}"
        )
        markdown, latex = tables.sweep_table(summary, exp.axis, c1)
        for text, ext in ((markdown, ".md"), (latex, ".tex")):
            path = out_dir / f"table{suffix}{ext}"
            with atomic_path(path) as tmp:
                tmp.write_text(text + "\n")
            out["tables"].append(path)
    store.finish([*paths.values(), *out["tables"], *out["figure"]])
    return out


def _scatter(exp: Experiment, dataset: Dataset, seeds, out_dir: Path) -> dict:
    """Where each method's labels land on one run (the first seed) of a 2-d dataset
    (SPEC section 9)."""
    seed = int(seeds[0])
    params = device_params(
        RunParams(exp.n_val[0], exp.n_train[0], exp.eps[0], exp.c1[0])
    )
    key = seed_keys([seed])[0]
    pools = host_pools(dataset, jax.random.split(key)[0])
    panels = {}
    for method in exp.methods:
        sim = make_run(exp.static_config(dataset, method))
        labels = jax.jit(sim.run)(key, params, dataset.device_arrays()).labels
        wanted = get_protocol(method).outcomes[-1]  # TBAL, AL+SC, PL+SC
        panels[plots.METHOD_LABELS[wanted]] = np.asarray(labels[wanted])
    figure = plots.labels_scatter(
        pools.pool_x,
        pools.pool_y,
        panels,
        exp.figure_title([seed]),
        out_dir / exp.name,
    )
    return {"figure": figure, "summary_rows": []}


def _write_bounds(exp: Experiment, sweep, n_pool: int, out_dir: Path) -> dict:
    """bounds.csv and the bound-vs-observed figure for a one-eps, one-C1 N_v sweep, every
    bound at the one delta of `bounds.BoundSettings` (SPEC section 11)."""
    eps = exp.eps[0]
    n_val = sweep.grid.n_val
    errors = sweep.summary.n_auto_wrong / np.where(
        sweep.summary.n_auto > 0, sweep.summary.n_auto, np.nan
    )
    settings = bounds.BoundSettings()
    run_bounds = bounds.run_upper_bounds(sweep.rounds, eps, n_pool, settings)
    rows = bounds.bounds_table(n_val, errors, run_bounds, eps, settings)
    path = out_dir / "bounds.csv"
    results.write_csv(path, rows, bounds.BOUNDS_COLUMNS)
    d = settings.vc_dim
    curves = {
        f"upper, reference form (VC d = {d}, $p_0$ = 1, $n_a$ = 10$^4$)": [
            r["reference_upper_bound"] for r in rows
        ],
        "upper, exact binomial, same setting (Clopper-Pearson, union over T)": [
            r["binomial_upper_bound"] for r in rows
        ],
        f"upper, each run's record: ratio form (Sauer d = {d}), mean": [
            r["run_bound_mean"] for r in rows
        ],
        "upper, each run's record: exact binomial, mean": [
            r["run_binomial_bound_mean"] for r in rows
        ],
        "lower: smallest error $N_v$ points can resolve (exact two-point)": [
            r["resolvable_error"] for r in rows
        ],
    }
    figure = plots.bound_overlay(
        n_val,
        errors,
        curves,
        eps,
        out_dir / exp.name,
        exp.figure_title(sweep.seeds),
        legend_title=rf"every bound at $\delta$ = {settings.delta:g}",
    )
    return {"bounds": path, "figure": figure}
