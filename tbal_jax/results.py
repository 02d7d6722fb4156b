"""Tidy results: one CSV row per run, a per-cell summary, and a JSON of the run's context.

Both CSVs are plain comma-separated text with a header, read directly by
`pandas.read_csv`. Error and coverage are fractions. A run that auto-labelled nothing has
an empty `auto_error` (algorithm.md section 1): it is kept and counted in the summary's `n_no_auto`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import importlib.metadata
import json
import math
import platform
from collections import defaultdict
from pathlib import Path

import jax
import numpy as np

from tbal_jax.config import SWEPT, RunParams, StaticConfig
from tbal_jax.datasets import Dataset
from tbal_jax.runtime import machine_fingerprint

CELL_COLUMNS = [
    "experiment",
    "dataset",
    "model",
    "num_classes",
    "method",
    "estimator",
    "score",
    "query",
] + list(RunParams._fields)
N_NAMED = CELL_COLUMNS.index("query") + 1  # the columns before the swept values
RUN_COLUMNS = (
    CELL_COLUMNS[:N_NAMED]
    + ["seed"]
    + CELL_COLUMNS[N_NAMED:]
    + [
        "auto_error",
        "coverage",
        "n_auto",
        "n_auto_wrong",
        "n_queried",
        "n_rounds",
        "test_error",
        "test_coverage",
        "n_test",
    ]
)
SUMMARY_COLUMNS = CELL_COLUMNS + [
    "n_runs",
    "n_no_auto",
    "auto_error_mean",
    "auto_error_std",
    "auto_error_max",
    "coverage_mean",
    "coverage_std",
]


def _swept_values(grid: RunParams, j: int) -> dict:
    """Grid cell j as Python numbers, typed by `params.SWEPT`."""
    return {
        name: (int if decl.integer else float)(values[j])
        for name, values, decl in zip(RunParams._fields, grid, SWEPT)
    }


def run_rows(experiment: str, cfg: StaticConfig, result) -> list[dict]:
    """One dict per (method outcome, seed, grid cell) of a `SweepResult`; error and
    coverage are computed in float64 from the integer counts."""
    n_pool = cfg.dataset.n_pool
    context = {
        "experiment": experiment,
        "dataset": cfg.dataset.name,
        "model": cfg.the_model.name,
        "num_classes": cfg.dataset.num_classes,
        "estimator": cfg.estimator.name,
        "score": cfg.score.name,
        "query": cfg.query.name,
        "n_test": cfg.n_test,
    }
    rows = []
    for method, s in result.outcomes.items():
        for i, seed in enumerate(result.seeds):
            for j in range(len(result.grid.n_val)):
                n_auto, n_wrong = int(s.n_auto[i, j]), int(s.n_auto_wrong[i, j])
                t_auto, t_wrong = int(s.test_n_auto[i, j]), int(s.test_n_wrong[i, j])
                rows.append(
                    context
                    | {"method": method, "seed": int(seed)}
                    | _swept_values(result.grid, j)
                    | {
                        "auto_error": n_wrong / n_auto if n_auto else math.nan,
                        "coverage": n_auto / n_pool,
                        "n_auto": n_auto,
                        "n_auto_wrong": n_wrong,
                        "n_queried": int(s.n_queried[i, j]),
                        "n_rounds": int(s.n_rounds[i, j]),
                        "test_error": t_wrong / t_auto if t_auto else math.nan,
                        "test_coverage": t_auto / cfg.n_test
                        if cfg.n_test
                        else math.nan,
                    }
                )
    return rows


def describe_dataset(dataset: Dataset) -> dict:
    """The dataset's sizes, source and preset model, for meta.json."""
    return {
        "name": dataset.name,
        "num_classes": dataset.num_classes,
        "dim": dataset.dim,
        "n_pool": dataset.n_pool,
        "n_val_pool": dataset.n_val_pool,
        "validation_pool": "given"
        if dataset.val_given or not dataset.fixed
        else "split off per seed",
        "source": dataset.source,
    }


def describe_config(cfg: StaticConfig) -> dict:
    """A static configuration as JSON-ready data: the dataset, score, query and
    estimator by name, the model and the protocol with their settings."""
    out = {}
    for field in dataclasses.fields(cfg):
        value = getattr(cfg, field.name)
        if field.name in ("dataset", "score", "query", "estimator"):
            value = value.name
        elif dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        out[field.name] = value
    out["model"] = dataclasses.asdict(cfg.the_model)
    return out


def summarise_rows(rows: list[dict]) -> list[dict]:
    """Mean, sample std (ddof=1) and count per cell; error statistics over the runs that
    auto-labelled something."""
    cells = defaultdict(list)
    for r in rows:
        cells[tuple(r[c] for c in CELL_COLUMNS)].append(r)
    out = []
    for key, runs in cells.items():
        err = np.array(
            [r["auto_error"] for r in runs if not math.isnan(r["auto_error"])]
        )
        cov = np.array([r["coverage"] for r in runs])
        out.append(
            dict(zip(CELL_COLUMNS, key))
            | {
                "n_runs": len(runs),
                "n_no_auto": len(runs) - len(err),
                "auto_error_mean": float(err.mean()) if len(err) else math.nan,
                "auto_error_std": float(err.std(ddof=1)) if len(err) > 1 else math.nan,
                "auto_error_max": float(err.max()) if len(err) else math.nan,
                "coverage_mean": float(cov.mean()),
                "coverage_std": float(cov.std(ddof=1)) if len(cov) > 1 else math.nan,
            }
        )
    return out


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for r in rows:
            writer.writerow(_cell(r[c]) for c in columns)


def environment() -> dict:
    """Package versions, the machine (`runtime.machine_fingerprint`) and the device."""
    versions = {}
    for pkg in ("tbal-jax", "jax", "jaxlib", "numpy", "optax", "matplotlib", "absl-py"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    device = jax.devices()[0]
    return {
        "versions": versions,
        "machine": machine_fingerprint(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": {
            "platform": device.platform,
            "kind": device.device_kind,
            "count": jax.device_count(),
        },
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }


def write_json(path: Path, data: dict) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")
