"""Benchmark: the TBAL part of an experiment's grid against sequential NumPy.

    python -m experiments.bench [--case=unit_ball|fashion_mnist|fashion_mnist_mlp|scores|
        confidence|all]
        [--seeds=S] [--repeats=5] [--numpy_seeds=2] [--numpy_threads=1]
        [--estimators=a,b]

Times the whole grid (`unit_ball_val`: 11 validation sizes x 2 values of C1 x S seeds,
S = 50 by default; `fashion_mnist_val`: 7 x 2 x S, S = 4 by default) as one compiled,
chunked sweep: compile time apart, a warm-up, then the median of `repeats` timed sweeps
(`run_sweep` blocks on each chunk; the host-device transfers are inside the timing). In
the same process it times the plain sequential NumPy + scikit-learn implementation
(`experiments.numpy_baseline`, the `bench` extra: LinearSVC on the unit ball,
LogisticRegression(C=1) on Fashion-MNIST) on `numpy_seeds` seeds of the same grid, and
prints the ratio of the two per-run costs: that ratio, with the device named, is the
figure we report. It also prints the chunk size and XLA's peak-memory estimate of one
chunk, and each side's mean TBAL error and coverage at C1 = 0 as a check that both ran
the same algorithm (statistically: the two draw their data differently). Each estimator
of `--estimators` (algorithm.md section 12) is then timed on the same grid (linear cases
only), as ms/run and a ratio to the paper's `sigma`.

`fashion_mnist_mlp` times the `fashion_mnist_mlp` grid with the MLP (`MLP_FASHION`, 5
N_v x S seeds, S = 2 by default, the smallest chunk) against a careful user's loop
(`experiments.mlp_baseline`: the same fit, jitted per round, one run at a time) on
`numpy_seeds` seeds. For every MLP
case it also prints the run's FLOP count (`mlp_flops`: the matrix products of the SGD
steps and of scoring the pool, the validation buffer and the test sample every round),
the achieved GFLOP/s and their fraction of this machine's matmul rate, measured in the
same process before and after the case (`matmul_rate`: a 4096 x 4096 float32 product,
median of 5; the higher of the two, as the load of a shared machine moves it).

`scores` times a model's own scores table with no training (`experiments.bench_scores`):
the `scores_imagenet` grid, vmapped draws against a sequential NumPy loop per draw.

`confidence` times each confidence function of `confidence_fashion_mnist` (algorithm.md
section 14: temperature scaling, histogram binning, scaling-binning, Colander, each
fitted every round inside the compiled run) with softmax regression on its grid (3 N_v
x S seeds, S = 2 by default), as ms/run and a ratio to the model's own score.

The NumPy side runs with `numpy_threads` BLAS/OpenMP threads (threadpoolctl; 0 leaves
the libraries' default). One is the default: its matrices are tiny (at most 1,000 x 64
in a fit), and on our 2-core CPU OpenBLAS's two threads made a Fashion-MNIST run about
11 times slower (12 s against 1.1 s, machine otherwise idle; over 100 times per fit
when other processes competed). On the unit ball (liblinear) the limit changes nothing.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from experiments.bench_scores import bench_scores
from tbal_jax import sweep
from tbal_jax.config import batch_size, seed_size
from tbal_jax.experiments import get_experiment, paper_seeds
from tbal_jax.loaders import fashion_mnist_available, load_dataset
from tbal_jax.mlp import MLP
from tbal_jax.models import MODELS
from tbal_jax.results import environment

CASES = {
    "unit_ball": "unit_ball_val",
    "fashion_mnist": "fashion_mnist_val",
    "fashion_mnist_mlp": "fashion_mnist_mlp",
}
CASE_MODELS = {"fashion_mnist_mlp": "mlp_fashion"}  # else the experiment's first model
DEFAULT_SEEDS = {
    "unit_ball": 50,
    "fashion_mnist": 4,
    "fashion_mnist_mlp": 2,
    "scores": 32,
    "confidence": 2,
}
MATMUL_SIZE = 4096
FLAGS = flags.FLAGS
SCORES_CASE = "scores"  # `experiments.bench_scores`: a model's own scores, no training
CONFIDENCE_CASE = "confidence"  # the fitted confidence functions against max_prob
flags.DEFINE_enum(
    "case",
    "unit_ball",
    [*CASES, SCORES_CASE, CONFIDENCE_CASE, "all"],
    "which grid to time",
)
flags.DEFINE_integer(
    "seeds",
    None,
    "seeds of the JAX sweep (runs = cells x seeds); default per case: "
    + ", ".join(f"{c} {s}" for c, s in DEFAULT_SEEDS.items()),
)
flags.DEFINE_string(
    "data_dir", None, "folder of the Fashion-MNIST files (default: Debian's)"
)
flags.DEFINE_integer("repeats", 5, "timed repetitions (the median is reported)")
flags.DEFINE_integer(
    "numpy_seeds", 2, "seeds of the sequential NumPy baseline (0 skips)"
)
flags.DEFINE_integer(
    "numpy_threads", 1, "BLAS/OpenMP threads of the NumPy baseline (0: library default)"
)
flags.DEFINE_list(
    "estimators",
    ["plugin", "hoeffding", "clopper_pearson", "ltt", "sgr"],
    "threshold estimators also timed on the same grid (beside the paper's sigma)",
)
flags.DEFINE_integer("chunk_runs", sweep.DEFAULT_CHUNK_RUNS, "runs per compiled chunk")
flags.DEFINE_float(
    "memory_budget_gib", sweep.DEFAULT_MEMORY_BUDGET_GIB, "XLA peak memory per chunk"
)


def _outcome(errors, coverages, cells: str = "C1=0") -> str:
    """Mean TBAL error (runs with nothing auto-labeled left out, and counted) and
    coverage, in %, of the runs given (those of `cells`)."""
    errors, coverages = np.asarray(errors, float), np.asarray(coverages, float)
    n_nan = int(np.isnan(errors).sum())
    err = np.nanmean(errors) if n_nan < errors.size else math.nan
    nan_note = f", {n_nan} with nothing auto-labeled" if n_nan else ""
    return (
        f"{cells}: TBAL error {100 * err:.2f}%, coverage {100 * coverages.mean():.2f}% "
        f"({coverages.size} runs{nan_note})"
    )


def matmul_rate(size: int = MATMUL_SIZE, repeats: int = 5) -> float:
    """This machine's float32 matmul rate in GFLOP/s: a jitted size x size product
    (2 size^3 FLOPs), compiled and run once first, then the median of `repeats`."""
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
    product = jax.jit(jnp.matmul).lower(a, b).compile()
    jax.block_until_ready(product(a, b))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(product(a, b))
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def mlp_flops(model: MLP, dim: int, k: int, n_train: int, rounds: int, rows: int):
    """(SGD FLOPs, scoring FLOPs) of one TBAL run with `model` that spends its budget
    N_q = `n_train` (algorithm.md section 2): the matrix products only, 2 FLOPs a
    multiply-add. Round r trains on n_r = min(n_s + r n_b, N_q) labels: `epochs` x
    ceil(n_r / B) minibatch steps of B rows (the simulator's while loops run exactly
    those), each 2BP forward, 2BP for the weights' gradients and 2B(P - P_1) for the
    hidden activations' (P weights, P_1 in the first layer); every one of the `rounds`
    rounds (the compiled run's, whether or not the run is still going) scores `rows`
    points (pool, validation buffer, test sample) at 2P each."""
    sizes = (dim, *model.widths, k)
    p = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    b = model.batch_size
    per_step = 2 * b * p + 2 * b * p + 2 * b * (p - sizes[0] * sizes[1])
    n_s, n_b = seed_size(n_train), batch_size(n_train)
    steps = sum(
        model.epochs * math.ceil(min(n_s + r * n_b, n_train) / b) for r in range(rounds)
    )
    return steps * per_step, rounds * rows * 2 * p


def _unit(exp, case: str, estimator: str, score: str | None = None):
    return exp.unit(
        method="tbal",
        estimator=estimator,
        model=CASE_MODELS.get(case, exp.models[0]),
        score=score or exp.scores[0],
    )


def time_jax(
    exp,
    dataset,
    seeds,
    repeats: int,
    chunk_runs: int,
    budget: float,
    estimator="sigma",
    case: str = "",
    score: str | None = None,
) -> dict:
    unit = _unit(exp, case, estimator, score)
    cfg, grid = exp.static_config(dataset, unit), exp.grid

    def sweep_once():  # blocks on each chunk
        return sweep.run_sweep(
            cfg, seeds, grid, chunk_runs=chunk_runs, memory_budget_gib=budget
        )

    start = time.perf_counter()
    first = sweep_once()  # compile + warm-up
    first_call = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sweep_once()
        times.append(time.perf_counter() - start)
    runs = len(seeds) * len(grid.n_val)
    median = statistics.median(times)
    at_c1_0 = grid.c1 == 0  # grid cells (columns of the (S, G) outcome)
    cells = "C1=0" if at_c1_0.any() else "all cells"  # a grid without C1 = 0
    at_c1_0 = at_c1_0 if at_c1_0.any() else np.ones_like(at_c1_0)
    return {
        "cfg": cfg,
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
            first.summary.auto_error[:, at_c1_0].ravel(),
            first.summary.coverage[:, at_c1_0].ravel(),
            cells,
        ),
    }


def _thread_limit(threads: int):
    if threads <= 0:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    return threadpool_limits(limits=threads)


def time_numpy(exp, dataset, n_seeds: int, threads: int) -> dict:
    from experiments import numpy_baseline  # needs the `bench` extra

    times, errors, coverages = [], [], []
    with _thread_limit(threads):
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
                    if c1 == 0:
                        errors.append(out["auto_error"])
                        coverages.append(out["coverage"])
    return {
        "runs": len(times),
        "ms_per_run": 1000 * statistics.mean(times),
        "ms_per_run_median": 1000 * statistics.median(times),
        "outcome": _outcome(errors, coverages),
    }


def time_mlp_loop(exp, dataset, model, n_seeds: int) -> dict:
    """The careful user's loop (`experiments.mlp_baseline`) on `n_seeds` seeds of the
    grid (its first C1), after one untimed warm-up run."""
    from experiments import mlp_baseline

    per_run, outcome = mlp_baseline.time_baseline(
        dataset,
        model,
        list(range(n_seeds)),
        [int(v) for v in exp.n_val],
        int(exp.n_train[0]),
        exp.eps[0],
        exp.c1[0],
    )
    return {"ms_per_run": 1000 * per_run, "outcome": outcome}


def report_flops(jx: dict, dataset, rate: float) -> float:
    """Print an MLP case's FLOPs per run and the simulator's achieved rate; returns
    the FLOPs per run."""
    cfg = jx["cfg"]
    rows = dataset.n_pool + cfg.max_n_val + cfg.n_test
    sgd, scoring = mlp_flops(
        cfg.model,
        dataset.dim,
        dataset.num_classes,
        cfg.max_n_train,
        cfg.max_rounds,
        rows,
    )
    gflops = (sgd + scoring) * jx["runs"] / jx["median_s"] / 1e9
    print(
        f"  FLOPs per run {(sgd + scoring) / 1e9:.1f} G (SGD {sgd / 1e9:.1f} G, "
        f"scoring {scoring / 1e9:.1f} G); simulator {gflops:.1f} GFLOP/s = "
        f"{100 * gflops / rate:.0f}% of the measured matmul rate ({rate:.0f} GFLOP/s)"
    )
    return sgd + scoring


def bench_case(case: str, env: dict, rate: float | None = None) -> None:
    exp = get_experiment(CASES[case])
    dataset = load_dataset(exp.dataset, data_dir=FLAGS.data_dir)
    n_seeds = FLAGS.seeds if FLAGS.seeds is not None else DEFAULT_SEEDS[case]
    print(
        f"case: {exp.name} (TBAL, {len(exp.n_val) * len(exp.c1)} cells per seed, "
        f"N = {dataset.n_pool}, {n_seeds} seeds)"
    )
    timings = {
        name: time_jax(
            exp,
            dataset,
            paper_seeds(n_seeds),
            FLAGS.repeats,
            FLAGS.chunk_runs,
            FLAGS.memory_budget_gib,
            estimator=name,
            case=case,
        )
        # the estimators' costs are the linear cases' question; an MLP run is its fits
        for name in ["sigma", *([] if case in CASE_MODELS else FLAGS.estimators)]
    }
    jx = timings.pop("sigma")
    print(
        f"JAX sweep: {jx['runs']} runs in {jx['chunks']} chunk(s) of "
        f"{jx['seeds_per_chunk']} seeds (peak {jx['peak_mib']:.0f} MiB per chunk); "
        f"compile {jx['compile_s']:.1f} s (first call incl. compile "
        f"{jx['first_call_s']:.1f} s); median of {FLAGS.repeats}: "
        f"{jx['median_s']:.2f} s = {jx['ms_per_run']:.2f} ms/run, "
        f"{jx['runs_per_s']:.0f} runs/s; {jx['outcome']}"
    )
    for name, other in timings.items():
        print(
            f"  estimator {name}: {other['ms_per_run']:.2f} ms/run "
            f"({other['ms_per_run'] / jx['ms_per_run']:.2f}x sigma)"
        )
    model = jx["cfg"].model
    if isinstance(model, MLP):
        # measured again after the sweep: on a shared machine the rate moves with the
        # load, and the higher of the two is the conservative reference
        after = matmul_rate()
        print(f"  matmul rate after the sweep: {after:.0f} GFLOP/s")
        flops = report_flops(jx, dataset, max(after, rate or 0.0))
        if FLAGS.numpy_seeds:
            loop = time_mlp_loop(exp, dataset, model, FLAGS.numpy_seeds)
            print(
                f"careful user's loop ({FLAGS.numpy_seeds} seed(s)): "
                f"{loop['ms_per_run']:.1f} ms/run "
                f"({flops / loop['ms_per_run'] / 1e6:.1f} GFLOP/s at the same count); "
                f"{loop['outcome']}"
            )
            print(
                f"ratio loop / JAX per run: "
                f"{loop['ms_per_run'] / jx['ms_per_run']:.2f}x on "
                f"{env['device']['kind']}"
            )
        return
    if FLAGS.numpy_seeds:
        npy = time_numpy(exp, dataset, FLAGS.numpy_seeds, FLAGS.numpy_threads)
        threads = FLAGS.numpy_threads or "default"
        print(
            f"NumPy sequential ({threads} BLAS thread(s)): {npy['runs']} runs, mean "
            f"{npy['ms_per_run']:.1f} ms/run (median {npy['ms_per_run_median']:.1f}); "
            f"{npy['outcome']}"
        )
        print(
            f"ratio NumPy / JAX per run: {npy['ms_per_run'] / jx['ms_per_run']:.1f}x "
            f"on {env['device']['kind']}"
        )


def bench_confidence(env: dict) -> None:
    """Each confidence function's ms/run on `confidence_fashion_mnist`'s grid with
    softmax regression and the sigma rule, against the model's own score."""
    exp = get_experiment("confidence_fashion_mnist")
    dataset = load_dataset(exp.dataset, data_dir=FLAGS.data_dir)
    n_seeds = FLAGS.seeds if FLAGS.seeds is not None else DEFAULT_SEEDS[CONFIDENCE_CASE]
    print(
        f"case: {exp.name} (softmax regression, TBAL, {len(exp.n_val)} N_v x "
        f"{n_seeds} seeds, N = {dataset.n_pool}); median of {FLAGS.repeats}"
    )
    base = None
    for score in exp.scores:
        t = time_jax(
            exp,
            dataset,
            paper_seeds(n_seeds),
            FLAGS.repeats,
            FLAGS.chunk_runs,
            FLAGS.memory_budget_gib,
            score=score,
        )
        base = base or t["ms_per_run"]
        print(
            f"  {score}: {t['ms_per_run']:.0f} ms/run ({t['ms_per_run'] / base:.2f}x "
            f"max_prob), compile {t['compile_s']:.1f} s; {t['outcome']} "
            f"on {env['device']['kind']}"
        )


def main(argv):
    del argv
    env = environment()
    print(
        f"device: {env['device']['kind']} ({env['device']['platform']}, "
        f"{env['device']['count']} device(s)), jax {env['versions']['jax']}, float32"
    )
    cases = (
        [*CASES, SCORES_CASE, CONFIDENCE_CASE] if FLAGS.case == "all" else [FLAGS.case]
    )
    rate = None
    if any(
        isinstance(MODELS.get(CASE_MODELS[c]), MLP) for c in cases if c in CASE_MODELS
    ):
        rate = matmul_rate()
        print(
            f"matmul rate: {rate:.0f} GFLOP/s ({MATMUL_SIZE} x {MATMUL_SIZE} float32, "
            "median of 5)"
        )
    for case in cases:
        if case == SCORES_CASE:
            bench_scores(
                FLAGS.seeds or DEFAULT_SEEDS[case], FLAGS.numpy_seeds, FLAGS.repeats
            )
            continue
        fashion = case.startswith("fashion_mnist") or case == CONFIDENCE_CASE
        if fashion and not fashion_mnist_available(FLAGS.data_dir):
            if FLAGS.case == "all":
                print(f"case {case} skipped: its files are not installed")
                continue
        if case == CONFIDENCE_CASE:
            bench_confidence(env)
            continue
        bench_case(case, env, rate)


if __name__ == "__main__":
    app.run(main)
