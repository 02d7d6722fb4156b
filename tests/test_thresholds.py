"""Threshold estimation (algorithm.md section 3) against the brute-force reference."""

import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax import estimators as thresholds
from tests import reference


def estimate(
    scores, preds, labels, eps, c1, k=2, capacity=None, slack="sigma", active=None
):
    n = len(scores)
    capacity = capacity or n
    pad = capacity - n
    s = np.concatenate([scores, np.zeros(pad)]).astype(np.float32)
    p = np.concatenate([preds, np.zeros(pad, int)]).astype(np.int32)
    y = np.concatenate([labels, np.zeros(pad, int)]).astype(np.int32)
    a = np.arange(capacity) < n if active is None else active
    est = thresholds.ESTIMATORS[slack](k, capacity)
    return np.asarray(
        est(
            jnp.asarray(s),
            jnp.asarray(p),
            jnp.asarray(y),
            jnp.asarray(a),
            jnp.float32(eps),
            jnp.float32(c1),
        )
    )


def random_case(rng, n, k=2, noise=0.05, levels=None):
    scores = rng.uniform(0.5, 1.0, n)
    if levels:  # many ties
        scores = np.round(scores * levels) / levels
    preds = rng.integers(0, k, n)
    flip = rng.uniform(size=n) < noise * (1.5 - scores) * 2
    labels = np.where(flip, (preds + 1) % k, preds)
    return scores.astype(np.float32), preds, labels


@pytest.mark.parametrize("n", [30, 120, 499, 500, 501, 900, 2000])
@pytest.mark.parametrize("c1", [0.0, 0.25])
@pytest.mark.parametrize("slack", ["sigma", "hoeffding"])
def test_matches_brute_force(n, c1, slack):
    rng = np.random.default_rng(n + int(100 * c1))
    for trial in range(3):
        s, p, y = random_case(rng, n, levels=[None, 50, 7][trial])
        eps = [0.05, 0.1, 0.02][trial]
        got = estimate(s, p, y, eps, c1, slack=slack, capacity=max(n, 600))
        want = reference.thresholds(s, p, y, eps, c1, 2, slack)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("k", [3, 10])
@pytest.mark.parametrize("n", [300, 800, 3000])
@pytest.mark.parametrize("c1", [0.0, 0.25])
def test_many_classes(k, n, c1):
    rng = np.random.default_rng(3 + k + n)
    s, p, y = random_case(rng, n, k=k, noise=0.03, levels=50 if n == 800 else None)
    got = estimate(s, p, y, 0.1, c1, k=k)
    np.testing.assert_array_equal(got, reference.thresholds(s, p, y, 0.1, c1, k))
    assert np.isfinite(got).sum() >= 1  # the case is not vacuous


def test_inactive_points_are_ignored():
    rng = np.random.default_rng(4)
    s, p, y = random_case(rng, 1500)
    active = rng.uniform(size=1500) < 0.5
    got = estimate(s, p, y, 0.05, 0.0, active=active)
    want = reference.thresholds(s[active], p[active], y[active], 0.05, 0.0, 2)
    np.testing.assert_array_equal(got, want)


def test_empty_class_gets_inf():
    s = np.linspace(0.6, 0.9, 100, dtype=np.float32)
    got = estimate(s, np.zeros(100, int), np.zeros(100, int), 0.01, 0.0)
    assert got[1] == np.inf and np.isfinite(got[0])


def test_all_correct_takes_the_smallest_score():
    s = np.linspace(0.6, 0.9, 100, dtype=np.float32)
    got = estimate(s, np.ones(100, int), np.ones(100, int), 0.01, 0.0)
    assert got[1] == s.min() and got[0] == np.inf


def test_only_the_top_is_clean():
    # 60 points; the lowest 20 are all wrong: the threshold is the 21st smallest score
    s = np.linspace(0.6, 0.9, 60, dtype=np.float32)
    labels = np.where(np.arange(60) < 20, 1, 0)
    got = estimate(s, np.zeros(60, int), labels, 0.01, 0.0)
    assert got[0] == s[20]


@pytest.mark.parametrize("n_class, finite", [(25, False), (26, True)])
def test_floor_of_25(n_class, finite):
    s = np.linspace(0.6, 0.9, n_class, dtype=np.float32)
    got = estimate(s, np.zeros(n_class, int), np.zeros(n_class, int), 0.01, 0.0)
    assert np.isfinite(got[0]) == finite


def test_no_feasible_threshold_gives_inf():
    s = np.linspace(0.6, 0.9, 200, dtype=np.float32)
    labels = np.arange(200) % 2  # half wrong everywhere
    got = estimate(s, np.zeros(200, int), labels, 0.01, 0.0)
    assert got[0] == np.inf


def test_exact_tie_with_eps_is_accepted():
    # 40 points of class 0, the 2 wrong ones at the bottom: err(all) = 2/40 = eps
    s = np.linspace(0.6, 0.9, 40, dtype=np.float32)
    labels = np.zeros(40, int)
    labels[:2] = 1
    got = estimate(s, np.zeros(40, int), labels, 0.05, 0.0)
    assert got[0] == s.min()


def test_grid_versus_raw_switch():
    """n_v = 500 takes thresholds among the raw scores, n_v = 501 on the 10,001 grid."""
    rng = np.random.default_rng(5)
    for n, on_grid in ((500, False), (501, True)):
        s, p, y = random_case(rng, n)
        got = estimate(s, p, y, 0.05, 0.0, capacity=800)
        finite = got[np.isfinite(got)]
        assert finite.size
        cands = reference.candidate_set(s)
        assert len(cands) == (10001 if on_grid else len(np.unique(s)))
        assert np.isin(finite, cands).all()
        np.testing.assert_array_equal(got, reference.thresholds(s, p, y, 0.05, 0.0, 2))


def test_flat_scores_use_the_single_candidate():
    s = np.full(600, 0.8, np.float32)
    got = estimate(s, np.zeros(600, int), np.zeros(600, int), 0.01, 0.0)
    assert got[0] == np.float32(0.8) and got[1] == np.inf
