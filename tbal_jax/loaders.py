"""Real data as fixed `Dataset`s (SPEC section 7), each validated before anything compiles.

- `load_npz(path)`: a user's features or embeddings (IMDB sentence embeddings, CLIP image
  features, anything). The file holds `x` (n, d) float and `y` (n,) integer labels
  0..k-1, and optionally `x_val`, `y_val`, the validation pool. Without them each seed
  splits a random `val_fraction` of the points off as its validation pool.
- `load_fashion_mnist(data_dir)`: the four gzipped IDX files that Debian's
  `dataset-fashion-mnist` package installs; pool = the 60,000 training images, validation
  pool = the 10,000 test images; x = pixels / 255, centred by the pool mean and projected
  on the pool's top 64 principal components (float64, then float32); k = 10.
- `load_digits()`: scikit-learn's bundled 8x8 digits (1,797 points, 64-d, 10 classes),
  x = pixels / 16, validation pool split off per seed; the small real dataset for tests.

Every problem with the data raises `DataError` (a `ConfigError`): one line that names the
file and what is wrong, which the command line prints as `error: ...` with exit status 2.
All fixed datasets use multinomial logistic regression (`models.SOFTMAX_LOGISTIC`).
"""

from __future__ import annotations

import functools
import gzip
import os
import zipfile
from pathlib import Path

import numpy as np

from tbal_jax.data import DataArrays, Dataset, get_dataset
from tbal_jax.errors import ConfigError
from tbal_jax.models import SOFTMAX_LOGISTIC

DEFAULT_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_FILES = {
    "x": "train-images-idx3-ubyte.gz",
    "y": "train-labels-idx1-ubyte.gz",
    "x_val": "t10k-images-idx3-ubyte.gz",
    "y_val": "t10k-labels-idx1-ubyte.gz",
}
PCA_COMPONENTS = 64
MAX_CLASSES = 200
DATASET_NAMES = ("unit_ball", "circles", "fashion_mnist", "digits", "npz")


class DataError(ConfigError):
    """Bad data: one line naming the file and the problem."""


def _check_split(source: str, x, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Ranks, lengths, finite features, whole non-negative labels; float32 / int32."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2:
        raise DataError(f"{source}: {what}x must be 2-d (n, d), got shape {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{source}: {what}y must be 1-d (n,), got shape {y.shape}")
    if len(x) != len(y):
        raise DataError(
            f"{source}: {what}x has {len(x)} rows but {what}y has {len(y)} labels"
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"{source}: {what}x must be numbers, got dtype {x.dtype}")
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise DataError(f"{source}: {what}x has {bad} NaN or infinite values")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError(f"{source}: {what}y must hold integer class labels 0..k-1")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{source}: {what}y must hold integer labels, got {y.dtype}")
    if len(y) and y.min() < 0:
        raise DataError(f"{source}: {what}y has negative labels; use 0..k-1")
    return np.ascontiguousarray(x, np.float32), y.astype(np.int32)


def fixed_dataset(
    name: str, source: str, arrays: DataArrays, val_fraction: float = 0.2
) -> Dataset:
    """A `Dataset` over checked arrays: the pool sizes, k from the labels, every class
    present in the pool."""
    x, y = _check_split(source, arrays.x, arrays.y, "")
    if (arrays.x_val is None) != (arrays.y_val is None):
        raise DataError(f"{source}: give both x_val and y_val, or neither")
    if arrays.x_val is not None:
        x_val, y_val = _check_split(source, arrays.x_val, arrays.y_val, "validation ")
        if x_val.shape[1] != x.shape[1]:
            raise DataError(
                f"{source}: x_val has {x_val.shape[1]} features but x has {x.shape[1]}"
            )
        n_pool, n_val_pool = len(x), len(x_val)
        k = int(max(y.max(initial=0), y_val.max(initial=0))) + 1
    else:
        if not 0.0 < val_fraction < 1.0:
            raise DataError(f"{source}: val_fraction={val_fraction} must lie in (0, 1)")
        x_val = y_val = None
        n_val_pool = int(val_fraction * len(x))
        n_pool = len(x) - n_val_pool
        k = int(y.max(initial=0)) + 1
    if n_pool < 2 or n_val_pool < 1:
        raise DataError(
            f"{source}: too few points ({n_pool} in the pool, {n_val_pool} for "
            "validation); a run needs at least 2 and 1"
        )
    if not 2 <= k <= MAX_CLASSES:
        raise DataError(f"{source}: {k} classes; between 2 and {MAX_CLASSES} supported")
    counts = np.bincount(y, minlength=k)
    if (counts == 0).any():
        missing = ", ".join(str(c) for c in np.flatnonzero(counts == 0)[:5])
        raise DataError(
            f"{source}: class {missing} has no point in y; labels must be 0..k-1 "
            f"with every class present (k = {k})"
        )
    return Dataset(
        name,
        num_classes=k,
        dim=int(x.shape[1]),
        n_pool=n_pool,
        n_val_pool=n_val_pool,
        model=SOFTMAX_LOGISTIC,
        source=source,
        arrays=DataArrays(x, y, x_val, y_val),
    )


def load_npz(path, val_fraction: float = 0.2) -> Dataset:
    """A user's .npz (see the module docstring and the README's format table)."""
    source = str(path)
    if not Path(path).is_file():
        raise DataError(f"{source}: no such file; give --data=PATH.npz")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{source}: not a readable .npz file ({err})") from None
    if not isinstance(arrays, dict) or not {"x", "y"} <= set(arrays):
        raise DataError(
            f"{source}: needs arrays 'x' and 'y' (optionally 'x_val', 'y_val'); "
            f"found {', '.join(sorted(arrays)) or 'none'}"
        )
    return fixed_dataset(
        "npz",
        source,
        DataArrays(arrays["x"], arrays["y"], arrays.get("x_val"), arrays.get("y_val")),
        val_fraction,
    )


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped): magic 0x0000 08 <ndim>, big-endian int32 sizes, uint8 data."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable gzip file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8 or raw[3] not in (1, 3):
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad header)")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">i4", count=ndim, offset=4) if len(raw) >= 4 + 4 * ndim else []
    size = int(np.prod(dims)) if len(dims) == ndim else -1
    if size < 0 or len(raw) != 4 + 4 * ndim + size:
        raise DataError(f"{path}: truncated or corrupt IDX file")
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(tuple(dims))


def fashion_mnist_available(data_dir: str | None = None) -> bool:
    folder = Path(data_dir or DEFAULT_FASHION_DIR)
    return all((folder / name).is_file() for name in FASHION_FILES.values())


def _principal_axes(x: np.ndarray, count: int) -> np.ndarray:
    """The top `count` principal axes (d, count) of centred rows x, by one float64 SVD of
    the d x d scatter matrix x'x (its singular vectors are x's right singular vectors;
    much cheaper than an SVD of the 60,000 rows). Each axis's sign makes its largest
    entry positive, so the features do not depend on the LAPACK build."""
    _, _, vt = np.linalg.svd(x.T @ x)
    axes = vt[:count].T
    flip = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(count)])
    return axes * flip


@functools.lru_cache(maxsize=4)
def _fashion_mnist(folder: str) -> Dataset:
    path = Path(folder)
    missing = [n for n in FASHION_FILES.values() if not (path / n).is_file()]
    if missing:
        raise DataError(
            f"{path / missing[0]}: Fashion-MNIST file missing; run `apt-get install "
            "dataset-fashion-mnist`, or download the four .gz files from the "
            "Fashion-MNIST GitHub repository (zalandoresearch/fashion-mnist, "
            "data/fashion) into a folder and pass --data_dir=FOLDER"
        )
    raw = {key: _read_idx(path / name) for key, name in FASHION_FILES.items()}
    for images, labels in (("x", "y"), ("x_val", "y_val")):
        if raw[images].ndim != 3 or raw[labels].ndim != 1:
            raise DataError(f"{path / FASHION_FILES[images]}: expected images and labels")
        if len(raw[images]) != len(raw[labels]):
            raise DataError(
                f"{path / FASHION_FILES[labels]}: {len(raw[labels])} labels for "
                f"{len(raw[images])} images"
            )
    pool = raw["x"].reshape(len(raw["x"]), -1) / 255.0
    val = raw["x_val"].reshape(len(raw["x_val"]), -1) / 255.0
    mean = pool.mean(axis=0)
    axes = _principal_axes(pool - mean, PCA_COMPONENTS)
    return fixed_dataset(
        "fashion_mnist",
        str(path),
        DataArrays((pool - mean) @ axes, raw["y"], (val - mean) @ axes, raw["y_val"]),
    )


def load_fashion_mnist(data_dir: str | None = None) -> Dataset:
    """Fashion-MNIST with 64 principal components (see the module docstring); the
    features are computed once per process."""
    return _fashion_mnist(os.path.abspath(data_dir or DEFAULT_FASHION_DIR))


def load_digits(val_fraction: float = 0.2) -> Dataset:
    """scikit-learn's bundled digits: 1,797 points, 64 features / 16, 10 classes."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise DataError(
            "digits: needs scikit-learn; run `pip install scikit-learn`"
        ) from None
    bunch = sklearn_digits()
    return fixed_dataset(
        "digits",
        "sklearn.datasets.load_digits",
        DataArrays(bunch.data / 16.0, bunch.target),
        val_fraction,
    )


def load_dataset(
    name: str,
    data: str | None = None,
    data_dir: str | None = None,
    val_fraction: float = 0.2,
) -> Dataset:
    """A dataset by name: a synthetic one, fashion_mnist, digits, or npz (`data`)."""
    if name in ("unit_ball", "circles"):
        return get_dataset(name)
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir)
    if name == "digits":
        return load_digits(val_fraction)
    if name == "npz":
        if data is None:
            raise DataError("npz: --data=PATH.npz is needed for the npz dataset")
        return load_npz(data, val_fraction)
    raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
