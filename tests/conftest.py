"""Shared test setup: deterministic CPU kernels, a persistent compilation cache for the
tests' subprocesses and notebook kernels (not for this process), strict rank promotion."""

import gc
import signal
from pathlib import Path

import jax
import pytest

from experiments import _cli
from tbal_jax import runtime, sweep

runtime.deterministic_cpu()  # before JAX's first computation (tbal_jax.runtime)
# The subprocesses inherit the cache through the environment. This process, which lives
# for the whole suite, neither reads nor writes it: XLA's CPU loader crashes now and then
# while loading a cached executable back (jax-ml/jax#28908), and in one process that loads
# hundreds of them it did so twice in CI (a segfault and an abort, in test_models).
runtime.compilation_cache(Path(__file__).parent.parent / ".pytest_cache" / "jax")
jax.config.update("jax_enable_compilation_cache", False)
jax.config.update("jax_numpy_rank_promotion", "raise")  # equinox's strictness
# pytest-xdist's workers start with Ctrl-C ignored, and a subprocess inherits an ignored
# signal: the tests that send SIGINT to the command line (or to this process) need it
# to raise KeyboardInterrupt, as it does in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# The slow tier (`pytest -m "not slow"` leaves it out, CI runs it) is the `slow` marker
# on the tests and modules themselves (pyproject.toml declares it). The exhaustive tier
# (`exhaustive` marker) is skipped, with its reason, unless pytest gets --exhaustive.


def pytest_addoption(parser):
    parser.addoption(
        "--exhaustive",
        action="store_true",
        help="also run the exhaustive tier (every registered name through the CLI)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--exhaustive"):
        return
    skip = pytest.mark.skip(reason="exhaustive tier: run with pytest --exhaustive")
    for item in items:
        if "exhaustive" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _no_persistent_cache_here():
    """The command line run in this process (`run.cli`) turns the cache on by default;
    here it keeps it off, refusing what it refuses (an empty --compilation_cache)."""
    on = _cli.compilation_cache
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            _cli,
            "compilation_cache",
            lambda v, *size: on(v if v is not None and not v.strip() else "off", *size),
        )
        yield


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """After each test module, drop every compiled program (JAX's caches and the
    default sweeper's): held for the whole suite they grew this process to over 6 GiB
    by a quarter of it."""
    yield
    jax.clear_caches()
    sweep.SWEEPER.clear()
    gc.collect()


@pytest.fixture
def key():
    return jax.random.key(0)
