"""Benchmark: the TBAL part of an experiment's grid against sequential NumPy.

    python -m experiments.bench [--case=unit_ball|fashion_mnist] [--seeds=50]
        [--repeats=5] [--numpy_seeds=2]

Times the whole grid (`unit_ball_val`: 11 validation sizes x 2 values of C1 x S seeds;
`fashion_mnist_val`: 7 x 2 x S) as one compiled, chunked sweep: compile time apart, a
warm-up, then the median of `repeats` timed sweeps with `block_until_ready`. In the same
process it times the plain sequential NumPy + scikit-learn implementation
(`experiments.numpy_baseline`, the `bench` extra: LinearSVC on the unit ball,
LogisticRegression(C=1) on Fashion-MNIST) on `numpy_seeds` seeds of the same grid, and
prints the ratio of the two per-run costs: that ratio, with the device named, is the
figure we report. It also prints the chunk size and XLA's peak-memory estimate of one
chunk, and each side's mean TBAL error and coverage as a check that both ran the same
algorithm.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
from absl import app, flags

from tbal_jax import sweep
from tbal_jax.config import grid_params
from tbal_jax.experiments import get_experiment, paper_seeds
from tbal_jax.loaders import load_dataset
from tbal_jax.results import environment

CASES = {"unit_ball": "unit_ball_val", "fashion_mnist": "fashion_mnist_val"}
FLAGS = flags.FLAGS
flags.DEFINE_enum("case", "unit_ball", list(CASES), "which experiment's grid to time")
flags.DEFINE_integer("seeds", 50, "seeds of the JAX sweep (runs = cells x seeds)")
flags.DEFINE_integer("repeats", 5, "timed repetitions (the median is reported)")
flags.DEFINE_integer(
    "numpy_seeds", 2, "seeds of the sequential NumPy baseline (0 skips)"
)
flags.DEFINE_integer("chunk_runs", sweep.DEFAULT_CHUNK_RUNS, "runs per compiled chunk")


def _outcome(errors, coverages) -> str:
    errors = [e for e in errors if not math.isnan(e)]
    return (
        f"TBAL error {100 * np.mean(errors):.2f}%, coverage "
        f"{100 * np.mean(coverages):.2f}%"
    )


def time_jax(exp, dataset, seeds, repeats: int, chunk_runs: int) -> dict:
    cfg, grid = (
        exp.static_config(dataset),
        grid_params(exp.n_val, exp.n_train, exp.eps, exp.c1),
    )
    start = time.perf_counter()
    first = sweep.run_sweep(
        cfg, seeds, grid, chunk_runs=chunk_runs
    )  # compile + warm-up
    first_call = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sweep.run_sweep(cfg, seeds, grid, chunk_runs=chunk_runs)  # blocks on each chunk
        times.append(time.perf_counter() - start)
    runs = len(seeds) * len(grid.n_val)
    median = statistics.median(times)
    return {
        "runs": runs,
        "compile_s": first.compile_seconds,
        "first_call_s": first_call,
        "median_s": median,
        "ms_per_run": 1000 * median / runs,
        "runs_per_s": runs / median,
        "chunks": first.chunks,
        "seeds_per_chunk": first.seeds_per_chunk,
        "peak_mib": first.peak_bytes / 2**20,
        "outcome": _outcome(
            first.summary.auto_error.ravel(), first.summary.coverage.ravel()
        ),
    }


def time_numpy(exp, dataset, n_seeds: int) -> dict:
    from experiments import numpy_baseline  # needs the `bench` extra

    times, errors, coverages = [], [], []
    for seed in range(n_seeds):
        for n_val in exp.n_val:
            for c1 in exp.c1:
                start = time.perf_counter()
                if dataset.fixed:
                    out = numpy_baseline.run_tbal_fixed(
                        seed, dataset.arrays, n_val, exp.n_train[0], exp.eps[0], c1
                    )
                else:
                    out = numpy_baseline.run_tbal(
                        seed, n_val, exp.n_train[0], exp.eps[0], c1
                    )
                times.append(time.perf_counter() - start)
                errors.append(out["auto_error"])
                coverages.append(out["coverage"])
    return {
        "runs": len(times),
        "ms_per_run": 1000 * statistics.mean(times),
        "ms_per_run_median": 1000 * statistics.median(times),
        "outcome": _outcome(errors, coverages),
    }


def main(argv):
    del argv
    env = environment()
    print(
        f"device: {env['device']['kind']} ({env['device']['platform']}), "
        f"jax {env['versions']['jax']}, float32"
    )
    exp = get_experiment(CASES[FLAGS.case])
    dataset = load_dataset(exp.dataset)
    print(f"case: {exp.name} (TBAL, {len(exp.n_val) * len(exp.c1)} cells per seed)")
    jx = time_jax(
        exp, dataset, paper_seeds(FLAGS.seeds), FLAGS.repeats, FLAGS.chunk_runs
    )
    print(
        f"JAX sweep: {jx['runs']} runs in {jx['chunks']} chunk(s) of "
        f"{jx['seeds_per_chunk']} seeds (peak {jx['peak_mib']:.0f} MiB per chunk); "
        f"compile {jx['compile_s']:.1f} s (first call incl. compile "
        f"{jx['first_call_s']:.1f} s); median of {FLAGS.repeats}: "
        f"{jx['median_s']:.2f} s = {jx['ms_per_run']:.2f} ms/run, "
        f"{jx['runs_per_s']:.0f} runs/s; {jx['outcome']}"
    )
    if FLAGS.numpy_seeds:
        npy = time_numpy(exp, dataset, FLAGS.numpy_seeds)
        print(
            f"NumPy sequential: {npy['runs']} runs, mean {npy['ms_per_run']:.1f} ms/run "
            f"(median {npy['ms_per_run_median']:.1f}); {npy['outcome']}"
        )
        print(
            f"ratio NumPy / JAX per run: {npy['ms_per_run'] / jx['ms_per_run']:.1f}x "
            f"on {env['device']['kind']}"
        )


if __name__ == "__main__":
    app.run(main)
