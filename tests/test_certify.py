"""The scores path (algorithm.md section 13): the table loader's errors, the one-round
protocol against the threshold step and a brute-force reference in both groupings,
Conformal Labeling and PAC Labels against literal NumPy references, each promise by
Monte Carlo with a broken variant the same check catches, the shared tables end to end,
and the command line."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax.certify import conformal, pac
from tbal_jax.certify import experiments as sx
from tbal_jax.certify.draw import label_pool, order, prepare, split
from tbal_jax.certify.methods import CONFORMAL_LABELING, METHODS, PAC_LABELS
from tbal_jax.certify.report import summarise
from tbal_jax.certify.sweep import Plan, rows_of, run_method
from tbal_jax.certify.table import NO_LABEL, ScoresTable, check_grid, load_scores
from tbal_jax.datasets.fixed import DataError
from tests import reference

CI = bool(os.environ.get("CI"))


def synthetic_table(n=600, k=3, seed=0, unlabelled=0.0, informative=True) -> ScoresTable:
    """A table whose confidence predicts correctness (or not), with optional unlabelled rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    conf = rng.uniform(1 / k, 1, n)
    p_correct = conf if informative else np.full(n, 0.7)
    correct = rng.uniform(size=n) < p_correct
    yhat = np.where(correct, y, (y + rng.integers(1, k, n)) % k)
    y = np.where(rng.uniform(size=n) < unlabelled, NO_LABEL, y)
    return ScoresTable("synthetic", y.astype(np.int32), yhat.astype(np.int32),
                       conf.astype(np.float32), tuple(range(k)))


def write_csv(path: Path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]))
    return path


# --- the loader -------------------------------------------------------------------


def test_csv_string_labels_are_mapped_in_sorted_order_and_unlabelled_rows_kept(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["id", "Y", "Yhat", "confidence"], [
        (0, "dog", "dog", 0.9), (1, "cat", "dog", 0.6), (2, "", "cat", 0.8),
        (3, "bird", "bird", 1.0),
    ])
    t = load_scores(path)
    assert t.classes == ("bird", "cat", "dog")
    assert t.y.tolist() == [2, 1, NO_LABEL, 0]
    assert t.yhat.tolist() == [2, 2, 1, 0]
    assert t.n_labelled == 3
    assert t.describe()["class_index"] == {"bird": 0, "cat": 1, "dog": 2}


def test_integer_labels_sort_numerically(tmp_path):
    path = write_csv(tmp_path / "t.csv", ["Y", "Yhat", "confidence"],
                     [(10, 10, 0.5), (2, 10, 0.5), (9, 2, 0.7)])
    assert load_scores(path).classes == (2, 9, 10)


def test_npz_with_probs(tmp_path):
    probs = np.array([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])
    np.savez(tmp_path / "t.npz", y=np.array([0, 1, -1]), probs=probs)
    t = load_scores(tmp_path / "t.npz")
    assert t.yhat.tolist() == [0, 1, 0]
    np.testing.assert_allclose(t.confidence, [0.7, 0.8, 0.5])
    assert t.n_labelled == 2


@pytest.mark.parametrize(
    "rows, columns, message",
    [
        ([(0, 0, 0.5)], {"conf_col": "score"}, "no column 'score'; its columns are"),
        ([(0, 0, 0.5), (1, 1, 1.5)], {}, "column 'confidence', row 2: confidence '1.5'"),
        ([(0, 0, 0.5), (1, 1, "nan")], {}, "row 2: confidence 'nan' is not a number"),
        ([(0, 0, 0.5), (1, 1, "high")], {}, "row 2: confidence 'high' is not a number"),
        ([(0, 0, 0.5), (1, 7, 0.5)], {}, "column 'Yhat', row 2: predicted label 7"),
        ([(0, "", 0.5)], {}, "column 'Yhat', row 1: no predicted label"),
        ([("", 0, 0.5)], {}, "no row has a true label"),
    ],
)
def test_bad_tables_get_one_line_naming_file_column_and_row(tmp_path, rows, columns, message):
    path = write_csv(tmp_path / "bad.csv", ["Y", "Yhat", "confidence"], rows)
    with pytest.raises(DataError) as err:
        load_scores(path, **columns)
    text = str(err.value)
    assert message in text and "bad.csv" in text and "\n" not in text


def test_too_few_labelled_rows_for_the_grid(tmp_path):
    t = synthetic_table(n=100)
    with pytest.raises(DataError, match="has 100 labelled rows; give N_v from 1 to 99"):
        check_grid(t, [50, 100])


def test_missing_file_and_not_a_table(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_scores(tmp_path / "none.csv")
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read it"):
        load_scores(tmp_path / "x.npz")


# --- one round, no training ---------------------------------------------------------


def _sample(prep, seed, n_val, capacity):
    rows = order(prep, jax.random.PRNGKey(seed), capacity)
    return split(prep, rows, n_val)


@pytest.mark.parametrize("grouping", ["per_class", "global"])
def test_one_round_equals_the_threshold_step_and_the_brute_force(grouping):
    table = synthetic_table(n=900, unlabelled=0.1)
    prep = prepare(table, grouping)
    thresholds_of = METHODS.get("plugin").make(prep, 400)
    for seed, n_val in [(0, 300), (1, 400), (2, 150)]:
        sample = _sample(prep, seed, n_val, 400)
        t = np.asarray(thresholds_of(sample, 0.1, 0.05))
        rows = np.asarray(sample.rows)[:n_val]
        y, yhat = table.y[rows], table.yhat[rows]
        if grouping == "global":
            preds, labels, k = np.zeros_like(y), (y != yhat).astype(int), 1
        else:
            preds, labels, k = yhat, y, table.k
        want = reference.thresholds(table.confidence[rows], preds, labels, 0.1, 0.0, k,
                                    slack="sigma")
        np.testing.assert_array_equal(t, want.astype(np.float32))
        out = label_pool(prep, sample, jnp.asarray(t), False)
        in_val = np.zeros(table.n, bool)
        in_val[rows] = True
        group = np.zeros(table.n, int) if grouping == "global" else table.yhat
        auto = ~in_val & (table.confidence >= want[group])
        assert int(out.n_auto) == auto.sum()
        assert int(out.n_wrong) == (auto & table.labelled & (table.y != table.yhat)).sum()
        assert int(out.n_pool) == table.n - n_val


def test_validation_rows_are_labelled_distinct_and_nested_in_n_val():
    table = synthetic_table(n=500, unlabelled=0.3)
    prep = prepare(table, "per_class")
    rows = np.asarray(order(prep, jax.random.PRNGKey(3), 200))
    assert len(set(rows.tolist())) == 200 and table.labelled[rows].all()
    small, large = (_sample(prep, 3, v, 200) for v in (50, 200))
    assert np.all(np.asarray(large.pool) <= np.asarray(small.pool))  # nested


def test_results_do_not_depend_on_the_chunking(monkeypatch):
    table = synthetic_table(n=400)
    args = (table, "ltt", "per_class", [100, 200], [0.1], 0.05, np.arange(6))
    whole, _ = run_method(*args)
    monkeypatch.setattr("tbal_jax.certify.sweep.ROW_BUDGET", 1)  # one seed per chunk
    chunked, timing = run_method(*args)
    assert timing["seeds_per_chunk"] == 1
    for f in ("n_auto", "n_wrong", "human", "seed", "n_val"):
        np.testing.assert_array_equal(whole[f], chunked[f])


# --- Conformal Labeling --------------------------------------------------------------


def conformal_reference(conf, wrong, group, in_val, alpha, k):
    """Literally: each pool row's p-value against its group's validation rows, then BH."""
    labelled = np.zeros(len(conf), bool)
    for g in range(k):
        cal = np.flatnonzero(in_val & (group == g))
        test = np.flatnonzero(~in_val & (group == g))
        if len(test) == 0:
            continue
        p = np.array([
            (1 + sum(1 for i in cal if wrong[i] and conf[i] >= conf[j])) / (len(cal) + 1)
            for j in test
        ])
        order_ = np.argsort(p, kind="stable")
        m = len(test)
        passing = [r for r in range(1, m + 1) if p[order_[r - 1]] <= alpha * r / m]
        if passing:
            cut = p[order_[max(passing) - 1]]
            labelled[test[p <= cut]] = True
    return labelled


@pytest.mark.parametrize("grouping, seed", [("per_class", 0), ("global", 1),
                                            ("per_class", 2)])
def test_conformal_labeling_equals_its_literal_reference(grouping, seed):
    table = synthetic_table(n=300, seed=seed)
    conf = np.round(table.confidence, 2)  # ties
    table = dataclasses.replace(table, confidence=conf.astype(np.float32))
    prep = prepare(table, grouping)
    sample = _sample(prep, seed, 120, 150)
    t = conformal.make(prep, 150)(sample, 0.2, 0.05)
    out = np.asarray(sample.pool) & (table.confidence >= np.asarray(t)[np.asarray(prep.group)])
    want = conformal_reference(table.confidence, table.labelled & (table.y != table.yhat),
                               np.asarray(prep.group), ~np.asarray(sample.pool), 0.2, prep.k)
    assert want.sum() > 0
    np.testing.assert_array_equal(out, want)


# --- PAC Labels ----------------------------------------------------------------------


def wsr_upper(x, alpha, grid=np.linspace(1e-5, 1 - 1e-5, 20000), c=0.75):
    """The reference's `wsr` with theta = 0 (its upper end), literally, on a grid of m."""
    n = len(x)
    t = np.arange(1, n + 1)
    muhat = (0.5 + np.cumsum(x)) / (1 + t)
    sigma2 = (0.25 + np.cumsum((x - muhat) ** 2)) / (1 + t)
    sigma2_prev = np.append(0.25, sigma2[:-1])
    lam = np.sqrt(2 * np.log(2 / alpha) / (n * sigma2_prev))
    ok = [m for m in grid
          if np.all(np.exp(np.cumsum(np.log(1 - np.minimum(lam, c / (1 - m)) * (x - m))))
                    < 1 / alpha)]
    return max(ok)


def pac_reference(conf, wrong, rows, eps, alpha):
    """Binary search over the distinct confidences (largest first) for the most
    permissive one whose WSR upper bound is <= eps."""
    levels = np.unique(conf)[::-1]
    lo, hi = 0, len(levels) - 1
    while lo <= hi:
        j = (lo + hi) // 2
        x = (wrong[rows] & (conf[rows] >= levels[j])).astype(float)
        if wsr_upper(x, alpha) > eps:
            hi = j - 1
        else:
            lo = j + 1
    return levels[lo - 1] if lo > 0 else np.inf


@pytest.mark.parametrize("seed, eps", [(0, 0.05), (1, 0.1), (2, 0.15)])
def test_pac_labels_equals_its_literal_reference(seed, eps):
    table = synthetic_table(n=500, seed=seed)
    conf = np.round(table.confidence, 2).astype(np.float32)
    table = dataclasses.replace(table, confidence=conf)
    prep = prepare(table, "global")
    sample = _sample(prep, seed, 300, 300)
    t = float(pac.make(prep, 300)(sample, eps, 0.05)[0])
    rows = np.asarray(sample.rows)
    want = pac_reference(conf, table.labelled & (table.y != table.yhat), rows, eps, 0.05)
    assert t == pytest.approx(want)


def test_wsr_capital_decision_matches_the_grid_bound():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = (rng.uniform(size=200) < rng.uniform(0, 0.2)).astype(np.float32)
        m = float(rng.uniform(0.02, 0.3))
        ub = wsr_upper(x, 0.05)
        if abs(ub - m) < 1e-3:
            continue
        got = bool(pac.capital_reaches(jnp.asarray(x), jnp.ones(200, bool), m, 0.05))
        assert got == (ub < m)


# --- each promise by Monte Carlo, with a broken variant -------------------------------


def _check(table, method, n_val, eps, seeds, delta=0.05):
    fields, _ = run_method(table, method, "global", [n_val], [eps], delta,
                           np.arange(seeds))
    return summarise(rows_of("mc", table, method, fields, delta))[0]


@pytest.fixture
def broken_methods():
    """Conformal Labeling at BH level 4 eps; PAC Labels certifying by the sample mean."""
    def conformal_make(prep, capacity):
        inner = conformal.make(prep, capacity)
        return lambda sample, eps, delta: inner(sample, 4 * eps, delta)

    def plug_in(x, active, m, alpha):
        return jnp.sum(jnp.where(active, x, 0.0)) / jnp.sum(active) <= m

    broken = {
        "conformal_broken": dataclasses.replace(
            CONFORMAL_LABELING, name="conformal_broken", make=conformal_make),
        "pac_broken": dataclasses.replace(PAC_LABELS, name="pac_broken"),
    }
    for m in broken.values():
        METHODS._entries[m.name] = m
    yield broken, plug_in
    for name in broken:
        del METHODS._entries[name]


def test_conformal_labeling_keeps_its_fdr_and_the_broken_variant_is_caught(broken_methods):
    table = synthetic_table(n=3000, seed=5, informative=False)  # pi0 = 0.3
    good = _check(table, "conformal_labeling", 500, 0.1, 400)
    bad = _check(table, "conformal_broken", 500, 0.1, 400)
    assert good["promise_kept"] and good["fdr_high"] > 0
    assert not bad["promise_kept"], bad


def test_pac_labels_keeps_its_promise_and_the_broken_variant_is_caught(
    broken_methods, monkeypatch
):
    table = synthetic_table(n=3000, seed=6)
    good = _check(table, "pac_labels", 400, 0.1, 300)
    assert good["promise_kept"] and good["coverage_mean"] > 0.05
    _, plug_in = broken_methods
    monkeypatch.setattr(pac, "capital_reaches", plug_in)
    bad = _check(table, "pac_broken", 400, 0.1, 300)
    assert not bad["promise_kept"], bad
    assert bad["violation_low"] > 0.05


# --- the shared tables and the command line ------------------------------------------


def _shared(name):
    exp = sx.SCORE_EXPERIMENTS.get(name)
    reason = exp.unavailable()
    if reason:
        if CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return exp


@pytest.mark.parametrize("name", ["scores_stance", "scores_imagenet"])
def test_shared_tables_end_to_end(tmp_path, name):
    exp = _shared(name)
    exp, table = sx.configure(
        exp, n_val=[exp.n_val[0], exp.n_val[2]], eps=[0.1],
        estimators=["ltt", "conformal_labeling", "pac_labels"],
    )
    paths = sx.run(exp, table, 3, tmp_path, progress=False)
    for p in ("results", "summary", "table", "meta"):
        assert paths[p].is_file()
    assert [p.suffix for p in paths["figure"]] == [".png", ".pdf"]
    lines = paths["results"].read_text().splitlines()
    assert len(lines) == 1 + 3 * 2 * 3
    assert table.k == (1000 if name == "scores_imagenet" else 3)


def test_cli_scores_path_and_errors(tmp_path, capsys):
    from experiments import run as cli_run

    rng = np.random.default_rng(0)
    rows = [(i, int(y), int(y) if rng.uniform() < 0.8 else int((y + 1) % 3),
             round(float(rng.uniform(0.34, 1)), 3)) for i, y in
            enumerate(rng.integers(0, 3, 400))]
    path = write_csv(tmp_path / "mine.csv", ["id", "Y", "Yhat", "confidence"], rows)
    out = tmp_path / "out"
    status = cli_run.cli(["run", f"--scores={path}", "--n_val=100,200", "--seeds=4",
                          "--eps=0.1", "--estimator=ltt,pac_labels", f"--out={out}"])
    assert status == 0
    assert (out / "scores.png").is_file() and (out / "summary.md").is_file()
    for argv, message in [
        ([f"--scores={path}", "--n_val=400"], "has 400 labelled rows"),
        ([f"--scores={path}", "--grouping=nope"], "--grouping=nope: choose one of"),
        ([f"--scores={path}", "--estimator=nope"], "unknown estimator 'nope'"),
        ([f"--scores={path}", "--n_train=100"], "--n_train does not apply"),
        ([f"--scores={path}", "--conf_col=c"], "no column 'c'"),
        (["--experiment=unit_ball_val", "--grouping=global"], "--grouping applies to"),
        (["--experiment=scores"], "needs --scores=PATH"),
    ]:
        capsys.readouterr()
        assert cli_run.cli(["run", *argv, f"--out={tmp_path / 'x'}"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err


def test_cli_scores_path_guards_its_folder_and_settings(tmp_path, capsys):
    """Refused in one line, before any draw: an empty --scores, a file as --out, more
    draws than results.csv can hold, a repeated N_v, eps or estimator, a too-small eps,
    and a folder holding another run's files (unless --overwrite); a rerun with the
    same settings rewrites its own files."""
    from experiments import run as cli_run

    rng = np.random.default_rng(2)
    rows = [(i, int(y), int(y) if rng.uniform() < 0.8 else int((y + 1) % 3),
             round(float(rng.uniform(0.34, 1)), 3)) for i, y in
            enumerate(rng.integers(0, 3, 300))]
    path = write_csv(tmp_path / "mine.csv", ["id", "Y", "Yhat", "confidence"], rows)
    out = tmp_path / "out"
    base = [f"--scores={path}", "--n_val=100", "--seeds=2", "--estimator=plugin"]

    def refused(argv, message):
        capsys.readouterr()
        assert cli_run.cli(["run", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err

    (tmp_path / "a_file").write_text("x")
    refused(["--scores=", f"--out={out}"], "--scores is empty")
    refused([*base, "--eps=0.1", f"--out={tmp_path / 'a_file'}"], "is a file")
    refused([*base, "--eps=0.1", "--seeds=10000000", f"--out={out}"], "draws per cell")
    refused([*base, "--eps=0.1", "--n_val=100,100", f"--out={out}"], "100 repeated")
    refused([*base, "--eps=0.1,0.1", f"--out={out}"], "0.1 repeated")
    refused([*base, "--eps=0.1", "--estimator=ltt,ltt", f"--out={out}"], "ltt repeated")
    refused([*base, "--eps=1e-30", f"--out={out}"], "at least 1e-06")
    assert cli_run.cli(["run", *base, "--eps=0.1", f"--out={out}"]) == 0
    first = (out / "results.csv").read_text()
    assert cli_run.cli(["run", *base, "--eps=0.1", f"--out={out}"]) == 0  # same: rewritten
    assert (out / "results.csv").read_text() == first
    refused([*base, "--eps=0.2", f"--out={out}"], "of another run")
    assert (out / "results.csv").read_text() == first  # nothing replaced
    assert cli_run.cli(["run", *base, "--eps=0.2", f"--out={out}", "--overwrite"]) == 0
    assert (out / "results.csv").read_text() != first
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "results.csv").write_text("mine\n")
    refused([*base, "--eps=0.1", f"--out={foreign}"], "holds results.csv of another run")
    assert (foreign / "results.csv").read_text() == "mine\n"


def test_label_command_refuses_bad_outputs_before_certifying(tmp_path):
    """--out naming the input table (which would be emptied), a folder, or a path under
    a file; a negative --seed; an oversized simulation: one line each, the table intact."""
    import subprocess
    import sys

    rows = [(i, i % 2 if i < 100 else "", i % 2, 0.9) for i in range(200)]
    path = write_csv(tmp_path / "t.csv", ["id", "Y", "Yhat", "confidence"], rows)
    before = path.read_text()
    for extra, message in [
        ([f"--out={path}"], "is the --scores table itself"),
        ([f"--out={tmp_path}"], "is a folder"),
        ([f"--out={path}/x.csv"], "its folder cannot be made"),
        (["--seed=-1"], "--seed=-1: give a seed >= 0"),
        (["--simulation_rows=1000000000"], "--simulation_rows in [100, 1,000,000]"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "experiments.label", f"--scores={path}", *extra],
            capture_output=True, text=True, timeout=300,
        )
        err = done.stderr.strip()
        assert done.returncode == 2 and message in err and "\n" not in err, (extra, err)
        assert path.read_text() == before


def test_every_method_states_its_promise():
    for name, m in METHODS.items():
        assert m.promise in ("region", "fdr", "whole") and len(m.guarantee) > 40, name
    assert METHODS.get("ltt").guaranteed and not METHODS.get("plugin").guaranteed


def test_label_command_certifies_writes_the_column_and_sizes_the_target(tmp_path):
    import subprocess
    import sys

    rng = np.random.default_rng(1)
    rows = []
    for i, y in enumerate(rng.integers(0, 2, 1500)):
        conf = float(rng.uniform(0.5, 1))
        yhat = y if rng.uniform() < conf else 1 - y
        rows.append((i, y if i < 700 else "", yhat, round(conf, 4)))
    path = write_csv(tmp_path / "t.csv", ["id", "Y", "Yhat", "confidence"], rows)
    out = tmp_path / "labelled.csv"
    done = subprocess.run(
        [sys.executable, "-m", "experiments.label", f"--scores={path}", "--eps=0.1",
         "--estimator=ltt", f"--out={out}", "--target_coverage=0.4",
         "--simulation_draws=5", "--simulation_rows=2000"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "700 with a true label" in text and "certified:" in text
    assert "exact lower bound" in text and "in simulation" in text
    lines = out.read_text().splitlines()
    assert lines[0].endswith(",machine_label") and len(lines) == 1501
    labelled = [line.split(",")[-1] for line in lines[1:]]
    assert all(v == "" for v in labelled[:700])  # validation rows are not machine-labelled
    n_cert = sum(v != "" for v in labelled)
    assert f"certified: {n_cert} of the 800 rows" in text and n_cert > 0
    bad = subprocess.run(
        [sys.executable, "-m", "experiments.label", f"--scores={path}", "--eps=2"],
        capture_output=True, text=True, timeout=300,
    )
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: --eps=2")


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_meets_the_interface(name):
    """Any registered method: counts that add up, and a vmapped batch of seeds equal to
    the seeds one at a time (a chunk of one seed: another compiled shape)."""
    table = synthetic_table(n=400, seed=3, unlabelled=0.1)
    args = (table, name, "per_class", [60, 150], [0.1], 0.05)
    plan = Plan(*args)
    batch, _ = plan.run(np.arange(3))
    singles = [plan.run([s])[0] for s in range(3)]
    for f in ("n_auto", "n_auto_known", "n_wrong", "n_pool", "human"):
        one = np.stack([s[f] for s in singles], axis=1).reshape(-1)  # cells x seeds
        np.testing.assert_array_equal(batch[f], one)
    assert np.all(batch["n_wrong"] <= batch["n_auto_known"])
    assert np.all(batch["n_auto_known"] <= batch["n_auto"])
    assert np.all(batch["n_auto"] <= batch["n_pool"])
    assert np.all(batch["n_pool"] == table.n - batch["n_val"])
    assert np.all(batch["human"] >= batch["n_val"])


def test_bench_scores_case_runs_and_both_sides_agree():
    from experiments.bench_scores import numpy_draw, time_jax, time_numpy

    table = synthetic_table(n=2500, k=4, seed=9)
    for method, grouping in (("plugin", "global"), ("conformal_labeling", "per_class"),
                             ("pac_labels", "global")):
        grid = {"n_val": (200, 800), "eps": (0.1,)}
        jx = time_jax(table, method, grouping, 2, 1, **grid)
        npy = time_numpy(table, method, 2, **grid)
        assert jx["ms_per_draw"] > 0 and npy["ms_per_draw"] > 0
        assert abs(jx["coverage"] - npy["coverage"]) < 0.15, (method, jx, npy)
    # the NumPy draw is the same computation: equal counts on the same rows
    prep = prepare(table, "per_class")
    sample = _sample(prep, 4, 300, 300)
    rows = np.asarray(sample.rows)
    t = conformal.make(prep, 300)(sample, 0.1, 0.05)
    out = label_pool(prep, sample, t, False)
    levels = np.unique(table.confidence)[::-1]
    assert numpy_draw(table, "conformal_labeling", rows, 300, 0.1, 0.05, levels) == (
        int(out.n_auto), int(out.n_wrong))


@pytest.mark.parametrize("kwargs, message", [
    ({"eps": [1.5]}, "--eps=1.5: a tolerance must be in (0, 1)"),
    ({"delta": 0.0}, "--delta=0: delta (alpha) must be in (0, 1)"),
    ({"grouping": "nope"}, "--grouping=nope: choose one of per_class, global"),
    ({"name": "nope"}, "unknown estimator 'nope'"),
    ({"n_val": [400]}, "has 400 labelled rows"),
])
def test_python_api_refuses_bad_settings_as_the_command_line_does(kwargs, message):
    from tbal_jax.errors import ConfigError

    args = {"name": "ltt", "grouping": "per_class", "n_val": [100], "eps": [0.1],
            "delta": 0.05} | kwargs
    with pytest.raises(ConfigError) as err:
        Plan(synthetic_table(n=400), **args)
    assert message in str(err.value) and "\n" not in str(err.value)
