"""Where the loaders lived before the datasets package: `from tbal_jax.loaders import
load_dataset` (and the other names the README uses) keeps working; new code imports
`tbal_jax.datasets`."""

from tbal_jax.datasets import (  # noqa: F401
    DATASETS,
    DEFAULT_FASHION_DIR,
    DataError,
    fashion_mnist_available,
    fixed_dataset,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_npz,
)
