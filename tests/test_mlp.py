"""The MLP of algorithm.md section 5 (tbal_jax.mlp): its loss, schedule and initialisation against
NumPy, its training against a float64 NumPy re-implementation of PyTorch's SGD, masking,
early stop, vmap over seeds, and a whole TBAL run with it."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax import config as C
from tbal_jax import mlp
from tbal_jax.datasets import DataArrays, Dataset
from tbal_jax.run import EXCLUDED, QUERIED, UNLABELLED, make_run

TINY = mlp.MLP("tiny", widths=(8, 6), epochs=4, lr=0.1, weight_decay=1e-3)


def blobs(n, k, dim, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n).astype(np.int32)
    x = rng.normal(size=(k, dim))[y] * 2.0 + rng.normal(size=(n, dim))
    return x.astype(np.float32), y


def scattered_buffer(x, y, capacity, seed):
    """The rows of (x, y) at random places of a `capacity`-row buffer, in their order;
    the other rows hold huge values, one a NaN, that the mask must hide."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(capacity, bool)
    mask[np.sort(rng.choice(capacity, len(x), replace=False))] = True
    xb = (rng.normal(size=(capacity, x.shape[1])) * 1e6).astype(np.float32)
    yb = rng.integers(0, int(y.max()) + 1, capacity).astype(np.int32)
    xb[mask], yb[mask] = x, y
    xb[np.flatnonzero(~mask)[0], 0] = np.nan
    return jnp.asarray(xb), jnp.asarray(yb), jnp.asarray(mask)


def leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


def test_init_is_pytorch_uniform_from_the_key():
    model = mlp.MLP("m", widths=(300, 200))
    params = model.init(jax.random.key(0), 50, 7)
    assert [p["w"].shape for p in params] == [(50, 300), (300, 200), (200, 7)]
    assert [p["b"].shape for p in params] == [(300,), (200,), (7,)]
    for layer in params:
        bound = 1 / np.sqrt(layer["w"].shape[0])
        for a in (np.asarray(layer["w"]), np.asarray(layer["b"])):
            assert np.abs(a).max() <= bound
            if a.size >= 200:  # uniform on the whole range
                assert np.abs(a).max() > 0.98 * bound
                assert abs(np.abs(a).mean() - bound / 2) < 0.05 * bound
    other = model.init(jax.random.key(1), 50, 7)
    assert all((a != b).all() for a, b in zip(leaves(params), leaves(other)))


def test_fit_starts_afresh_from_its_key():
    """The incoming parameters' values play no part (algorithm.md section 2: a fresh model)."""
    x, y = blobs(100, 3, 5, 0)
    mask = jnp.ones(100, bool)
    start = TINY.init(jax.random.key(0), 5, 3)
    other = jax.tree.map(lambda a: a + 3.0, start)
    fit = jax.jit(TINY.fit)
    a, b = (
        fit(jax.random.key(4), start, x, y, mask),
        fit(jax.random.key(4), other, x, y, mask),
    )
    for u, v in zip(leaves(a), leaves(b)):
        np.testing.assert_array_equal(u, v)


def np_squentropy(z, y, valid):
    z, valid = z.astype(np.float64)[valid], valid
    y = y[valid]
    k = z.shape[1]
    top = z.max(axis=1, keepdims=True)
    logp = z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))
    ce = -logp[np.arange(len(y)), y]
    off = z * (1 - np.eye(k)[y])
    return ce.mean() + (off**2).mean(), int((z.argmax(axis=1) != y).sum())


def test_squentropy_matches_numpy():
    rng = np.random.default_rng(0)
    z = (rng.normal(size=(64, 5)) * 4).astype(np.float32)
    y = rng.integers(0, 5, 64).astype(np.int32)
    valid = np.arange(64) < 23  # a partial minibatch: the mean is over 23 rows
    valid[5] = False
    loss, wrong = mlp.squentropy(jnp.asarray(z), jnp.asarray(y), jnp.asarray(valid))
    ref_loss, ref_wrong = np_squentropy(z, y, valid)
    np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-6)
    assert int(wrong) == ref_wrong
    none = mlp.squentropy(jnp.asarray(z), jnp.asarray(y), jnp.zeros(64, bool))
    assert float(none[0]) == 0.0 and int(none[1]) == 0


def torch_cosine(lr, epochs, t_max=100):
    """CosineAnnealingLR's recursive form (eta_min = 0), as PyTorch documents it."""
    out = [lr]
    for t in range(1, epochs):
        if (t - 1 - t_max) % (2 * t_max) == 0:
            out.append(out[-1] + lr * (1 - np.cos(np.pi / t_max)) / 2)
        else:
            out.append(
                (1 + np.cos(np.pi * t / t_max))
                / (1 + np.cos(np.pi * (t - 1) / t_max))
                * out[-1]
            )
    return np.array(out)


def test_cosine_schedule_is_pytorch_cosine_annealing_per_epoch():
    epochs = np.arange(100)
    ours = np.asarray(jax.vmap(lambda e: mlp.cosine_lr(0.1, e))(epochs))
    np.testing.assert_allclose(ours, torch_cosine(0.1, 100), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        ours[[0, 50, 75]], [0.1, 0.05, 0.1 * (1 - 0.5**0.5) / 2], rtol=1e-6
    )


def test_epoch_order():
    mask = jnp.asarray(np.random.default_rng(0).random(150) < 0.4)
    n = int(mask.sum())
    key = jax.random.key(0)
    rows, valid = mlp.epoch_order(key, mask, 64, True)
    assert rows.shape == valid.shape == (3, 64)
    first = np.asarray(rows).ravel()[:n]
    assert sorted(first) == list(np.flatnonzero(np.asarray(mask)))  # each once, first
    assert np.asarray(valid).ravel().sum() == n and np.asarray(valid).ravel()[:n].all()
    assert (first != np.flatnonzero(np.asarray(mask))).any()  # shuffled
    again, _ = mlp.epoch_order(jax.random.fold_in(key, 1), mask, 64, True)
    assert (np.asarray(again).ravel()[:n] != first).any()  # reshuffled each epoch
    plain, _ = mlp.epoch_order(key, mask, 64, False)
    np.testing.assert_array_equal(np.asarray(plain).ravel()[:n], np.flatnonzero(mask))
    # the order depends on ranks among the valid rows only: as for the compact buffer
    compact, _ = mlp.epoch_order(key, jnp.ones(n, bool), 64, True)
    ranks = np.cumsum(np.asarray(mask)) - 1
    np.testing.assert_array_equal(ranks[first], np.asarray(compact).ravel()[:n])


def np_train(model, key, x, y, mask):
    """float64 NumPy training of `model` with the same initialisation and minibatch
    order, PyTorch's SGD written out: d = g + wd * p; buf = 0.9 * buf + d; p -= lr * buf,
    lr from `torch_cosine`, hand-written backpropagation of the squentropy loss."""
    init_key, order_key = jax.random.split(key)
    params = [
        {n: np.asarray(v, np.float64) for n, v in layer.items()}
        for layer in model.init(init_key, x.shape[1], int(y.max()) + 1)
    ]
    bufs = [{n: np.zeros_like(v) for n, v in layer.items()} for layer in params]
    x, y = np.asarray(x, np.float64), np.asarray(y)
    for epoch, lr in enumerate(torch_cosine(model.lr, model.epochs)):
        order = mlp.epoch_order(
            jax.random.fold_in(order_key, epoch), mask, model.batch_size, model.shuffle
        )
        for rows, ok in zip(*(np.asarray(a) for a in order)):
            if not ok.any():
                continue
            rows = rows[ok]
            hs = [x[rows]]
            for layer in params[:-1]:
                hs.append(np.tanh(hs[-1] @ layer["w"] + layer["b"]))
            z = hs[-1] @ params[-1]["w"] + params[-1]["b"]
            k = z.shape[1]
            onehot = np.eye(k)[y[rows]]
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            dz = (p - onehot + 2 * z * (1 - onehot) / k) / len(rows)
            grads = []
            for i in range(len(params) - 1, -1, -1):
                grads.append({"w": hs[i].T @ dz, "b": dz.sum(axis=0)})
                dz = (dz @ params[i]["w"].T) * (1 - hs[i] ** 2)
            for layer, buf, g in zip(params, bufs, grads[::-1]):
                for n in ("w", "b"):
                    buf[n] = 0.9 * buf[n] + g[n] + model.weight_decay * layer[n]
                    layer[n] = layer[n] - lr * buf[n]
    return params


@pytest.mark.parametrize("shuffle", [True, False])
def test_training_matches_pytorch_sgd_in_numpy(shuffle):
    """Partial minibatch (70 = 64 + 6 rows), momentum, coupled weight decay, the cosine
    learning rate per epoch, over 3 epochs."""
    model = mlp.MLP(
        "m", widths=(6,), epochs=3, lr=0.2, weight_decay=1e-2, shuffle=shuffle
    )
    x, y = blobs(70, 3, 4, 1)
    xb, yb, mask = scattered_buffer(x, y, 100, 1)
    ours = jax.jit(model.fit)(
        jax.random.key(2), model.init(jax.random.key(0), 4, 3), xb, yb, mask
    )
    ref = np_train(model, jax.random.key(2), xb, yb, mask)
    for a, b in zip(ours, ref):
        for n in ("w", "b"):
            np.testing.assert_allclose(np.asarray(a[n]), b[n], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shuffle", [True, False])
def test_masked_training_equals_training_on_the_valid_rows(shuffle):
    model = mlp.MLP(
        "m", widths=(16, 8), epochs=5, lr=0.1, weight_decay=1e-3, shuffle=shuffle
    )
    x, y = blobs(150, 4, 6, 2)
    key, start = jax.random.key(3), model.init(jax.random.key(0), 6, 4)
    masked, log = jax.jit(model.train)(key, start, *scattered_buffer(x, y, 400, 2))
    compact, log2 = jax.jit(model.train)(key, start, x, y, jnp.ones(150, bool))
    for a, b in zip(leaves(masked), leaves(compact)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(log.error, log2.error, atol=1e-6)
    assert np.isfinite(leaves(masked)[0]).all()


def test_empty_minibatches_and_stopped_epochs_are_no_ops_under_vmap():
    """One vmapped fit of members with 0, 20, 70 and 200 valid rows of a 256-row buffer
    (0 to 4 non-empty minibatches), stopping early after different epochs: each member
    equals its fit alone. So the minibatches and epochs that only the others run leave
    its parameters and optimiser state as they were: with weight decay and momentum, a
    step on no row would still move the parameters. Without rows, a fit is the model's
    initialisation."""
    x, y = blobs(256, 2, 4, 5)
    x = x + 1.5 * (2 * y[:, None] - 1)
    model = mlp.MLP(
        "m", widths=(8,), epochs=8, lr=0.1, weight_decay=1e-2, early_stop_error=0.001
    )
    start = model.init(jax.random.key(0), 4, 2)
    masks = jnp.stack([jnp.arange(256) < n for n in (0, 20, 70, 200)])
    keys = jax.random.split(jax.random.key(9), 4)
    batched, blog = jax.jit(jax.vmap(model.train, in_axes=(0, None, None, None, 0)))(
        keys, start, x, y, masks
    )
    train = jax.jit(model.train)
    for i in range(4):
        alone, log = train(keys[i], start, x, y, masks[i])
        for a, b in zip(leaves(batched), leaves(alone)):
            np.testing.assert_allclose(a[i], b, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(blog.ran[i], log.ran)
    epochs_run = np.asarray(blog.ran).sum(axis=1)
    assert len(set(epochs_run[1:])) >= 2 and epochs_run.max() > 1
    fresh = model.init(jax.random.split(keys[0])[0], 4, 2)
    for a, b in zip(leaves(batched), leaves(fresh)):
        np.testing.assert_array_equal(a[0], b)


def test_early_stop_is_a_masked_no_op():
    """After the first epoch with training error <= 0.001 nothing changes: the result is
    the fit without early stop run for exactly that many epochs."""
    x, y = blobs(200, 2, 4, 4)
    x = x + 6.0 * (2 * y[:, None] - 1)  # well separated
    stopping = mlp.MLP(
        "m", widths=(8,), epochs=12, lr=0.1, weight_decay=0.0, early_stop_error=0.001
    )
    buf = scattered_buffer(x, y, 256, 4)
    start = stopping.init(jax.random.key(0), 4, 2)
    params, log = jax.jit(stopping.train)(jax.random.key(5), start, *buf)
    ran, error = np.asarray(log.ran), np.asarray(log.error)
    m = int(ran.sum())
    assert 1 <= m < 12 and ran[:m].all()
    assert error[m - 1] <= 0.001 and (error[: m - 1] > 0.001).all()
    assert (error[m:] == 0).all()
    full = mlp.MLP("m", widths=(8,), epochs=m, lr=0.1, weight_decay=0.0)
    ref = jax.jit(full.fit)(jax.random.key(5), start, *buf)
    for a, b in zip(leaves(params), leaves(ref)):
        np.testing.assert_array_equal(a, b)


def test_vmap_over_keys_equals_separate_fits():
    x, y = blobs(90, 3, 5, 6)
    buf = scattered_buffer(x, y, 128, 6)
    start = TINY.init(jax.random.key(0), 5, 3)
    keys = jax.random.split(jax.random.key(7), 3)
    batched = jax.jit(jax.vmap(TINY.fit, in_axes=(0, None, None, None, None)))(
        keys, start, *buf
    )
    fit = jax.jit(TINY.fit)
    for i in range(3):
        alone = fit(keys[i], start, *buf)
        for a, b in zip(leaves(batched), leaves(alone)):
            np.testing.assert_allclose(a[i], b, rtol=1e-6, atol=1e-6)


def test_tbal_run_with_the_mlp():
    """A whole TBAL run, 12 classes, on a fixed dataset: the invariants of a run."""
    k = 12
    x, y = blobs(5000, k, 8, 8)
    x, y, xv, yv = x[:4000], y[:4000], x[4000:], y[4000:]
    model = mlp.MLP("m", widths=(32,), epochs=3, lr=0.1, weight_decay=1e-3)
    ds = Dataset("blobs", k, 8, 4000, 1000, model, arrays=DataArrays(x, y, xv, yv))
    cfg = C.StaticConfig.for_grid(ds, [600], [300])
    params = C.device_params(C.RunParams(600, 300, 0.1, 0.0))
    run = jax.jit(make_run(cfg).run)
    out = run(jax.random.key(3), params, ds.device_arrays())
    status = np.asarray(out.labels["tbal"])
    pools = ds.split(jax.random.split(jax.random.key(3))[0], ds.device_arrays())
    assert ((status >= -3) & (status < k)).all() and not (status == EXCLUDED).any()
    n_queried = int(out.state.n_queried)
    assert (status == QUERIED).sum() == n_queried <= 300
    auto = status >= 0
    assert auto.sum() == int(out.record.n_auto.sum()) > 1000
    wrong = auto & (status != np.asarray(pools.pool_y))
    assert wrong.sum() == int(out.record.n_auto_wrong.sum())
    assert wrong.sum() <= 0.2 * auto.sum()
    assert len(np.unique(status[auto])) >= 8
    assert (status == UNLABELLED).sum() + auto.sum() + n_queried == ds.n_pool
    assert (status == UNLABELLED).sum() == 0 or n_queried == 300  # why it stopped
    trained, ran = np.asarray(out.record.trained), np.asarray(out.record.ran)
    assert trained.sum() >= 2 and (trained <= ran).all()
    thr = np.asarray(out.record.thresholds)
    assert thr.shape[-1] == k and np.isfinite(thr).any()


@pytest.mark.parametrize("first", ["tbal_jax.mlp", "tbal_jax.models"])
def test_presets_registered_in_either_import_order(first):
    code = (
        f"import {first}; from tbal_jax.models import MODELS; "
        "m = MODELS['mlp_imdb']; t = MODELS['mlp_tiny_imagenet']; "
        "assert (m.lr, m.weight_decay, m.epochs, m.early_stop_error) == "
        "(0.01, 5e-4, 20, 0.001); "
        "assert (t.lr, t.weight_decay, t.epochs, t.early_stop_error) == (0.1, 1e-3, 75, None); "
        "assert m.widths == t.widths == (2000, 1500) and m.batch_size == 64; "
        "assert MODELS['mlp_fashion'].widths == (256, 128)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sequential_baseline_runs_the_same_loop():
    """experiments.mlp_baseline: one seed, NumPy loop, the jitted fit per round."""
    from experiments.mlp_baseline import run_mlp_tbal

    x, y = blobs(1500, 4, 6, 10)
    model = mlp.MLP("m", widths=(16,), epochs=3, lr=0.1, weight_decay=1e-3)
    out = run_mlp_tbal(0, (x, y, None, None), 300, 100, 0.1, 0.0, model)
    assert out["n_rounds"] >= 2 and out["n_queried"] <= 100
    assert out["n_queried"] == 100 or out["n_auto"] + out["n_queried"] == 1200
    assert out["n_auto"] > 300 and out["auto_error"] < 0.2
    assert out["coverage"] == out["n_auto"] / 1200


def _script(module, *args, before=None):
    """`python -m experiments.<module> ARGS`, after the Python statements `before`."""
    command = ["-m", f"experiments.{module}", *args]
    if before:
        command = [
            "-c",
            f"import runpy, sys; {before}; sys.argv[1:] = {list(args)!r}; "
            f"runpy.run_module('experiments.{module}', run_name='__main__', "
            "alter_sys=True)",
        ]
    return subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, timeout=600
    )


def test_mlp_baseline_cli():
    """The README's command line (`--n_val A B` as argparse's nargs="+" read it) on a
    small case, and bad input as one line with exit status 2."""
    run = _script(
        "mlp_baseline",
        *"--data=digits --n_val 200 300 --n_train 100 --seeds 1 --epochs 1".split(),
    )
    assert run.returncode == 0, run.stderr
    assert "N_v [200, 300], N_q 100" in run.stdout
    assert "sequential baseline:" in run.stdout
    bad = _script("mlp_baseline", "--model=nope")
    err = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(err) == 1
    assert err[0].startswith("error: flag --model=nope: value should be one of <")


def test_embed_cli_help_and_missing_packages(tmp_path):
    """`python -m experiments.embed`: --help; a package of the embed extra missing, or
    bad input, as one line with exit status 2, before anything is written."""
    help_ = _script("embed", "--help")
    assert help_.returncode == 0
    assert "imdb" in help_.stdout and "--out" in help_.stdout
    out = tmp_path / "imdb.npz"
    missing = "sys.modules['sentence_transformers'] = None"  # not importable
    run = _script("embed", "imdb", f"--out={out}", before=missing)
    assert run.returncode == 2
    err = run.stderr.strip().splitlines()
    assert len(err) == 1 and "sentence_transformers" in err[0] and "[embed]" in err[0]
    assert not out.exists()
    bad_input = [["imdb"], ["--out=x.npz"], ["mnist", "--out=x.npz"], ["imdb", "--out"]]
    for args in bad_input:
        bad = _script("embed", *args)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
        assert bad.stderr.startswith("error: ")
