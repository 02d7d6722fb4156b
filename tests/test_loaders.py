"""Real-data loaders (algorithm.md section 7): every bad input is one `DataError` line that
names the file and the problem; good files load with the right sizes and features."""

import gzip
import os
import sys

import jax
import numpy as np
import pytest

from tbal_jax import datasets as loaders
from tbal_jax.datasets import CIRCLES, UNIT_BALL, DataError, fashion_mnist, host_pools
from tbal_jax.errors import ConfigError
from tbal_jax.models import SOFTMAX_LOGISTIC

RNG = np.random.default_rng(0)
X = RNG.normal(size=(100, 3)).astype(np.float32)
Y = np.arange(100) % 4


def _set(a, index, value):
    a = a.astype(np.float64)
    a[index] = value
    return a


def _one_line_error(call, source, expected, error=DataError):
    """`call()` raises `error`: one line `<source>: ...` that contains `expected`."""
    with pytest.raises(error) as err:
        call()
    message = str(err.value)
    assert "\n" not in message, message
    assert message.startswith(f"{source}: "), message
    assert expected in message, message
    return message


# --- .npz -----------------------------------------------------------------------------

NPZ_CASES = {
    "missing key": ({"x": X}, "needs arrays 'x' and 'y'"),
    "missing keys, found others": ({"a": X, "b": Y}, "found a, b"),
    "x_val without y_val": ({"x": X, "y": Y, "x_val": X}, "both x_val and y_val"),
    "y_val without x_val": ({"x": X, "y": Y, "y_val": Y}, "both x_val and y_val"),
    "1-d x": ({"x": X[:, 0], "y": Y}, "x must be 2-d"),
    "3-d x": ({"x": X[:, :, None], "y": Y}, "x must be 2-d"),
    "2-d y": ({"x": X, "y": Y[:, None]}, "y must be 1-d"),
    "length mismatch": ({"x": X, "y": Y[:90]}, "x has 100 rows but y has 90"),
    "no features": ({"x": X[:, :0], "y": Y}, "0 features"),
    "nan": ({"x": _set(X, (3, 1), np.nan), "y": Y}, "x has 1 NaN or infinite"),
    "inf": ({"x": _set(X, ([5, 6], 0), -np.inf), "y": Y}, "x has 2 NaN or infinite"),
    "beyond float32": ({"x": _set(X, (0, 0), 1e300), "y": Y}, "beyond float32"),
    "strings": ({"x": X.astype(str), "y": Y}, "must be numbers"),
    "bool x": ({"x": X > 0, "y": Y}, "must be numbers"),
    "float labels": ({"x": X, "y": Y + 0.5}, "integer class labels"),
    "nan labels": ({"x": X, "y": _set(Y, 0, np.nan)}, "integer class labels"),
    "string labels": ({"x": X, "y": Y.astype(str)}, "integer class labels"),
    "negative labels": ({"x": X, "y": Y - 1}, "negative labels"),
    "class with no point": (
        {"x": X, "y": np.where(Y == 1, 2, Y)},
        "class 1 has no point",
    ),
    "labels {0, 2}": ({"x": X, "y": 2 * (Y % 2)}, "class 1 has no point"),
    "one class": ({"x": X, "y": np.zeros(100, int)}, "1 classes"),
    "too many classes": (
        {"x": X, "y": np.where(Y == 3, 10**9, Y)},
        "1000000001 classes",
    ),
    "label past int32": (
        {"x": X, "y": np.where(Y == 3, 2**32 + 1, Y)},
        "label 4294967297",
    ),
    "too few points": ({"x": X[:2], "y": np.array([0, 1])}, "too few points"),
    "no points": ({"x": X[:0], "y": Y[:0]}, "too few points"),
    "x_val dim": (
        {"x": X, "y": Y, "x_val": X[:, :2], "y_val": Y},
        "x_val has 2 features",
    ),
    "1-d x_val": (
        {"x": X, "y": Y, "x_val": X[:, 0], "y_val": Y},
        "validation x must be 2-d",
    ),
    "x_val lengths": (
        {"x": X, "y": Y, "x_val": X, "y_val": Y[:5]},
        "validation y has 5",
    ),
    "x_val nan": (
        {"x": X, "y": Y, "x_val": _set(X, (0, 0), np.nan), "y_val": Y},
        "validation x has 1 NaN",
    ),
    "y_val negative": (
        {"x": X, "y": Y, "x_val": X, "y_val": Y - 1},
        "validation y has negative",
    ),
    "y_val class not in pool": (
        {"x": X, "y": Y % 2, "x_val": X, "y_val": Y % 3},
        "class 2 has no point in y",
    ),
    "empty validation pool": (
        {"x": X, "y": Y, "x_val": X[:0], "y_val": Y[:0]},
        "too few points",
    ),
    "x_test without y_test": ({"x": X, "y": Y, "x_test": X}, "give both x_test"),
    "x_test of another width": (
        {"x": X, "y": Y, "x_test": X[:, :1], "y_test": Y},
        "x_test has 1 features but x has",
    ),
    "empty test split": (
        {"x": X, "y": Y, "x_test": X[:0], "y_test": Y[:0]},
        "x_test has no rows",
    ),
    "NaN in x_test": (
        {"x": X, "y": Y, "x_test": np.full_like(X, np.nan), "y_test": Y},
        "test x has",
    ),
}


@pytest.mark.parametrize("case", list(NPZ_CASES))
def test_bad_npz(case, tmp_path):
    arrays, expected = NPZ_CASES[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    _one_line_error(lambda: loaders.load_npz(path), path, expected)


def _write_npy(path):
    with open(path, "wb") as f:  # a .npy under a .npz name
        np.save(f, X)


def _write_pickle(path):
    import pickle

    with open(path, "wb") as f:
        pickle.dump({"x": X, "y": Y}, f)


def _write_truncated(path):
    np.savez(path, x=X, y=Y)
    path.write_bytes(path.read_bytes()[:300])


def _write_corrupt_compressed(path):
    np.savez_compressed(path, x=X, y=Y)
    data = bytearray(path.read_bytes())
    data[100:140] = b"\xff" * 40
    path.write_bytes(bytes(data))


FILE_CASES = {
    "missing file": (None, "no such file"),
    "a folder": (lambda p: p.mkdir(), "is a folder"),
    "text, not an npz": (lambda p: p.write_text("not a zip"), "not an .npz archive"),
    "empty file": (lambda p: p.write_bytes(b""), "not an .npz archive"),
    "truncated zip": (_write_truncated, "not a readable .npz"),
    "corrupt compressed": (_write_corrupt_compressed, "not a readable .npz"),
    "a .npy": (_write_npy, "not an .npz archive"),
    "pickle": (_write_pickle, "not an .npz archive"),
    "object arrays": (
        lambda p: np.savez(p, x=np.array([[1, "a"]], dtype=object), y=Y),
        "Object arrays cannot be loaded",
    ),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_unreadable_npz(case, tmp_path):
    write, expected = FILE_CASES[case]
    path = tmp_path / "data.npz"
    if write is not None:
        write(path)
    _one_line_error(lambda: loaders.load_npz(path), path, expected)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, float("nan"), "a"])
@pytest.mark.parametrize("with_val", [False, True])
def test_bad_val_fraction(fraction, with_val, tmp_path):
    path = tmp_path / "ok.npz"
    np.savez(path, x=X, y=Y, **({"x_val": X, "y_val": Y} if with_val else {}))
    _one_line_error(
        lambda: loaders.load_npz(path, val_fraction=fraction),
        path,
        f"val_fraction={fraction} must lie in (0, 1)",
    )


def test_val_fraction_is_refused_where_the_file_has_x_val(tmp_path):
    path = tmp_path / "ok.npz"
    np.savez(path, x=X, y=Y, x_val=X, y_val=Y)
    assert loaders.load_npz(path).n_val_pool == len(X)  # None: the file's own
    _one_line_error(
        lambda: loaders.load_npz(path, val_fraction=0.3),
        path,
        "val_fraction=0.3 cannot apply: the data give their own validation pool",
    )
    np.savez(path, x=X, y=Y)
    assert loaders.load_npz(path).n_val_pool == int(0.2 * len(X))  # the default


@pytest.mark.parametrize(
    "name, options, flag",
    [
        ("unit_ball", {"data": "good.npz"}, "--data"),
        ("circles", {"val_fraction": 0.3}, "--val_fraction"),
        ("digits", {"data_dir": "somewhere"}, "--data_dir"),
        ("fashion_mnist", {"data": "good.npz"}, "--data"),
    ],
)
def test_an_option_the_dataset_cannot_use_is_refused(name, options, flag):
    with pytest.raises(ConfigError) as err:
        loaders.load_dataset(name, **options)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{flag} cannot apply to")
    assert name in message


def _check_arrays(ds, n, d):
    x, y = ds.arrays.x, ds.arrays.y
    assert x.shape == (n, d) and x.dtype == np.float32 and x.flags.c_contiguous
    assert y.shape == (n,) and y.dtype == np.int32
    assert not x.flags.writeable and not y.flags.writeable
    assert ds.fixed and ds.draw is None and ds.model is SOFTMAX_LOGISTIC
    assert ds.dim == d


def test_good_npz_without_val(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, x=X, y=Y, notes=np.arange(3))  # other arrays are ignored
    ds = loaders.load_npz(path)
    assert ds.name == "npz" and ds.source == str(path)
    assert (ds.n_pool, ds.n_val_pool, ds.num_classes) == (80, 20, 4)
    assert not ds.val_given and ds.arrays.x_val is None and ds.arrays.y_val is None
    _check_arrays(ds, 100, 3)
    np.testing.assert_array_equal(ds.arrays.x, X)
    np.testing.assert_array_equal(ds.arrays.y, Y)
    assert (loaders.load_npz(path, val_fraction=0.5).n_val_pool) == 50
    pools = host_pools(ds, jax.random.key(0))  # the per-seed split works on them
    assert pools.pool_x.shape == (100, 3) and sorted(pools.val_order) == list(
        range(100)
    )


def test_good_npz_with_val(tmp_path):
    path = tmp_path / "b.npz"
    np.savez(path, x=X, y=Y, x_val=X[:30], y_val=Y[:30] % 3)
    ds = loaders.load_npz(str(path))
    assert (ds.n_pool, ds.n_val_pool, ds.num_classes) == (100, 30, 4) and ds.val_given
    _check_arrays(ds, 100, 3)
    assert ds.arrays.x_val.shape == (30, 3) and ds.arrays.x_val.dtype == np.float32
    assert ds.arrays.y_val.dtype == np.int32
    # y_val's largest label counts for k too (the pool must hold every class)
    np.savez(path, x=X, y=Y % 2, x_val=X, y_val=Y % 2)
    assert loaders.load_npz(path).num_classes == 2


def test_whole_float_labels_and_integer_features(tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, x=(10 * X).astype(np.int64), y=Y.astype(np.float32))
    ds = loaders.load_npz(path)
    np.testing.assert_array_equal(ds.arrays.y, Y)
    np.testing.assert_array_equal(ds.arrays.x, (10 * X).astype(np.int64))
    _check_arrays(ds, 100, 3)


def test_fixed_dataset_from_arrays():
    ds = loaders.fixed_dataset("mine", "memory", loaders.DataArrays(X, Y))
    assert (ds.n_pool, ds.n_val_pool, ds.num_classes, ds.source) == (
        80,
        20,
        4,
        "memory",
    )
    _one_line_error(
        lambda: loaders.fixed_dataset("mine", "memory", loaders.DataArrays(X, [0, 1])),
        "memory",
        "y is not an array",
    )


# --- digits ---------------------------------------------------------------------------


def test_digits():
    ds = loaders.load_digits()
    assert ds.name == "digits" and ds.num_classes == 10 and not ds.val_given
    assert (ds.n_pool + ds.n_val_pool, ds.n_val_pool, ds.n_pool) == (1797, 359, 1438)
    _check_arrays(ds, 1797, 64)
    assert ds.arrays.x.min() == 0.0 and ds.arrays.x.max() == 1.0  # pixels / 16


def test_digits_needs_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails
    _one_line_error(loaders.load_digits, "digits", "pip install scikit-learn")


# --- Fashion-MNIST: files written here ------------------------------------------------


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">i4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def _write_fashion(folder, n=100, n_val=40, side=8, **replace):
    """A tiny valid Fashion-MNIST folder (or one with some files' bytes replaced)."""
    rng = np.random.default_rng(1)
    contents = {
        "x": _idx(rng.integers(0, 256, (n, side, side))),
        "y": _idx(np.arange(n) % 10),
        "x_val": _idx(rng.integers(0, 256, (n_val, side, side))),
        "y_val": _idx(np.arange(n_val) % 10),
    }
    contents.update(replace)
    folder.mkdir(exist_ok=True)
    for key, name in fashion_mnist.FASHION_FILES.items():
        data = contents[key]
        if data[:2] != b"\x1f\x8b":  # not gzipped yet
            data = gzip.compress(data)
        (folder / name).write_bytes(data)
    return folder


def test_fashion_mnist_missing_folder(tmp_path):
    folder = tmp_path / "nowhere"
    message = _one_line_error(
        lambda: loaders.load_fashion_mnist(folder),
        folder / "train-images-idx3-ubyte.gz",
        "Fashion-MNIST file missing",
    )
    assert "apt-get install dataset-fashion-mnist" in message
    assert "zalandoresearch/fashion-mnist" in message and "--data_dir" in message
    assert not loaders.fashion_mnist_available(folder)


def test_fashion_mnist_one_file_missing(tmp_path):
    folder = _write_fashion(tmp_path / "f")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    assert not loaders.fashion_mnist_available(folder)
    _one_line_error(
        lambda: loaders.load_fashion_mnist(folder),
        folder / "t10k-labels-idx1-ubyte.gz",
        "apt-get install dataset-fashion-mnist",
    )


def test_tiny_fashion_folder_loads(tmp_path):
    folder = _write_fashion(tmp_path / "f")
    assert loaders.fashion_mnist_available(folder)
    ds = loaders.load_dataset("fashion_mnist", data_dir=str(folder))
    assert ds.name == "fashion_mnist" and ds.source == str(folder)
    assert (ds.n_pool, ds.n_val_pool, ds.num_classes, ds.dim) == (100, 40, 10, 64)
    _check_arrays(ds, 100, 64)
    assert ds.arrays.x_val.shape == (40, 64) and ds.val_given
    assert loaders.load_fashion_mnist(folder) is ds  # cached per folder


_GOOD = _idx(np.zeros((100, 8, 8)))
IDX_CASES = {
    "not gzip": ({"x": b"\x1f\x8bnot gzip at all"}, "x", "not a readable gzip"),
    "truncated gzip": ({"x": gzip.compress(_GOOD)[:-30]}, "x", "not a readable gzip"),
    "bad magic": ({"x": b"PK\x03\x04" + _GOOD[4:]}, "x", "bad header"),
    "not unsigned bytes": ({"x": b"\x00\x00\x0d\x03" + _GOOD[4:]}, "x", "bad header"),
    "images with 1 dim": ({"x": _idx(np.zeros(100))}, "x", "bad header"),
    "short header": ({"x": b"\x00\x00\x08\x03\x00"}, "x", "short header"),
    "truncated data": ({"x": _GOOD[:-10]}, "x", "truncated or corrupt"),
    "trailing data": ({"x": _GOOD + b"\x00"}, "x", "truncated or corrupt"),
    "negative size": (
        {"x": _GOOD[:4] + np.array([-1, 8, 8], ">i4").tobytes()},
        "x",
        "truncated or corrupt",
    ),
    "label count": ({"y": _idx(np.arange(90) % 10)}, "y", "90 labels for 100 images"),
    "image shapes": (
        {"x_val": _idx(np.zeros((40, 9, 9)))},
        "x_val",
        "images of shape",
    ),
    "too few pixels": (
        {"x": _idx(np.zeros((100, 4, 4))), "x_val": _idx(np.zeros((40, 4, 4)))},
        "x",
        "at least 2 images and 64 pixels",
    ),
    "label past 9, class missing": (
        {"y": _idx(np.arange(100) % 10 + 1)},
        "",
        "class 0",
    ),
}


@pytest.mark.parametrize("case", list(IDX_CASES))
def test_fashion_mnist_corrupt(case, tmp_path):
    replace, key, expected = IDX_CASES[case]
    folder = _write_fashion(tmp_path / "f", **replace)
    source = folder / fashion_mnist.FASHION_FILES[key] if key else folder
    _one_line_error(lambda: loaders.load_fashion_mnist(folder), source, expected)


def test_principal_axes_match_svd():
    x = np.random.default_rng(2).normal(size=(500, 20)) * np.linspace(3, 0.5, 20)
    x -= x.mean(axis=0)
    axes = fashion_mnist._principal_axes(x, 5)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(np.abs(axes.T @ vt[:5].T), np.eye(5), atol=1e-8)
    np.testing.assert_allclose((x @ axes).var(axis=0) * 500, s[:5] ** 2, rtol=1e-10)
    largest = axes[np.abs(axes).argmax(axis=0), np.arange(5)]
    assert (largest > 0).all()  # the sign convention


# --- Fashion-MNIST: the real files ----------------------------------------------------

needs_fashion = pytest.mark.skipif(
    not loaders.fashion_mnist_available() and "CI" not in os.environ,
    reason="Fashion-MNIST files absent (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(scope="module")
def fashion():
    return loaders.load_fashion_mnist()  # the PCA runs once per module


@needs_fashion
def test_fashion_mnist_features(fashion):
    x, y, x_val, y_val = fashion.arrays[:4]
    assert x.shape == (60_000, 64) and x_val.shape == (10_000, 64)
    assert x.dtype == x_val.dtype == np.float32 and x.flags.c_contiguous
    assert np.isfinite(x).all() and np.isfinite(x_val).all()
    assert np.abs(x.mean(axis=0, dtype=np.float64)).max() < 1e-3  # the pool mean
    var = x.var(axis=0, dtype=np.float64)
    assert (np.diff(var) <= 1e-6 * var[0]).all()  # by decreasing variance
    assert y.dtype == y_val.dtype == np.int32
    assert set(np.unique(y)) == set(range(10)) == set(np.unique(y_val))
    sizes = (fashion.n_pool, fashion.n_val_pool, fashion.num_classes, fashion.dim)
    assert sizes == (60_000, 10_000, 10, 64) and fashion.name == "fashion_mnist"
    assert fashion.source == loaders.DEFAULT_FASHION_DIR


def test_npz_test_split_is_held_out(tmp_path):
    path = tmp_path / "with_test.npz"
    np.savez(path, x=X, y=Y, x_test=X[:7], y_test=Y[:7])
    data = loaders.load_npz(path)
    assert data.n_test == 7 and data.n_pool + data.n_val_pool == len(X)
    np.testing.assert_array_equal(data.arrays.y_test, Y[:7])


@needs_fashion
def test_fashion_mnist_heldout_sizes(fashion):
    held = loaders.load_dataset("fashion_mnist_heldout")
    assert (held.n_pool, held.n_val_pool, held.n_test) == (50_000, 10_000, 10_000)
    np.testing.assert_array_equal(held.arrays.x, fashion.arrays.x)  # same features
    np.testing.assert_array_equal(held.arrays.x_test, fashion.arrays.x_val)


@needs_fashion
def test_fashion_mnist_cached(fashion):
    assert loaders.load_fashion_mnist() is fashion
    assert loaders.load_dataset("fashion_mnist") is fashion


# --- load_dataset ---------------------------------------------------------------------


def test_load_dataset_names(tmp_path):
    assert loaders.load_dataset("unit_ball") is UNIT_BALL
    assert loaders.load_dataset("circles") is CIRCLES
    assert loaders.load_dataset("digits", val_fraction=0.5).n_val_pool == 898
    path = tmp_path / "d.npz"
    np.savez(path, x=X, y=Y)
    assert (
        loaders.load_dataset("npz", data=str(path), val_fraction=0.3).n_val_pool == 30
    )


def test_load_dataset_npz_needs_data():
    _one_line_error(lambda: loaders.load_dataset("npz"), "npz", "--data=PATH.npz")


def test_load_dataset_unknown():
    with pytest.raises(ConfigError) as err:
        loaders.load_dataset("mnist")
    message = str(err.value)
    assert "'mnist'" in message and "\n" not in message
    assert all(name in message for name in loaders.DATASETS.names())
