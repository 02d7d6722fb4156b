"""Fixed datasets from arrays (algorithm.md section 7), checked before anything compiles: a
user's .npz and scikit-learn's digits.

- `load_npz(path)`: a user's own features, or embeddings computed elsewhere (IMDB
  sentence embeddings, CLIP image features, ...). The file is written by
  `np.savez(path, x=x, y=y)` or `np.savez(path, x=x, y=y, x_val=x_val, y_val=y_val)`:

  | array | shape | dtype | meaning |
  |---|---|---|---|
  | `x` | (n, d) | float or int, finite | the pool's features |
  | `y` | (n,) | int (or whole-valued float) | labels 0..k-1, every class present |
  | `x_val` | (m, d) | as `x` | optional: the validation pool |
  | `y_val` | (m,) | as `y` | optional, given exactly when `x_val` is |
  | `x_test` | (t, d) | as `x` | optional: a held-out test split |
  | `y_test` | (t,) | as `y` | optional, given exactly when `x_test` is |

  k = 1 + the largest label. Without `x_val`, each seed splits a random
  `int(val_fraction * n)` of the points off as its validation pool (0.2 by default; a
  `val_fraction` given for a file that has `x_val` is refused). Other arrays in the file
  are ignored; pickled (object) arrays are refused. A test split is never trained,
  validated or thresholded on: every round's model and thresholds label it as they
  label the pool, which gives `test_error` and `test_coverage` (population metrics);
  without one those columns are empty.
- `load_digits()`: scikit-learn's bundled 8x8 digits (1,797 points, 64-d, 10 classes),
  x = pixels / 16, validation pool split off per seed; the small real dataset for tests.
- `fixed_dataset(...)`: the checks and the `Dataset` behind both, and behind
  `tbal_jax.datasets.fashion_mnist`.

Every problem with the data raises `DataError` (a `ConfigError`): one line that names
the file and what is wrong, which the command line prints as `error: ...` (exit status
2). Fixed datasets use multinomial logistic regression (`SOFTMAX_LOGISTIC`) unless a run
picks another model. Returned arrays are read-only.
"""

from __future__ import annotations

import math
import os
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tbal_jax.datasets.base import DataArrays, Dataset, Source
from tbal_jax.errors import ConfigError
from tbal_jax.models.softmax import SOFTMAX_LOGISTIC

# the range of k the package is tested on (README); its int16 labels would allow 32767
MAX_CLASSES = 200
NPZ_KEYS = ("x", "y", "x_val", "y_val", "x_test", "y_test")
DEFAULT_VAL_FRACTION = 0.2

# what np.load / zipfile / gzip raise on a bad file
READ_ERRORS = (
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


def one_line(err: BaseException) -> str:
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
    name: str,
    source: str,
    arrays: DataArrays,
    val_fraction: float | None = None,
    label: str = "",
) -> Dataset:
    """A `Dataset` over checked host arrays: pool sizes, k from the labels (y and
    y_val), every class present in the pool. Without `x_val`, `val_fraction` of the
    points form each seed's validation pool (`Dataset.split`). A test split
    (`x_test`, `y_test`) is checked the same way."""
    fraction = _val_fraction(
        source, DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
    )
    x, y = _check_split(source, arrays.x, arrays.y, "")
    if (arrays.x_val is None) != (arrays.y_val is None):
        raise DataError(f"{source}: give both x_val and y_val, or neither")
    if arrays.x_val is not None:
        if val_fraction is not None:
            raise DataError(
                f"{source}: val_fraction={val_fraction} cannot apply: the data give "
                "their own validation pool (x_val, y_val); leave it out"
            )
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
    x_test, y_test = _test_split(source, arrays, x.shape[1])
    if y_test is not None:
        k = max(k, int(y_test.max(initial=0)) + 1)
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
        label=label,
        arrays=DataArrays(
            *(_read_only(a) for a in (x, y, x_val, y_val, x_test, y_test))
        ),
        n_test=0 if x_test is None else len(x_test),
    )


def _test_split(source: str, arrays: DataArrays, dim: int):
    """The checked test split (x_test, y_test), or (None, None)."""
    if (arrays.x_test is None) != (arrays.y_test is None):
        raise DataError(f"{source}: give both x_test and y_test, or neither")
    if arrays.x_test is None:
        return None, None
    x_test, y_test = _check_split(source, arrays.x_test, arrays.y_test, "test ")
    if len(x_test) == 0:
        raise DataError(f"{source}: x_test has no rows; leave x_test, y_test out")
    if x_test.shape[1] != dim:
        raise DataError(
            f"{source}: x_test has {x_test.shape[1]} features but x has {dim}"
        )
    return x_test, y_test


def load_npz(path: str | os.PathLike, val_fraction: float | None = None) -> Dataset:
    """A user's .npz of `x`, `y` and optionally `x_val`, `y_val` (module docstring)."""
    source = str(path)
    if not source.strip():
        raise DataError("--data is empty: give --data=PATH.npz")
    if Path(path).is_dir():
        raise DataError(f"{source}: is a folder; give --data=PATH.npz")
    if not Path(path).is_file():
        raise DataError(f"{source}: no such file; give --data=PATH.npz")
    if val_fraction is not None:
        _val_fraction(source, val_fraction)
    with open(path, "rb") as f:
        magic = f.read(6)
    if not magic.startswith((b"PK", b"\x93NUMPY")):  # a zip archive or one .npy array
        raise DataError(
            f"{source}: not an .npz archive (it does not start as one); write it with "
            "np.savez(path, x=x, y=y)"
        )
    try:
        loaded = np.load(path, allow_pickle=False)
    except READ_ERRORS as err:
        raise DataError(
            f"{source}: not a readable .npz file ({one_line(err)})"
        ) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(
            f"{source}: holds one .npy array, not an .npz archive; write it with "
            "np.savez(path, x=x, y=y)"
        )
    with loaded as f:
        if not {"x", "y"} <= set(f.files):
            raise DataError(
                f"{source}: needs arrays 'x' and 'y' (optionally 'x_val', 'y_val', "
                "'x_test', 'y_test'); "
                f"found {', '.join(sorted(f.files)) or 'none'}"
            )
        try:
            arrays = {key: f[key] for key in NPZ_KEYS if key in f.files}
        except READ_ERRORS as err:
            raise DataError(
                f"{source}: not a readable .npz file ({one_line(err)})"
            ) from None
    return fixed_dataset(
        "npz",
        source,
        DataArrays(*(arrays.get(key) for key in NPZ_KEYS)),
        val_fraction,
        label="Your data",
    )


def load_digits(val_fraction: float | None = None) -> Dataset:
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
        label="Digits",
    )


def _npz(data: str | os.PathLike | None = None, val_fraction: float | None = None):
    if data is None:
        raise DataError("npz: give the file with --data=PATH.npz")
    return load_npz(data, val_fraction)


NPZ = Source("npz", "Your data", _npz, options=("data", "val_fraction"))
DIGITS = Source("digits", "Digits", load_digits, options=("val_fraction",))
