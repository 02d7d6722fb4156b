"""The MLP's `precision` (issue 16): the float32 default gives the code before it bit for
bit (on CPU, where that code was float32), bfloat16 takes effect within bfloat16's
rounding and trains about as well, tf32 is float32 on CPU, and a bad value is refused
in one line."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax.models import MLP_FASHION, mlp

TINY = mlp.MLP("tiny", widths=(32, 16), epochs=6, lr=0.1, weight_decay=1e-3)
ON_CPU = jax.default_backend() == "cpu"


class _Before(mlp.MLP):
    """The MLP as it was before `precision`: `@`, no precision given."""

    def features_and_logits(self, weights, x):
        h = x
        for layer in weights[:-1]:
            h = jnp.tanh(h @ layer["w"] + layer["b"][None, :])
        return h, h @ weights[-1]["w"] + weights[-1]["b"][None, :]


def blobs(n, k, dim, seed, spread=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n).astype(np.int32)
    x = rng.normal(size=(k, dim))[y] * spread + rng.normal(size=(n, dim))
    return jnp.asarray(x, jnp.float32), jnp.asarray(y)


def _data(spread=1.5):
    x, y = blobs(600, 5, 20, 0, spread)
    mask = jnp.arange(x.shape[0]) < 500  # the last 100 rows masked out
    return x, y, mask


def _train(model, x, y, mask, seed=0):
    start = model.init(jax.random.key(0), x.shape[1], 5)
    return jax.jit(model.train)(jax.random.key(seed), start, x, y, mask)


def _bits(tree):
    return [
        (a.dtype, a.shape, a.tobytes()) for a in map(np.asarray, jax.tree.leaves(tree))
    ]


def _same_bits(a, b):
    return _bits(a) == _bits(b)


def test_default_is_float32_and_bit_identical_to_an_explicit_float32():
    assert TINY.precision == MLP_FASHION.precision == "float32"
    explicit = dataclasses.replace(TINY, precision="float32")
    assert explicit == TINY and hash(explicit) == hash(TINY)
    x, y, mask = _data()
    (w, log), (w2, log2) = _train(TINY, x, y, mask), _train(explicit, x, y, mask)
    assert _same_bits(w, w2) and _same_bits(log.error, log2.error)
    assert _same_bits(TINY.logits(w, x), explicit.logits(w2, x))


@pytest.mark.skipif(not ON_CPU, reason="the code before was float32 on CPU only")
def test_default_gives_the_code_before_it_bit_for_bit_on_cpu():
    """Precision.HIGHEST on CPU: the same bits as the old unspecified precision, in
    training (forward and backward, 6 epochs, vmapped over 2 seeds) and in scoring."""
    x, y, mask = _data()
    before = _Before(
        **{f.name: getattr(TINY, f.name) for f in dataclasses.fields(TINY)}
    )
    start = TINY.init(jax.random.key(0), x.shape[1], 5)
    keys = jax.random.split(jax.random.key(1), 2)

    def fits(model):
        return jax.jit(jax.vmap(lambda k: model.train(k, start, x, y, mask)))(keys)

    (w, log), (w_old, log_old) = fits(TINY), fits(before)
    assert _same_bits(w, w_old) and _same_bits(log.error, log_old.error)
    one = jax.tree.map(lambda a: a[0], w)
    z, logits = jax.jit(TINY.features_and_logits)(one, x)
    z_old, logits_old = jax.jit(before.features_and_logits)(one, x)
    assert _same_bits(z, z_old) and _same_bits(logits, logits_old)
    tf32 = dataclasses.replace(TINY, precision="tf32")  # DEFAULT: float32 on CPU
    assert _same_bits(fits(tf32), (w, log))


def test_bfloat16_logits_differ_from_float32_by_bfloat16_rounding():
    """Same weights, logits of both precisions. bfloat16 keeps 8 significant bits, so
    rounding an operand moves it by at most 2^-9 relative; a product of two rounded
    operands by about 2^-8 per term. Summed over fan_in terms of both signs the
    errors partly cancel, and tanh (slope <= 1) does not amplify them: the logits'
    error, relative to their typical size (RMS), stays well below 2^-7; it is not
    zero, so the setting takes effect."""
    x, y, mask = _data()
    w, _ = _train(TINY, x, y, mask)
    half = dataclasses.replace(TINY, precision="bfloat16")
    f32, b16 = TINY.logits(w, x), jax.jit(half.logits)(w, x)
    assert b16.dtype == jnp.float32 and b16.shape == f32.shape
    diff = np.asarray(b16 - f32)
    scale = float(np.sqrt(np.mean(np.asarray(f32) ** 2)))
    assert np.abs(diff).max() > 0  # it took effect
    assert np.sqrt(np.mean(diff**2)) < 2**-7 * scale
    assert np.abs(diff).max() < 2**-5 * scale
    # the argmax (the predicted class) hardly ever moves
    assert np.mean(np.argmax(b16, 1) != np.argmax(f32, 1)) <= 0.01


def test_bfloat16_gradients_are_float32_and_close():
    """The custom VJP's backward products: bfloat16 operands, float32 gradients (not
    rounded to bfloat16, as JAX's own transpose would)."""
    x, y, mask = _data()
    w = TINY.init(jax.random.key(2), x.shape[1], 5)
    half = dataclasses.replace(TINY, precision="bfloat16")

    def grads(model):
        return jax.grad(lambda p: mlp.squentropy(model.logits(p, x), y, mask)[0])(w)

    g32, g16 = grads(TINY), jax.jit(lambda: grads(half))()
    for a, b in zip(jax.tree.leaves(g32), jax.tree.leaves(g16), strict=True):
        assert b.dtype == jnp.float32
        a, b = np.asarray(a), np.asarray(b)
        assert not np.array_equal(a, b)
        assert np.linalg.norm(a - b) < 2**-6 * np.linalg.norm(a)
    w16 = jax.tree.leaves(g16)[0]  # float32 values a bfloat16 could not hold
    assert not np.array_equal(np.asarray(w16), np.asarray(w16.astype(jnp.bfloat16)))


def test_bfloat16_training_reaches_float32_accuracy():
    """Overlapping blobs (float32 is about 84% accurate on its 500 training rows): 6
    epochs under bfloat16 train other weights to within 3 points of that accuracy."""
    x, y, mask = _data(spread=0.5)
    accuracy, weights = {}, {}
    for precision in mlp.PRECISIONS:
        model = dataclasses.replace(TINY, precision=precision)
        weights[precision], _ = _train(model, x, y, mask)
        pred = np.argmax(np.asarray(jax.jit(model.logits)(weights[precision], x)), 1)
        accuracy[precision] = np.mean((pred == np.asarray(y))[np.asarray(mask)])
    assert not _same_bits(weights["bfloat16"], weights["float32"])
    assert 0.75 < accuracy["float32"] < 0.95, accuracy
    assert abs(accuracy["bfloat16"] - accuracy["float32"]) <= 0.03, accuracy


@pytest.mark.parametrize("bad", ["fp16", "float64", "BFLOAT16", None, 32])
def test_a_bad_precision_is_one_line_naming_the_choices(bad):
    with pytest.raises(ValueError) as err:
        dataclasses.replace(MLP_FASHION, precision=bad)
    message = str(err.value)
    assert "\n" not in message and "float32, bfloat16, tf32" in message
    assert repr(bad) in message
