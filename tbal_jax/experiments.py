"""The published experiments (SPEC section 8) as named grids, and how to run one.

`run_experiment` is the whole pipeline behind `python -m experiments.run`: check the
inputs, sweep, write `results.csv`, `summary.csv`, `meta.json` and the figure. Notebooks
call it directly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

from tbal_jax import bounds, plots, results, tables
from tbal_jax.config import DATASET_SPECS, RunParams, StaticConfig, grid_params
from tbal_jax.run import make_run
from tbal_jax.sweep import DEFAULT_CHUNK_RUNS, run_sweep, seed_keys
from tbal_jax.validate import ConfigError, check_grid, check_seeds

PAPER_SEED_STRIDE = 7  # the paper's seeds are 0, 7, 14, ...
C1_VALUES = (0.0, 0.25)
METHODS = ("tbal", "al", "pl")  # runs; "al" and "pl" also give "al_sc" and "pl_sc"


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A named grid: dataset, the swept axis `x`, and the values of every axis."""

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

    def check(self) -> None:
        check_grid(self.dataset, self.n_val, self.n_train, self.eps, self.c1)
        for m in self.methods:
            if m not in METHODS:
                raise ConfigError(
                    f"unknown method {m!r}; choose from {', '.join(METHODS)}"
                )
        if not self.methods:
            raise ConfigError("no methods: give at least one of " + ", ".join(METHODS))
        if len(set(self.methods)) < len(self.methods):
            raise ConfigError(f"methods={','.join(self.methods)} repeats a method")
        # one value on every axis but the swept one (and C1, drawn one figure each)
        fixed = {"n_val", "n_train", "eps"} - (
            {self.x} if self.kind != "scatter" else set()
        )
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

    def static_config(self, method: str = "tbal") -> StaticConfig:
        return StaticConfig.for_grid(self.dataset, self.n_val, self.n_train, method)


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
    ]
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(
            f"unknown experiment {name!r}; choose one of "
            f"{', '.join(EXPERIMENTS)} (see --list)"
        )
    return EXPERIMENTS[name]


def paper_seeds(count: int) -> np.ndarray:
    """The first `count` seeds of the paper's sequence 0, 7, 14, ..."""
    return PAPER_SEED_STRIDE * np.arange(count)


def run_experiment(
    exp: Experiment, seeds, out_dir: Path, chunk_runs: int = DEFAULT_CHUNK_RUNS
) -> dict:
    """Sweep `exp` over `seeds` and write every output into `out_dir`.

    Inputs are checked first (a `ConfigError` says what to fix); the results are written
    before any figure, so a plotting failure loses nothing computed. Each method is one
    compiled sweep; "al" and "pl" rows come with their "_sc" twins.
    """
    exp.check()
    check_seeds(seeds)
    if exp.kind == "scatter":
        return _scatter(exp, int(seeds[0]), Path(out_dir))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid = grid_params(exp.n_val, exp.n_train, exp.eps, exp.c1)
    rows, timings, sweeps = [], {}, {}
    for method in exp.methods:
        cfg = exp.static_config(method)
        sweeps[method] = run_sweep(
            cfg, seeds, grid, chunk_runs=chunk_runs, label=f"{exp.name}/{method}"
        )
        rows += results.run_rows(
            exp.name, sweeps[method], DATASET_SPECS[exp.dataset].n_pool
        )
        timings[method] = {
            "static_config": dataclasses.asdict(cfg),
            "compile_seconds": sweeps[method].compile_seconds,
            "run_seconds": sweeps[method].run_seconds,
            "chunks": sweeps[method].chunks,
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
            "seeds": [int(s) for s in seeds],
            "runs": len(rows),
            "methods": timings,
            "compile_seconds": sum(t["compile_seconds"] for t in timings.values()),
            "run_seconds": sum(t["run_seconds"] for t in timings.values()),
            **results.environment(),
        },
    )
    out = paths | {"summary_rows": summary, "tables": [], "figure": []}
    if exp.kind == "bounds":
        return out | _write_bounds(exp, sweeps["tbal"], out_dir)
    for c1 in exp.c1:
        suffix = f"_c1_{c1:g}".replace(".", "p") if len(exp.c1) > 1 else ""
        in_c1 = [r for r in summary if r["c1"] == c1]
        title = exp.title + (f", $C_1$ = {c1:g}" if len(exp.c1) > 1 else "")
        out["figure"] += plots.sweep_figure(
            in_c1, exp.x, title, out_dir / f"{exp.name}{suffix}"
        )
        markdown, latex = tables.sweep_table(summary, exp.x, c1)
        for text, ext in ((markdown, ".md"), (latex, ".tex")):
            path = out_dir / f"table{suffix}{ext}"
            path.write_text(text + "\n")
            out["tables"].append(path)
    return out


def _scatter(exp: Experiment, seed: int, out_dir: Path) -> dict:
    """Where each method's labels land on one run of a 2-d dataset (SPEC section 9)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    params = RunParams(
        np.int32(exp.n_val[0]),
        np.int32(exp.n_train[0]),
        np.float32(exp.eps[0]),
        np.float32(exp.c1[0]),
    )
    panels = {}
    for method in exp.methods:
        sim = make_run(exp.static_config(method))
        pools = sim.sample_pools(jax.random.split(seed_keys([seed])[0])[0])
        labels = jax.jit(sim.run)(seed_keys([seed])[0], params).labels
        wanted = {"tbal": "tbal", "al": "al_sc", "pl": "pl_sc"}[method]
        panels[plots.METHOD_LABELS[wanted]] = np.asarray(labels[wanted])
    figure = plots.labels_scatter(
        np.asarray(pools.pool_x),
        np.asarray(pools.pool_y),
        panels,
        exp.title,
        out_dir / exp.name,
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
        n_val, errors, curves, eps, out_dir / exp.name, exp.title
    )
    return {"bounds": path, "figure": figure}
