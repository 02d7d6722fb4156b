"""Spending delta over rounds and candidates fixed in advance (algorithm.md section 12):
each allocation sums to delta over rounds, classes and tests; the fixed candidates do
not depend on the data and count like a literal recount; `uniform` with the data's
candidates is the original estimator; every variant runs end to end."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax import estimators as E
from tbal_jax.errors import ConfigError
from tbal_jax.estimators import spending
from tbal_jax.estimators.counts import count_levels, counts_at
from tbal_jax.estimators.select import MIN_COUNT
from tests.test_estimators import SEEDS, violation_rate

DELTA = 0.05
GUARANTEED = [n for n in E.ESTIMATORS.names() if E.ESTIMATORS[n].guaranteed]


def _data(n, k=2, seed=0, capacity=None):
    capacity = capacity or n
    ks = jax.random.split(jax.random.PRNGKey(seed), 3)
    scores = 1.0 / k + (1 - 1.0 / k) * jax.random.uniform(ks[0], (capacity,))
    preds = jax.random.randint(ks[1], (capacity,), 0, k)
    height = (scores - 1.0 / k) / (1 - 1.0 / k)  # 0 to 1; errors mostly low down
    wrong = jax.random.uniform(ks[2], (capacity,)) < 0.3 * (1 - height) ** 2
    labels = jnp.where(wrong, (preds + 1) % k, preds)
    return scores, preds, labels, jnp.arange(capacity) < n


@pytest.mark.parametrize("spend", spending.SPENDS)
@pytest.mark.parametrize("rounds", [1, 2, 17, 40])
def test_round_weights_sum_to_one_and_round_down(spend, rounds):
    w = spending.round_weights(spend, rounds)
    assert w.shape == (rounds,) and (w > 0).all()
    assert abs(w.sum() - 1.0) < 1e-12
    w32 = spending.float32_weights(spend, rounds)
    assert w32.dtype == np.float32
    assert (w32.astype(np.float64) <= w).all()  # rounded down, never up
    assert 1 - 1e-5 < w32.astype(np.float64).sum() <= 1.0 + 1e-15
    if spend == "geometric":
        np.testing.assert_allclose(w[1:] / w[:-1], 0.5)  # rho = 0.5
    if spend == "front" and rounds > 1:
        assert w[0] == 0.5 and np.allclose(w[1:], 0.5 / (rounds - 1))
    if spend == "back" and rounds > 1:
        assert w[-1] == 0.5 and np.allclose(w[:-1], 0.5 / (rounds - 1))


def test_other_rho_and_front():
    w = spending.round_weights("geometric", 5, rho=0.8)
    np.testing.assert_allclose(w, 0.2 * 0.8 ** np.arange(5) / (1 - 0.8**5))
    w = spending.round_weights("front", 5, front=0.9)
    np.testing.assert_allclose(w, [0.9, 0.025, 0.025, 0.025, 0.025])
    w = spending.round_weights("back", 5, front=0.9)
    np.testing.assert_allclose(w, [0.025, 0.025, 0.025, 0.025, 0.9])
    with pytest.raises(ValueError, match="unknown delta spending"):
        spending.round_weights("last", 5)


def _tests_per_class(est, levels, n_kept):
    """How many tests share one class's delta' in a round: |T| candidates for
    Clopper-Pearson, one sequence for LTT, s steps for SGR."""
    if est.select is E.select_smallest:
        return np.full(n_kept.shape, float(levels.n_candidates))
    if est.select is E.select_fixed_sequence:
        return np.ones(n_kept.shape)
    return np.maximum(np.ceil(np.log2(np.asarray(n_kept, np.float64) + 1)), 1)


@pytest.mark.parametrize("name", GUARANTEED)
@pytest.mark.parametrize("k", [2, 3])
def test_allocation_sums_to_delta_over_rounds_classes_and_tests(name, k):
    """sum over rounds r, classes y and the tests of (r, y) of delta' = delta (the
    union bound's total), from the estimator's own level function."""
    est = E.ESTIMATORS[name]
    rounds = 17
    scores, preds, labels, active = _data(1500, k)
    fixed = (1.0 / k, 1.0, est.m) if est.candidates == "fixed" else None
    levels = count_levels(scores, preds, labels, active, k, fixed=fixed)
    first = levels.start[:k]
    n_kept = jnp.where(
        levels.start[1:] - first > MIN_COUNT,
        levels.cand[jnp.minimum(first + MIN_COUNT, 1499)] + 1,
        0,
    )
    total = 0.0
    for r in range(rounds):
        share, divisor = spending.round_delta(est.spend, DELTA, r, rounds)
        level = np.broadcast_to(
            np.asarray(est.level(share, k, divisor, levels, n_kept), np.float64), (k,)
        )
        total += float(np.sum(level * _tests_per_class(est, levels, n_kept)))
    assert total == pytest.approx(DELTA, rel=1e-5)
    assert total <= DELTA * (1 + 1e-6)


def test_geometric_and_front_put_more_on_round_zero():
    k, rounds = 2, 17
    scores, preds, labels, active = _data(1000)
    levels = count_levels(scores, preds, labels, active, k)
    n_kept = jnp.array([100, 100])
    got = {}
    for spend in spending.SPENDS:
        est = E.LTT.variant(spend)
        share, divisor = spending.round_delta(spend, DELTA, 0, rounds)
        got[spend] = float(est.level(share, k, divisor, levels, n_kept))
    assert got["uniform"] == pytest.approx(DELTA / (k * rounds))
    assert got["geometric"] == pytest.approx(DELTA * 0.5 / (1 - 0.5**rounds) / k)
    assert got["front"] == pytest.approx(DELTA * 0.5 / k)
    assert got["back"] == pytest.approx(DELTA * 0.5 / (rounds - 1) / k)
    last = spending.round_delta("back", DELTA, rounds - 1, rounds)
    assert float(E.LTT.variant("back").level(*last[:1], k, last[1], levels, n_kept)) == (
        pytest.approx(DELTA * 0.5 / k)
    )


def test_uniform_data_settings_are_the_original_estimators():
    """The registered originals keep their settings; `variant()` with the defaults is the
    same estimator; the round index changes nothing under `uniform`. (Bit-identical
    runs: tests/test_rows_unchanged.py.)"""
    for name in ("clopper_pearson", "ltt", "sgr"):
        est = E.ESTIMATORS[name]
        assert (est.spend, est.candidates) == ("uniform", "data")
        assert est.variant() == est
    scores, preds, labels, active = _data(800, capacity=1000)
    for name in ("clopper_pearson", "ltt", "sgr"):
        estimate = jax.jit(E.ESTIMATORS[name](2, 1000, 17))
        t = [
            np.asarray(estimate(scores, preds, labels, active, 0.05, 0.0, DELTA, r))
            for r in (0, 5, 16)
        ]
        np.testing.assert_array_equal(t[0], t[1])
        np.testing.assert_array_equal(t[0], t[2])
    # the uniform level is delta / (k |T| R) in the same float32 arithmetic as before
    levels = count_levels(scores, preds, labels, active, 2)
    share, divisor = spending.round_delta("uniform", jnp.float32(DELTA), 3, 17)
    got = E.CLOPPER_PEARSON.level(share, 2, divisor, levels, None)
    want = jnp.float32(DELTA) / (2 * levels.n_candidates.astype(jnp.float32) * 17)
    assert np.asarray(got) == np.asarray(want)


def test_later_rounds_of_geometric_are_stricter():
    scores, preds, labels, active = _data(2000)
    estimate = E.ESTIMATORS["ltt_geometric"](2, 2000, 17)
    t0 = np.asarray(estimate(scores, preds, labels, active, 0.05, 0.0, DELTA, 0))
    t9 = np.asarray(estimate(scores, preds, labels, active, 0.05, 0.0, DELTA, 9))
    assert (t9 >= t0).all() and (t9 > t0).any()


@pytest.mark.parametrize("k", [2, 4])
def test_fixed_candidates_do_not_depend_on_the_data(k):
    m = E.DEFAULT_FIXED_LEVELS
    grid = None
    for seed, n in ((0, 150), (1, 600), (2, 3000)):
        scores, preds, labels, active = _data(n, k, seed, capacity=3000)
        levels = count_levels(scores, preds, labels, active, k, fixed=(1 / k, 1.0, m))
        assert int(levels.n_candidates) == m
        values = np.asarray(levels.value(jnp.arange(m)))
        if grid is None:
            grid = values
            np.testing.assert_allclose(grid[[0, -1]], [1 / k, 1.0], rtol=1e-6)
        np.testing.assert_array_equal(values, grid)  # the same m levels every time
        t = np.asarray(
            E.ESTIMATORS["ltt_fixed"](k, 3000)(scores, preds, labels, active, 0.1, 0.0)
        )
        assert np.isin(t[np.isfinite(t)], grid).all()


def test_fixed_candidate_counts_match_a_literal_recount():
    k, m = 3, 100
    scores, preds, labels, active = _data(700, k, seed=3, capacity=900)
    scores = scores.at[:5].set(0.2)  # below 1/k: in no region
    levels = count_levels(scores, preds, labels, active, k, fixed=(1 / k, 1.0, m))
    s, p, y, a = (np.asarray(v) for v in (scores, preds, labels, active))
    values = np.asarray(levels.value(jnp.arange(m)))
    for i in (0, 1, 37, 80, 99):
        n, wrong = counts_at(levels, k, jnp.full(k, i))
        for c in range(k):
            region = a & (p == c) & (s >= values[i])
            assert int(n[c]) == region.sum(), (i, c)
            assert int(wrong[c]) == (region & (y != c)).sum(), (i, c)


def test_fixed_candidates_need_a_bounded_score():
    from tbal_jax.config import StaticConfig

    cfg = StaticConfig(dataset="unit_ball", score="abs_logit", estimator="ltt_fixed")
    with pytest.raises(ConfigError, match="unbounded"):
        cfg.check()
    StaticConfig(dataset="unit_ball", score="margin", estimator="ltt_fixed").check()
    with pytest.raises(ValueError, match="bounded score range"):
        E.LTT.variant(candidates="fixed")(2, 100, 1, (0.0, float("inf")))


def test_variant_names_labels_and_checks():
    v = E.SGR.variant("geometric", "fixed", rho=0.7, m=50)
    assert v.name == "sgr_geometric_rho0.7_fixed50"
    assert (
        "geometric" in v.title and "50 fixed" in v.title and "geometric" in v.guarantee
    )
    assert E.ESTIMATORS["ltt_front_fixed"].line_style == ":"
    with pytest.raises(ValueError, match="only a guaranteed"):
        dataclasses.replace(E.PLUGIN, spend="geometric")
    with pytest.raises(ValueError, match="m=1"):
        E.LTT.variant(candidates="fixed", m=1)
    for base, variants in E.VARIANTS.items():
        assert len(variants) == 9 and all(v.name.startswith(base) for v in variants)
    assert E.ESTIMATORS["sgr_back"].line_style == (0, (6, 2))
    assert E.LTT.variant("back", front=0.9).name == "ltt_back0.9"


# one of each (spend, candidates) combination, over the three rules
END_TO_END = [
    "clopper_pearson_geometric",
    "ltt_front",
    "sgr_fixed",
    "ltt_geometric_fixed",
    "clopper_pearson_front_fixed",
    "ltt_geometric_fixed_fresh",
    "ltt_back",
]


def _unit_ball_run(estimator: str, n_val: int, seed: int):
    """(config, output) of one checked unit-ball run at N_q = 200, eps = 5%, C1 = 0."""
    from tbal_jax.config import RunParams, StaticConfig
    from tbal_jax.run import make_run

    cfg = StaticConfig.for_grid("unit_ball", [n_val], [200], estimator=estimator)
    cfg.check()
    params = RunParams(
        n_val=jnp.int32(n_val),
        n_train=jnp.int32(200),
        eps=jnp.float32(0.05),
        c1=jnp.float32(0.0),
        delta=jnp.float32(DELTA),
    )
    return cfg, jax.jit(make_run(cfg).run)(jax.random.PRNGKey(seed), params)


@pytest.mark.parametrize("name", END_TO_END)
def test_each_variant_runs_end_to_end(name):
    _, out = _unit_ball_run(name, 1500, 0)
    rec = out.record
    thr = np.asarray(rec.thresholds)[np.asarray(rec.trained)]
    assert thr.shape[0] >= 1
    if E.ESTIMATORS[name].candidates == "fixed":  # on the 100 levels over [1/2, 1]
        grid = 0.5 + np.arange(100) * (0.5 / 99)
        finite = thr[np.isfinite(thr)]
        assert (np.min(np.abs(finite[:, None] - grid[None]), axis=1) < 1e-6).all()
    if E.ESTIMATORS[name].validation == "reuse":  # eps = 5% at N_v = 1500 labels
        assert int(np.asarray(rec.n_auto).sum()) > 0
    else:  # each round sees only its part: 751, 375, ... points (here too few)
        assert np.asarray(rec.val_used)[0] == 751  # ceil(1500 w_0), w_0 = 0.5 / (1 - 2^-17)


def test_estimators_experiment_draws_the_frontier(tmp_path):
    from tbal_jax.experiments import get_experiment, run_experiment

    exp = get_experiment("estimators_circles").with_grid(
        n_val=[300, 1000], estimators=["ltt", "ltt_geometric_fixed"]
    )
    exp = dataclasses.replace(exp, n_test=1000)
    out = run_experiment(exp, [0, 7], tmp_path)
    import pandas as pd

    cells = pd.read_csv(out["estimators"])
    assert set(cells.estimator) == {"ltt", "ltt_geometric_fixed"} and len(cells) == 4
    frontier = [p for p in out["figure"] if "frontier" in p.name]
    assert len(frontier) == 2 and all(p.stat().st_size > 5_000 for p in frontier)
    assert (
        "Learn then Test, geometric, 100 fixed candidates"
        in (tmp_path / "table_estimators.md").read_text()
    )


@pytest.mark.parametrize("n_val", [1, 37, 500, 4000])
@pytest.mark.parametrize("rounds", [1, 17])
def test_fresh_parts_are_disjoint_and_follow_the_schedule(n_val, rounds):
    from tbal_jax.run import FRESH_RHO, validation_parts

    part = np.asarray(validation_parts(jnp.int32(n_val), 4000, rounds))
    assert part.shape == (4000,) and part.min() >= 0 and part.max() <= rounds - 1
    assert (np.diff(part) >= 0).all()  # one run of slots each: disjoint parts
    sizes = np.bincount(part[:n_val], minlength=rounds)
    w = spending.round_weights("geometric", rounds, rho=FRESH_RHO)
    edges = np.ceil(n_val * np.cumsum(w)[:-1].astype(np.float32)).astype(int)
    np.testing.assert_array_equal(sizes, np.diff(np.concatenate([[0], edges, [n_val]])))
    assert sizes.sum() == n_val and sizes[0] == sizes.max()  # most to round 0


def test_fresh_validation_tests_each_round_on_its_own_part():
    """val_used is the round's part (less what earlier rounds removed from it)."""
    from tbal_jax.run import validation_parts

    cfg, out = _unit_ball_run("ltt_geometric_fixed_fresh", 2000, 1)
    sizes = np.bincount(
        np.asarray(validation_parts(jnp.int32(2000), 2000, cfg.max_rounds)),
        minlength=cfg.max_rounds,
    )
    used = np.asarray(out.record.val_used)
    trained = np.asarray(out.record.trained)
    assert trained[0] and used[0] == sizes[0] == 1001  # ceil(2000 w_0)
    assert (used[trained] <= sizes[trained]).all()


# ---- round 0's share, by tests/test_estimators.py's Monte Carlo at round 0 of R -------
# one predicted class of k = 2, so round 0's share is delta w_0 / 2.
ROUNDS = 17


def _round0_violation_rate(est) -> float:
    return violation_rate(est, rounds=ROUNDS, score_range=(0.0, 1.0), seed=7)


@pytest.mark.parametrize(
    "name,unions",  # the break: delta' x 20 and the union over candidates / steps dropped
    [
        ("clopper_pearson_geometric_fixed", 100),
        ("ltt_front_fixed", 1),
        ("sgr_fixed", 7),
    ],
)
def test_round_zero_keeps_its_share_and_a_break_is_caught(name, unions):
    est = E.ESTIMATORS[name]
    share = DELTA * spending.round_weights(est.spend, ROUNDS)[0] / 2
    margin = 3 * np.sqrt(max(share, 0.01) * (1 - share) / SEEDS)
    intact = _round0_violation_rate(est)
    broken = _round0_violation_rate(
        dataclasses.replace(est, level=lambda *a: 20 * unions * est.level(*a))
    )
    assert intact <= share + margin, intact
    assert broken > share + margin, f"the check cannot see a broken {name}: {broken}"
