"""Type aliases shared by the package (after evosax's `types.py`)."""

from typing import Any, TypeAlias

import jax

Array: TypeAlias = jax.Array
Key: TypeAlias = jax.Array  # a typed key from `jax.random.key`
PyTree: TypeAlias = Any
