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


def test_warm_fits_make_two_steps_and_reach_the_minimiser_over_rounds(monkeypatch):
    """A warm start (w0 != 0) stops after NEWTON_WARM_STEPS (2) Newton steps: the fit
    changes when the cap is 1 or 3, and is far from the minimiser; a cold start runs to
    convergence; refitting warm on the same data, as later rounds do, reaches the cold
    minimiser (algorithm.md section 5). The fits are jitted, as in a run (each cap is
    traced afresh)."""
    from tbal_jax.models import linear

    pools = data.unit_ball(jax.random.key(1), 2000, 100, 30)
    x, y = np.asarray(pools.pool_x[:300]), np.asarray(pools.pool_y[:300])
    model = models.UNIT_BALL_SVM
    buf = _buffer(x, y, 320)

    def fit():
        return jax.jit(lambda w: model.fit(None, w, *buf))

    unit = lambda w: np.asarray(w / jnp.linalg.norm(w))  # noqa: E731
    refit = fit()
    cold = unit(refit(model.init(None, 30, 2)))
    start = jnp.asarray(np.random.default_rng(0).normal(size=30) * 20, jnp.float32)
    assert linear.NEWTON_WARM_STEPS == 2
    warm = refit(start)
    assert np.abs(unit(warm) - cold).max() > 1e-3  # two steps do not get there
    for cap in (1, 3):
        monkeypatch.setattr(linear, "NEWTON_WARM_STEPS", cap)
        assert np.abs(unit(fit()(start)) - unit(warm)).max() > 1e-3
    monkeypatch.undo()
    for _ in range(30):
        warm = refit(warm)
    np.testing.assert_allclose(cold, unit(warm), atol=1e-4)


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


def _softmax_problem(n, k=10, dim=12, seed=0):
    """k overlapping Gaussian classes (as tests/test_many_classes.py's blobs)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.normal(size=(k, dim))[y] * 2.0 + rng.normal(size=(n, dim))
    return x.astype(np.float32), y.astype(np.int32)


def _softmax_objective(params, x, y):
    """sum_i log-loss + ||W||^2 / 2 in float64 (scikit-learn's objective at C = 1)."""
    w, b = np.asarray(params["w"], np.float64), np.asarray(params["b"], np.float64)
    z = x.astype(np.float64) @ w + b
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].sum() + 0.5 * (w**2).sum()


def test_softmax_warm_start_reaches_the_minimiser():
    """Round by round, as a run fits it (issue 16): a cold fit on 500 rows, then
    `warm_steps` iterations from it on 600 (100 more labels) land within 1e-4 of
    scikit-learn's objective at tol 1e-10 on the 600."""
    model = models.SOFTMAX_LOGISTIC
    x, y = _softmax_problem(600)
    fit = jax.jit(model.fit)
    xb, yb, _ = _buffer(x, y, 640)
    first = fit(None, model.init(None, 12, 10), xb, yb, jnp.arange(640) < 500)
    warm = fit(None, first, xb, yb, jnp.arange(640) < 600)
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=100_000)
    ref.fit(x.astype(np.float64), y)
    best = _softmax_objective({"w": ref.coef_.T, "b": ref.intercept_}, x, y)
    assert _softmax_objective(first, x, y) > best * (1 + 1e-3)  # there was work to do
    assert abs(_softmax_objective(warm, x, y) - best) <= 1e-4 * best


def test_softmax_fit_vmaps_as_a_loop():
    """A batch of fits (cold and warm members mixed, different masks) gives each
    member's own fit: the fixed trip count makes no member wait for, or stop with,
    another."""
    model = models.SOFTMAX_LOGISTIC
    x, y = _softmax_problem(300, k=4, seed=1)
    xb, yb, _ = _buffer(x, y, 320)
    fit = jax.jit(model.fit)
    masks = jnp.stack([jnp.arange(320) < n for n in (200, 250, 300)])
    start = [
        model.init(None, 12, 4),
        fit(None, model.init(None, 12, 4), xb, yb, masks[0]),
        model.init(None, 12, 4),
    ]
    batch = jax.jit(jax.vmap(model.fit, in_axes=(None, 0, None, None, 0)))(
        None, jax.tree.map(lambda *a: jnp.stack(a), *start), xb, yb, masks
    )
    for i, w in enumerate(start):
        alone = fit(None, w, xb, yb, masks[i])
        for name in ("w", "b"):
            np.testing.assert_allclose(batch[name][i], alone[name], rtol=1e-4, atol=1e-5)
