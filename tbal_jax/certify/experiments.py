"""The scores experiments (algorithm.md section 13) and their runner: `scores_imagenet`
and `scores_stance` on the PAC Labels repository's tables, `scores` on any
`--scores=PATH`. Each writes results.csv (one row per draw), summary.csv and summary.md
(one row per cell), meta.json (the settings, the table's description and class mapping,
versions, timings) and the figure <experiment>.png/.pdf, every file written whole
(a temporary name renamed into place).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from tbal_jax.certify import report
from tbal_jax.certify.methods import METHODS
from tbal_jax.certify.sweep import check_settings, console_progress, rows_of, run_method
from tbal_jax.certify.table import DEFAULT_COLUMNS, ScoresTable, check_grid, load_scores
from tbal_jax.errors import ConfigError
from tbal_jax.manifest import atomic_path
from tbal_jax.registry import Registry
from tbal_jax.results import environment, write_csv, write_json

# where developers and CI have the PAC Labels tables (README: where users get them)
SHARED_TABLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "pac-labels"
TABLES_ENV = "TBAL_PAC_LABELS"  # a folder holding imagenet.csv and stance.csv
DEFAULT_ESTIMATORS = (
    "plugin", "clopper_pearson", "ltt", "sgr", "conformal_labeling", "pac_labels"
)
RESULT_COLUMNS = (
    "experiment", "table", "estimator", "promise", "grouping", "seed", "n_val", "eps",
    "delta", "n_pool", "n_auto", "n_auto_wrong", "coverage", "error", "whole_error",
    "human_labels", "violation",
)
SUMMARY_COLUMNS = (
    *report.CELL, "promise", "n_runs", "violations", "violation_rate", "violation_low",
    "violation_high", "fdr_mean", "fdr_low", "fdr_high", "promise_kept",
    "coverage_mean", "n_no_auto", "whole_error_mean", "human_labels_mean",
)


@dataclasses.dataclass(frozen=True)
class ScoresExperiment:
    """A scores experiment: its table (a file of the shared folder, or None for the
    user's `--scores`), its columns, grid and methods."""

    name: str
    title: str
    table: str | None
    n_val: tuple[int, ...]
    columns: tuple[tuple[str, str], ...] = tuple(DEFAULT_COLUMNS.items())
    eps: tuple[float, ...] = (0.05, 0.10)
    delta: float = 0.05
    seeds: int = 1000
    estimators: tuple[str, ...] = DEFAULT_ESTIMATORS
    grouping: str = "per_class"

    def table_path(self) -> Path | None:
        if self.table is None:
            return None
        folder = Path(os.environ.get(TABLES_ENV, SHARED_TABLES))
        return folder / self.table

    def unavailable(self) -> str:
        """Why the shared table cannot be read here ('' when it can)."""
        path = self.table_path()
        if path is None or path.is_file():
            return ""
        return (
            f"{path} not found: get datasets/{self.table} from github.com/"
            f"tijana-zrnic/pac-labels and set {TABLES_ENV} to its folder"
        )


SCORES_IMAGENET = ScoresExperiment(
    "scores_imagenet",
    "ImageNet classifier (50,000 validation images, 1,000 classes): one threshold",
    "imagenet.csv",
    n_val=(200, 500, 1000, 2000, 5000, 10000, 20000),
    grouping="global",
)
SCORES_STANCE = ScoresExperiment(
    "scores_stance",
    "GPT-4o stance labels (2,299 sentences, 3 classes): per-class thresholds",
    "stance.csv",
    n_val=(100, 200, 400, 800, 1500),
    columns=(("label_col", "Y"), ("pred_col", "Yhat (GPT4o)"),
             ("conf_col", "confidence")),
)
SCORES = ScoresExperiment(
    "scores",
    "your scores table",
    None,
    n_val=(100, 200, 500, 1000, 2000),
)

SCORE_EXPERIMENTS: Registry[ScoresExperiment] = Registry("experiment")
SCORE_EXPERIMENTS.register(SCORES_IMAGENET)
SCORE_EXPERIMENTS.register(SCORES_STANCE)
SCORE_EXPERIMENTS.register(SCORES)


def configure(exp: ScoresExperiment, *, scores=None, columns=None, n_val=None,
              eps=None, delta=None, estimators=None, grouping=None):
    """The experiment with the user's overrides, and its checked table: every setting
    and the table checked before anything compiles (a one-line `ConfigError`)."""
    if exp.table is None and scores is None:
        raise ConfigError(f"--experiment={exp.name} needs --scores=PATH (a CSV or .npz)")
    check_settings(eps or (), delta, grouping, estimators or ())
    cols = dict(exp.columns) | {k: v for k, v in (columns or {}).items() if v}
    exp = dataclasses.replace(
        exp,
        n_val=tuple(int(v) for v in n_val) if n_val else exp.n_val,
        eps=tuple(eps) if eps else exp.eps,
        delta=delta if delta is not None else exp.delta,
        estimators=tuple(estimators) if estimators else exp.estimators,
        grouping=grouping or exp.grouping,
        columns=tuple(cols.items()),
    )
    table = load_scores(scores or exp.table_path(), **cols)
    check_grid(table, list(exp.n_val))
    return exp, table


OUTPUTS = ("results.csv", "summary.csv", "summary.md", "meta.json")  # and the figure
MAX_DRAWS = 1_000_000  # per cell: results.csv holds a row per draw, cell and method


def _settings(exp: ScoresExperiment, table: ScoresTable, seeds: int) -> dict:
    """What meta.json says of a run's configuration, as JSON reads it back."""
    said = {"experiment": dataclasses.asdict(exp) | {"seeds": seeds},
            "table": table.describe()}
    return json.loads(json.dumps(said, default=str))


def check_out(exp: ScoresExperiment, table: ScoresTable, seeds: int, out,
              overwrite: bool = False) -> None:
    """Before any draw: refuse (one line) an output folder that holds this experiment's
    files from another run, unless `overwrite`. Files of a run with the same settings
    (meta.json) are rewritten, with the same values: the draws are seeded."""
    out = Path(out)
    names = [*OUTPUTS, f"{exp.name}.png", f"{exp.name}.pdf"]
    held = [n for n in names if (out / n).exists()]
    if not held or overwrite:
        return
    try:
        meta = json.loads((out / "meta.json").read_text())
        same = {k: meta.get(k) for k in ("experiment", "table")} == _settings(
            exp, table, seeds)
    except (OSError, ValueError, AttributeError):
        same = False
    if not same:
        raise ConfigError(
            f"--out={out} holds {', '.join(held)} of another run (other settings, or "
            "not this experiment); choose another folder, or pass --overwrite to "
            "replace them"
        )


def run(exp: ScoresExperiment, table: ScoresTable, seeds: int, out,
        progress: bool = True) -> dict:
    """Every method's draws, then the files (module docstring); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed_values = np.arange(seeds)
    rows, timings = [], {}
    start = time.perf_counter()
    for name in exp.estimators:
        show = console_progress(f"{exp.name} {name}") if progress else None
        fields, timing = run_method(table, name, exp.grouping, exp.n_val, exp.eps,
                                    exp.delta, seed_values, show)
        rows += rows_of(exp.name, table, name, fields, exp.delta)
        timings[name] = timing
    summary = report.summarise(rows)
    paths = {"results": out / "results.csv", "summary": out / "summary.csv",
             "table": out / "summary.md", "meta": out / "meta.json"}
    with atomic_path(paths["results"]) as tmp:
        write_csv(tmp, rows, list(RESULT_COLUMNS))
    with atomic_path(paths["summary"]) as tmp:
        write_csv(tmp, summary, list(SUMMARY_COLUMNS))
    with atomic_path(paths["table"]) as tmp:
        tmp.write_text(f"# {exp.name}: {exp.title}\n\n" + report.table(summary))
    meta = {
        "experiment": dataclasses.asdict(exp) | {"seeds": seeds},
        "table": table.describe(),
        "promises": {n: METHODS.get(n).guarantee for n in exp.estimators},
        "timing_s": timings | {"total": time.perf_counter() - start},
        "environment": environment(),
    }
    with atomic_path(paths["meta"]) as tmp:
        write_json(tmp, meta)
    paths["figure"] = report.figure(
        summary, f"{exp.name}: {exp.title}, {seeds} draws per cell",
        out / exp.name,
    )
    return paths
