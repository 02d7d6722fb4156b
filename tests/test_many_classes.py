"""Fixed datasets and many classes (issue 7): the split, the softmax model against
scikit-learn, a 10-class run's invariants, and the data passed once to the sweep."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tbal_jax import config as C
from tbal_jax import sweep as S
from tbal_jax.datasets import DataArrays, Dataset
from tbal_jax.models import SOFTMAX_LOGISTIC
from tbal_jax.run import EXCLUDED, QUERIED, UNLABELLED, make_run

K = 10


def blobs(n, k=K, dim=8, seed=0, sort=True):
    """k Gaussian classes that overlap a little; sorted by label like many files are."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = rng.normal(size=(k, dim)) * 2.0
    x = centres[y] + rng.normal(size=(n, dim))
    if sort:
        order = np.argsort(y, kind="stable")
        x, y = x[order], y[order]
    return x.astype(np.float32), y.astype(np.int32)


def fixed_dataset(n=3000, val=None, k=K):
    x, y = blobs(n, k)
    if val is None:  # validation pool split off per seed, 20%
        arrays, n_pool, n_val_pool = DataArrays(x, y), n - n // 5, n // 5
    else:
        xv, yv = blobs(val, k, seed=1)
        arrays, n_pool, n_val_pool = DataArrays(x, y, xv, yv), n, val
    return Dataset(
        "blobs", k, x.shape[1], n_pool, n_val_pool, SOFTMAX_LOGISTIC, arrays=arrays
    )


@pytest.mark.parametrize("val", [None, 700])
def test_split_is_a_seeded_permutation(val):
    ds = fixed_dataset(val=val)
    arrays = ds.device_arrays()
    a, b, c = (ds.split(jax.random.key(s), arrays) for s in (0, 0, 1))
    for f in ("pool_order", "pool_rank", "val_order"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
        assert not np.array_equal(getattr(a, f), getattr(c, f))
    order, rank = np.asarray(a.pool_order), np.asarray(a.pool_rank)
    np.testing.assert_array_equal(rank[order], np.arange(len(order)))
    # the label-sorted file still gives a mixed seed set and validation set
    assert len(np.unique(np.asarray(a.pool_y)[order[:100]])) == K
    assert len(np.unique(np.asarray(a.val_y)[np.asarray(a.val_order)[:100]])) == K
    if val is None:  # validation pool and pool are disjoint
        val_pool = set(np.asarray(a.val_order)[: ds.n_val_pool])
        assert val_pool == set(order[ds.n_pool :])
        assert (rank[list(val_pool)] >= ds.n_pool).all()


def _buffer(x, y, capacity, rng):
    """Valid rows first, then garbage rows the mask must hide."""
    pad = capacity - len(x)
    xb = np.concatenate([x, rng.normal(size=(pad, x.shape[1])) * 50]).astype(np.float32)
    yb = np.concatenate([y, rng.integers(0, K, pad)]).astype(np.int32)
    return jnp.asarray(xb), jnp.asarray(yb), jnp.arange(capacity) < len(x)


def _objective(w, b, x, y):
    """sum_i log-loss + ||W||^2 / 2 in float64 (scikit-learn's objective at C = 1)."""
    z = x @ w + b
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].sum() + 0.5 * (w**2).sum()


@pytest.mark.parametrize("k,n", [(2, 150), (4, 300), (10, 600)])
def test_softmax_logistic_matches_sklearn(k, n):
    """Same predictions and objective within 1e-4 relative. For k = 2 scikit-learn fits
    one vector w; the multinomial minimiser is W = [-w/2, w/2] of its fit at C = 2."""
    x, y = blobs(n, k, dim=12, seed=k, sort=False)
    xb, yb, mask = _buffer(x, y, n + 64, np.random.default_rng(k))
    params = jax.jit(SOFTMAX_LOGISTIC.fit)(
        None, SOFTMAX_LOGISTIC.init(None, 12, k), xb, yb, mask
    )
    x64 = x.astype(np.float64)
    ref = LogisticRegression(C=1.0 if k > 2 else 2.0, tol=1e-10, max_iter=100_000)
    ref.fit(x64, y)
    ref_w, ref_b = ref.coef_.T, ref.intercept_
    if k == 2:
        ref_w, ref_b = (
            np.hstack([-ref_w / 2, ref_w / 2]),
            np.hstack([-ref_b / 2, ref_b / 2]),
        )
    ours = np.asarray(SOFTMAX_LOGISTIC.logits(params, jnp.asarray(x)))
    np.testing.assert_array_equal(ours.argmax(1), ref.predict(x64))
    w, b = np.asarray(params["w"], np.float64), np.asarray(params["b"], np.float64)
    best = _objective(ref_w, ref_b, x64, y)
    assert abs(_objective(w, b, x64, y) - best) <= 1e-4 * best


def test_ten_class_run_invariants():
    ds = fixed_dataset(n=4000)
    cfg = C.StaticConfig.for_grid(ds, [400], [300])
    params = C.device_params(C.RunParams(400, 300, 0.1, 0.0))
    out = jax.jit(make_run(cfg).run)(jax.random.key(3), params, ds.device_arrays())
    status = np.asarray(out.labels["tbal"])
    pools = ds.split(jax.random.split(jax.random.key(3))[0], ds.device_arrays())
    rank = np.asarray(pools.pool_rank)
    assert ((status >= -3) & (status < K)).all()
    np.testing.assert_array_equal(status == EXCLUDED, rank >= ds.n_pool)
    assert (status == QUERIED).sum() == int(out.state.n_queried) <= 300
    auto = status >= 0
    assert auto.sum() == int(out.record.n_auto.sum()) > 0
    wrong = auto & (status != np.asarray(pools.pool_y))
    assert wrong.sum() == int(out.record.n_auto_wrong.sum())
    assert len(np.unique(status[auto])) >= 5  # many classes are auto-labelled
    assert (status == UNLABELLED).sum() + auto.sum() + 300 >= ds.n_pool - 1
    thr = np.asarray(out.record.thresholds)
    assert thr.shape[-1] == K and np.isfinite(thr).any()


@pytest.mark.slow
def test_fixed_data_are_one_argument_not_constants_nor_copies():
    ds = fixed_dataset(n=20_000, val=2000)
    cfg = C.StaticConfig.for_grid(ds, [500], [100])
    arrays = ds.device_arrays()
    compiled, _ = S.compiled_sweep(cfg, 4, 2, arrays)
    data_bytes = sum(a.nbytes for a in jax.tree.leaves(arrays))
    m = compiled.memory_analysis()
    assert m.argument_size_in_bytes < data_bytes * 1.05  # one copy, for four seeds
    hlo = (
        S._sweep_fn(cfg)
        .trace(
            S.seed_keys([0, 1, 2, 3]),
            C.device_params(C.grid_params([500], [100, 90], [0.1], [0.0])),
            arrays,
        )
        .lower()
        .as_text()
    )
    shape = "x".join(map(str, arrays.x.shape))
    assert f"tensor<{shape}xf32>" in hlo  # the data are in the program...
    constants = [line for line in hlo.splitlines() if "constant" in line]
    assert not any(shape in line for line in constants)  # ...as an argument
    # the same rows as a sweep, whatever the data's own sort order
    result = S.run_sweep(cfg, [0, 5], C.grid_params([500], [100], [0.1], [0.0]))
    assert (result.summary.n_auto > 0).all()


def test_digits_sweep_on_real_data():
    """scikit-learn's digits (10 classes, validation split off per seed): every
    outcome of every run is reported, and TBAL beats labelling everything. With
    N_v = 150 no class has the 26 validation points a threshold needs (algorithm.md section 3): those
    runs auto-label nothing, and are reported as such."""
    from tbal_jax.loaders import load_digits

    ds = load_digits()
    grid = C.grid_params([150, 300], [200], [0.05], [0.0])
    out = {}
    for protocol in ("tbal", "pl"):
        cfg = C.StaticConfig.for_grid(ds, [300], [200], protocol)
        out |= S.run_sweep(cfg, [0, 7, 14], grid).outcomes
    assert out["tbal"].n_auto.shape == (3, 2)
    tbal_err = out["tbal"].n_auto_wrong.sum() / out["tbal"].n_auto.sum()
    pl_err = out["pl"].n_auto_wrong.sum() / out["pl"].n_auto.sum()
    assert (out["tbal"].n_auto[:, 0] == 0).all()  # N_v = 150: too few per class
    assert np.isnan(out["tbal"].auto_error[:, 0]).all()
    assert (out["tbal"].n_auto[:, 1] > 100).all() and tbal_err < pl_err
    assert (out["pl"].coverage == 1 - 200 / ds.n_pool).all()
