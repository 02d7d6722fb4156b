"""Colander (tbal_jax.scores.colander, algorithm.md section 14): its loss against NumPy and
its gradient against finite differences, training, masking, vmap, the checkpoint choice
under a coverage the test controls, and the confidence it returns."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax.scores.colander import (
    COLANDER,
    Colander,
    at_class,
    cal_order,
    colander_loss,
    g_probs,
    inputs_of,
)
from tbal_jax.scores.fixed import predicted_class

SMALL = dataclasses.replace(
    COLANDER, epochs=7, batch_size=8, checkpoint_every=3, lr=0.05
)  # checkpoints after 1, 4 and 7 epochs


def np_acceptance(params, inputs, yhat, alpha):
    """S = sigmoid(alpha (g(x)[yhat] - t[yhat])), literally."""
    (w1, b1), (w2, b2) = ((layer["w"], layer["b"]) for layer in params["g"])
    out = np.tanh(inputs @ w1 + b1) @ w2 + b2
    probs = np.exp(out - out.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    g = probs[np.arange(len(yhat)), yhat]
    return 1.0 / (1.0 + np.exp(-alpha * (g - params["t"][yhat])))


def np_loss(params, inputs, yhat, mistake, valid, alpha, lam):
    """The reference's minibatch loss, literally, on the valid rows."""
    s = np_acceptance(params, inputs[valid], yhat[valid], alpha)
    m = mistake[valid].astype(np.float64)
    cov = s.sum() / len(s)
    if cov > 1e-4:
        err = np.dot(s, m) / s.sum()
    else:
        err = (np.dot(s, m) + 1e-2) / (s.sum() + 1e-2)
    return -cov + lam * np.clip(err, 1e-4, 1 - 1e-5)


def batch(seed, n=40, d=7, k=4, mistakes=0.3, t_shift=0.0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    params = COLANDER.init(jax.random.key(seed), d, k)
    params = jax.tree.map(lambda a: np.asarray(a, dtype), params)
    params["t"] = params["t"] + t_shift
    inputs = rng.normal(size=(n, d)).astype(dtype)
    yhat = rng.integers(0, k, n).astype(np.int32)
    mistake = rng.random(n) < mistakes
    valid = rng.random(n) < 0.8
    return params, inputs, yhat, mistake, valid


@pytest.mark.parametrize(
    "case",
    [
        dict(),  # the ratio branch
        dict(t_shift=5.5),  # mean S <= 1e-4 (alpha 2): the smoothed ratio
        dict(t_shift=25.0),  # ... clipped at 1 - 1e-5
        dict(mistakes=0.0),  # error clipped at 1e-4
        dict(mistakes=1.0),  # error clipped at 1 - 1e-5
        dict(k=2),
    ],
)
@pytest.mark.parametrize("alpha, lam", [(1.0, 10.0), (2.0, 3.0)])
def test_loss_matches_numpy(case, alpha, lam):
    params, inputs, yhat, mistake, valid = batch(1, dtype=np.float64, **case)
    with jax.enable_x64(True):
        ours = float(
            colander_loss(
                jax.tree.map(jnp.asarray, params),
                inputs,
                yhat,
                mistake,
                valid,
                alpha,
                lam,
            )
        )
    ref = np_loss(params, inputs, yhat, mistake, valid, alpha, lam)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def test_loss_ignores_invalid_rows():
    params, inputs, yhat, mistake, valid = batch(2)
    full = colander_loss(params, inputs, yhat, mistake, valid, 1.0, 10.0)
    some = colander_loss(
        params, inputs[valid], yhat[valid], mistake[valid], valid[valid], 1.0, 10.0
    )
    np.testing.assert_allclose(full, some, rtol=1e-6)


@pytest.mark.parametrize("t_shift, smooth", [(0.0, False), (5.5, True)])
def test_gradient_matches_finite_differences(t_shift, smooth):
    params, inputs, yhat, mistake, valid = batch(3, dtype=np.float64, t_shift=t_shift)
    cover = np_acceptance(params, inputs[valid], yhat[valid], 2.0).mean()
    assert (cover <= 1e-4) == smooth
    rng = np.random.default_rng(4)
    with jax.enable_x64(True):
        params = jax.tree.map(jnp.asarray, params)

        def loss(p):
            return colander_loss(p, inputs, yhat, mistake, valid, 2.0, 10.0)

        grad = jax.grad(loss)(params)
        for _ in range(3):
            v = jax.tree.map(lambda a: jnp.asarray(rng.normal(size=a.shape)), params)
            h = 1e-6

            def at(step):
                return loss(jax.tree.map(lambda a, d: a + step * d, params, v))

            numeric = (at(h) - at(-h)) / (2 * h)
            analytic = sum(
                jnp.vdot(g, d)
                for g, d in zip(jax.tree.leaves(grad), jax.tree.leaves(v))
            )
            assert abs(numeric) > 1e-12
            np.testing.assert_allclose(analytic, numeric, rtol=1e-6)


def problem(seed, n=160, k=3, dz=5, n_cal=76, n_th=48):
    """Model outputs whose mistakes are exactly the rows with z[:, 0] > 0 (a third):
    D_cal and D_th random rows, the rest of the buffer outside both."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)).astype(np.float32)
    yhat = np.argmax(logits, 1)
    mistake = rng.random(n) < 1 / 3
    z = rng.normal(size=(n, dz)).astype(np.float32)
    z[:, 0] = np.where(mistake, 1.0, -1.0) + 0.1 * z[:, 0]
    y = np.where(mistake, (yhat + 1) % k, yhat).astype(np.int32)
    place = rng.permutation(n)
    cal = np.zeros(n, bool)
    cal[place[:n_cal]] = True
    th = np.zeros(n, bool)
    th[place[n_cal : n_cal + n_th]] = True
    return tuple(map(jnp.asarray, (z, logits, y, cal, th)))


def peaked(target, split):
    """A coverage the test controls: 1 - |mean confidence - target| on the rows of
    `split` (so <= 0 everywhere for a target of 2), 0.5 whatever the confidence for a
    negative target, 0 for any other mask. It reads only the rows of its mask."""

    def coverage(conf, mask):
        mean = jnp.sum(jnp.where(mask, conf, 0.0)) / jnp.maximum(jnp.sum(mask), 1)
        value = jnp.where(target < 0, 0.5, 1.0 - jnp.abs(mean - target))
        return jnp.where(jnp.all(mask == split), value, 0.0)

    return coverage


def fit_with(score, key, z, logits, y, cal, th, target):
    """score.fit under the `peaked` coverage at `target` on the split it reads."""
    split = th if score.selection == "threshold_split" else cal
    return score.fit(key, z, logits, y, cal, th, peaked(target, split))


@functools.cache
def fitter(score):
    """fit_with under jit, (key, z, logits, y, cal, th, target) -> params: one compile
    per setting."""
    return jax.jit(functools.partial(fit_with, score))


def none_after(epochs):
    return fitter(dataclasses.replace(SMALL, epochs=epochs, selection="none"))


def cal_loss(params, z, logits, y, cal, score):
    yhat = predicted_class(logits)
    return colander_loss(
        params, inputs_of(z, logits), yhat, yhat != y, cal, score.alpha, score.lam
    )


def surrogate_error(params, z, logits, y, mask, alpha):
    """sum(S mistake) / sum(S) over the `mask` rows (NumPy, float64)."""
    yhat = np.asarray(predicted_class(logits))
    mask = np.asarray(mask)
    s = np_acceptance(
        jax.tree.map(lambda a: np.asarray(a, np.float64), params),
        np.asarray(inputs_of(z, logits), np.float64)[mask],
        yhat[mask],
        alpha,
    )
    return float(s @ (yhat != np.asarray(y))[mask] / s.sum())


def untrained_g(key, z, logits):
    """The fit's starting point (its key's first half initialises)."""
    k = logits.shape[1]
    return SMALL.init(jax.random.split(key)[0], z.shape[1] + k, k)


def test_training_lowers_the_loss_and_the_error_surrogate():
    """The mistakes are a function of z: the loss must fall, and the surrogate error
    below the share of mistakes on D_cal and below its start on D_th."""
    z, logits, y, cal, th = problem(5)
    key = jax.random.key(5)
    params = none_after(SMALL.epochs)(key, z, logits, y, cal, th, 0.0)
    untrained = untrained_g(key, z, logits)
    before = cal_loss(untrained, z, logits, y, cal, SMALL)
    after = cal_loss(params, z, logits, y, cal, SMALL)
    assert after < before - 0.5, (before, after)
    share = float(np.mean((predicted_class(logits) != y)[cal]))
    assert surrogate_error(params, z, logits, y, cal, 1.0) < 0.8 * share
    assert surrogate_error(params, z, logits, y, th, 1.0) < (
        surrogate_error(untrained, z, logits, y, th, 1.0) - 0.03
    )


@pytest.mark.parametrize("accumulate", [False, True])
def test_training_is_pytorch_adam_on_shuffled_minibatches(accumulate):
    """Two epochs against a float64 NumPy Adam as `torch.optim.Adam(weight_decay=wd)`
    steps, on the minibatches of `cal_order` (the last one partial: 76 D_cal rows in
    minibatches of 8), with the gradients summed over each epoch's steps if
    `accumulate`, as the reference does."""
    score = dataclasses.replace(
        SMALL, epochs=2, selection="none", weight_decay=0.1, accumulate=accumulate
    )
    z, logits, y, cal, th = problem(21)
    key = jax.random.key(22)
    got = fitter(score)(key, z, logits, y, cal, th, 0.0)
    init_key, order_key = jax.random.split(key)
    k = logits.shape[1]
    with jax.enable_x64(True):
        p = jax.tree.map(
            lambda a: np.asarray(a, np.float64),
            score.init(init_key, z.shape[1] + k, k),
        )
        x = np.asarray(inputs_of(z, logits), np.float64)
        yhat = np.asarray(predicted_class(logits))
        mistake = yhat != np.asarray(y)
        n, b = int(cal.sum()), score.batch_size
        m, v = jax.tree.map(np.zeros_like, p), jax.tree.map(np.zeros_like, p)
        grad = jax.jit(jax.grad(colander_loss), static_argnums=(5, 6))
        step = 0
        for e in range(score.epochs):
            order = np.asarray(cal_order(jax.random.fold_in(order_key, e), cal))[:n]
            lr = score.lr * 0.5 * (1 + np.cos(np.pi * e / 100))
            total = jax.tree.map(np.zeros_like, p)
            for rows in np.split(order, range(b, n, b)):
                ones = np.ones(len(rows), bool)
                g = grad(p, x[rows], yhat[rows], mistake[rows], ones, 1.0, 10.0)
                total = jax.tree.map(lambda t, g: g + t * accumulate, total, g)
                d = jax.tree.map(lambda t, w: t + 0.1 * w, total, p)
                step += 1
                m = jax.tree.map(lambda m, d: 0.9 * m + 0.1 * d, m, d)
                v = jax.tree.map(lambda v, d: 0.999 * v + 0.001 * d * d, v, d)
                p = jax.tree.map(
                    lambda w, m, v: (
                        w
                        - lr
                        * (m / (1 - 0.9**step))
                        / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
                    ),
                    p,
                    m,
                    v,
                )
    assert step == 20
    jax.tree.map(lambda a, r: np.testing.assert_allclose(a, r, atol=1e-4), got, p)


@pytest.mark.parametrize("selection", ["threshold_split", "calibration_split"])
def test_the_best_checkpoint_is_kept(selection):
    """A coverage peaked at checkpoint j's mean confidence on the split the selection
    reads (0 on any other mask) must return checkpoint j: the "none" fit of as many
    epochs (1, 4 or 7); ties, the first; one covering nothing, the untrained g."""
    z, logits, y, cal, th = problem(14)
    split = th if selection == "threshold_split" else cal
    key = jax.random.key(15)
    at_epochs = [none_after(e)(key, z, logits, y, cal, th, 0.0) for e in (1, 4, 7)]
    means = [
        float(jnp.sum(jnp.where(split, SMALL.confidence(p, z, logits), 0.0)))
        / float(jnp.sum(split))
        for p in at_epochs
    ]
    assert min(abs(a - b) for i, a in enumerate(means) for b in means[i + 1 :]) > 1e-3
    fit = fitter(dataclasses.replace(SMALL, selection=selection))
    for mean, expected in zip(means, at_epochs):
        jax.tree.map(
            np.testing.assert_array_equal,
            fit(key, z, logits, y, cal, th, mean),
            expected,
        )
    jax.tree.map(
        np.testing.assert_array_equal,
        fit(key, z, logits, y, cal, th, -1.0),
        at_epochs[0],
    )
    jax.tree.map(
        np.testing.assert_array_equal,
        fit(key, z, logits, y, cal, th, 2.0),
        untrained_g(key, z, logits),
    )


@pytest.mark.parametrize("selection", ["threshold_split", "calibration_split"])
def test_rows_outside_the_splits_change_nothing(selection):
    """NaNs, huge values and other labels in the rows that neither train g nor
    choose its checkpoint (outside D_cal and, for "threshold_split", D_th): some of
    them pad the last minibatch (76 D_cal rows in minibatches of 8)."""
    score = dataclasses.replace(SMALL, selection=selection)
    z, logits, y, cal, th = problem(7)
    free = ~(cal | th) if selection == "threshold_split" else ~cal
    rng = np.random.default_rng(8)
    z2 = jnp.where(free[:, None], 1e6 * rng.normal(size=z.shape), z)
    z2 = z2.at[:, 0].set(jnp.where(free, jnp.nan, z2[:, 0])).astype(jnp.float32)
    logits2 = jnp.where(free[:, None], 50 * rng.normal(size=logits.shape), logits)
    y2 = jnp.where(free, rng.integers(0, 3, y.shape), y).astype(jnp.int32)
    fit = fitter(score)
    key = jax.random.key(9)
    a = fit(key, z, logits, y, cal, th, 0.5)
    b = fit(key, z2, logits2.astype(jnp.float32), y2, cal, th, 0.5)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    c = fit(key, z, logits, jnp.where(cal, (y + 1) % 3, y), cal, th, 0.5)
    assert not np.array_equal(a["t"], c["t"])  # and the labels of D_cal do matter


def test_vmap_over_keys_and_splits_equals_a_loop():
    """Members with 76, about 38 and no D_cal rows: their minibatch loops differ."""
    z, logits, y, cal, th = problem(11)
    keys = jax.random.split(jax.random.key(12), 3)
    rng = np.random.default_rng(13)
    cals = jnp.stack([cal, cal & (rng.random(cal.shape) < 0.5), jnp.zeros_like(cal)])
    batched = jax.jit(
        jax.vmap(
            functools.partial(fit_with, SMALL), (0, None, None, None, 0, None, None)
        )
    )(keys, z, logits, y, cals, th, 0.5)
    for i in range(3):
        one = fitter(SMALL)(keys[i], z, logits, y, cals[i], th, 0.5)
        jax.tree.map(
            lambda b, o: np.testing.assert_allclose(b[i], o, rtol=2e-5, atol=2e-6),
            batched,
            one,
        )
    assert not np.allclose(batched["t"][0], batched["t"][1])


@pytest.mark.parametrize("k", [2, 5])
def test_confidence_is_g_at_the_predicted_class(k):
    rng = np.random.default_rng(18)
    z = jnp.asarray(rng.normal(size=(50, 3)), jnp.float32)
    logits = jnp.asarray(rng.normal(size=(50, k)) * 3, jnp.float32)
    params = COLANDER.init(jax.random.key(19), 3 + k, k)
    conf = np.asarray(COLANDER.confidence(params, z, logits))
    probs = np.asarray(g_probs(params["g"], inputs_of(z, logits)))
    pred = np.argmax(np.asarray(logits), 1)
    np.testing.assert_array_equal(np.asarray(predicted_class(logits)), pred)
    np.testing.assert_allclose(conf, probs[np.arange(50), pred], rtol=1e-6)
    assert conf.shape == (50,) and conf.dtype == np.float32
    assert np.all((conf >= 0) & (conf <= 1))
    np.testing.assert_array_equal(
        np.asarray(at_class(jnp.asarray(probs), jnp.asarray(pred))),
        probs[np.arange(50), pred],
    )


def test_cal_order_puts_the_cal_rows_first_in_random_order():
    cal = jnp.asarray(np.random.default_rng(20).random(300) < 0.4)
    n = int(cal.sum())
    a, b = (np.asarray(cal_order(jax.random.key(s), cal)) for s in (21, 22))
    for order in (a, b):
        assert sorted(order) == list(range(300))
        assert np.all(np.asarray(cal)[order[:n]]) and not np.any(
            np.asarray(cal)[order[n:]]
        )
    assert not np.array_equal(a[:n], b[:n])
    assert not np.array_equal(a[:n], np.sort(a[:n]))


def test_settings_are_checked():
    with pytest.raises(ValueError):
        Colander(selection="best")
    with pytest.raises(ValueError):
        Colander(epochs=0)
