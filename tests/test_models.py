"""Models (algorithm.md section 5) against independent solvers, in float64 where it matters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from tbal_jax import models
from tbal_jax.datasets import synthetic as data


def _buffer(x, y, capacity):
    xb = np.zeros((capacity, x.shape[1]), np.float32)
    yb = np.zeros(capacity, np.int32)
    xb[: len(x)], yb[: len(y)] = x, y
    return jnp.asarray(xb), jnp.asarray(yb), jnp.arange(capacity) < len(x)


@pytest.mark.parametrize("n", [60, 200, 500])
def test_unit_ball_svm_matches_liblinear(n):
    pools = data.unit_ball(jax.random.key(n), 2000, 100, 30)
    x, y = np.asarray(pools.pool_x[:n]), np.asarray(pools.pool_y[:n])
    model = models.UNIT_BALL_SVM
    params = model.fit(None, model.init(None, 30, 2), *_buffer(x, y, 512))
    ref = (
        LinearSVC(
            C=2000,
            class_weight="balanced",
            fit_intercept=False,
            dual=False,
            tol=1e-12,
            max_iter=100_000,
        )
        .fit(x.astype(np.float64), y)
        .coef_[0]
    )
    ours = np.asarray(params, np.float64)
    np.testing.assert_allclose(
        ours / np.linalg.norm(ours), ref / np.linalg.norm(ref), atol=2e-4
    )
    # the logits use the unit-norm w: p(1) = sigmoid(w.x / ||w||)
    z = x @ (ref / np.linalg.norm(ref))
    np.testing.assert_allclose(
        np.asarray(model.logits(params, jnp.asarray(x)))[:, 1], z / 2, atol=2e-4
    )


def test_warm_start_reaches_the_same_minimiser():
    pools = data.unit_ball(jax.random.key(1), 2000, 100, 30)
    x, y = np.asarray(pools.pool_x[:300]), np.asarray(pools.pool_y[:300])
    model = models.UNIT_BALL_SVM
    buf = _buffer(x, y, 320)
    cold = model.fit(None, model.init(None, 30, 2), *buf)
    warm = model.fit(
        None,
        jnp.asarray(np.random.default_rng(0).normal(size=30) * 20, jnp.float32),
        *buf,
    )
    np.testing.assert_allclose(
        cold / jnp.linalg.norm(cold), warm / jnp.linalg.norm(warm), atol=1e-4
    )


def test_masked_rows_do_not_count():
    pools = data.unit_ball(jax.random.key(2), 2000, 100, 30)
    x, y = np.asarray(pools.pool_x[:200]), np.asarray(pools.pool_y[:200])
    model = models.UNIT_BALL_SVM
    xb, yb, mask = _buffer(x, y, 256)
    garbage = xb.at[200:].set(5.0), yb.at[200:].set(1)
    a = model.fit(None, model.init(None, 30, 2), xb, yb, mask)
    b = model.fit(None, model.init(None, 30, 2), *garbage, mask)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_circles_logistic_matches_sklearn():
    pools = data.circles(jax.random.key(3), 1000, 100)
    x, y = np.asarray(pools.pool_x[:400]), np.asarray(pools.pool_y[:400])
    model = models.CIRCLES_LOGISTIC
    params = np.asarray(model.fit(None, model.init(None, 2, 2), *_buffer(x, y, 400)))
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(
        x.astype(np.float64), y
    )
    np.testing.assert_allclose(params[:2], ref.coef_[0], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(params[2], ref.intercept_[0], rtol=1e-3, atol=1e-3)


def test_unit_ball_data():
    pools = data.unit_ball(jax.random.key(4), 16000, 4000, 30)
    x = np.asarray(pools.pool_x, np.float64)
    assert x.shape == (16000, 30) and pools.val_x.shape == (4000, 30)
    assert np.linalg.norm(x, axis=1).max() <= 1 + 1e-6
    # r = U^(1/d): P(||x|| <= 0.9) = 0.9^30
    assert abs(np.mean(np.linalg.norm(x, axis=1) <= 0.9) - 0.9**30) < 0.01
    np.testing.assert_array_equal(np.asarray(pools.pool_y), (x.sum(1) >= 0).astype(int))
    assert abs(np.asarray(pools.pool_y).mean() - 0.5) < 0.02


def test_circles_data():
    pools = data.circles(jax.random.key(5), 8000, 2000)
    r = np.linalg.norm(np.asarray(pools.pool_x), axis=1)
    y = np.asarray(pools.pool_y)
    assert abs(r[y == 0].mean() - 1.0) < 0.01 and abs(r[y == 1].mean() - 0.5) < 0.01


def test_seeds_draw_different_data():
    a = data.unit_ball(jax.random.key(0), 100, 10, 30)
    b = data.unit_ball(jax.random.key(7), 100, 10, 30)
    assert not np.allclose(a.pool_x, b.pool_x)
