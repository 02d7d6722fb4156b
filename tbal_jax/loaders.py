"""Real data as fixed `Dataset`s (SPEC section 7), validated before anything compiles.

- `load_npz(path)`: a user's own features, or embeddings computed elsewhere (IMDB
  sentence embeddings, CLIP image features, ...). The file is written by
  `np.savez(path, x=x, y=y)` or `np.savez(path, x=x, y=y, x_val=x_val, y_val=y_val)`:

  | array | shape | dtype | meaning |
  |---|---|---|---|
  | `x` | (n, d) | float or int, finite | the pool's features |
  | `y` | (n,) | int (or whole-valued float) | labels 0..k-1, every class present |
  | `x_val` | (m, d) | as `x` | optional: the validation pool |
  | `y_val` | (m,) | as `y` | optional, given exactly when `x_val` is |

  k = 1 + the largest label. Without `x_val`, each seed splits a random
  `int(val_fraction * n)` of the points off as its validation pool. Other arrays in the
  file are ignored; pickled (object) arrays are refused.
- `load_fashion_mnist(data_dir)`: the four gzipped IDX files that Debian's
  `dataset-fashion-mnist` package installs; pool = the 60,000 training images,
  validation pool = the 10,000 test images; x = pixels / 255, centred by the pool mean
  and projected on the pool's top 64 principal components (float64, then float32);
  k = 10. Computed once per process and folder.
- `load_digits()`: scikit-learn's bundled 8x8 digits (1,797 points, 64-d, 10 classes),
  x = pixels / 16, validation pool split off per seed; the small real dataset for tests.
- `load_dataset(name, ...)`: any of `DATASET_NAMES`, synthetic or real.

Every problem with the data raises `DataError` (a `ConfigError`): one line that names
the file and what is wrong, which the command line prints as `error: ...` (exit status
2).
All fixed datasets use multinomial logistic regression (`models.SOFTMAX_LOGISTIC`).
Returned arrays are read-only (the Fashion-MNIST ones are shared by every caller).
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tbal_jax.data import SYNTHETIC, DataArrays, Dataset
from tbal_jax.errors import ConfigError
from tbal_jax.models import SOFTMAX_LOGISTIC

DEFAULT_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_FILES = {  # read in this order
    "x": "train-images-idx3-ubyte.gz",
    "y": "train-labels-idx1-ubyte.gz",
    "x_val": "t10k-images-idx3-ubyte.gz",
    "y_val": "t10k-labels-idx1-ubyte.gz",
}
FASHION_HOWTO = (
    "run `apt-get install dataset-fashion-mnist`, or download the four .gz files from "
    "the Fashion-MNIST GitHub repository (zalandoresearch/fashion-mnist, data/fashion) "
    "into a folder and pass --data_dir=FOLDER"
)
PCA_COMPONENTS = 64
# the range of k the package is tested on (README); its int16 labels would allow 32767
MAX_CLASSES = 200
NPZ_KEYS = ("x", "y", "x_val", "y_val")
DATASET_NAMES = (*SYNTHETIC, "fashion_mnist", "digits", "npz")

# what np.load / zipfile / gzip raise on a bad file
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    zipfile.BadZipFile,
    zlib.error,
    pickle.UnpicklingError,
    MemoryError,
)


class DataError(ConfigError):
    """Bad data: one line naming the file and the problem."""


def _reason(err: BaseException) -> str:
    """An exception as a short single line."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _check_split(source: str, x: Any, y: Any, what: str) -> tuple[np.ndarray, ...]:
    """Ranks, lengths, numeric finite features, labels 0..MAX_CLASSES-1 that are whole
    numbers; returns C-contiguous float32 x and int32 y."""
    for name, a in (("x", x), ("y", y)):
        if not isinstance(a, np.ndarray):
            raise DataError(
                f"{source}: {what}{name} is not an array; save it with np.savez"
            )
    if x.ndim != 2:
        raise DataError(f"{source}: {what}x must be 2-d (n, d), got shape {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{source}: {what}y must be 1-d (n,), got shape {y.shape}")
    if len(x) != len(y):
        raise DataError(
            f"{source}: {what}x has {len(x)} rows but {what}y has {len(y)} labels"
        )
    if x.shape[1] == 0:
        raise DataError(f"{source}: {what}x has 0 features; it must be (n, d), d >= 1")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(
            f"{source}: {what}x must be numbers (float or int), got dtype {x.dtype}"
        )
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise DataError(
            f"{source}: {what}x has {bad} NaN or infinite values; drop or impute them"
        )
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise DataError(
                f"{source}: {what}y must hold integer class labels 0..k-1, got "
                "non-integer floats"
            )
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(
            f"{source}: {what}y must hold integer class labels 0..k-1, "
            f"got dtype {y.dtype}"
        )
    if len(y) and y.min() < 0:
        raise DataError(f"{source}: {what}y has negative labels; use 0..k-1")
    if len(y) and y.max() >= MAX_CLASSES:
        top = int(y.max())
        raise DataError(
            f"{source}: {what}y has label {top}, so {top + 1} classes; between 2 and "
            f"{MAX_CLASSES} supported (labels must be 0..k-1)"
        )
    with np.errstate(over="ignore"):
        x32 = np.ascontiguousarray(x, np.float32)
    if not np.isfinite(x32).all():  # finite in float64, too large for float32
        raise DataError(f"{source}: {what}x has values beyond float32's range; rescale")
    return x32, y.astype(np.int32)


def _val_fraction(source: str, val_fraction: Any) -> float:
    try:
        fraction = float(val_fraction)
    except (TypeError, ValueError):
        fraction = math.nan
    if not 0.0 < fraction < 1.0:
        raise DataError(f"{source}: val_fraction={val_fraction} must lie in (0, 1)")
    return fraction


def _read_only(a: np.ndarray | None) -> np.ndarray | None:
    if a is not None:
        a.flags.writeable = False
    return a


def fixed_dataset(
    name: str, source: str, arrays: DataArrays, val_fraction: float = 0.2
) -> Dataset:
    """A `Dataset` over checked host arrays: pool sizes, k from the labels (y and
    y_val), every class present in the pool. Without `x_val`, `val_fraction` of the
    points form each seed's validation pool (`Dataset.split`)."""
    fraction = _val_fraction(source, val_fraction)
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
        x_val = y_val = None
        n_val_pool = int(fraction * len(x))
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
        empty = np.flatnonzero(counts == 0)
        listed = ", ".join(str(c) for c in empty[:5]) + (
            " ..." if len(empty) > 5 else ""
        )
        raise DataError(
            f"{source}: class {listed} has no point in y; labels must be 0..k-1 "
            f"with every class present in the pool (k = {k})"
        )
    return Dataset(
        name,
        num_classes=k,
        dim=int(x.shape[1]),
        n_pool=n_pool,
        n_val_pool=n_val_pool,
        model=SOFTMAX_LOGISTIC,
        source=source,
        arrays=DataArrays(*(_read_only(a) for a in (x, y, x_val, y_val))),
    )


def load_npz(path: str | os.PathLike, val_fraction: float = 0.2) -> Dataset:
    """A user's .npz of `x`, `y` and optionally `x_val`, `y_val` (module docstring)."""
    source = str(path)
    if Path(path).is_dir():
        raise DataError(f"{source}: is a folder; give --data=PATH.npz")
    if not Path(path).is_file():
        raise DataError(f"{source}: no such file; give --data=PATH.npz")
    _val_fraction(source, val_fraction)
    try:
        loaded = np.load(path, allow_pickle=False)
    except _READ_ERRORS as err:
        raise DataError(
            f"{source}: not a readable .npz file ({_reason(err)})"
        ) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(
            f"{source}: holds one .npy array, not an .npz archive; write it with "
            "np.savez(path, x=x, y=y)"
        )
    with loaded as f:
        if not {"x", "y"} <= set(f.files):
            raise DataError(
                f"{source}: needs arrays 'x' and 'y' (optionally 'x_val', 'y_val'); "
                f"found {', '.join(sorted(f.files)) or 'none'}"
            )
        try:
            arrays = {key: f[key] for key in NPZ_KEYS if key in f.files}
        except _READ_ERRORS as err:
            raise DataError(
                f"{source}: not a readable .npz file ({_reason(err)})"
            ) from None
    return fixed_dataset(
        "npz",
        source,
        DataArrays(arrays["x"], arrays["y"], arrays.get("x_val"), arrays.get("y_val")),
        val_fraction,
    )


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """A gzipped IDX file of unsigned bytes: magic 00 00 08 <ndim>, then ndim big-endian
    int32 sizes, then the data."""
    fix = "reinstall dataset-fashion-mnist or download the file again"
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except _READ_ERRORS as err:
        raise DataError(
            f"{path}: not a readable gzip file ({_reason(err)}); {fix}"
        ) from None
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise DataError(
            f"{path}: not an IDX file of unsigned bytes with {ndim} dimension(s) "
            f"(bad header); {fix}"
        )
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path}: truncated or corrupt IDX file (short header); {fix}")
    dims = tuple(int(v) for v in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    if min(dims) < 0 or len(raw) - start != math.prod(dims):
        raise DataError(
            f"{path}: truncated or corrupt IDX file ({len(raw) - start} data bytes for "
            f"shape {dims}); {fix}"
        )
    return np.frombuffer(raw, np.uint8, offset=start).reshape(dims)


def fashion_mnist_available(data_dir: str | os.PathLike = DEFAULT_FASHION_DIR) -> bool:
    """Whether the four Fashion-MNIST files are in `data_dir`."""
    folder = Path(data_dir or DEFAULT_FASHION_DIR)
    return all((folder / name).is_file() for name in FASHION_FILES.values())


def _principal_axes(centred: np.ndarray, count: int) -> np.ndarray:
    """The top `count` principal axes (d, count) of centred float64 rows, by variance.

    One float64 `eigh` of the d x d scatter matrix x'x (its eigenvectors are x's right
    singular vectors): for 60,000 x 784, 0.4 s on two cores against 5 s for an SVD of
    the rows, with the same axes to 1e-14. Each axis's sign makes its largest-|entry|
    component positive, so the features do not depend on the LAPACK build."""
    _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    axes = vectors[:, ::-1][:, :count]
    flip = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])])
    return np.ascontiguousarray(axes * flip)


@functools.lru_cache(maxsize=4)
def _fashion_mnist(folder: str) -> Dataset:
    path = Path(folder)
    for name in FASHION_FILES.values():
        if not (path / name).is_file():
            raise DataError(
                f"{path / name}: Fashion-MNIST file missing; {FASHION_HOWTO}"
            )
    raw = {
        key: _read_idx(path / name, 3 if key.startswith("x") else 1)
        for key, name in FASHION_FILES.items()
    }
    for images, labels in (("x", "y"), ("x_val", "y_val")):
        if len(raw[images]) != len(raw[labels]):
            raise DataError(
                f"{path / FASHION_FILES[labels]}: {len(raw[labels])} labels for "
                f"{len(raw[images])} images in {FASHION_FILES[images]}"
            )
    if raw["x"].shape[1:] != raw["x_val"].shape[1:]:
        raise DataError(
            f"{path / FASHION_FILES['x_val']}: images of shape {raw['x_val'].shape[1:]}"
            f", but {raw['x'].shape[1:]} in {FASHION_FILES['x']}"
        )
    d = math.prod(raw["x"].shape[1:])
    if d < PCA_COMPONENTS or len(raw["x"]) < 2:
        raise DataError(
            f"{path / FASHION_FILES['x']}: {len(raw['x'])} images of {d} pixels; the "
            f"features need at least 2 images and {PCA_COMPONENTS} pixels"
        )
    pool = raw["x"].reshape(len(raw["x"]), d) / 255.0  # float64
    mean = pool.mean(axis=0)
    pool -= mean  # in place: one (60000, 784) float64 array in all
    axes = _principal_axes(pool, PCA_COMPONENTS)
    val = raw["x_val"].reshape(len(raw["x_val"]), d) / 255.0 - mean
    return fixed_dataset(
        "fashion_mnist",
        str(path),
        DataArrays(pool @ axes, raw["y"], val @ axes, raw["y_val"]),
    )


def load_fashion_mnist(data_dir: str | os.PathLike = DEFAULT_FASHION_DIR) -> Dataset:
    """Fashion-MNIST on the pool's top 64 principal components (module docstring);
    computed once per process and folder, later calls return the same `Dataset`."""
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
    data: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.2,
) -> Dataset:
    """A dataset by name (`DATASET_NAMES`): synthetic, fashion_mnist (from `data_dir`),
    digits, or npz (the file `data`)."""
    if name in SYNTHETIC:
        return SYNTHETIC[name]
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir or DEFAULT_FASHION_DIR)
    if name == "digits":
        return load_digits(val_fraction)
    if name == "npz":
        if data is None:
            raise DataError("npz: --data=PATH.npz is needed for the npz dataset")
        return load_npz(data, val_fraction)
    raise ConfigError(
        f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}"
    )
