"""Every loader error is one line naming the file and the problem (issue 7, SPEC 7)."""

import gzip
import os

import numpy as np
import pytest

from tbal_jax import loaders
from tbal_jax.loaders import DataError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(100, 3)).astype(np.float32)
Y = np.arange(100) % 4


def _with_nan(x):
    x = x.copy()
    x[3, 1] = np.nan
    return x


def _with_inf(x):
    x = x.copy()
    x[5, 0] = np.inf
    return x


CASES = {
    "missing key": (dict(x=X), "needs arrays 'x' and 'y'"),
    "x_val without y_val": (dict(x=X, y=Y, x_val=X), "both x_val and y_val"),
    "1-d x": (dict(x=X[:, 0], y=Y), "x must be 2-d"),
    "2-d y": (dict(x=X, y=Y[:, None]), "y must be 1-d"),
    "lengths": (dict(x=X, y=Y[:90]), "100 rows but y has 90"),
    "nan": (dict(x=_with_nan(X), y=Y), "1 NaN or infinite"),
    "inf": (dict(x=_with_inf(X), y=Y), "1 NaN or infinite"),
    "strings": (dict(x=X.astype(str), y=Y), "must be numbers"),
    "fractional labels": (dict(x=X, y=Y + 0.5), "integer class labels"),
    "negative labels": (dict(x=X, y=Y - 1), "negative labels"),
    "empty class": (dict(x=X, y=np.where(Y == 1, 2, Y)), "class 1 has no point"),
    "one class": (dict(x=X, y=np.zeros(100, int)), "1 classes"),
    "too few points": (dict(x=X[:1], y=Y[:1] * 0 + 1), "too few points"),
    "val dim": (dict(x=X, y=Y, x_val=X[:, :2], y_val=Y), "x_val has 2 features"),
    "val nan": (dict(x=X, y=Y, x_val=_with_nan(X), y_val=Y), "validation x has 1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_npz(case, tmp_path):
    arrays, expected = CASES[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as err:
        loaders.load_npz(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert expected in message, message


@pytest.mark.parametrize(
    "write, expected",
    [
        (None, "no such file"),
        (lambda p: p.write_text("not a zip"), "not a readable .npz"),
    ],
)
def test_unreadable_npz(write, expected, tmp_path):
    path = tmp_path / "data.npz"
    if write:
        write(path)
    with pytest.raises(DataError, match=expected):
        loaders.load_npz(path)


def test_bad_val_fraction(tmp_path):
    np.savez(tmp_path / "ok.npz", x=X, y=Y)
    with pytest.raises(DataError, match="val_fraction=1.5"):
        loaders.load_npz(tmp_path / "ok.npz", val_fraction=1.5)


def test_good_npz_sizes(tmp_path):
    np.savez(tmp_path / "a.npz", x=X, y=Y.astype(float))  # whole-valued float labels
    ds = loaders.load_npz(tmp_path / "a.npz")
    assert (ds.n_pool, ds.n_val_pool, ds.num_classes, ds.dim) == (80, 20, 4, 3)
    assert not ds.val_given and ds.arrays.y.dtype == np.int32
    np.savez(tmp_path / "b.npz", x=X, y=Y, x_val=X[:30], y_val=Y[:30])
    ds = loaders.load_npz(tmp_path / "b.npz")
    assert (ds.n_pool, ds.n_val_pool) == (100, 30) and ds.val_given


def test_digits():
    ds = loaders.load_digits()
    assert (ds.n_pool + ds.n_val_pool, ds.n_val_pool, ds.num_classes) == (1797, 359, 10)
    assert ds.arrays.x.max() <= 1.0


def test_fashion_mnist_missing_folder_says_both_ways(tmp_path):
    with pytest.raises(DataError) as err:
        loaders.load_fashion_mnist(str(tmp_path))
    message = str(err.value)
    assert "\n" not in message and "train-images-idx3-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message and "GitHub" in message


@pytest.mark.parametrize(
    "content, expected",
    [(b"\x00\x00\x08\x03\x00", "truncated or corrupt"), (b"PK\x03\x04", "bad header")],
)
def test_fashion_mnist_corrupt_file(tmp_path, content, expected):
    for name in loaders.FASHION_FILES.values():
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(content)
    with pytest.raises(DataError, match=expected):
        loaders.load_fashion_mnist(str(tmp_path))


def test_unknown_dataset():
    with pytest.raises(loaders.ConfigError, match="'nope'"):
        loaders.load_dataset("nope")


@pytest.mark.skipif(
    not loaders.fashion_mnist_available() and os.environ.get("CI", "") != "true",
    reason="Fashion-MNIST files absent (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_features():
    ds = loaders.load_fashion_mnist()
    x, y, xv, yv = ds.arrays
    assert x.shape == (60_000, 64) and xv.shape == (10_000, 64)
    assert x.dtype == np.float32 and np.isfinite(x).all() and np.isfinite(xv).all()
    assert np.abs(x.mean(axis=0)).max() < 1e-3  # centred by the pool mean
    var = x.var(axis=0)
    assert (np.diff(var) <= 1e-3).all()  # components by decreasing variance
    assert set(np.unique(y)) == set(range(10)) == set(np.unique(yv))
    assert loaders.load_fashion_mnist() is ds  # computed once per process
