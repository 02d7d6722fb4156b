"""The published experiments (SPEC section 8) as named grids, and how to run one.

`run_experiment` is the whole pipeline behind `python -m experiments.run`: check the
inputs, sweep, write `results.csv`, `summary.csv`, `meta.json` and the figure. Notebooks
call it directly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tbal_jax import bounds, plots, results
from tbal_jax.config import DATASET_SPECS, StaticConfig, grid_params
from tbal_jax.sweep import DEFAULT_CHUNK_RUNS, run_sweep
from tbal_jax.validate import ConfigError, check_grid, check_seeds

PAPER_SEED_STRIDE = 7  # the paper's seeds are 0, 7, 14, ...
C1_VALUES = (0.0, 0.25)


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
    kind: str = "sweep"  # "bounds": also compare with the theory (tbal_jax.bounds)

    def with_grid(self, **overrides) -> "Experiment":
        """The same experiment with some axes replaced (None keeps an axis)."""
        return dataclasses.replace(
            self, **{k: tuple(v) for k, v in overrides.items() if v is not None})

    def check(self) -> None:
        check_grid(self.dataset, self.n_val, self.n_train, self.eps, self.c1)

    def static_config(self) -> StaticConfig:
        return StaticConfig.for_grid(self.dataset, self.n_val, self.n_train)


UNIT_BALL_N_VAL = (100,) + tuple(range(400, 4001, 400))
EXPERIMENTS = {
    e.name: e for e in [
        Experiment("unit_ball_val", "unit_ball", "n_val", UNIT_BALL_N_VAL, (500,),
                   (0.01,), title=r"Unit ball: validation size ($N_q$ = 500)"),
        Experiment("unit_ball_train", "unit_ball", "n_train", (4000,),
                   (100, 150, 200, 250) + tuple(range(300, 1001, 100)), (0.01,),
                   title=r"Unit ball: training budget ($N_v$ = 4000)"),
        Experiment("unit_ball_eps", "unit_ball", "eps", (4000,), (500,),
                   (0.001, 0.005, 0.01, 0.03, 0.05),
                   title=r"Unit ball: tolerance ($N_q$ = 500, $N_v$ = 4000)"),
        Experiment("circles_train", "circles", "n_train", (2000,),
                   tuple(range(100, 1501, 100)), (0.01,),
                   title=r"Circles: training budget ($N_v$ = 2000)"),
        Experiment("bounds_vs_empirics", "unit_ball", "n_val", UNIT_BALL_N_VAL, (500,),
                   (0.01,), c1=(0.0,), kind="bounds",
                   title=r"Unit ball: bounds vs observed ($N_q$ = 500, $C_1$ = 0)"),
    ]
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of "
                          f"{', '.join(EXPERIMENTS)} (see --list)")
    return EXPERIMENTS[name]


def paper_seeds(count: int) -> np.ndarray:
    """The first `count` seeds of the paper's sequence 0, 7, 14, ..."""
    return PAPER_SEED_STRIDE * np.arange(count)


def run_experiment(exp: Experiment, seeds, out_dir: Path,
                   chunk_runs: int = DEFAULT_CHUNK_RUNS) -> dict:
    """Sweep `exp` over `seeds` and write every output into `out_dir`.

    Inputs are checked first (a `ConfigError` says what to fix); the results are written
    before the figure, so a plotting failure loses nothing computed.
    """
    exp.check()
    check_seeds(seeds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = exp.static_config()
    grid = grid_params(exp.n_val, exp.n_train, exp.eps, exp.c1)
    sweep = run_sweep(cfg, seeds, grid, chunk_runs=chunk_runs, label=exp.name)
    rows = results.run_rows(exp.name, "tbal", sweep, DATASET_SPECS[exp.dataset].n_pool)
    summary = results.summarise_rows(rows)
    paths = {"results": out_dir / "results.csv", "summary": out_dir / "summary.csv",
             "meta": out_dir / "meta.json"}
    results.write_csv(paths["results"], rows, results.RUN_COLUMNS)
    results.write_csv(paths["summary"], summary, results.SUMMARY_COLUMNS)
    results.write_json(paths["meta"], {
        "experiment": dataclasses.asdict(exp),
        "seeds": [int(s) for s in seeds],
        "static_config": dataclasses.asdict(cfg),
        "runs": len(rows),
        "chunks": sweep.chunks,
        "compile_seconds": sweep.compile_seconds,
        "run_seconds": sweep.run_seconds,
        **results.environment(),
    })
    if exp.kind == "bounds":
        return paths | _write_bounds(exp, sweep, out_dir) | {"summary_rows": summary}
    figure = plots.sweep_figure(summary, exp.x, exp.title, out_dir / exp.name)
    return paths | {"figure": figure, "summary_rows": summary}


def _write_bounds(exp: Experiment, sweep, out_dir: Path) -> dict:
    """bounds.csv and the bound-vs-observed figure for a one-eps, one-C1 N_v sweep."""
    if len(exp.eps) != 1 or len(exp.c1) != 1 or len(exp.n_train) != 1:
        raise ConfigError("bounds_vs_empirics takes one eps, one c1 and one n_train")
    eps = exp.eps[0]
    n_val = sweep.grid.n_val
    errors = sweep.summary.n_auto_wrong / np.where(sweep.summary.n_auto > 0,
                                                   sweep.summary.n_auto, np.nan)
    run_bounds = bounds.run_upper_bounds(sweep.rounds.n_val, sweep.rounds.n_auto, eps)
    rows = bounds.bounds_table(n_val, errors, run_bounds, eps)
    path = out_dir / "bounds.csv"
    results.write_csv(path, rows, bounds.BOUNDS_COLUMNS)
    s = bounds.BoundSettings()
    curves = {
        rf"upper bound (reference, $\delta$={s.delta:g})":
            [r["upper_bound"] for r in rows],
        rf"smallest certifiable error (lower bound, $\delta$={s.lower_delta:g})":
            [r["lower_bound"] for r in rows],
        "multi-round upper bound, mean over seeds":
            [r["multi_round_bound_mean"] for r in rows],
    }
    figure = plots.bound_overlay(n_val, errors, curves, eps, out_dir / exp.name,
                                 exp.title)
    return {"bounds": path, "figure": figure}
