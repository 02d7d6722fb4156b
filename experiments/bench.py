"""Benchmark: the TBAL part of an experiment's grid against sequential NumPy.

    python -m experiments.bench [--case=unit_ball|fashion_mnist|fashion_mnist_mlp|scores|
        confidence|tiny_imagenet_synthetic|all]
        [--seeds=S] [--repeats=5] [--numpy_seeds=2] [--numpy_threads=1]
        [--estimators=a,b] [--matmul_size=0] [--memory_budget_gib=8]
        [--n_train=2000,6000 --n_val --n_pool --n_val_pool --epochs --widths]

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
same process before and after the case (`matmul_rate`: a 4096 x 4096 float32 product on
a CPU, 8192 x 8192 on a GPU, `--matmul_size` another, at the MLP's own precision,
`MLP.precision`: true float32 by default, TensorFloat-32 with `tf32` on a recent NVIDIA
GPU; median of 5; the higher of the two, as the load of a shared machine moves it).
`--precision` sets the MLP's precision for this case and the Tiny-ImageNet one.

`scores` times a model's own scores table with no training (`experiments.bench_scores`):
the `scores_imagenet` grid, vmapped draws against a sequential NumPy loop per draw.

`confidence` times each confidence function of `confidence_fashion_mnist` (algorithm.md
section 14: temperature scaling, histogram binning, scaling-binning, Colander, each
fitted every round inside the compiled run) with softmax regression on its grid (3 N_v
x S seeds, S = 2 by default), as ms/run and a ratio to the model's own score.

`tiny_imagenet_synthetic` (issue 16, the GPU benchmark) times the paper's Tiny-ImageNet
run (`tiny_imagenet_train`'s, the `mlp_tiny_imagenet` MLP 512 -> 2000 -> 1500 -> 200, 75
epochs a round) on synthetic data of the real sizes built in memory
(`synthetic_tiny_imagenet`: 200 Gaussian classes in 512-d, a pool of 100,000 and a
validation pool of 10,000, NumPy seed 0, passed through `fixed_dataset` as a user's own
.npz is), N_v = 10,000. Each N_q of `--n_train` (2,000 by default; the issue asks for
2,000, 6,000 and 10,000 on a GPU) is its own compiled sweep of the preset's 2 C1 cells x
`--seeds` seeds (4 by default; a chunk holds at least 2 seeds, and padding seeds are
computed but not counted, which the output says). It prints ms/run, runs/s, the FLOPs
per run (`mlp_flops`), the achieved rate and its fraction of `matmul_rate` (measured
before and after each N_q, the higher kept), then a PROJECTION, an estimate from that
rate and not a measurement, of the paper's whole N_q sweep (`tiny_imagenet_train`: 5
N_q x 2 C1 x 5 seeds) and of its N_v sweep (`tiny_imagenet_val`), and a last line
`result: key=value ...` for scripts. There is no baseline loop (the careful user's MLP
loop at these sizes is far too slow on a CPU). Its flags, for smoke runs at reduced
sizes (and only for this case): `--n_train=A,B` (N_q), `--n_val` (N_v, default 10,000 or
the validation pool if smaller), `--n_pool`, `--n_val_pool`, `--epochs` (default 75),
`--widths=a,b` (default 2000,1500); the output says REDUCED sizes when any differs, e.g.
`--n_pool=400 --n_val_pool=200 --n_train=200 --epochs=2 --seeds=2 --repeats=1`. On a
GPU, raise `--memory_budget_gib` towards the device's memory: at the preset's sizes XLA
puts a chunk of 4 seeds (8 runs) at N_q = 6,000 at 13.1 GiB (2 seeds: 6.7 GiB; measured
on the CPU backend), so the default 8 GiB halves it, compiling again each time.

The NumPy side runs with `numpy_threads` BLAS/OpenMP threads (threadpoolctl; 0 leaves
the libraries' default). One is the default: its matrices are tiny (at most 1,000 x 64
in a fit), and on our 2-core CPU OpenBLAS's two threads made a Fashion-MNIST run about
11 times slower (12 s against 1.1 s, machine otherwise idle; over 100 times per fit
when other processes competed). On the unit ball (liblinear) the limit changes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from experiments import _cli
from experiments._cli import BadInput
from experiments.bench_scores import bench_scores
from tbal_jax import open_rows, sweep
from tbal_jax.config import batch_size, max_rounds_for, seed_size
from tbal_jax.datasets import DataArrays, Dataset, fixed_dataset
from tbal_jax.errors import ConfigError
from tbal_jax.estimators import ESTIMATORS
from tbal_jax.experiments import get_experiment, paper_seeds
from tbal_jax.loaders import fashion_mnist_available, load_dataset
from tbal_jax.mlp import MLP
from tbal_jax.models import MODELS
from tbal_jax.models.mlp import PRECISIONS, matmul
from tbal_jax.results import environment
from tbal_jax.validate import check_memory_budget

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
    "tiny_imagenet_synthetic": 4,
}
MATMUL_SIZE = 4096  # CPU
ACCELERATOR_MATMUL_SIZE = 8192  # GPU, TPU
FLAGS = flags.FLAGS
# the paper's Tiny-ImageNet preset on synthetic data of its real sizes (`bench_tiny_imagenet`)
TINY_CASE = "tiny_imagenet_synthetic"
TINY_EXPERIMENTS = ("tiny_imagenet_train", "tiny_imagenet_val")  # N_q sweep, N_v sweep
TINY_MODEL = "mlp_tiny_imagenet"
TINY_DIM, TINY_CLASSES = 512, 200
TINY_POOL, TINY_VAL_POOL, TINY_N_VAL = 100_000, 10_000, 10_000
TINY_NOISE, TINY_DATA_SEED = 3.0, 0
TINY_FLAGS = (
    "n_train",
    "n_val",
    "n_pool",
    "n_val_pool",
    "epochs",
    "widths",
)
SCORES_CASE = "scores"  # `experiments.bench_scores`: a model's own scores, no training
CONFIDENCE_CASE = "confidence"  # the fitted confidence functions against max_prob
flags.DEFINE_enum(
    "case",
    "unit_ball",
    [*CASES, SCORES_CASE, CONFIDENCE_CASE, TINY_CASE, "all"],
    f"which grid to time (all: every case but {TINY_CASE})",
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
flags.DEFINE_integer(
    "matmul_size", 0, "side of the matmul-rate product (0: 4096 on a CPU, 8192 else)"
)
# tiny_imagenet_synthetic only (the preset's sizes by default; smaller for CPU smoke runs)
flags.DEFINE_list(
    "n_train", ["2000"], f"{TINY_CASE}: the budgets N_q, each timed as its own sweep"
)
flags.DEFINE_integer(
    "n_val", None, f"{TINY_CASE}: N_v (default 10,000, at most --n_val_pool)"
)
flags.DEFINE_integer("n_pool", TINY_POOL, f"{TINY_CASE}: the pool's points N")
flags.DEFINE_integer("n_val_pool", TINY_VAL_POOL, f"{TINY_CASE}: the validation pool")
flags.DEFINE_integer("epochs", None, f"{TINY_CASE}: epochs a round (default 75)")
flags.DEFINE_list(
    "widths", None, f"{TINY_CASE}: hidden widths (default 2000,1500; smoke runs only)"
)
flags.DEFINE_enum(
    "precision",
    None,
    list(PRECISIONS),
    f"{TINY_CASE} and fashion_mnist_mlp: the MLP's matmul precision (default the "
    "preset's)",
)
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


def matmul_size(size: int | None = None) -> int:
    """The side of `matmul_rate`'s product: `size`, or MATMUL_SIZE (4096) on a CPU and
    ACCELERATOR_MATMUL_SIZE (8192) on a GPU or TPU, where a 4096 product lasts well
    under a millisecond and its dispatch would weigh in the timing."""
    if size:
        return size
    return MATMUL_SIZE if jax.default_backend() == "cpu" else ACCELERATOR_MATMUL_SIZE


def matmul_rate(
    size: int | None = None,
    repeats: int = 5,
    products: int | None = None,
    precision: str = "float32",
) -> float:
    """This machine's float32 matmul rate in GFLOP/s: a jitted size x size product
    (2 size^3 FLOPs; `matmul_size` picks the size), compiled and run once first (on a
    GPU that also autotunes it), then the median of `repeats` timings of `products`
    back-to-back products (1 on a CPU, 4 elsewhere: dispatch is asynchronous, so the
    products queue and only the last is waited for). At the `precision` of the MLP
    timed (`models.mlp.matmul`), so that the fraction compares like with like: on a CPU every
    float32 setting is true float32, on an NVIDIA GPU with tensor cores "tf32" and
    JAX's default are TensorFloat-32 and "float32" is not."""
    size = matmul_size(size)
    if products is None:
        products = 1 if jax.default_backend() == "cpu" else 4
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
    product = jax.jit(lambda a, b: matmul(a, b, precision)).lower(a, b).compile()
    jax.block_until_ready(product(a, b))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(products):
            out = product(a, b)
        jax.block_until_ready(out)
        times.append(time.perf_counter() - start)
    return products * 2 * size**3 / statistics.median(times) / 1e9


def matmul_line(rate: float, size: int | None, precision: str) -> str:
    """How `matmul_rate` was measured, for the output."""
    size = matmul_size(size)
    return (
        f"matmul rate: {_rate(rate)} ({size} x {size} float32 arrays, products at "
        f"{precision} as the MLP's, median of 5)"
    )


def _rate(gflops: float) -> str:
    """A FLOP rate in GFLOP/s, or TFLOP/s from 1,000 GFLOP/s up."""
    if gflops >= 1000:
        return f"{gflops / 1000:.1f} TFLOP/s"
    return f"{gflops:.1f} GFLOP/s"


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


def case_model(case: str):
    """The model a case of `CASE_MODELS` times, at `--precision` if given."""
    model = MODELS.get(CASE_MODELS[case])
    if FLAGS.precision is None:
        return model
    return dataclasses.replace(model, precision=FLAGS.precision)


def _unit(exp, case: str, estimator: str, score: str | None = None):
    return exp.unit(
        method="tbal",
        estimator=estimator,
        model=case_model(case) if case in CASE_MODELS else exp.models[0],
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
        "scored_share": (
            scored_row_share(first, cfg, dataset)
            if cfg.the_model.skip_settled_rows
            else 1.0
        ),
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


def run_flops(cfg, dataset) -> tuple[int, int]:
    """`mlp_flops` of one run of `cfg` on `dataset` if each round scored every row of
    the pool, the validation buffer and the test sample."""
    rows = dataset.n_pool + cfg.max_n_val + cfg.n_test
    return mlp_flops(
        cfg.model,
        dataset.dim,
        dataset.num_classes,
        cfg.max_n_train,
        cfg.max_rounds,
        rows,
    )


def scored_row_share(result, cfg, dataset) -> float:
    """The share of `run_flops`'s scoring rows the sweep `result` really scored. With
    the MLP a round scores only its open rows (`tbal_jax.open_rows`), in blocks of
    `open_rows.BLOCK`, as many as the chunk's fullest run fills, each block whole. From
    the records: round r's open pool rows are N minus the points auto-labelled before
    r and those queried by r; its open validation rows are N_v minus the points removed
    before r (`val_removed_class`); AL and PL score no validation or test rows in the
    loop. The test sample is counted whole."""
    rec = result.rounds
    auto_before = np.cumsum(rec.n_auto, axis=-1) - rec.n_auto
    queried = np.maximum.accumulate(rec.train_used, axis=-1)
    pool = dataset.n_pool - auto_before - queried  # (S, G, R)
    removed = rec.val_removed_class.sum(axis=-1)
    n_val = np.asarray(result.grid.n_val)[None, :, None]
    val = n_val - (np.cumsum(removed, axis=-1) - removed)

    def executed(rows, n):  # the chunk's fullest run's blocks, for each of its runs
        if n <= open_rows.BLOCK:
            return np.full(rows.shape, n)
        per_run = -(-rows // open_rows.BLOCK) * open_rows.BLOCK
        out = np.empty_like(per_run)
        for a in range(0, per_run.shape[0], result.seeds_per_chunk):
            part = per_run[a : a + result.seeds_per_chunk]
            out[a : a + result.seeds_per_chunk] = part.max(axis=(0, 1), keepdims=True)
        return out

    done = executed(pool, dataset.n_pool)
    if cfg.protocol.auto_label_in_loop:
        done = done + executed(val, cfg.max_n_val) + cfg.n_test
    every = dataset.n_pool + cfg.max_n_val + cfg.n_test
    return float(done.mean() / every)


def report_flops(jx: dict, dataset, rate: float) -> float:
    """Print an MLP case's FLOPs per run and the simulator's achieved rate; returns
    the FLOPs per run the simulator performed."""
    sgd, every_row = run_flops(jx["cfg"], dataset)
    scoring = round(every_row * jx["scored_share"])
    gflops = (sgd + scoring) * jx["runs"] / jx["median_s"] / 1e9
    print(
        f"  FLOPs per run {(sgd + scoring) / 1e9:.1f} G (SGD {sgd / 1e9:.1f} G, "
        f"scoring {scoring / 1e9:.1f} G: {100 * jx['scored_share']:.0f}% of the "
        f"{every_row / 1e9:.1f} G of scoring every row every round); simulator "
        f"{_rate(gflops)} = {100 * gflops / rate:.0f}% of the measured matmul rate "
        f"({_rate(rate)})"
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
        after = matmul_rate(FLAGS.matmul_size, precision=model.precision)
        print(f"  matmul rate after the sweep: {_rate(after)}")
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


def synthetic_tiny_imagenet(
    n_pool: int = TINY_POOL,
    n_val_pool: int = TINY_VAL_POOL,
    dim: int = TINY_DIM,
    k: int = TINY_CLASSES,
    noise: float = TINY_NOISE,
    seed: int = TINY_DATA_SEED,
) -> Dataset:
    """Tiny-ImageNet-shaped data in memory: k class means drawn N(0, I) in `dim`
    dimensions, each point its class's mean plus N(0, noise^2 I), float32, from
    `np.random.default_rng(seed)`; labels balanced (every class as often, up to one,
    shuffled), so even a few hundred points hold all k classes. A pool of `n_pool`
    points and a validation pool of `n_val_pool`, built as `load_npz` builds a user's
    own .npz with `x`, `y`, `x_val`, `y_val` (`fixed_dataset`, name `npz`): the
    Tiny-ImageNet presets then run on it exactly as on the user's CLIP features."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((k, dim), dtype=np.float32)

    def draw(n: int):
        y = rng.permutation(np.resize(np.arange(k, dtype=np.int32), n))
        x = means[y]
        x += noise * rng.standard_normal((n, dim), dtype=np.float32)
        return x, y

    x, y = draw(n_pool)
    x_val, y_val = draw(n_val_pool)
    return fixed_dataset(
        "npz",
        f"synthetic Tiny-ImageNet ({k} Gaussian classes, d = {dim}, seed {seed})",
        DataArrays(x, y, x_val, y_val),
        label="Your data",
    )


def tiny_imagenet_model(epochs: int | None = None, widths=None, precision=None) -> MLP:
    """The preset's `mlp_tiny_imagenet`, with `epochs`, `widths` and the matmul
    `precision` (an MLP that has that setting) replaced if given."""
    model = MODELS.get(TINY_MODEL)
    changes = {
        "epochs": epochs,
        "widths": tuple(int(w) for w in widths) if widths is not None else None,
        "precision": precision,
    }
    return dataclasses.replace(
        model, **{k: v for k, v in changes.items() if v is not None}
    )


def tiny_imagenet_flops(
    n_train: int, n_val: int = TINY_N_VAL, scored_share: float = 1.0
) -> float:
    """FLOPs of one run of the preset (`mlp_tiny_imagenet`, 75 epochs, the real pool
    and validation sizes, no test split) at budget N_q = `n_train`, of which
    `scored_share` of the scoring of every row every round (the run scores the open
    rows only: `time_jax`'s `scored_share`, measured)."""
    sgd, every_row = mlp_flops(
        MODELS.get(TINY_MODEL),
        TINY_DIM,
        TINY_CLASSES,
        n_train,
        max_rounds_for(n_train),
        TINY_POOL + n_val,
    )
    return sgd + scored_share * every_row


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def tiny_imagenet_projection(achieved: float, scored_share: float) -> list[str]:
    """The paper's two Tiny-ImageNet sweeps' wall times at `achieved` FLOP/s (a
    projection: each run's FLOPs, with the share of its scoring measured at one N_q,
    over the rate measured there), as lines."""
    by_q, by_v = (get_experiment(name) for name in TINY_EXPERIMENTS)
    lines = []
    # the N_q sweep: cells of several N_q in one compiled program (experiments.run), whose
    # vmapped while loops run every cell's minibatches as long as the largest N_q's
    g, seeds = by_q.grid, by_q.seeds
    largest = tiny_imagenet_flops(int(max(g.n_train)), int(max(g.n_val)), scored_share)
    one_program = len(g.n_val) * seeds * largest / achieved
    per_q = sum(
        seeds * tiny_imagenet_flops(int(q), int(v), scored_share) / achieved
        for q, v in zip(g.n_train, g.n_val)
    )
    qs = sorted({int(q) for q in g.n_train})
    lines.append(
        f"  PROJECTION (an estimate, not a measurement; each run's FLOPs, with "
        f"{100 * scored_share:.0f}% of the scoring of every row as measured above, at "
        f"the {_rate(achieved / 1e9)} achieved above): the paper's N_q sweep {by_q.name} "
        f"(N_q = {', '.join(map(str, qs))}; N_v = {int(max(g.n_val))}, "
        f"{len(by_q.c1)} C1, {seeds} seeds: {len(g.n_val) * seeds} runs) about "
        f"{_duration(one_program)} as experiments.run compiles it (one program: every "
        f"run's loops last as long as N_q = {max(qs)}'s, {largest / 1e12:.0f} TFLOP), "
        f"about {_duration(per_q)} as one sweep per N_q"
    )
    g, seeds = by_v.grid, by_v.seeds
    n_q = int(max(g.n_train))
    total = (
        len(g.n_val) * seeds * tiny_imagenet_flops(n_q, int(max(g.n_val)), scored_share)
    )
    lines.append(
        f"  PROJECTION: the N_v sweep {by_v.name} ({len(g.n_val) * seeds} runs at "
        f"N_q = {n_q}, N_v up to {int(max(g.n_val))}) about "
        f"{_duration(total / achieved)}"
    )
    return lines


def check_sizes() -> None:
    """The count and size flags are in range and the estimators known (`BadInput`:
    one line, exit status 2, before anything is built or compiled)."""
    sizes = {
        "n_train": FLAGS.n_train,
        "widths": FLAGS.widths or [],
        **{
            f: [FLAGS[f].value]
            for f in ("seeds", "repeats", "chunk_runs", "n_val", "n_pool", "n_val_pool")
            + ("epochs",)
        },
    }
    if FLAGS.widths == []:
        raise BadInput("--widths: give at least one hidden width")
    for name, values in sizes.items():
        for v in values:
            if v is not None and not (str(v).isdigit() and int(v) > 0):
                raise BadInput(f"--{name}={v}: must be a positive integer")
    for name in ("numpy_seeds", "numpy_threads", "matmul_size"):
        if FLAGS[name].value < 0:
            raise BadInput(f"--{name}={FLAGS[name].value}: must be 0 or more")
    try:
        check_memory_budget(FLAGS.memory_budget_gib, "--memory_budget_gib")
    except ConfigError as err:
        raise BadInput(str(err)) from None
    for name in FLAGS.estimators:
        try:
            ESTIMATORS.get(name)
        except ConfigError as err:
            raise BadInput(f"--estimators: {err}") from None


def bench_tiny_imagenet(env: dict, rate: float) -> None:
    """The `tiny_imagenet_train` preset's TBAL run (`mlp_tiny_imagenet`) on
    `synthetic_tiny_imagenet` data, one compiled sweep per N_q of `--n_train` (its two
    C1 cells x `--seeds` seeds), timed as `time_jax` times every case; no baseline."""
    n_seeds = FLAGS.seeds if FLAGS.seeds is not None else DEFAULT_SEEDS[TINY_CASE]
    n_val = FLAGS.n_val or min(TINY_N_VAL, FLAGS.n_val_pool)
    start = time.perf_counter()
    dataset = synthetic_tiny_imagenet(FLAGS.n_pool, FLAGS.n_val_pool)
    built = time.perf_counter() - start
    model = tiny_imagenet_model(FLAGS.epochs, FLAGS.widths, FLAGS.precision)
    preset = MODELS.get(TINY_MODEL)
    sizes = (FLAGS.n_pool, FLAGS.n_val_pool, n_val, model.epochs, model.widths)
    full = sizes == (TINY_POOL, TINY_VAL_POOL, TINY_N_VAL, preset.epochs, preset.widths)
    precision = model.precision
    base = get_experiment(TINY_EXPERIMENTS[0])
    widths = " -> ".join(map(str, (TINY_DIM, *model.widths, TINY_CLASSES)))
    print(
        f"case: {TINY_CASE} ({base.name}'s run, TBAL: {model.name} {widths}, "
        f"{model.epochs} epochs a round, products at {precision} "
        f"precision; N = {dataset.n_pool}, validation pool "
        f"{dataset.n_val_pool}, N_v = {n_val}; {len(base.c1)} cells (C1) x "
        f"{n_seeds} seeds per N_q; "
        + ("the preset's sizes" if full else "REDUCED sizes, a smoke run")
        + ")"
    )
    print(
        f"data: {TINY_CLASSES} class means N(0, I) in {TINY_DIM}-d plus "
        f"N(0, {TINY_NOISE:g}^2 I), balanced labels, NumPy seed {TINY_DATA_SEED}, "
        f"in memory ({built:.1f} s)"
    )
    # one preset run's SGD at N_q = 2,000, a floor: its scoring depends on the run
    preset_run = tiny_imagenet_flops(2000, scored_share=0.0)
    bound = (
        f": at least {_duration(preset_run / (rate * 1e9))} at this CPU's matmul rate"
        if jax.default_backend() == "cpu"
        else ""
    )
    print(
        "no baseline loop for this case: the careful user's loop (experiments."
        "mlp_baseline, one run at a time) is far too slow at these sizes on a CPU "
        f"(one preset run at N_q = 2000 is {preset_run / 1e12:.0f} TFLOP of SGD alone"
        f"{bound}); "
        "none is run, so no ratio is printed"
    )
    for n_q in (int(q) for q in FLAGS.n_train):
        exp = base.with_grid(n_train=(n_q,), n_val=(n_val,), models=(model,))
        exp.check(dataset)  # the preset's checks: 200 classes, sizes within the pools
        seeds = paper_seeds(n_seeds)
        jx = time_jax(
            exp,
            dataset,
            seeds,
            FLAGS.repeats,
            FLAGS.chunk_runs,
            FLAGS.memory_budget_gib,
            case=TINY_CASE,
        )
        padding = -len(seeds) % jx["seeds_per_chunk"]
        pad_note = (
            f" ({padding} padding seed(s) computed, not counted)" if padding else ""
        )
        print(
            f"N_q = {n_q}: JAX sweep: {jx['runs']} runs in {jx['chunks']} chunk(s) of "
            f"{jx['seeds_per_chunk']} seeds{pad_note} (peak {jx['peak_mib']:.0f} MiB per "
            f"chunk); compile {jx['compile_s']:.1f} s (first call incl. compile "
            f"{jx['first_call_s']:.1f} s); median of {FLAGS.repeats}: "
            f"{jx['median_s']:.2f} s = {jx['ms_per_run']:.1f} ms/run, "
            f"{jx['runs_per_s']:.3g} runs/s; {jx['outcome']}"
        )
        # again after the sweep: the load moves it
        rate = max(rate, matmul_rate(FLAGS.matmul_size, precision=precision))
        flops = report_flops(jx, dataset, rate)
        achieved = flops * jx["runs"] / jx["median_s"]
        if not full:
            print(
                "  (measured at reduced sizes: the projection below says little about "
                "the preset's)"
            )
        for line in tiny_imagenet_projection(achieved, jx["scored_share"]):
            print(line)
        print(
            f"result: case={TINY_CASE} n_train={n_q} n_val={n_val} "
            f"n_pool={dataset.n_pool} n_val_pool={dataset.n_val_pool} "
            f"epochs={model.epochs} widths={','.join(map(str, model.widths))} "
            f"precision={precision} "
            f"seeds={n_seeds} runs={jx['runs']} ms_per_run={jx['ms_per_run']:.6g} "
            f"runs_per_s={jx['runs_per_s']:.6g} flops_per_run={flops} "
            f"tflop_per_s={achieved / 1e12:.6g} "
            f"matmul_fraction={achieved / (rate * 1e9):.6g} "
            f"device={env['device']['kind'].replace(' ', '_')}"
        )


def main(argv):
    _cli.no_arguments(argv, "--case=fashion_mnist")
    check_sizes()
    cases = (
        [*CASES, SCORES_CASE, CONFIDENCE_CASE] if FLAGS.case == "all" else [FLAGS.case]
    )
    stray = [f"--{name}" for name in TINY_FLAGS if FLAGS[name].present]
    if stray and cases != [TINY_CASE]:
        raise BadInput(f"{', '.join(stray)}: only for --case={TINY_CASE}")
    mlp_cases = [TINY_CASE, *CASE_MODELS]
    if FLAGS["precision"].present and not set(cases) <= set(mlp_cases):
        raise BadInput(f"--precision: only for --case={' or '.join(mlp_cases)}")
    env = environment()
    print(
        f"device: {env['device']['kind']} ({env['device']['platform']}, "
        f"{env['device']['count']} device(s)), jax {env['versions']['jax']}, float32"
    )
    rate = None
    mlps = [case_model(c) for c in cases if c in CASE_MODELS]
    if TINY_CASE in cases:
        mlps = [tiny_imagenet_model(precision=FLAGS.precision)]
    mlps = [m for m in mlps if isinstance(m, MLP)]
    if mlps:
        precision = mlps[0].precision
        rate = matmul_rate(FLAGS.matmul_size, precision=precision)
        print(matmul_line(rate, FLAGS.matmul_size, precision))
    for case in cases:
        if case == TINY_CASE:
            bench_tiny_imagenet(env, rate)
            continue
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
    _cli.run(main, define_flags=lambda: None)  # its flags are defined above, at import
