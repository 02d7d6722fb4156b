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
from pathlib import Path

import jax
import numpy as np

from tbal_jax import bounds, plots, results, tables
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
from tbal_jax.run import make_run
from tbal_jax.sweep import (
    DEFAULT_CHUNK_RUNS,
    DEFAULT_MEMORY_BUDGET_GIB,
    run_sweep,
    seed_keys,
)
from tbal_jax.validate import ConfigError, check_grid, check_seeds

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
AXIS_SYMBOLS = {"n_val": "$N_v$", "n_train": "$N_q$", "eps": r"$\epsilon$"}


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named grid: dataset, the swept axis `x`, and the values of every axis.

    `x="auto"` takes the axis with several values (N_v if none has); an empty `title`
    is made from the dataset, the swept axis and the fixed values."""

    name: str
    dataset: str
    x: str
    n_val: tuple
    n_train: tuple
    eps: tuple
    c1: tuple = C1_VALUES
    title: str = ""
    kind: str = (
        "sweep"  # "bounds": compare with the theory; "scatter": one run's labels
    )
    methods: tuple = METHODS

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

    @property
    def figure_title(self) -> str:
        if self.title:
            return self.title
        fixed = ", ".join(
            f"{AXIS_SYMBOLS[a]} = {getattr(self, a)[0]:g}"
            for a in SWEEP_AXES
            if a != self.axis and len(getattr(self, a)) == 1
        )
        label = DATASET_LABELS.get(self.dataset, self.dataset)
        return f"{label}: {plots.AXIS_LABELS[self.axis]} ({fixed})"

    def check(self, dataset: Dataset | None = None) -> None:
        """Check the grid against `dataset` (default: this experiment's, loaded)."""
        for m in self.methods:
            get_protocol(m)
        check_grid(
            dataset or load_dataset(self.dataset),
            self.n_val,
            self.n_train,
            self.eps,
            self.c1,
        )
        if not self.methods:
            raise ConfigError("no methods: give at least one of " + ", ".join(METHODS))
        if len(set(self.methods)) < len(self.methods):
            raise ConfigError(f"methods={','.join(self.methods)} repeats a method")
        # one value on every axis but the swept one (and C1, drawn one figure each)
        fixed = set(SWEEP_AXES) - ({self.axis} if self.kind != "scatter" else set())
        if self.kind != "sweep":
            fixed.add("c1")
        for axis in sorted(fixed):
            if len(getattr(self, axis)) != 1:
                raise ConfigError(
                    f"{self.name} takes one value of {axis}, got "
                    f"{','.join(str(v) for v in getattr(self, axis))}"
                )
        if self.kind == "bounds" and "tbal" not in self.methods:
            raise ConfigError(f"{self.name} compares TBAL with the bounds: keep tbal")

    def static_config(self, dataset: Dataset, method: str = "tbal") -> StaticConfig:
        return StaticConfig.for_grid(dataset, self.n_val, self.n_train, method)


UNIT_BALL_N_VAL = (100,) + tuple(range(400, 4001, 400))
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
            title=r"Unit ball: validation size ($N_q$ = 500)",
        ),
        Experiment(
            "unit_ball_train",
            "unit_ball",
            "n_train",
            (4000,),
            (100, 150, 200, 250) + tuple(range(300, 1001, 100)),
            (0.01,),
            title=r"Unit ball: training budget ($N_v$ = 4000)",
        ),
        Experiment(
            "unit_ball_eps",
            "unit_ball",
            "eps",
            (4000,),
            (500,),
            (0.001, 0.005, 0.01, 0.03, 0.05),
            title=r"Unit ball: tolerance ($N_q$ = 500, $N_v$ = 4000)",
        ),
        Experiment(
            "circles_train",
            "circles",
            "n_train",
            (2000,),
            tuple(range(100, 1501, 100)),
            (0.01,),
            title=r"Circles: training budget ($N_v$ = 2000)",
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
            title=r"Circles, first seed ($N_q$ = 500, $N_v$ = 2000, $C_1$ = 0)",
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
            title=r"Unit ball: bounds vs observed ($N_q$ = 500, $C_1$ = 0)",
        ),
        Experiment(
            "fashion_mnist_val",
            "fashion_mnist",
            "n_val",
            (500, 1000, 2000, 4000, 6000, 8000, 10000),
            (1000,),
            (0.05,),
            title=r"Fashion-MNIST, softmax regression: validation size ($N_q$ = 1000)",
        ),
        Experiment(
            "fashion_mnist_train",
            "fashion_mnist",
            "n_train",
            (5000,),
            (200, 500, 1000, 2000, 3000, 5000),
            (0.05,),
            title=r"Fashion-MNIST, softmax regression: training budget ($N_v$ = 5000)",
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
NEEDS_DATA = {"npz"}  # not part of --experiment=all


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
) -> dict:
    """Sweep `exp` over `seeds` and write every output into `out_dir`.

    `dataset` is the loaded data (default: `load_dataset(exp.dataset)`). Inputs are
    checked first (a `ConfigError` says what to fix); the results are written before any
    figure, so a plotting failure loses nothing computed. Each method is one compiled
    sweep; "al" and "pl" rows come with their "_sc" twins.
    """
    dataset = dataset or load_dataset(exp.dataset)
    exp.check(dataset)
    check_seeds(seeds)
    if exp.kind == "scatter":
        return _scatter(exp, dataset, int(seeds[0]), Path(out_dir))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid = grid_params(exp.n_val, exp.n_train, exp.eps, exp.c1)
    rows, timings, sweeps = [], {}, {}
    for method in exp.methods:
        cfg = exp.static_config(dataset, method)
        sweeps[method] = run_sweep(
            cfg,
            seeds,
            grid,
            chunk_runs=chunk_runs,
            label=f"{exp.name}/{method}",
            memory_budget_gib=memory_budget_gib,
        )
        rows += results.run_rows(exp.name, cfg, sweeps[method])
        timings[method] = {
            "static_config": results.describe_config(cfg),
            "compile_seconds": sweeps[method].compile_seconds,
            "run_seconds": sweeps[method].run_seconds,
            "chunks": sweeps[method].chunks,
            "seeds_per_chunk": sweeps[method].seeds_per_chunk,
            "peak_bytes_per_chunk": sweeps[method].peak_bytes,
        }
    summary = results.summarise_rows(rows)
    paths = {
        "results": out_dir / "results.csv",
        "summary": out_dir / "summary.csv",
        "meta": out_dir / "meta.json",
    }
    results.write_csv(paths["results"], rows, results.RUN_COLUMNS)
    results.write_csv(paths["summary"], summary, results.SUMMARY_COLUMNS)
    results.write_json(
        paths["meta"],
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
    if exp.kind == "bounds":
        return out | _write_bounds(exp, sweeps["tbal"], out_dir)
    for c1 in exp.c1:
        suffix = f"_c1_{c1:g}".replace(".", "p") if len(exp.c1) > 1 else ""
        in_c1 = [r for r in summary if r["c1"] == c1]
        title = exp.figure_title + (f", $C_1$ = {c1:g}" if len(exp.c1) > 1 else "")
        out["figure"] += plots.sweep_figure(
            in_c1, exp.axis, title, out_dir / f"{exp.name}{suffix}"
        )
        markdown, latex = tables.sweep_table(summary, exp.axis, c1)
        for text, ext in ((markdown, ".md"), (latex, ".tex")):
            path = out_dir / f"table{suffix}{ext}"
            path.write_text(text + "\n")
            out["tables"].append(path)
    return out


def _scatter(exp: Experiment, dataset: Dataset, seed: int, out_dir: Path) -> dict:
    """Where each method's labels land on one run of a 2-d dataset (SPEC section 9)."""
    out_dir.mkdir(parents=True, exist_ok=True)
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
        pools.pool_x, pools.pool_y, panels, exp.figure_title, out_dir / exp.name
    )
    return {"figure": figure, "summary_rows": []}


def _write_bounds(exp: Experiment, sweep, out_dir: Path) -> dict:
    """bounds.csv and the bound-vs-observed figure for a one-eps, one-C1 N_v sweep."""
    eps = exp.eps[0]
    n_val = sweep.grid.n_val
    errors = sweep.summary.n_auto_wrong / np.where(
        sweep.summary.n_auto > 0, sweep.summary.n_auto, np.nan
    )
    run_bounds = bounds.run_upper_bounds(sweep.rounds.n_val, sweep.rounds.n_auto, eps)
    rows = bounds.bounds_table(n_val, errors, run_bounds, eps)
    path = out_dir / "bounds.csv"
    results.write_csv(path, rows, bounds.BOUNDS_COLUMNS)
    s = bounds.BoundSettings()
    curves = {
        rf"upper bound (reference, $\delta$={s.delta:g})": [
            r["upper_bound"] for r in rows
        ],
        rf"smallest certifiable error (lower bound, $\delta$={s.lower_delta:g})": [
            r["lower_bound"] for r in rows
        ],
        "multi-round upper bound, mean over seeds": [
            r["multi_round_bound_mean"] for r in rows
        ],
    }
    figure = plots.bound_overlay(
        n_val, errors, curves, eps, out_dir / exp.name, exp.figure_title
    )
    return {"bounds": path, "figure": figure}
