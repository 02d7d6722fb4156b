"""Datasets (algorithm.md section 7): the interface (`base`) and the registry `DATASETS`.

An entry is a synthetic `Dataset` (drawn from each seed's key) or a `Source` (data read
from a file, a folder or a package, loaded once). `load_dataset(name, ...)` resolves a
name to its loaded `Dataset`; `--dataset=NAME` does the same on the command line. Add one:
a module here defining the `Dataset` (with its generator) or the `Source` (with its
loader, usually `fixed.fixed_dataset` over arrays), and one `DATASETS.register(...)`
line below.
"""

from __future__ import annotations

import os

from tbal_jax.datasets.base import DataArrays, Dataset, Pools, Source, host_pools
from tbal_jax.datasets.fashion_mnist import (
    DEFAULT_FASHION_DIR,
    FASHION_MNIST,
    FASHION_MNIST_HELDOUT,
    fashion_mnist_available,
    load_fashion_mnist,
)
from tbal_jax.datasets.fixed import (
    DIGITS,
    NPZ,
    DataError,
    fixed_dataset,
    load_digits,
    load_npz,
)
from tbal_jax.datasets.synthetic import CIRCLES, UNIT_BALL
from tbal_jax.errors import ConfigError
from tbal_jax.registry import Registry

DATASETS: Registry[Dataset | Source] = Registry("dataset")
DATASETS.register(UNIT_BALL)
DATASETS.register(CIRCLES)
DATASETS.register(FASHION_MNIST)
DATASETS.register(FASHION_MNIST_HELDOUT)
DATASETS.register(DIGITS)
DATASETS.register(NPZ)

FLAGS = {"data": "--data", "data_dir": "--data_dir", "val_fraction": "--val_fraction"}


def load_dataset(
    name: str,
    data: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    val_fraction: float | None = None,
) -> Dataset:
    """The registered dataset `name`, loaded. An option the dataset cannot use (a file
    for a synthetic dataset, say) is a one-line `ConfigError`, not ignored."""
    entry = DATASETS.get(name)
    given = {
        k: v
        for k, v in (
            ("data", data),
            ("data_dir", data_dir),
            ("val_fraction", val_fraction),
        )
        if v is not None
    }
    unused = [FLAGS[k] for k in given if k not in entry.options]
    if unused:
        takes = ", ".join(FLAGS[k] for k in entry.options) or "no option"
        hint = " (a file of your own is --dataset=npz)" if "data" in given else ""
        raise ConfigError(
            f"{' and '.join(unused)} cannot apply to the {name} dataset, which takes "
            f"{takes}; leave {'them' if len(unused) > 1 else 'it'} out{hint}"
        )
    return entry.load(**given)


def resolve_dataset(dataset: Dataset | str) -> Dataset:
    """A `Dataset` as it is, or a registered name loaded with its defaults."""
    if isinstance(dataset, Dataset):
        return dataset
    if not isinstance(dataset, str):
        raise ConfigError(
            f"dataset={dataset!r} is not a Dataset; give a name "
            f"({', '.join(DATASETS.names())}) or tbal_jax.datasets.load_dataset(...)"
        )
    return load_dataset(dataset)


__all__ = [
    "CIRCLES",
    "DATASETS",
    "DEFAULT_FASHION_DIR",
    "DIGITS",
    "FASHION_MNIST",
    "FASHION_MNIST_HELDOUT",
    "NPZ",
    "UNIT_BALL",
    "DataArrays",
    "DataError",
    "Dataset",
    "Pools",
    "Source",
    "fashion_mnist_available",
    "fixed_dataset",
    "host_pools",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_npz",
    "resolve_dataset",
]
