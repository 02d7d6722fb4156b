"""An MLP TBAL run as a careful user would write it without this project (issue 10).

    python -m experiments.mlp_baseline [--data=fashion_mnist|digits|PATH.npz]
        [--model=mlp_fashion] [--epochs=N] [--precision=float32|bfloat16|tf32]
        [--n_val 1000 2000] [--n_train=1000]
        [--eps=0.05] [--c1=0] [--seeds=2] [--jax_seeds=0] [--repeats=3]

The speed baseline of the MLP benchmark: one seed at a time, one grid cell at a time,
the rounds a Python loop with NumPy bookkeeping (`experiments.numpy_baseline.run_loop`,
the paper preset of algorithm.md sections 2-4), and each round's training one call of a jitted
function: the simulator's own `MLP.fit` (algorithm.md section 5), unvmapped, so that both sides
train the same model the same way and only the program around it differs. What a careful
user does, and this baseline does too:

- the training buffer is padded to the budget N_q with a mask, so one compiled fit
  serves every round (exact shapes would compile again each round); unvmapped, the
  fit's `lax.cond`s really skip the empty minibatches and the epochs after an early stop;
- predictions run jitted on the rows padded to the next power of two (at least 256), so
  the shrinking pool compiles a handful of shapes, once per process;
- compilation is kept out of the timing: a warm-up run first, then each run timed.

Randomness: the pools, seed set, validation set and queries come from
`np.random.default_rng(seed)` as in `run_loop`; round r's fit key is
`fold_in(jax.random.key(seed), r)`. The simulator draws differently, so the two agree
statistically, not run by run.

With `--jax_seeds=S` the simulator's compiled sweep of the same cells over S seeds is
timed in the same process (compile apart, median of `repeats`), and the ratio of the two
per-run costs is printed. Needs scikit-learn (`run_loop`'s module imports it; the
`bench` extra).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import statistics
import time

import jax
import numpy as np
from absl import flags

from experiments import _cli
from experiments.numpy_baseline import run_loop
from tbal_jax import config as C
from tbal_jax import sweep
from tbal_jax.errors import ConfigError
from tbal_jax.loaders import load_dataset
from tbal_jax.mlp import MLP
from tbal_jax.models import MODELS
from tbal_jax.models.mlp import PRECISIONS
from tbal_jax.validate import check_grid

FLAGS = flags.FLAGS
MIN_ROWS = 256  # smallest padded prediction batch


def _bucket(n: int) -> int:
    """Rows a prediction of `n` rows is padded to: a power of two, at least MIN_ROWS."""
    return max(MIN_ROWS, 1 << max(n - 1, 0).bit_length())


@functools.lru_cache(maxsize=8)
def _jitted(model: MLP):
    """The user's two compiled functions: the fit, and the class probabilities."""

    def probabilities(params, x):
        return jax.nn.softmax(model.logits(params, x), axis=1)

    return jax.jit(model.fit), jax.jit(probabilities)


def run_mlp_tbal(
    seed: int,
    arrays,
    n_val: int,
    n_train: int,
    eps: float,
    c1: float,
    model: MLP,
    val_fraction: float = 0.2,
) -> dict:
    """One TBAL run with `model` on `arrays` = (x, y, x_val, y_val) (`DataArrays`;
    without x_val, `val_fraction` of the points split off at random for validation).
    Returns `run_loop`'s dict plus the seed."""
    x, y = np.asarray(arrays[0], np.float32), np.asarray(arrays[1])
    rng = np.random.default_rng(seed)
    if arrays[2] is None:
        perm = rng.permutation(len(x))
        cut = int(val_fraction * len(x))
        (x_val, y_val), (x, y) = (
            (x[perm[:cut]], y[perm[:cut]]),
            (x[perm[cut:]], y[perm[cut:]]),
        )
    else:
        x_val, y_val = np.asarray(arrays[2], np.float32), np.asarray(arrays[3])
    k = int(max(y.max(), y_val.max())) + 1
    dim = x.shape[1]
    fit_jit, probs_jit = _jitted(model)
    shapes = model.init(jax.random.key(0), dim, k)  # fit reads shapes only
    key, rounds = jax.random.key(seed), itertools.count()

    def fit(x_train, y_train):
        n = len(x_train)
        xb = np.zeros((n_train, dim), np.float32)
        yb = np.zeros(n_train, np.int32)
        xb[:n], yb[:n] = x_train, y_train
        mask = np.arange(n_train) < n
        return fit_jit(jax.random.fold_in(key, next(rounds)), shapes, xb, yb, mask)

    def predict(params, xs):
        n = len(xs)
        padded = np.zeros((_bucket(n), dim), np.float32)
        padded[:n] = xs
        p = np.asarray(probs_jit(params, padded))[:n]
        top2 = np.sort(p, axis=1)[:, -2:]
        return top2[:, 1], p.argmax(axis=1), top2[:, 1] - top2[:, 0]

    out = run_loop(
        rng, (x, y), (x_val, y_val), n_val, n_train, eps, c1, fit, predict, k
    )
    return out | {"seed": int(seed)}


def _mean_outcome(runs: list[dict]) -> str:
    err = np.array([r["auto_error"] for r in runs], float)
    cov = np.array([r["coverage"] for r in runs], float)
    n_nan = int(np.isnan(err).sum())
    mean_err = np.nanmean(err) if n_nan < err.size else float("nan")
    return (
        f"error {100 * mean_err:.2f}%, coverage {100 * cov.mean():.2f}% "
        f"({err.size} runs, {n_nan} with nothing auto-labelled)"
    )


def time_baseline(dataset, model, seeds, n_vals, n_train, eps, c1) -> tuple[float, str]:
    """(seconds per run, outcome) of the sequential baseline over seeds x n_vals, after
    one untimed warm-up run (compiles)."""
    run = functools.partial(
        run_mlp_tbal,
        arrays=dataset.arrays,
        n_train=n_train,
        eps=eps,
        c1=c1,
        model=model,
    )
    run(seeds[0], n_val=n_vals[0])
    runs, start = [], time.perf_counter()
    for seed in seeds:
        for n_val in n_vals:
            runs.append(run(seed, n_val=n_val))
    return (time.perf_counter() - start) / len(runs), _mean_outcome(runs)


def time_simulator(dataset, model, seeds, n_vals, n_train, eps, c1, repeats) -> dict:
    """The simulator's compiled sweep of the same cells: compile apart, then the median
    of `repeats` sweeps (each blocks on its chunks)."""
    cfg = C.StaticConfig.for_grid(dataset, n_vals, [n_train], "tbal", model=model)
    grid = C.grid_params(n_vals, [n_train], [eps], [c1])
    first = sweep.run_sweep(cfg, seeds, grid)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sweep.run_sweep(cfg, seeds, grid)
        times.append(time.perf_counter() - start)
    s = first.summary
    return {
        "s_per_run": statistics.median(times) / (len(seeds) * len(n_vals)),
        "compile_s": first.compile_seconds,
        "seeds_per_chunk": first.seeds_per_chunk,
        "peak_mib": first.peak_bytes / 2**20,
        "outcome": _mean_outcome(
            [
                {"auto_error": e, "coverage": c}
                for e, c in zip(s.auto_error.ravel(), s.coverage.ravel())
            ]
        ),
    }


def define_flags() -> None:
    """The command line's flags (in absl's global FLAGS: called when run as a script)."""
    flags.DEFINE_string("data", "fashion_mnist", "fashion_mnist, digits or PATH.npz")
    flags.DEFINE_enum(
        "model",
        "mlp_fashion",
        [name for name, m in MODELS.items() if isinstance(m, MLP)],
        "the MLP preset",
    )
    flags.DEFINE_integer("epochs", None, "override the preset's epochs")
    flags.DEFINE_enum(
        "precision", None, list(PRECISIONS), "override the preset's matmul precision"
    )
    flags.DEFINE_list(
        "n_val",
        ["1000", "2000"],
        "validation sizes N_v (--n_val 1000 2000 or --n_val=1000,2000)",
    )
    flags.DEFINE_integer("n_train", 1000, "labelling budget N_q")
    flags.DEFINE_float("eps", 0.05, "error tolerance eps")
    flags.DEFINE_float("c1", 0.0, "the sigma estimator's C1")
    flags.DEFINE_integer("seeds", 2, "baseline seeds 0..S-1")
    flags.DEFINE_integer("jax_seeds", 0, "also time the simulator on S seeds")
    flags.DEFINE_integer(
        "repeats", 3, "timed simulator sweeps (the median is reported)"
    )


def main(argv) -> None:
    _cli.no_arguments(argv, "--seeds=2")
    n_vals = _cli.integers("n_val", FLAGS.n_val)
    _cli.at_least(1, seeds=FLAGS.seeds, repeats=FLAGS.repeats, epochs=FLAGS.epochs)
    _cli.at_least(0, jax_seeds=FLAGS.jax_seeds)
    try:
        if FLAGS.data.endswith(".npz"):
            dataset = load_dataset("npz", data=FLAGS.data)
        else:
            dataset = load_dataset(FLAGS.data)
    except ConfigError as err:  # an unknown dataset, a bad file: one line
        raise _cli.BadInput(str(err)) from None
    check_grid(dataset, n_val=n_vals, n_train=[FLAGS.n_train], eps=[FLAGS.eps],
               c1=[FLAGS.c1])  # before the baseline runs (a ConfigError: one line)
    model = MODELS[FLAGS.model]
    if FLAGS.epochs:
        model = dataclasses.replace(model, epochs=FLAGS.epochs)
    if FLAGS.precision:
        model = dataclasses.replace(model, precision=FLAGS.precision)
    cells = (n_vals, FLAGS.n_train, FLAGS.eps, FLAGS.c1)
    print(
        f"{dataset.name} ({dataset.source}), {model}, N_v {n_vals}, "
        f"N_q {FLAGS.n_train}, eps {FLAGS.eps}, C1 {FLAGS.c1}; "
        f"{jax.devices()[0].device_kind}, JAX {jax.__version__}"
    )
    per_run, outcome = time_baseline(dataset, model, list(range(FLAGS.seeds)), *cells)
    print(f"sequential baseline: {1e3 * per_run:.1f} ms/run; {outcome}")
    if FLAGS.jax_seeds:
        sim = time_simulator(
            dataset, model, list(range(FLAGS.jax_seeds)), *cells, FLAGS.repeats
        )
        print(
            f"simulator: {1e3 * sim['s_per_run']:.1f} ms/run over {FLAGS.jax_seeds} "
            f"seeds (compile {sim['compile_s']:.1f} s, {sim['seeds_per_chunk']} seeds "
            f"a chunk, peak {sim['peak_mib']:.0f} MiB); {sim['outcome']}"
        )
        print(f"ratio baseline / simulator: {per_run / sim['s_per_run']:.2f}x")


if __name__ == "__main__":
    _cli.run(main, define_flags, lists=["n_val"])
