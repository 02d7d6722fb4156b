"""Shared test setup: deterministic CPU kernels, a persistent compilation cache shared
with the tests' subprocesses and notebook kernels, strict rank promotion."""

from pathlib import Path

import jax
import pytest

from tbal_jax import runtime

runtime.deterministic_cpu()  # before JAX's first computation (tbal_jax.runtime)
runtime.compilation_cache(Path(__file__).parent.parent / ".pytest_cache" / "jax")
jax.config.update("jax_numpy_rank_promotion", "raise")  # equinox's strictness

# The slow tier (`pytest -m "not slow"` leaves it out, CI runs it) is the `slow` marker
# on the tests and modules themselves (pyproject.toml declares it).


@pytest.fixture
def key():
    return jax.random.key(0)
