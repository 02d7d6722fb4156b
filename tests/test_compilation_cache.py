"""The command line's persistent compilation cache (issue 16): on by default in a user
cache folder, `--compilation_cache=PATH` elsewhere, `off` for none; the tests never
write to the user's home (conftest.py points $JAX_COMPILATION_CACHE_DIR, which the
default follows, at .pytest_cache/jax)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import _cli

ARGS = [
    "--experiment=unit_ball_val",
    "--seeds=1",
    "--n_val=100",
    "--n_train=100",
    "--c1=0",
    "--methods=tbal",
]


def test_the_default_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))
    assert _cli.default_compilation_cache() == str(tmp_path / "jax")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _cli.default_compilation_cache() == str(tmp_path / "xdg" / "tbal_jax" / "jax")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _cli.default_compilation_cache() == str(
        tmp_path / "home" / ".cache" / "tbal_jax" / "jax"
    )


def test_the_test_suite_keeps_its_cache_out_of_home():
    folder = Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    assert folder.parts[-2:] == (".pytest_cache", "jax")
    assert Path(_cli.default_compilation_cache()) == folder


def _run(tmp_path, *args, **env):
    return subprocess.run(
        [sys.executable, "-m", "experiments.run", *ARGS, f"--out={tmp_path / 'out'}"]
        + list(args),
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | env,
    )


def test_a_run_fills_the_given_folder(tmp_path):
    cache = tmp_path / "cache"
    run = _run(tmp_path, f"--compilation_cache={cache}")
    assert run.returncode == 0, run.stderr
    assert any(cache.iterdir())  # the sweep's program, however quick its compile
    assert any((cache / "tbal_jax_traced").glob("*.jaxexport"))  # and its trace


@pytest.mark.slow
def test_off_writes_nothing(tmp_path):
    cache = tmp_path / "cache"
    run = _run(tmp_path, "--compilation_cache=off", JAX_COMPILATION_CACHE_DIR=str(cache))
    assert run.returncode == 0, run.stderr
    assert not cache.exists() or not any(cache.iterdir())


def test_an_empty_folder_is_refused(tmp_path):
    run = _run(tmp_path, "--compilation_cache=")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: --compilation_cache is empty: give a folder, or off"
    ]


def test_the_test_process_itself_keeps_none(tmp_path):
    """conftest.py: the command line run in the suite's own process leaves the cache
    off there (its subprocesses still share one)."""
    import jax

    from experiments import run as run_module

    assert run_module.cli(["experiments.run", *ARGS, f"--out={tmp_path}"]) == 0
    assert not jax.config.jax_enable_compilation_cache
    assert os.environ["JAX_COMPILATION_CACHE_DIR"]
