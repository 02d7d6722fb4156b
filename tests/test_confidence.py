"""Fitted confidence functions in the loop (algorithm.md section 14): the D_cal / D_th
split, the wiring of a fitted score into the run, the test split of fixed data, and
the audit of a checkpoint rule that reads the threshold set."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from tbal_jax import config as C
from tbal_jax.datasets import DataArrays, load_dataset
from tbal_jax.datasets.fixed import fixed_dataset
from tbal_jax.errors import ConfigError
from tbal_jax.grid import grid_params
from tbal_jax.presets.base import axes
from tbal_jax.presets.confidence import AUDIT_SCORES
from tbal_jax.reports import Done
from tbal_jax.reports.confidence import audit, audit_rows
from tbal_jax.scores import MAX_PROB, FittedScore, max_prob, split
from tbal_jax.sweep import run_sweep


@pytest.mark.parametrize("nu", [0.0, 0.3, 0.5, 0.9])
def test_split_sizes_disjoint_and_inside_the_active_set(nu):
    active = jnp.asarray(np.random.default_rng(0).random(500) < 0.6)
    n = int(active.sum())
    cals = []
    for seed in range(5):
        cal, th = split(jax.random.key(seed), active, nu)
        cal, th = np.asarray(cal), np.asarray(th)
        assert cal.sum() == int(np.floor(nu * n))
        assert not (cal & th).any()
        assert ((cal | th) == np.asarray(active)).all()
        cals.append(cal)
    if 0 < nu < 1:  # redrawn with the key
        assert len({c.tobytes() for c in cals}) == len(cals)


@dataclasses.dataclass(frozen=True)
class OwnScore(FittedScore):
    """The model's max probability, with nothing learnt: the wiring's probe."""

    def fit(self, key, z, logits, y, cal, th, coverage):
        return {"n_cal": jnp.sum(cal), "n_th": jnp.sum(th)}

    def confidence(self, params, z, logits):
        return max_prob(logits)[0]


@dataclasses.dataclass(frozen=True)
class Lucky(FittedScore):
    """Pure noise as confidence: `tries` random scores per round, keeping the one that
    covers most of `pick` ("th": the threshold set, as Colander's selection does;
    "cal": the calibration part)."""

    tries: int = 40
    pick: str = "th"

    def fit(self, key, z, logits, y, cal, th, coverage):
        keys = jax.random.split(key, self.tries)
        mask = th if self.pick == "th" else cal
        cov = jnp.stack([coverage(self.confidence(k, z, logits), mask) for k in keys])
        return keys[jnp.argmax(cov)]

    def confidence(self, params, z, logits):
        # a hash of the row's features: the same point always gets the same score
        proj = jax.random.normal(params, (z.shape[1],))
        return jax.nn.sigmoid(8.0 * jnp.sin(1e3 * (z @ proj)))


def _grid(**given):
    return grid_params(**axes(**given)._asdict())


def test_a_fitted_score_with_no_calibration_part_reproduces_the_fixed_score():
    """nu = 0: D_th is the whole validation set and g is the model's own score, so
    every count equals the fixed score's; the record says what each round tested."""
    dataset = load_dataset("unit_ball")
    grid = _grid(n_val=[300, 1000], n_train=[200], eps=[0.05])
    runs = {}
    for score in (MAX_PROB, OwnScore("own", "own", nu=0.0)):
        cfg = C.StaticConfig.for_grid(dataset, [300, 1000], [200], score=score)
        runs[score.name] = run_sweep(cfg, np.arange(3), grid)
    a, b = runs["max_prob"].summary, runs["own"].summary
    for field in a._fields:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    np.testing.assert_array_equal(
        np.asarray(runs["max_prob"].rounds.val_used),
        np.asarray(runs["own"].rounds.val_used),
    )


def test_round_zeros_thresholds_are_the_estimators_on_its_threshold_part():
    """Recompute round 0 on the host: the model it trained, g's confidences, the split
    from the round key, the estimator on D_th alone. The thresholds agree, and they
    differ from those of the whole validation set or of D_cal (so the test can tell)."""
    from tbal_jax import run as run_lib
    from tbal_jax.estimators import SIGMA
    from tbal_jax.params import RunParams

    dataset = load_dataset("unit_ball")
    score = OwnScore("own", "own", nu=0.5)
    cfg = dataclasses.replace(
        C.StaticConfig.for_grid(dataset, [1000], [200], score=score), max_rounds=1
    )
    sim = run_lib.make_run(cfg)
    params = RunParams(
        *(
            jnp.asarray(v[0])
            for v in _grid(n_val=[1000], n_train=[200], eps=[0.05], c1=[0.0])
        )
    )
    key = jax.random.key(3)
    arrays = dataset.device_arrays()
    out = sim.run(key, params, arrays)
    assert bool(out.record.trained[0])
    data_key, loop_key = jax.random.split(key)
    pools = dataset.split(data_key, arrays)
    idx = pools.val_order[: cfg.max_n_val]
    logits = dataset.model.logits(out.state.weights, pools.val_x[idx])
    conf, pred = max_prob(logits)
    active = jnp.arange(cfg.max_n_val) < 1000
    round_key = jax.random.fold_in(loop_key, 0)
    cal, th = split(jax.random.fold_in(round_key, run_lib.STREAM_SPLIT), active, 0.5)
    estimate = SIGMA(dataset.num_classes, cfg.max_n_val)
    y = pools.val_y[idx]

    def thresholds(mask):
        return np.asarray(estimate(conf, pred, y, mask, params.eps, params.c1))

    got = np.asarray(out.record.thresholds[0])
    np.testing.assert_array_equal(got, thresholds(th))
    assert not np.array_equal(got, thresholds(active))
    assert not np.array_equal(got, thresholds(cal))


def _digits_with_test(y_test_shift=0, x_test_noise=0.0):
    digits = load_dataset("digits").arrays
    rng = np.random.default_rng(1)
    idx = rng.permutation(len(digits.x))
    test, rest = idx[:300], idx[300:]
    x_test = digits.x[test] + x_test_noise * rng.standard_normal(digits.x[test].shape)
    y_test = (digits.y[test] + y_test_shift) % 10
    return fixed_dataset(
        "digits_test",
        "test",
        DataArrays(digits.x[rest], digits.y[rest], x_test=x_test, y_test=y_test),
    )


def test_the_test_split_is_labelled_but_never_trained_or_validated_on():
    grid = _grid(n_val=[250], n_train=[200], eps=[0.1], c1=[0.0])

    def sweep(dataset):
        cfg = C.StaticConfig.for_grid(dataset, [250], [200], n_test=dataset.n_test)
        return run_sweep(cfg, np.arange(3), grid).summary

    base = sweep(_digits_with_test())
    relabelled = sweep(_digits_with_test(y_test_shift=3))
    moved = sweep(_digits_with_test(x_test_noise=0.5))
    for field in ("n_auto", "n_auto_wrong", "n_queried", "n_rounds"):
        np.testing.assert_array_equal(getattr(base, field), getattr(relabelled, field))
        np.testing.assert_array_equal(getattr(base, field), getattr(moved, field))
    np.testing.assert_array_equal(base.test_n_auto, relabelled.test_n_auto)
    assert base.test_n_auto.sum() > 0
    assert (relabelled.test_n_wrong >= base.test_n_wrong).all()  # labels are read
    assert relabelled.test_n_wrong.sum() > base.test_n_wrong.sum()


def test_a_fixed_dataset_without_test_split_refuses_a_test_size():
    cfg = C.StaticConfig.for_grid(load_dataset("digits"), [200], [100], n_test=10)
    with pytest.raises(ConfigError, match="no test split"):
        cfg.check()
    with_test = _digits_with_test()
    cfg = C.StaticConfig.for_grid(with_test, [200], [100], n_test=10)
    with pytest.raises(ConfigError, match="a test split of 300 points"):
        cfg.check()


def test_a_bad_nu_is_refused_before_compiling():
    cfg = C.StaticConfig.for_grid(
        load_dataset("unit_ball"), [200], [100], score=OwnScore("own", "own", nu=1.0)
    )
    with pytest.raises(ConfigError, match="nu=1.0"):
        cfg.check()


@dataclasses.dataclass(frozen=True)
class Blind(FittedScore):
    """The same confidence for every point: one candidate, no choice to be lucky in."""

    def fit(self, key, z, logits, y, cal, th, coverage):
        return ()

    def confidence(self, params, z, logits):
        return jnp.ones(logits.shape[0])


def _audit(score: FittedScore, eps: float = 0.05) -> dict:
    dataset = load_dataset("unit_ball")
    cfg = C.StaticConfig.for_grid(dataset, [600], [200], score=score, n_test=5000)
    grid = _grid(n_val=[600], n_train=[200], eps=[eps], c1=[0.0])
    sweep = run_sweep(cfg, np.arange(12), grid)
    unit = type("U", (), {"score": score.name})()
    done = Done({unit: sweep}, [], [], np.arange(12))
    (row,) = audit(audit_rows(done, 5000))
    return row


def test_the_audit_finds_the_optimism_of_selecting_on_the_threshold_set():
    """Noise scores picked by their coverage on D_th look accurate there and are not
    (7.8 points of optimism over 12 seeds); picked on D_cal, only the optimism of the
    threshold rule itself is left (the plug-in rule at C1 = 0 picks the lowest
    threshold whose D_th error is <= eps: 3.3 points)."""
    lucky = _audit(Lucky("lucky_th", "lucky", pick="th"))
    honest = _audit(Lucky("lucky_cal", "lucky", pick="cal"))
    assert lucky["optimism_mean"] > honest["optimism_mean"] + 0.03
    assert lucky["th_error_mean"] <= 0.05 < lucky["test_error_mean"]


def test_the_audit_finds_no_optimism_where_nothing_is_chosen():
    """One confidence for all, at an eps the model meets: every run labels most of the
    pool in round 0 (test coverage 98.8%) from the one candidate, so D_th's error
    there is an unbiased estimate of the test error (their gap's standard error over
    12 seeds is about 0.4 points)."""
    blind = _audit(Blind("blind", "blind"), eps=0.3)
    assert blind["n_compared"] == 12 and blind["test_coverage_mean"] > 0.95
    assert abs(blind["optimism_mean"]) < 0.015


def test_the_confidence_and_audit_experiments_write_their_tables_and_figures(tmp_path):
    from tbal_jax.experiments import get_experiment, run_experiment

    exp = get_experiment("confidence_circles").with_grid(
        n_val=[300, 600], n_train=[200], scores=["max_prob", "temperature"]
    )
    out = run_experiment(exp, np.arange(2), tmp_path / "confidence")
    table = out["tables"][0].read_text()
    assert "| logistic regression | softmax |" in table
    assert "temperature scaling" in table and "of 4." in table
    assert all(p.stat().st_size > 10_000 for p in out["figure"] if p.suffix == ".png")
    cells = pd.read_csv(out["confidence"])
    assert len(cells) == 4 and cells.test_coverage_mean.notna().all()

    audit_exp = dataclasses.replace(
        get_experiment("colander_audit"), dataset="circles", n_test=2000
    ).with_grid(n_val=[400], n_train=[200], eps=[0.01])
    out = run_experiment(audit_exp, np.arange(2), tmp_path / "audit")
    summary = pd.read_csv(out["audit"])
    assert list(summary.score) == list(AUDIT_SCORES)
    assert summary.n_runs.eq(2).all() and summary.test_error_mean.notna().all()
    assert "checkpoint on D_cal" in out["tables"][0].read_text()


def test_without_a_test_split_the_table_says_so(tmp_path):
    from tbal_jax.experiments import get_experiment, run_experiment

    exp = dataclasses.replace(
        get_experiment("confidence_circles"), dataset="digits", n_test=0
    ).with_grid(n_val=[200], n_train=[200], eps=[0.1], scores=["max_prob"])
    out = run_experiment(exp, np.arange(1), tmp_path)
    assert "No test error: the data have no test split" in out["tables"][0].read_text()


@pytest.mark.parametrize("n_points", [10, 11, 25, 26])
def test_the_sequels_threshold_rule_needs_more_than_ten_points(n_points):
    """sigma_min10 keeps a candidate with more than 10 points above it, sigma with more
    than 25; otherwise they are the same rule."""
    from tbal_jax.estimators import ESTIMATORS

    capacity = 64
    scores = jnp.linspace(0.99, 0.5, capacity)
    active = jnp.arange(capacity) < n_points  # n_points, all of class 0, all right
    zeros = jnp.zeros(capacity, jnp.int32)
    got = {
        name: float(
            ESTIMATORS[name](2, capacity)(scores, zeros, zeros, active, 0.05, 0.25)[0]
        )
        for name in ("sigma", "sigma_min10")
    }
    lowest = float(scores[n_points - 1])
    assert got["sigma_min10"] == (lowest if n_points > 10 else np.inf)
    assert got["sigma"] == (lowest if n_points > 25 else np.inf)


def test_fitted_scores_serve_the_baselines_and_fresh_validation():
    """AL and PL fit no g in the loop and their +SC labelling fits it once; with fresh
    validation each round splits its own part (round 0: about half of N_v)."""
    dataset = load_dataset("unit_ball")
    grid = _grid(n_val=[1000], n_train=[200], eps=[0.05], c1=[0.0])
    for protocol in ("al", "pl"):
        cfg = C.StaticConfig.for_grid(
            dataset, [1000], [200], protocol, score="temperature", n_test=2000
        )
        out = run_sweep(cfg, np.arange(2), grid)
        plain, selective = out.outcomes.values()
        assert (np.asarray(out.rounds.n_auto) == 0).all()  # nothing in the loop
        assert (plain.test_n_auto == 2000).all()  # AL / PL label everything left
        assert (selective.n_auto < plain.n_auto).all()
        # +SC leaves out a small part of the pool, which a 2,000-point test sample can
        # miss whole (seed 0 did on an AVX2 machine): the pool says it is selective
        assert (selective.test_n_auto <= 2000).all() and (selective.n_auto > 0).all()
    fresh = C.StaticConfig.for_grid(
        dataset,
        [1000],
        [200],
        score="temperature",
        estimator="ltt_fixed_fresh",
    )
    out = run_sweep(fresh, np.arange(2), _grid(n_val=[1000], n_train=[200], eps=[0.05]))
    used = np.asarray(out.rounds.val_used)[:, 0, :]  # (seeds, rounds)
    part0 = int(np.ceil(1000 * 0.5 / (1 - 0.5**fresh.max_rounds)))  # geometric part
    assert (used.sum(axis=1) <= 500 + fresh.max_rounds).all()  # D_th: half of each
    assert (np.abs(used[:, 0] - (part0 - part0 // 2)) <= 1).all()
