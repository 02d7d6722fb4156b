"""Run a named TBAL experiment: `python -m experiments.run --experiment=unit_ball_val`.

Writes DIR/results.csv (one row per run), DIR/summary.csv (per cell), DIR/meta.json
(config, versions, device, timings) and the figure DIR/<experiment>.png/.pdf.
Grid overrides: --n_val=100,400 --n_train=500 --eps=0.01 --c1=0,0.25 --methods=tbal
(one flag per swept value of `tbal_jax.params.SWEPT`).
Components: --dataset, --model, --score, --query and --estimator pick registered ones
by name (their help lists the names); several models, scores, queries or estimators
give one sweep each, on the same seeds. A model that cannot serve the data is refused.
Data: --data=PATH.npz for the npz dataset (x, y and optionally x_val, y_val; without
them --val_fraction of the points is split off per seed), --data_dir for Fashion-MNIST;
an option the chosen dataset cannot use is refused, not ignored.
`--list` lists the experiments; `--experiment=all` runs every one into DIR/<experiment>/
(the Fashion-MNIST ones only where their files are).
Bad input and bad data get a one-line error and exit status 2, before any compilation.
Each finished chunk is saved in DIR as it finishes (`tbal_jax.store`): after Ctrl-C
(exit 130), a full disk (exit 1) or a kill, the same command resumes; a DIR holding
another configuration's results is refused unless --overwrite. --distributed runs one
sweep over several processes (README, "Many GPUs and clusters").
Compiled programs are kept in JAX's persistent compilation cache, a user cache folder by
default (`--compilation_cache=PATH`, or `off`), so a second run skips most compiling; the
folder is kept within `--compilation_cache_max_gib` (2 GiB; a $JAX_COMPILATION_CACHE_DIR
folder only when it is given), least recently used first, once the command has
succeeded (a refused or failed command leaves it as it was).
"""

from __future__ import annotations

import sys
import time

import matplotlib
from absl import app, flags

from experiments import _cli
from tbal_jax import deterministic_cpu
from tbal_jax.certify import experiments as scores_experiments
from tbal_jax.datasets import DATASETS, load_dataset
from tbal_jax.errors import Stopped
from tbal_jax.estimators import ESTIMATORS
from tbal_jax.models import MODELS
from tbal_jax.params import SWEPT
from tbal_jax.pipeline import run_experiment
from tbal_jax.presets import (
    EXPERIMENTS,
    PAPER_SEED_STRIDE,
    available_experiments,
    get_experiment,
    paper_seeds,
)
from tbal_jax.protocols import PROTOCOLS
from tbal_jax.queries import QUERIES
from tbal_jax.runtime import distributed
from tbal_jax.scores import SCORES
from tbal_jax.store import check_folder
from tbal_jax.sweep import DEFAULT_CHUNK_RUNS, DEFAULT_MEMORY_BUDGET_GIB
from tbal_jax.validate import SEED_LIMIT, ConfigError, check_memory_budget

FLAGS = flags.FLAGS
MAX_SEEDS = (SEED_LIMIT - 1) // PAPER_SEED_STRIDE + 1  # seeds 0, 7, ... below 2^32
flags.DEFINE_string(
    "experiment",
    "unit_ball_val",
    "experiment name (see --list), or 'all' for every figure and table",
)
flags.DEFINE_integer(
    "seeds",
    None,
    "number of seeds (the paper's 0, 7, 14, ...); default: the experiment's own "
    "(10; 500 for estimators)",
)
flags.DEFINE_string("out", None, "output folder (default outputs/<experiment>)")
for _name, _decl in SWEPT._asdict().items():
    flags.DEFINE_list(_name, None, f"override the {_decl.help}")
flags.DEFINE_list(
    "methods",
    None,
    PROTOCOLS.help("override the methods (al gives AL and AL+SC, pl PL and PL+SC)"),
)
flags.DEFINE_string(
    "dataset", None, DATASETS.help("override the experiment's dataset")
)
flags.DEFINE_list(
    "model",
    None,
    MODELS.help("models (default: the dataset's own); several give one sweep each"),
)
flags.DEFINE_list(
    "score", None, SCORES.help("confidence scores; several give one sweep each")
)
flags.DEFINE_list(
    "query", None, QUERIES.help("query strategies; several give one sweep each")
)
flags.DEFINE_list(
    "estimator",
    None,
    ESTIMATORS.help(
        "threshold estimators (sigma is the paper's; docs/algorithm.md section 12); "
        "several give one sweep each, on the same seeds; the scores experiments also "
        "take conformal_labeling and pac_labels"
    ),
)
flags.DEFINE_integer("chunk_runs", DEFAULT_CHUNK_RUNS, "runs per compiled chunk")
flags.DEFINE_float(
    "memory_budget",
    DEFAULT_MEMORY_BUDGET_GIB,
    "GiB one chunk may use (XLA's estimate); chunks are halved until they fit",
)
flags.DEFINE_string("data", None, "a .npz file for the npz dataset (see the README)")
flags.DEFINE_string(
    "data_dir",
    None,
    "folder of the four Fashion-MNIST .gz files (default "
    "/usr/share/datasets/fashion-mnist)",
)
flags.DEFINE_float(
    "val_fraction",
    None,
    "share of an .npz without x_val (or of digits) split off per seed as the "
    "validation pool (default 0.2)",
)
flags.DEFINE_string(
    "scores",
    None,
    "a model's own scores table (CSV or .npz: true label, predicted label, "
    "confidence) for the scores experiments; alone it runs --experiment=scores",
)
flags.DEFINE_string("label_col", None, "the scores table's true-label column (Y)")
flags.DEFINE_string("pred_col", None, "the scores table's predicted-label column (Yhat)")
flags.DEFINE_string("conf_col", None, "the scores table's confidence column (confidence)")
flags.DEFINE_string(
    "grouping",
    None,
    "scores experiments: per_class thresholds (the paper) or one global threshold",
)
flags.DEFINE_bool("list", False, "list the experiments and exit")
flags.DEFINE_bool(
    "overwrite",
    False,
    "replace the results of another configuration in --out (the files it wrote)",
)
flags.DEFINE_bool(
    "allow_env_change",
    False,
    "resume a folder whose chunks were computed on another machine or jaxlib "
    "(recorded in the manifest; bit-identity holds only within one environment)",
)
flags.DEFINE_bool(
    "distributed",
    False,
    "join a multi-process run (jax.distributed.initialize; the cluster's settings "
    "unless --coordinator, --num_processes and --process_id are given)",
)
flags.DEFINE_string("coordinator", None, "HOST:PORT of process 0, for --distributed")
flags.DEFINE_integer("num_processes", None, "processes in a --distributed run")
flags.DEFINE_integer("process_id", None, "this process's index in a --distributed run")
flags.DEFINE_float(
    "init_timeout",
    60.0,
    "seconds to wait for every process of a --distributed run to join",
)
_cli.define_compilation_cache_flag()  # --compilation_cache=PATH|off, its size


def _numbers(name: str, values, kind):
    if values is None:
        return None
    try:
        return [kind(v) for v in values]
    except ValueError:
        raise ConfigError(
            f"--{name}={','.join(values)}: not a list of numbers"
        ) from None


def _dataset(name: str):
    return load_dataset(
        name, data=FLAGS.data, data_dir=FLAGS.data_dir, val_fraction=FLAGS.val_fraction
    )


def _out(exp) -> str:
    """An experiment's output folder: --out, or outputs/<experiment>; with `all`,
    <out>/<experiment>."""
    if FLAGS.experiment == "all":
        return f"{FLAGS.out or 'outputs'}/{exp.name}"
    return FLAGS.out or f"outputs/{exp.name}"


def _experiments():
    """(experiment, dataset) pairs to run, with the flags' overrides, all checked
    before any compiling; and the experiments `all` skipped."""
    skipped = []
    if FLAGS.experiment == "all":
        names, skipped = available_experiments(FLAGS.data_dir)
    else:
        names = [FLAGS.experiment]
    overrides = {
        name: _numbers(name, getattr(FLAGS, name), float) for name in SWEPT._fields
    }
    given = [f"--{name}" for name, v in overrides.items() if v is not None]
    given += [
        f"--{name}"
        for name in ("dataset", "methods", "estimator", "model", "score", "query")
        if getattr(FLAGS, name) is not None
    ]
    if FLAGS.experiment == "all" and given:
        raise ConfigError(
            f"{', '.join(given)} would change every experiment's published settings; "
            "with --experiment=all each runs its own (override one experiment at a time)"
        )
    exps = []
    for name in names:
        exp = get_experiment(name).with_grid(
            **overrides,
            dataset=FLAGS.dataset,
            methods=FLAGS.methods,
            estimators=FLAGS.estimator,
            models=FLAGS.model,
            scores=FLAGS.score,
            queries=FLAGS.query,
        )
        dataset = _dataset(exp.dataset)
        exp.check(dataset)
        integer = {
            name: [int(v) for v in getattr(exp, name)]
            for name, decl in SWEPT._asdict().items()
            if decl.integer
        }
        exps.append((exp.with_grid(**integer), dataset))
    return exps, skipped


def main(argv) -> int:
    if len(argv) > 1:
        raise ConfigError(
            f"unexpected argument {argv[1]!r}; flags look like --seeds=10"
        )
    if FLAGS.list:
        for name, exp in EXPERIMENTS.items():
            print(f"{name:20s} {exp.dataset:14s} x={exp.axis:8s} {exp.figure_title()}")
        for name, exp in scores_experiments.SCORE_EXPERIMENTS.items():
            print(f"{name:20s} {'scores table':14s} x={'n_val':8s} {exp.title}")
        for registry in (DATASETS, MODELS, SCORES, QUERIES, ESTIMATORS, PROTOCOLS):
            print(f"{registry.flag}: {', '.join(registry.names())}")
        return 0
    try:  # before anything compiles; pruned when the command has succeeded
        cache = _cli.compilation_cache(
            FLAGS.compilation_cache, FLAGS.compilation_cache_max_gib
        )
    except _cli.BadInput as err:
        raise ConfigError(str(err)) from None
    if FLAGS.distributed or FLAGS.coordinator:
        distributed(
            FLAGS.coordinator, FLAGS.num_processes, FLAGS.process_id, FLAGS.init_timeout
        )
    elif FLAGS.num_processes is not None or FLAGS.process_id is not None:
        raise ConfigError(
            "--num_processes and --process_id join a multi-process run only with "
            "--distributed (or --coordinator); give it, or leave them out"
        )
    check_memory_budget(FLAGS.memory_budget, "--memory_budget")
    if FLAGS.out is not None and not FLAGS.out.strip():
        raise ConfigError("--out is empty: give --out=FOLDER, or leave it out")
    if FLAGS.scores is not None and not FLAGS["experiment"].present:
        FLAGS.experiment = "scores"
    if FLAGS.experiment in scores_experiments.SCORE_EXPERIMENTS:
        return _run_scores(cache)
    for name in SCORES_ONLY:
        if getattr(FLAGS, name) is not None:
            raise ConfigError(
                f"--{name} applies to the scores experiments only "
                f"({', '.join(scores_experiments.SCORE_EXPERIMENTS)}), not to "
                f"--experiment={FLAGS.experiment}"
            )
    exps, skipped = _experiments()
    for line in skipped:
        print(f"skipped {line}")
    if FLAGS.seeds is not None and not 1 <= FLAGS.seeds <= MAX_SEEDS:
        raise ConfigError(
            f"--seeds={FLAGS.seeds}: give 1 to {MAX_SEEDS} seeds (the paper's seeds "
            "0, 7, 14, ... must stay below 2^32)"
        )
    if FLAGS.chunk_runs < 1:
        raise ConfigError(f"--chunk_runs={FLAGS.chunk_runs}: must be at least 1")
    folders = [_out(exp) for exp, _ in exps]
    for folder in folders:
        check_folder(folder)  # every one, before anything compiles
    start = time.perf_counter()
    for (exp, dataset), out in zip(exps, folders):
        paths = run_experiment(
            exp,
            paper_seeds(FLAGS.seeds or exp.seeds),
            out,
            FLAGS.chunk_runs,
            dataset=dataset,
            memory_budget_gib=FLAGS.memory_budget,
            overwrite=FLAGS.overwrite,
            allow_env_change=FLAGS.allow_env_change,
        )
        written = [
            str(p)
            for key, value in paths.items()
            if key != "summary_rows"
            for p in (value if isinstance(value, list) else [value])
        ]
        if written:
            print(f"{exp.name}: wrote " + ", ".join(written))
    print(f"done in {time.perf_counter() - start:.0f} s")
    cache.prune()
    return 0


SCORES_ONLY = ("scores", "label_col", "pred_col", "conf_col", "grouping")
NOT_FOR_SCORES = (
    "n_train", "c1", "methods", "dataset", "model", "score", "query", "data",
    "data_dir", "val_fraction",
)


def _one_delta() -> float | None:
    values = _numbers("delta", FLAGS.delta, float)
    if values and len(values) > 1:
        raise ConfigError(
            f"--delta={','.join(FLAGS.delta)}: a scores experiment takes one delta "
            "(alpha); run one per value"
        )
    return values[0] if values else None


def _run_scores(cache: _cli.CompilationCache) -> int:
    """A scores experiment (`tbal_jax.certify`): the flags checked, the table read and
    checked, then every draw, before any file is written; the compilation cache pruned
    last."""
    exp = scores_experiments.SCORE_EXPERIMENTS.get(FLAGS.experiment)
    for name in NOT_FOR_SCORES:
        if getattr(FLAGS, name) is not None:
            raise ConfigError(
                f"--{name} does not apply to --experiment={exp.name} (no model is "
                "trained); leave it out"
            )
    reason = exp.unavailable() if FLAGS.scores is None else ""
    if reason:
        print(f"skipped {exp.name}: {reason}")
        cache.prune()
        return 0
    if FLAGS.scores is not None and not FLAGS.scores.strip():
        raise ConfigError("--scores is empty: give your scores table (a CSV or .npz)")
    most = scores_experiments.MAX_DRAWS
    if FLAGS.seeds is not None and not 1 <= FLAGS.seeds <= most:
        raise ConfigError(f"--seeds={FLAGS.seeds}: give from 1 to {most:,} draws per cell")
    out = check_folder(FLAGS.out or f"outputs/{exp.name}")
    exp, table = scores_experiments.configure(
        exp,
        scores=FLAGS.scores,
        columns={c: getattr(FLAGS, c) for c in ("label_col", "pred_col", "conf_col")},
        n_val=_numbers("n_val", FLAGS.n_val, int),
        eps=_numbers("eps", FLAGS.eps, float),
        delta=_one_delta(),
        estimators=FLAGS.estimator,
        grouping=FLAGS.grouping,
    )
    seeds = FLAGS.seeds or exp.seeds
    scores_experiments.check_out(exp, table, seeds, out, FLAGS.overwrite)
    start = time.perf_counter()
    paths = scores_experiments.run(exp, table, seeds, out)
    written = [str(p) for v in paths.values() for p in (v if isinstance(v, list) else [v])]
    print(f"{exp.name}: wrote " + ", ".join(written))
    print(f"done in {time.perf_counter() - start:.0f} s")
    cache.prune()
    return 0


def _parse(argv: list[str]) -> list[str]:
    """Parse the flags (afresh: tests call this more than once); an unparseable flag is
    a `ConfigError` of one line."""
    FLAGS.unparse_flags()
    try:
        return FLAGS(argv)
    except flags.Error as err:
        raise ConfigError(" ".join(str(err).split())) from None


def _status(argv: list[str]) -> int:
    """`main` with its errors as one line on stderr: 2 for bad input, 130 for Ctrl-C,
    1 for a full disk."""
    try:
        return main(argv)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Stopped as err:
        print(f"stopped: {err}", file=sys.stderr)
        return 130 if err.interrupted else 1
    except KeyboardInterrupt:
        print("stopped: interrupted before any result was saved", file=sys.stderr)
        return 130


def cli(argv: list[str]) -> int:
    """The command line in this process (argv[0] is the program name): its exit
    status. Call `deterministic_cpu()` first, as `run` does."""
    try:
        rest = _parse(argv)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return _status(rest)


def _parse_or_exit(argv: list[str]) -> list[str]:
    try:
        return _parse(argv)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def run():
    deterministic_cpu()
    matplotlib.use("Agg")  # figures go to files only
    app.run(lambda argv: sys.exit(_status(argv)), flags_parser=_parse_or_exit)


if __name__ == "__main__":
    run()
