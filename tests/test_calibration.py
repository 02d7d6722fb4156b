"""Post-hoc calibrators (algorithm.md section 14) against plain NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax.scores import calibration, max_prob

CALIBRATORS = [
    calibration.TEMPERATURE,
    calibration.TOP_LABEL_HISTOGRAM,
    calibration.SCALING_BINNING,
]


def _data(seed, v, k, scale=2.0, shift=2.5, uneven=True):
    """Logits (v, k) float32 and labels (v,) int32; class c drawn with weight
    (c + 1)^2 when `uneven`."""
    rng = np.random.default_rng(seed)
    w = (np.arange(k) + 1.0) ** 2 if uneven else np.ones(k)
    y = rng.choice(k, size=v, p=w / w.sum())
    logits = rng.normal(size=(v, k)) * scale
    logits[np.arange(v), y] += shift
    return logits.astype(np.float32), y.astype(np.int32)


def _fit(score, logits, y, cal, key=0):
    v = logits.shape[0]
    return jax.jit(score.fit)(
        jax.random.key(key),
        jnp.zeros((v, 1), jnp.float32),
        jnp.asarray(logits),
        jnp.asarray(y),
        jnp.asarray(cal),
        ~jnp.asarray(cal),
        None,
    )


def _confidence(score, params, logits):
    v = logits.shape[0]
    conf = jax.jit(score.confidence)(
        params, jnp.zeros((v, 1), jnp.float32), jnp.asarray(logits)
    )
    return np.asarray(conf)


def _top(logits, beta=1.0):
    """Max probability of softmax(beta logits) as the calibrators compute it (float32,
    jitted, the same product) and the predicted class."""
    s, pred = jax.jit(lambda x, b: max_prob(x * b))(jnp.asarray(logits), beta)
    return np.asarray(s), np.asarray(pred)


# ---- NumPy references -------------------------------------------------------------


def np_nll(beta, logits, y):
    u = beta * logits.astype(np.float64)
    top = u.max(1)
    lse = top + np.log(np.exp(u - top[:, None]).sum(1))
    return float(np.mean(lse - u[np.arange(len(y)), y]))


def np_temperature(logits, y, lo=1e-3, hi=1e3):
    """argmin over T in [lo, hi] of the mean NLL of softmax(logits / T): a grid in
    log beta, then golden section on the bracket around the best grid point."""
    grid = np.linspace(np.log(1 / hi), np.log(1 / lo), 2001)
    vals = [np_nll(np.exp(t), logits, y) for t in grid]
    i = int(np.argmin(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    while b - a > 1e-10:
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if np_nll(np.exp(c), logits, y) < np_nll(np.exp(d), logits, y):
            b = d
        else:
            a = c
    return 1.0 / np.exp((a + b) / 2)


def np_histogram_fit(score, pred, right, k, points_per_bin):
    """Per class: None (fewer than points_per_bin rows) or (upper edges, values)."""
    model = []
    for c in range(k):
        rows = [i for i in range(len(score)) if pred[i] == c]
        n_bins = len(rows) // points_per_bin
        if n_bins == 0:
            model.append(None)
            continue
        groups = np.array_split(np.sort(score[rows]), n_bins)
        edges = [max(g) for g in groups[:-1]] + [np.inf]
        count, hits = [0] * n_bins, [0] * n_bins
        for i in rows:
            b = sum(1 for e in edges if score[i] > e)
            count[b] += 1
            hits[b] += int(right[i])
        values = [h / n if n > 0 else 0.5 for h, n in zip(hits, count)]
        model.append((edges, values))
    return model


def np_histogram_predict(model, score, pred):
    out = []
    for s, c in zip(score, pred):
        if model[c] is None:
            out.append(s)
        else:
            edges, values = model[c]
            out.append(values[sum(1 for e in edges if s > e)])
    return np.array(out)


def np_binning_fit(score, t2, t3, num_bins):
    """(edges, values, T3 rows per bin) of scaling-binning's steps 2-3 on the scaled
    scores, or None with no T3 rows."""
    s2 = np.sort(score[t2])
    groups = np.array_split(s2, num_bins)
    fallback = s2[-1] if len(s2) else -np.inf
    edges = [max(g) if len(g) else fallback for g in groups]
    total, count = [0.0] * (num_bins + 1), [0] * (num_bins + 1)
    for i in np.flatnonzero(t3):
        b = sum(1 for e in edges if score[i] > e)
        total[b] += float(score[i])
        count[b] += 1
    if sum(count) == 0:
        return None
    values = []
    for j in range(num_bins + 1):
        src = j
        while src >= 0 and count[src] == 0:
            src -= 1
        if src < 0:
            src = j
            while count[src] == 0:
                src += 1
        values.append(total[src] / count[src])
    return edges, values, count


def np_binning_predict(model, score):
    if model is None:
        return score
    edges, values, _ = model
    return np.array([values[sum(1 for e in edges if s > e)] for s in score])


# ---- temperature scaling ----------------------------------------------------------


@pytest.mark.parametrize(
    "k, scale, shift",
    [
        (2, 3.0, 2.0),
        (3, 1.0, 2.0),
        (10, 2.0, 3.0),
        (10, 0.05, 0.1),
        (10, 0.01, 0.02),
        (10, 8.0, 12.0),
    ],
)
def test_temperature_matches_float64_minimiser(k, scale, shift):
    logits, y = _data(k, 600, k, scale, shift)
    cal = np.random.default_rng(1).uniform(size=600) < 0.6
    t = 1 / float(_fit(calibration.TEMPERATURE, logits, y, cal)["inverse_temperature"])
    want = np_temperature(logits[cal], y[cal])
    assert abs(want - 1.0) > 0.05  # the fit has something to do
    np.testing.assert_allclose(t, want, rtol=1e-5)
    nll = np_nll(1 / t, logits[cal], y[cal])
    assert nll <= np_nll(1 / want, logits[cal], y[cal]) + 1e-9
    assert nll < np_nll(1.0, logits[cal], y[cal]) - 1e-3


def test_temperature_drives_a_separable_loss_to_zero():
    """Every D_cal row right by a wide margin: the loss falls as T shrinks, with slopes
    that shrink exponentially (where plain Newton crawls); the fit goes on until they
    vanish in float32."""
    logits, y = _data(10, 600, 10, 0.5, 6.0)
    assert (logits.argmax(1) == y).all()
    params = _fit(calibration.TEMPERATURE, logits, y, np.ones(600, bool))
    t = 1 / float(params["inverse_temperature"])
    assert t < 0.1 and np_nll(1 / t, logits, y) < 1e-12


def test_temperature_stays_in_range():
    """Random labels: the loss falls as T grows, so T is the upper end of the range."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 5)).astype(np.float32)
    y = rng.integers(0, 5, 500).astype(np.int32)
    params = _fit(calibration.TEMPERATURE, logits, y, np.ones(500, bool))
    t = 1 / float(params["inverse_temperature"])
    np.testing.assert_allclose(t, calibration.TEMPERATURE.t_max, rtol=1e-3)


def test_temperature_confidence_is_the_predicted_class_probability():
    logits, y = _data(0, 400, 6)
    cal = np.arange(400) < 200
    params = _fit(calibration.TEMPERATURE, logits, y, cal)
    t = 1 / float(params["inverse_temperature"])
    p = np.exp(logits / t - (logits / t).max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    conf = _confidence(calibration.TEMPERATURE, params, logits)
    assert t > 0 and abs(t - 1) > 0.05
    assert (p.argmax(1) == logits.argmax(1)).all()
    np.testing.assert_allclose(conf, p[np.arange(400), logits.argmax(1)], rtol=1e-5)


# ---- top-label histogram binning --------------------------------------------------


@pytest.mark.parametrize(
    "k, v, points_per_bin, sparse",
    [(2, 300, 7, False), (5, 400, 10, False), (5, 400, 25, True), (200, 4000, 5, True)],
)
def test_histogram_matches_numpy(k, v, points_per_bin, sparse):
    """Uneven classes, class 0 with no D_cal rows (predicted elsewhere), ties; with
    `sparse`, a class with fewer than points_per_bin D_cal rows."""
    logits, y = _data(k, v, k)
    rng = np.random.default_rng(2)
    cal = rng.uniform(size=v) < 0.5
    logits[cal, 0] -= 100.0  # no D_cal row predicted as class 0
    logits[~cal & (rng.uniform(size=v) < 0.2), 0] += 100.0  # other rows are
    logits[cal & (rng.uniform(size=v) < 0.2)] = 2.0 * (np.arange(k) == 1)  # ties
    logits[cal & (rng.uniform(size=v) < 0.2), -1] = 90.0  # ties: max probability 1
    score = calibration.TopLabelHistogram(points_per_bin=points_per_bin)
    params = _fit(score, logits, y, cal)
    s, pred = _top(logits)
    model = np_histogram_fit(s[cal], pred[cal], pred[cal] == y[cal], k, points_per_bin)
    assert model[0] is None and (pred == 0).any()
    assert any(m is not None for m in model)
    few = [m is None and (pred[cal] == c).any() for c, m in enumerate(model)]
    assert any(few) == sparse
    for c, m in enumerate(model):
        n_bins, at = int(params["bins"][c]), int(params["offset"][c])
        assert n_bins == (0 if m is None else len(m[0]))
        if m is not None:
            np.testing.assert_array_equal(params["edges"][at : at + n_bins], m[0])
            np.testing.assert_allclose(params["values"][at : at + n_bins], m[1])
    got = _confidence(score, params, logits)
    want = np_histogram_predict(model, s, pred)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert not np.allclose(got, s)
    fresh, _ = _data(k + 1, 500, k)
    fs, fpred = _top(fresh)
    want = np_histogram_predict(model, fs, fpred)
    np.testing.assert_allclose(_confidence(score, params, fresh), want, rtol=1e-6)


def test_histogram_without_cal_rows_keeps_the_max_probability():
    logits, y = _data(0, 300, 4)
    params = _fit(calibration.TOP_LABEL_HISTOGRAM, logits, y, np.zeros(300, bool))
    got = _confidence(calibration.TOP_LABEL_HISTOGRAM, params, logits)
    np.testing.assert_array_equal(got, _top(logits)[0])


# ---- scaling-binning --------------------------------------------------------------


def test_thirds_split_the_cal_rows():
    cal = np.random.default_rng(0).uniform(size=500) < 0.4
    n = cal.sum()
    t1, t2, t3 = map(
        np.asarray, calibration.thirds(jax.random.key(3), jnp.asarray(cal))
    )
    assert (t1.sum(), t2.sum(), t3.sum()) == (n // 3, n // 3, n - 2 * (n // 3))
    np.testing.assert_array_equal(t1.astype(int) + t2 + t3, cal.astype(int))
    other = calibration.thirds(jax.random.key(4), jnp.asarray(cal))[0]
    assert (np.asarray(other) != t1).any()


@pytest.mark.parametrize(
    "k, v, num_bins", [(2, 400, 10), (10, 600, 25), (10, 60, 25), (5, 4, 3)]
)
def test_scaling_binning_matches_numpy(k, v, num_bins):
    logits, y = _data(k, v, k, 3.0, 3.0)
    cal = np.random.default_rng(5).uniform(size=v) < 0.7
    if v > 100:
        cal[:40] = True
        logits[:40] = 0.0  # ties in T2 (the lowest edges) and T3
    score = calibration.ScalingBinning(num_bins=num_bins)
    params = _fit(score, logits, y, cal, key=7)
    t1, t2, t3 = map(
        np.asarray, calibration.thirds(jax.random.key(7), jnp.asarray(cal))
    )
    beta = params["inverse_temperature"]
    if t1.sum() >= 20:
        np.testing.assert_allclose(
            1 / float(beta), np_temperature(logits[t1], y[t1]), rtol=1e-5
        )
    s = _top(logits, beta)[0]
    model = np_binning_fit(s, t2, t3, num_bins)
    np.testing.assert_array_equal(params["edges"], model[0])
    got = _confidence(score, params, logits)
    np.testing.assert_allclose(got, np_binning_predict(model, s), rtol=1e-5)
    fresh, _ = _data(k + 1, 300, k, 3.0, 3.0)
    fs = _top(fresh, beta)[0]
    want = np_binning_predict(model, fs)
    np.testing.assert_allclose(_confidence(score, params, fresh), want, rtol=1e-5)
    if v > 100:
        assert len(set(np.round(got, 6))) <= num_bins + 1 < len(set(s))


def test_scaling_binning_fills_empty_bins():
    """T3's scores take two values, in two middle bins: the bins between them and above
    take the mean below them, the bins under the lowest one the mean above."""
    k, v = 3, 150
    logits, y = _data(0, v, k)
    cal = np.ones(v, bool)
    score = calibration.ScalingBinning(num_bins=8)
    key = jax.random.key(11)
    t1, t2, t3 = map(np.asarray, calibration.thirds(key, jnp.asarray(cal)))
    top = np.where(np.arange(v) % 2 == 0, 1.0, 2.5)[t3]
    logits[t3] = top[:, None] * (np.arange(k) == 0)
    params = _fit(score, logits, y, cal, key=11)
    s = _top(logits, params["inverse_temperature"])[0]
    _, values, count = np_binning_fit(s, t2, t3, 8)
    filled = np.flatnonzero(count)
    assert len(filled) == 2 and 0 < filled[0] and filled[1] - filled[0] > 1
    assert filled[1] < 8  # a bin above the filled ones
    assert len(set(values)) == 2
    np.testing.assert_allclose(params["values"], values, rtol=1e-6)


def test_scaling_binning_without_cal_rows_keeps_the_max_probability():
    logits, y = _data(0, 300, 4)
    params = _fit(calibration.SCALING_BINNING, logits, y, np.zeros(300, bool))
    assert float(params["inverse_temperature"]) == 1.0
    got = _confidence(calibration.SCALING_BINNING, params, logits)
    np.testing.assert_array_equal(got, _top(logits)[0])


# ---- all three --------------------------------------------------------------------


@pytest.mark.parametrize("score", CALIBRATORS, ids=lambda s: s.name)
def test_rows_outside_cal_change_nothing(score):
    logits, y = _data(3, 500, 5)
    cal = np.random.default_rng(0).uniform(size=500) < 0.5
    rng = np.random.default_rng(1)
    garbage = rng.normal(size=logits.shape) * 10
    garbage[:30:3] = np.inf
    garbage[1:30:3] = np.nan
    other_logits = np.where(cal[:, None], logits, garbage).astype(np.float32)
    other_y = np.where(cal, y, rng.integers(-1, 5, 500)).astype(np.int32)
    a = _fit(score, logits, y, cal)
    b = _fit(score, other_logits, other_y, cal)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    c = _fit(score, logits, y, cal & (np.arange(500) > 20))  # fewer rows: it changes
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, a, c)))


@pytest.mark.parametrize("score", CALIBRATORS, ids=lambda s: s.name)
def test_vmap_equals_loop(score):
    logits, y = _data(4, 400, 4)
    masks = np.random.default_rng(2).uniform(size=(3, 400)) < [[0.3], [0.6], [0.0]]
    keys = jax.random.split(jax.random.key(5), 3)
    z = jnp.zeros((400, 1), jnp.float32)

    def fit_conf(key, cal):
        params = score.fit(key, z, jnp.asarray(logits), jnp.asarray(y), cal, ~cal, None)
        return params, score.confidence(params, z, jnp.asarray(logits))

    batch = jax.jit(jax.vmap(fit_conf))(keys, jnp.asarray(masks))
    for i in range(3):
        one = jax.jit(fit_conf)(keys[i], jnp.asarray(masks[i]))
        jax.tree.map(
            lambda b, o: np.testing.assert_allclose(b[i], o, rtol=1e-6), batch, one
        )
    assert not np.allclose(batch[1][0], batch[1][1])


@pytest.mark.parametrize("score", CALIBRATORS, ids=lambda s: s.name)
@pytest.mark.parametrize("k", [2, 7])
def test_confidences_in_unit_interval(score, k):
    logits, y = _data(k, 500, k, 4.0, 1.0)
    cal = np.arange(500) < 300
    conf = _confidence(score, _fit(score, logits, y, cal), logits)
    assert conf.dtype == np.float32
    assert np.isfinite(conf).all() and (conf >= 0).all() and (conf <= 1).all()
