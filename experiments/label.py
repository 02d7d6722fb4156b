"""Certify a model's own labels on your table (algorithm.md section 13):

    python -m experiments.label --scores=PATH --eps=0.05 --delta=0.05 --estimator=ltt

Every row with a true label is the validation set; every row without one is labelled
by the model where its confidence is at or above its group's threshold. Prints the
thresholds, how many rows are certified and what is promised; writes the table back
with a `machine_label` column (empty where not certified) to --out; and, with
`--target_coverage`, says about how many labelled rows would certify that share of the
rows: the exact lower bound (`theory.exact_lower_bound`, no procedure can do with
fewer) and a simulation on the labelled rows (resampled with replacement into a table of
--simulation_rows rows, N_v grown until the mean coverage over --simulation_draws draws
reaches the target).
"""

from __future__ import annotations

import csv
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from absl import flags

import theory
from experiments import _cli
from experiments._cli import BadInput
from tbal_jax import deterministic_cpu
from tbal_jax.certify.draw import prepare, split
from tbal_jax.certify.methods import METHODS
from tbal_jax.certify.sweep import check_settings, run_method
from tbal_jax.certify.table import DEFAULT_COLUMNS, NO_LABEL, ScoresTable, load_scores
from tbal_jax.errors import ConfigError
from tbal_jax.manifest import atomic_path

FLAGS = flags.FLAGS
SIM_GRID = 24  # N_v values tried by the simulation, log-spaced
MAX_SIM_ROWS = 1_000_000  # the simulated table's rows: more only costs memory


def define_flags():
    flags.DEFINE_string("scores", None, "your scores table (CSV or .npz)")
    for name, default in DEFAULT_COLUMNS.items():
        flags.DEFINE_string(name, default, f"the table's {name[:-4]} column")
    flags.DEFINE_float("eps", 0.05, "the tolerance on the machine labels' error")
    flags.DEFINE_float("delta", 0.05, "the failure probability (alpha)")
    flags.DEFINE_string("estimator", "ltt", "; ".join(
        f"{n}: {m.title}" for n, m in METHODS.items()))
    flags.DEFINE_string("grouping", "per_class", "per_class or global thresholds")
    flags.DEFINE_string("out", None, "the labelled table (default <table>_labelled.csv)")
    flags.DEFINE_float("target_coverage", None, "share of rows you want certified")
    flags.DEFINE_integer("simulation_draws", 100, "draws per N_v in the simulation")
    flags.DEFINE_integer("simulation_rows", 20000, "rows of the simulated table")
    flags.DEFINE_integer("seed", 0, "the order of the labelled rows (PAC Labels bets in it)")


def _check():
    if not FLAGS.scores:
        raise BadInput("give --scores=PATH (a CSV or .npz with true and predicted labels)")
    try:
        check_settings([FLAGS.eps], FLAGS.delta, FLAGS.grouping, [FLAGS.estimator])
    except ConfigError as err:
        raise BadInput(str(err)) from None
    if FLAGS.target_coverage is not None and not 0 < FLAGS.target_coverage < 1:
        raise BadInput(f"--target_coverage={FLAGS.target_coverage}: give a share in (0, 1)")
    if FLAGS.simulation_draws < 1 or not 100 <= FLAGS.simulation_rows <= MAX_SIM_ROWS:
        raise BadInput(
            f"--simulation_draws >= 1 and --simulation_rows in [100, {MAX_SIM_ROWS:,}], "
            "please"
        )
    if FLAGS.seed < 0:
        raise BadInput(f"--seed={FLAGS.seed}: give a seed >= 0")


def _out_path() -> Path:
    """The labelled table's path (--out, or <table>_labelled.csv beside the table),
    checked before anything is computed: not the input table itself (it is read while
    the output is written), not a folder, and in a folder that exists or can be made."""
    scores = Path(FLAGS.scores)
    out = Path(FLAGS.out or scores.with_name(scores.stem + "_labelled.csv"))
    if out.resolve() == scores.resolve():
        raise BadInput(f"--out={out} is the --scores table itself; give another file")
    if out.is_dir():
        raise BadInput(f"--out={out} is a folder; give a file name, such as {out / 'labelled.csv'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(
            f"--out={out}: its folder cannot be made ({err.strerror or err}); "
            "choose a path you can write"
        ) from None
    return out


def certify(table: ScoresTable, method_name: str, grouping: str, eps, delta, seed=0):
    """(thresholds per group, machine-label mask over the rows, the grouping used): the
    labelled rows (in a random order) are the validation set, the others the pool."""
    method = METHODS.get(method_name)
    grouping = "global" if method.global_only else grouping
    prep = prepare(table, grouping)
    rows = np.flatnonzero(table.labelled)
    rows = rows[np.random.default_rng(seed).permutation(len(rows))]
    sample = split(prep, jnp.asarray(rows, jnp.int32), len(rows))
    t = np.asarray(
        method.make(prep, len(rows))(sample, jnp.float32(eps), jnp.float32(delta))
    )
    auto = np.asarray(sample.pool) & (table.confidence >= t[np.asarray(prep.group)])
    return t, auto, grouping


def write_labelled(table: ScoresTable, path: Path, auto, out: Path, columns):
    """The input rows with `machine_label` (the predicted label where certified)."""
    label = [table.classes[c] if a else "" for c, a in zip(table.yhat, auto)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        if path.suffix == ".csv":
            with open(path, newline="") as src:
                reader = csv.reader(src)
                writer.writerow(next(reader) + ["machine_label"])
                rows = (r for r in reader if r)
                for r, m in zip(rows, label):
                    writer.writerow(r + [m])
        else:
            writer.writerow(["row", columns["label_col"], columns["pred_col"],
                             columns["conf_col"], "machine_label"])
            for i in range(table.n):
                y = "" if table.y[i] == NO_LABEL else table.classes[table.y[i]]
                writer.writerow([i, y, table.classes[table.yhat[i]],
                                 float(table.confidence[i]), label[i]])


def needed_rows(table: ScoresTable, method_name, grouping, eps, delta, target, draws,
                size, seed=0):
    """The simulation: the labelled rows resampled into `size` rows; the smallest N_v
    on a log grid whose mean coverage reaches `target` (None if none does)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(np.flatnonzero(table.labelled), size=size, replace=True)
    sim = ScoresTable("simulation", table.y[pick], table.yhat[pick],
                      table.confidence[pick], table.classes)
    grid = np.unique(np.geomspace(50, int(0.8 * size), SIM_GRID).astype(int))
    fields, _ = run_method(sim, method_name, grouping, grid, [eps], delta,
                           np.arange(draws))
    coverage = fields["n_auto"] / fields["n_pool"]
    for v in grid:
        if coverage[fields["n_val"] == v].mean() >= target:
            return int(v)
    return None


def main(argv):
    _cli.no_arguments(argv, "--scores=PATH")
    _check()
    out = _out_path()
    deterministic_cpu()
    columns = {c: getattr(FLAGS, c) for c in DEFAULT_COLUMNS}
    try:
        table = load_scores(FLAGS.scores, **columns)
    except ConfigError as err:
        raise BadInput(str(err)) from None
    method = METHODS.get(FLAGS.estimator)
    t, auto, grouping = certify(table, FLAGS.estimator, FLAGS.grouping,
                                         FLAGS.eps, FLAGS.delta, FLAGS.seed)
    n_pool = table.n - table.n_labelled
    print(f"{table.name}: {table.n} rows, {table.n_labelled} with a true label (the "
          f"validation set), {n_pool} without; {table.k} classes")
    names = ["all classes"] if grouping == "global" else [str(c) for c in table.classes]
    shown = [f"{n}: {'none' if np.isinf(v) else f'{v:.4g}'}" for n, v in zip(names, t)]
    print(f"{method.title} thresholds ({grouping}): " + ", ".join(shown[:20])
          + (f", ... ({len(shown) - 20} more)" if len(shown) > 20 else ""))
    print(f"certified: {int(auto.sum())} of the {n_pool} rows without a label "
          f"({100 * auto.sum() / max(n_pool, 1):.1f}%)")
    if method.routes_rest:
        print(f"to the human: the {n_pool - int(auto.sum())} other rows")
    print(f"promise (eps = {FLAGS.eps:g}, delta = {FLAGS.delta:g}): {method.guarantee}")
    write_labelled(table, Path(FLAGS.scores), auto, out, columns)
    print(f"wrote {out} (column machine_label, empty where not certified)")
    if FLAGS.target_coverage is not None:
        target = FLAGS.target_coverage
        groups = 1 if grouping == "global" else table.k
        floor = float(theory.exact_lower_bound(
            eps=FLAGS.eps, delta=FLAGS.delta / groups, p0=target, eps_a=0.0))
        print(f"to certify {100 * target:.0f}% of the rows: no procedure can do with "
              f"fewer than {floor:.0f} labelled rows (exact lower bound, error 0 vs eps, "
              f"delta split over {groups} group{'s' * (groups > 1)})")
        need = needed_rows(table, FLAGS.estimator, grouping, FLAGS.eps, FLAGS.delta,
                           target, FLAGS.simulation_draws, FLAGS.simulation_rows)
        if need is None:
            print(f"in simulation (your labelled rows resampled into "
                  f"{FLAGS.simulation_rows} rows) {method.title} does not reach it below "
                  f"N_v = {int(0.8 * FLAGS.simulation_rows)}")
        else:
            more = max(need - table.n_labelled, 0)
            print(f"in simulation {method.title} reaches it at about N_v = {need} "
                  f"labelled rows: about {more} more than you have")
    return 0


if __name__ == "__main__":
    _cli.run(main, define_flags)
