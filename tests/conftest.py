"""Shared test setup: deterministic CPU kernels, a persistent compilation cache shared
with the tests' subprocesses and notebook kernels, strict rank promotion, the `slow`
tier."""

from pathlib import Path

import jax
import pytest

from tbal_jax import runtime

runtime.deterministic_cpu()  # before JAX's first computation (tbal_jax.runtime)
runtime.compilation_cache(Path(__file__).parent.parent / ".pytest_cache" / "jax")
jax.config.update("jax_numpy_rank_promotion", "raise")  # equinox's strictness

# Monte-Carlo checks and the notebooks: `pytest -m "not slow"` leaves them out, CI runs
# them. Whole modules here; a single test can also carry @pytest.mark.slow itself.
SLOW_MODULES = {"test_notebooks", "test_bounds_mc"}
SLOW_TESTS = {
    # 20 seeds of the paper preset against the published table
    "test_faithful_to_the_published_table",
    "test_baselines_faithful_to_the_published_table",
    # real data, 60,000 x 64 (26 s), and a 10-class program compiled for its bytes (11 s)
    "test_small_fashion_mnist_sweep",
    "test_fixed_data_are_one_argument_not_constants_nor_copies",
    # the MLP presets end to end (35 s) and two processes joined by jax.distributed (23 s)
    "test_imdb_presets",
    "test_tiny_imagenet_preset",
    "test_two_processes_write_the_rows_of_one",
}


def pytest_collection_modifyitems(items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def key():
    return jax.random.key(0)
