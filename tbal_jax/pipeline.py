"""The whole pipeline behind `python -m experiments.run`: check -> store -> sweep ->
report (algorithm.md sections 8-10).

`run_experiment(exp, seeds, out_dir)` checks the inputs and the folder before anything
compiles, sweeps every unit of the experiment (one compiled sweep per method, estimator,
model, score and query), saves each chunk as it finishes (`tbal_jax.store`, so a stopped
run resumes), then writes `results.csv`, `summary.csv` and `meta.json`, and only then
the report's tables and figures (`tbal_jax.reports`), so a plotting failure loses
nothing computed. Notebooks call it directly.
"""

from __future__ import annotations

import types
from pathlib import Path

import jax
import numpy as np

from tbal_jax import results
from tbal_jax.datasets import Dataset, load_dataset
from tbal_jax.errors import ConfigError
from tbal_jax.presets import Experiment
from tbal_jax.reports import Done
from tbal_jax.store import (
    FULL_DISK,
    ResultStore,
    array_digest,
    code_digest,
)
from tbal_jax.sweep import (
    DEFAULT_CHUNK_RUNS,
    DEFAULT_MEMORY_BUDGET_GIB,
    SweepResult,
    run_sweep,
)
from tbal_jax.validate import check_chunking, check_seeds

TIMING_KEYS = ("compile_seconds", "run_seconds", "chunks", "seeds_per_chunk")


def run_experiment(
    exp: Experiment,
    seeds,
    out_dir: Path,
    chunk_runs: int = DEFAULT_CHUNK_RUNS,
    dataset: Dataset | None = None,
    memory_budget_gib: float = DEFAULT_MEMORY_BUDGET_GIB,
    overwrite: bool = False,
    allow_env_change: bool = False,
) -> dict:
    """Sweep `exp` over `seeds` and write every output into `out_dir`.

    `dataset` is the loaded data (default: `load_dataset(exp.dataset)`). A bad input is a
    one-line `ConfigError`; Ctrl-C, SIGTERM and a full disk raise a one-line `Stopped`
    after saving what finished; a folder holding another configuration's results is
    refused unless `overwrite`, and one computed on another machine unless
    `allow_env_change` (`tbal_jax.store`). "al" and "pl" rows come with their "_sc"
    twins."""
    if not isinstance(exp, Experiment):
        raise ConfigError(f"exp={exp!r} is not an Experiment; use get_experiment(name)")
    dataset = dataset or load_dataset(exp.dataset)
    exp.check(dataset)
    seeds = check_seeds(seeds)
    exp.report.check_seeds(exp, seeds)
    check_chunking(chunk_runs, memory_budget_gib)
    store = ResultStore(
        out_dir,
        _fingerprint(exp, dataset, seeds),
        overwrite,
        writer=jax.process_index() == 0,
        allow_env_change=allow_env_change,
    )
    with store:
        try:
            if not exp.report.runs_sweeps:
                done = Done({}, [], [], seeds)
                out = exp.report.write(
                    exp, dataset, done, store.folder, store.atomic_path
                )
                store.finish(out["figure"])
                return out | {"summary_rows": []}
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
    return {
        "experiment": exp.describe(),
        "dataset": results.describe_dataset(dataset)
        | {"digest": array_digest(dataset.arrays or ())},
        "seeds": [int(s) for s in seeds],
        "versions": {
            k: v
            for k, v in results.environment()["versions"].items()
            if k in ("tbal-jax", "jax", "jaxlib")
        },
        "code": code_digest(),
    }


def _sweep(exp, unit, dataset, seeds, store, chunk_runs, memory_budget_gib):
    """One unit's sweep over the seeds the store does not hold yet, each chunk saved as
    it finishes; returns (all seeds' `SweepResult` from the store, timings). The
    timings of a resumed run add this run's to those the earlier run saved."""
    cfg = exp.static_config(dataset, unit)
    grid = exp.grid
    todo = store.todo(unit.name, seeds)

    def save(chunk):
        part = types.SimpleNamespace(
            seeds=chunk.seeds, grid=grid, outcomes=chunk.output.outcomes
        )
        rows = results.run_rows(exp.name, cfg, part)
        store.save_chunk(
            unit.name, chunk, lambda p: results.write_csv(p, rows, results.RUN_COLUMNS)
        )

    earlier = store.timing(unit.name)
    timing = {
        "static_config": results.describe_config(cfg),
        "resumed_seeds": len(seeds) - len(todo),  # saved by an earlier, stopped run
        **{k: earlier.get(k, 0) for k in TIMING_KEYS},
        "peak_bytes_per_chunk": earlier.get("peak_bytes_per_chunk", 0),
    }
    if len(todo):
        done = run_sweep(
            cfg,
            todo,
            grid,
            chunk_runs=chunk_runs,
            label=f"{exp.name}/{unit.name}",
            memory_budget_gib=memory_budget_gib,
            on_chunk=save,
        )
        timing |= {
            "compile_seconds": timing["compile_seconds"] + done.compile_seconds,
            "run_seconds": timing["run_seconds"] + done.run_seconds,
            "chunks": timing["chunks"] + done.chunks,
            "seeds_per_chunk": done.seeds_per_chunk,
            "peak_bytes_per_chunk": max(
                timing["peak_bytes_per_chunk"], done.peak_bytes
            ),
        }
        store.save_timing(
            unit.name, {k: v for k, v in timing.items() if k != "static_config"}
        )
    if not store.writer:
        return None, timing
    out = store.output(unit.name, seeds)
    return SweepResult(
        seeds,
        grid,
        out.outcomes,
        out.rounds,
        *(timing[k] for k in TIMING_KEYS),
        timing["peak_bytes_per_chunk"],
    ), timing


def _write_csv(store, path: Path, rows: list[dict], columns: list[str]) -> Path:
    with store.atomic_path(path) as tmp:
        results.write_csv(tmp, rows, columns)
    return path


def _write_outputs(exp, dataset, sweeps, store, memory_budget_gib) -> dict:
    """results.csv, summary.csv, meta.json, then the report's tables and figures."""
    folder = store.folder
    rows = []
    for unit, (sweep, _) in sweeps.items():
        rows += results.run_rows(exp.name, exp.static_config(dataset, unit), sweep)
    summary = results.summarise_rows(rows)
    timings = {unit.name: timing for unit, (_, timing) in sweeps.items()}
    seeds = next(iter(sweeps.values()))[0].seeds
    paths = {
        "results": _write_csv(
            store, folder / "results.csv", rows, results.RUN_COLUMNS
        ),
        "summary": _write_csv(
            store, folder / "summary.csv", summary, results.SUMMARY_COLUMNS
        ),
        "meta": folder / "meta.json",
    }
    with store.atomic_path(paths["meta"]) as tmp:
        results.write_json(
            tmp,
            {
                "experiment": exp.describe(),
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
    done = Done(
        {unit: sweep for unit, (sweep, _) in sweeps.items()}, rows, summary, seeds
    )
    report = exp.report.write(exp, dataset, done, folder, store.atomic_path)
    out = paths | {"summary_rows": summary} | report
    extra = [v for k, v in report.items() if k not in ("tables", "figure")]
    store.finish([*paths.values(), *extra, *report["tables"], *report["figure"]])
    return out
