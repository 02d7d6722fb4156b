"""Benchmark: the TBAL part of the `unit_ball_val` grid against sequential NumPy.

    python -m experiments.bench [--seeds=50] [--repeats=5] [--numpy_seeds=2]

Times the whole grid (11 validation sizes x 2 values of C1 x S seeds) as one compiled,
chunked sweep: compile time apart, a warm-up, then the median of `repeats` timed sweeps
with `block_until_ready`. In the same process it times the plain sequential NumPy +
scikit-learn implementation (`experiments.numpy_baseline`, the `bench` extra) on
`numpy_seeds` seeds of the same grid, and prints the ratio of the two per-run costs: that
ratio, with the device named, is the figure we report.
"""

from __future__ import annotations

import statistics
import time

from absl import app, flags

from tbal_jax import sweep
from tbal_jax.config import grid_params
from tbal_jax.experiments import get_experiment, paper_seeds
from tbal_jax.results import environment

FLAGS = flags.FLAGS
flags.DEFINE_integer("seeds", 50, "seeds of the JAX sweep (runs = 22 x seeds)")
flags.DEFINE_integer("repeats", 5, "timed repetitions (the median is reported)")
flags.DEFINE_integer(
    "numpy_seeds", 2, "seeds of the sequential NumPy baseline (0 skips)"
)
flags.DEFINE_integer("chunk_runs", sweep.DEFAULT_CHUNK_RUNS, "runs per compiled chunk")


def time_jax(seeds, repeats: int, chunk_runs: int) -> dict:
    exp = get_experiment("unit_ball_val")
    cfg, grid = (
        exp.static_config(),
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
    }


def time_numpy(n_seeds: int) -> dict:
    from experiments.numpy_baseline import run_tbal  # needs the `bench` extra

    exp = get_experiment("unit_ball_val")
    times = []
    for seed in range(n_seeds):
        for n_val in exp.n_val:
            for c1 in exp.c1:
                start = time.perf_counter()
                run_tbal(seed, n_val, exp.n_train[0], exp.eps[0], c1)
                times.append(time.perf_counter() - start)
    return {
        "runs": len(times),
        "ms_per_run": 1000 * statistics.mean(times),
        "ms_per_run_median": 1000 * statistics.median(times),
    }


def main(argv):
    del argv
    env = environment()
    print(
        f"device: {env['device']['kind']} ({env['device']['platform']}), "
        f"jax {env['versions']['jax']}, float32"
    )
    jx = time_jax(paper_seeds(FLAGS.seeds), FLAGS.repeats, FLAGS.chunk_runs)
    print(
        f"JAX sweep: {jx['runs']} runs in {jx['chunks']} chunk(s); compile "
        f"{jx['compile_s']:.1f} s (first call incl. compile {jx['first_call_s']:.1f} s); "
        f"median of {FLAGS.repeats}: {jx['median_s']:.2f} s = {jx['ms_per_run']:.2f} "
        f"ms/run, {jx['runs_per_s']:.0f} runs/s"
    )
    if FLAGS.numpy_seeds:
        npy = time_numpy(FLAGS.numpy_seeds)
        print(
            f"NumPy sequential: {npy['runs']} runs, mean {npy['ms_per_run']:.1f} ms/run "
            f"(median {npy['ms_per_run_median']:.1f})"
        )
        print(
            f"ratio NumPy / JAX per run: {npy['ms_per_run'] / jx['ms_per_run']:.1f}x "
            f"on {env['device']['kind']}"
        )


if __name__ == "__main__":
    app.run(main)
