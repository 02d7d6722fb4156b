"""Run a named TBAL experiment: `python -m experiments.run --experiment=unit_ball_val`.

Writes DIR/results.csv (one row per run), DIR/summary.csv (per cell), DIR/meta.json
(config, versions, device, timings) and the figure DIR/<experiment>.png/.pdf.
Grid overrides: --n_val=100,400 --n_train=500 --eps=0.01 --c1=0,0.25 --methods=tbal.
`--list` lists the experiments; `--experiment=all` runs every one into DIR/<experiment>/.
Bad input gets a one-line error and exit status 2, before any compilation.
"""

from __future__ import annotations

import sys
import time

from absl import app, flags

from tbal_jax.experiments import (
    EXPERIMENTS,
    get_experiment,
    paper_seeds,
    run_experiment,
)
from tbal_jax.sweep import DEFAULT_CHUNK_RUNS
from tbal_jax.validate import ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "experiment",
    "unit_ball_val",
    "experiment name (see --list), or 'all' for every figure and table",
)
flags.DEFINE_integer("seeds", 10, "number of seeds (the paper's 0, 7, 14, ...)")
flags.DEFINE_string("out", None, "output folder (default outputs/<experiment>)")
flags.DEFINE_list("n_val", None, "override the validation sizes N_v")
flags.DEFINE_list("n_train", None, "override the training budgets N_q")
flags.DEFINE_list("eps", None, "override the tolerances eps")
flags.DEFINE_list("c1", None, "override the slack constants C1")
flags.DEFINE_list(
    "methods",
    None,
    "override the methods: tbal, al (gives AL and AL+SC), pl (gives PL and PL+SC)",
)
flags.DEFINE_integer("chunk_runs", DEFAULT_CHUNK_RUNS, "runs per compiled chunk")
flags.DEFINE_bool("list", False, "list the experiments and exit")


def _numbers(name: str, values, kind):
    if values is None:
        return None
    try:
        return [kind(v) for v in values]
    except ValueError:
        raise ConfigError(
            f"--{name}={','.join(values)}: not a list of numbers"
        ) from None


def _experiments():
    """The experiments to run, with the flags' overrides, checked before any compiling."""
    names = list(EXPERIMENTS) if FLAGS.experiment == "all" else [FLAGS.experiment]
    overrides = dict(
        n_val=_numbers("n_val", FLAGS.n_val, float),
        n_train=_numbers("n_train", FLAGS.n_train, float),
        eps=_numbers("eps", FLAGS.eps, float),
        c1=_numbers("c1", FLAGS.c1, float),
        methods=FLAGS.methods,
    )
    exps = []
    for name in names:
        exp = get_experiment(name).with_grid(**overrides)
        exp.check()
        exps.append(
            exp.with_grid(
                n_val=[int(v) for v in exp.n_val], n_train=[int(v) for v in exp.n_train]
            )
        )
    return exps


def main(argv):
    if len(argv) > 1:
        raise ConfigError(
            f"unexpected argument {argv[1]!r}; flags look like --seeds=10"
        )
    if FLAGS.list:
        for name, exp in EXPERIMENTS.items():
            print(f"{name:18s} {exp.dataset:10s} x={exp.x:8s} {exp.title}")
        return 0
    exps = _experiments()
    if FLAGS.seeds < 1:
        raise ConfigError(f"--seeds={FLAGS.seeds}: give at least one seed")
    if FLAGS.chunk_runs < 1:
        raise ConfigError(f"--chunk_runs={FLAGS.chunk_runs}: must be at least 1")
    start = time.perf_counter()
    for exp in exps:
        if FLAGS.experiment == "all":
            out = f"{FLAGS.out or 'outputs'}/{exp.name}"
        else:
            out = FLAGS.out or f"outputs/{exp.name}"
        paths = run_experiment(exp, paper_seeds(FLAGS.seeds), out, FLAGS.chunk_runs)
        written = [
            str(p)
            for key, value in paths.items()
            if key != "summary_rows"
            for p in (value if isinstance(value, list) else [value])
        ]
        print(f"{exp.name}: wrote " + ", ".join(written))
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


def run():
    try:
        app.run(main)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    run()
