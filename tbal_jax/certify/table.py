"""A model's own scores as a table (algorithm.md section 13): the true label where a human
gave one, the predicted label and its confidence, checked on the host before anything
compiles.

Formats:

- CSV with a header row; the columns are named by `label_col` (default `Y`), `pred_col`
  (`Yhat`) and `conf_col` (`confidence`); other columns are ignored. An empty true label
  means the row has no human label: it can be machine-labelled, not validated.
- .npz with `y`, and either `yhat` and `confidence` or a `probs` (n, k) matrix (then
  yhat = argmax, confidence = max). In `y`, -1 (or NaN) marks a row without a label.

Labels may be strings or integers. The classes are the distinct true labels, in sorted
order (numerically when every label is an integer), mapped to 0..k-1; the mapping is
kept (`ScoresTable.classes`) and written to meta.json. Every problem is a `DataError` of
one line naming the file, the column and the row (1-based data row, as a spreadsheet
counts them below the header).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np

from tbal_jax.datasets.fixed import READ_ERRORS, DataError, one_line

DEFAULT_COLUMNS = {"label_col": "Y", "pred_col": "Yhat", "conf_col": "confidence"}
NO_LABEL = -1


@dataclasses.dataclass(frozen=True)
class ScoresTable:
    """A checked scores table: `y` (n,) int32 class index or NO_LABEL, `yhat` (n,) int32,
    `confidence` (n,) float32 in [0, 1]; `classes` the original label of each index."""

    name: str
    y: np.ndarray
    yhat: np.ndarray
    confidence: np.ndarray
    classes: tuple

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    @property
    def k(self) -> int:
        return len(self.classes)

    @property
    def labelled(self) -> np.ndarray:
        return self.y != NO_LABEL

    @property
    def n_labelled(self) -> int:
        return int(np.sum(self.labelled))

    def describe(self) -> dict:
        """What meta.json records of the table."""
        acc = float(np.mean(self.y[self.labelled] == self.yhat[self.labelled]))
        return {
            "name": self.name,
            "rows": self.n,
            "labelled_rows": self.n_labelled,
            "classes": self.k,
            "accuracy_of_labelled_rows": acc,
            "class_index": {str(c): i for i, c in enumerate(self.classes)},
        }


def _index_labels(path, y_raw, yhat_raw, pred_col):
    """Map labels to 0..k-1 in sorted order; a predicted label no true label has is an
    error naming its first row."""
    if not all(isinstance(v, int) for v in [*y_raw, *yhat_raw] if v is not None):
        y_raw = [None if v is None else str(v) for v in y_raw]  # sorted as text
        yhat_raw = [str(v) for v in yhat_raw]
    classes = tuple(sorted({v for v in y_raw if v is not None}))
    if not classes:
        raise DataError(f"{path}: no row has a true label; give at least some")
    index = {c: i for i, c in enumerate(classes)}
    for row, v in enumerate(yhat_raw, start=1):
        if v not in index:
            raise DataError(
                f"{path}: column {pred_col!r}, row {row}: predicted label {v!r} is "
                f"not among the {len(classes)} true labels; every predicted class needs "
                "validated rows"
            )
    y = np.array([NO_LABEL if v is None else index[v] for v in y_raw], np.int32)
    yhat = np.array([index[v] for v in yhat_raw], np.int32)
    return y, yhat, classes


def _check_confidence(path, conf, conf_col, raw=None):
    bad = ~np.isfinite(conf) | (conf < 0) | (conf > 1)
    if bad.any():
        row = int(np.argmax(bad)) + 1
        shown = raw[row - 1] if raw is not None else str(float(conf[row - 1]))
        raise DataError(
            f"{path}: column {conf_col!r}, row {row}: confidence {shown!r} is "
            "not a number in [0, 1]"
        )


def _label_text(value: str):
    """A label cell as a hashable label: whole numbers as ints, so '3' and '3.0' agree."""
    value = value.strip()
    if value == "" or value.lower() == "nan":
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else value


def _read_csv(path: Path, label_col, pred_col, conf_col):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: the file is empty; give a header row and data")
        for col in (label_col, pred_col, conf_col):
            if col not in header:
                raise DataError(
                    f"{path}: no column {col!r}; its columns are "
                    f"{', '.join(repr(h) for h in header)} (name them with "
                    "--label_col, --pred_col, --conf_col)"
                )
        at = {c: header.index(c) for c in (label_col, pred_col, conf_col)}
        y_raw, yhat_raw, conf, raw = [], [], [], []
        for row, cells in enumerate(reader, start=1):
            if not cells:
                continue
            if len(cells) < len(header):
                raise DataError(
                    f"{path}: row {row} has {len(cells)} cells, the header "
                    f"{len(header)}; fix the row"
                )
            pred = _label_text(cells[at[pred_col]])
            if pred is None:
                raise DataError(
                    f"{path}: column {pred_col!r}, row {row}: no predicted label; "
                    "every row needs one"
                )
            try:
                value = float(cells[at[conf_col]])
            except ValueError:
                value = math.nan
            raw.append(cells[at[conf_col]].strip())
            y_raw.append(_label_text(cells[at[label_col]]))
            yhat_raw.append(pred)
            conf.append(value)
    return y_raw, yhat_raw, np.asarray(conf, np.float64), raw


PROBS_ATOL = 1e-3  # how far a row of 'probs' may sum from 1 (float16 or rounded tables)


def _check_probs(path: Path, probs: np.ndarray) -> None:
    """Every row of a 'probs' matrix a probability vector: finite entries in [0, 1]
    summing to 1 within PROBS_ATOL; else a `DataError` naming the first bad row."""
    sums = probs.sum(axis=1)
    bad = ~np.isfinite(sums) | (probs.min(axis=1) < 0) | (np.abs(sums - 1) > PROBS_ATOL)
    if bad.any():
        r = int(np.argmax(bad))
        raise DataError(
            f"{path}: row {r} of 'probs' is not a probability vector (sum {sums[r]:.4g}, "
            f"least entry {probs[r].min():.4g}); give softmax probabilities, each row "
            "non-negative and summing to 1"
        )


def _read_npz(path: Path):
    with np.load(path, allow_pickle=False) as f:
        if "y" not in f:
            raise DataError(f"{path}: no array 'y' (true labels, -1 for none)")
        y = np.asarray(f["y"])
        if "probs" in f:
            probs = np.asarray(f["probs"], np.float64)
            if probs.ndim != 2 or probs.shape[0] != y.shape[0] or probs.shape[1] < 2:
                raise DataError(f"{path}: 'probs' must be (n, k) with n = len(y), k >= 2")
            _check_probs(path, probs)
            yhat, conf = np.argmax(probs, axis=1), np.max(probs, axis=1)
        elif "yhat" in f and "confidence" in f:
            yhat = np.asarray(f["yhat"])
            conf = np.asarray(f["confidence"], np.float64)
        else:
            raise DataError(
                f"{path}: give 'yhat' and 'confidence', or a 'probs' (n, k) matrix"
            )
    if not (y.shape == yhat.shape == conf.shape) or y.ndim != 1:
        raise DataError(f"{path}: 'y', 'yhat' and 'confidence' must be (n,) alike")
    as_float = y.astype(np.float64) if y.dtype.kind in "iuf" else None
    if as_float is not None:
        missing = np.isnan(as_float) | (as_float == NO_LABEL)
        y_raw = [None if m else _label_text(str(v)) for v, m in zip(as_float, missing)]
    else:
        y_raw = [_label_text(str(v)) for v in y]
    yhat_raw = [_label_text(str(v)) for v in yhat]
    return y_raw, yhat_raw, conf, None


def load_scores(
    path,
    label_col: str = DEFAULT_COLUMNS["label_col"],
    pred_col: str = DEFAULT_COLUMNS["pred_col"],
    conf_col: str = DEFAULT_COLUMNS["conf_col"],
) -> ScoresTable:
    """Read and check a scores table (the module docstring); a `DataError` on any problem."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--scores={path}: no such file")
    try:
        if path.suffix == ".npz":
            y_raw, yhat_raw, conf, raw = _read_npz(path)
            label_col, pred_col, conf_col = "y", "yhat", "confidence"
        else:
            y_raw, yhat_raw, conf, raw = _read_csv(path, label_col, pred_col, conf_col)
    except DataError:
        raise
    except (*READ_ERRORS, csv.Error, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read it ({one_line(err)})") from None
    if not y_raw:
        raise DataError(f"{path}: the table has no rows")
    _check_confidence(path, conf, conf_col, raw)
    y, yhat, classes = _index_labels(path, y_raw, yhat_raw, pred_col)
    for a in (y, yhat, conf):
        a.setflags(write=False)
    conf32 = conf.astype(np.float32)
    conf32.setflags(write=False)
    return ScoresTable(path.stem, y, yhat, conf32, classes)


def check_grid(table: ScoresTable, n_val: list[int], path="") -> None:
    """Each N_v must leave a pool: 1 <= N_v < the labelled rows; and each is given once
    (a repeated cell would count its draws twice in the summary)."""
    repeated = sorted({v for v in n_val if n_val.count(v) > 1})
    if repeated:
        raise DataError(f"--n_val: {', '.join(map(str, repeated))} repeated; give each once")
    for v in n_val:
        if not 1 <= v < table.n_labelled:
            raise DataError(
                f"--n_val={v}: {path or table.name} has {table.n_labelled} labelled "
                f"rows; give N_v from 1 to {table.n_labelled - 1} (the rest is the pool)"
            )
