"""Shared test setup: small static configs, keys and a float64 NumPy reference."""

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")  # equinox's strictness


@pytest.fixture
def key():
    return jax.random.key(0)
