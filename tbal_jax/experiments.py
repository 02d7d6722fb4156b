"""The published experiments (SPEC section 8) as named grids, and how to run one.

`run_experiment` is the whole pipeline behind `python -m experiments.run`: check the
inputs, sweep, write `results.csv`, `summary.csv`, `meta.json` and the figure. Notebooks
call it directly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tbal_jax import plots, results
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
    figure = plots.sweep_figure(summary, exp.x, exp.title, out_dir / exp.name)
    return paths | {"figure": figure, "summary_rows": summary}
