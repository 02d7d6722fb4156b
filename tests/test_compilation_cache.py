"""The command line's persistent compilation cache (issue 16): on by default in a user
cache folder, `--compilation_cache=PATH` elsewhere, `off` for none; the tests never
write to the user's home (conftest.py points $JAX_COMPILATION_CACHE_DIR, which the
default follows, at .pytest_cache/jax)."""

import os
import subprocess
import sys
import time
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
    assert _cli.default_compilation_cache() == str(
        tmp_path / "xdg" / "tbal_jax" / "jax"
    )
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
    run = _run(
        tmp_path, "--compilation_cache=off", JAX_COMPILATION_CACHE_DIR=str(cache)
    )
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


def _entry(path: Path, size: int, used: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (used, used))
    return path


def test_pruning_deletes_the_least_recently_used_entries_only(tmp_path):
    """`runtime.prune_cache`: programs, traces and GPU autotuning results, oldest last
    use first, until the folder fits; a program's LRU companion goes with it; a partial
    trace left by a killed writer goes anyway, a fresh one stays; other files stay."""
    from tbal_jax import runtime

    old = _entry(tmp_path / f"jit_a-{'1' * 64}-cache", 400, 1_000)
    companion = _entry(tmp_path / f"jit_a-{'1' * 64}-atime", 8, 5_000)
    trace = _entry(tmp_path / "tbal_jax_traced" / f"{'a' * 64}.jaxexport", 300, 2_000)
    recent = _entry(tmp_path / f"jit_b-{'2' * 64}-cache", 500, 3_000)
    others = [  # not JAX's or ours by name or place: never deleted, however old
        _entry(tmp_path / "notes.txt", 10_000, 0),
        _entry(tmp_path / "build-cache", 10_000, 0),
        _entry(tmp_path / "project" / f"jit_c-{'3' * 64}-cache", 10_000, 0),
        _entry(tmp_path / f"{'b' * 64}.jaxexport", 10_000, 0),
        _entry(tmp_path / "tbal_jax_traced" / "mine.jaxexport", 10_000, 0),
        _entry(tmp_path / "tbal_jax_traced" / "tmpfresh.part", 10_000, time.time()),
    ]
    stale_part = _entry(tmp_path / "tbal_jax_traced" / "tmpkilled.part", 10_000, 0)
    autotune = _entry(tmp_path / "xla_gpu_per_fusion_autotune_cache_dir" / "f", 50, 500)
    (tmp_path / f"jit_d-{'4' * 64}-cache").symlink_to(others[0])
    assert runtime.prune_cache(tmp_path, 950) == (2, 450)
    assert not autotune.exists() and not old.exists() and not companion.exists()
    assert not stale_part.exists()  # whatever the size; not counted
    assert trace.exists() and recent.exists()
    assert runtime.prune_cache(tmp_path, 100) == (2, 800)
    assert not trace.exists() and not recent.exists()
    assert runtime.prune_cache(tmp_path, 100) == (0, 0)
    assert all(p.exists() for p in others)
    assert runtime.prune_cache(tmp_path / "not_yet", 100) == (0, 0)  # no folder yet


def test_a_loaded_trace_counts_as_used(tmp_path, monkeypatch):
    """A trace read back is touched, so pruning keeps the traces in use."""
    import jax
    import jax.numpy as jnp

    from tbal_jax import trace_cache

    traced = jax.export.export(jax.jit(jnp.sin))(jax.ShapeDtypeStruct((3,), "float32"))
    path = tmp_path / "t.jaxexport"
    trace_cache._store(traced, path)
    os.utime(path, (1_000, 1_000))
    assert trace_cache._load(path) is not None
    assert path.stat().st_mtime > 1_000_000


@pytest.mark.parametrize("size", ["0", "-1", "nan"])
def test_a_size_of_nothing_is_refused(tmp_path, size):
    run = _run(tmp_path, f"--compilation_cache_max_gib={size}")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"error: --compilation_cache_max_gib={float(size)}: give a size above 0 GiB, "
        "or inf for no limit"
    ]


def test_a_run_prunes_the_folder_to_its_size(tmp_path):
    cache = tmp_path / "cache"
    stale = _entry(cache / f"jit_stale-{'0' * 64}-cache", 3 << 20, 1_000)
    run = _run(
        tmp_path, f"--compilation_cache={cache}", "--compilation_cache_max_gib=0.001"
    )
    assert run.returncode == 0, run.stderr
    assert not stale.exists()
    assert any((cache / "tbal_jax_traced").glob("*.jaxexport"))  # this run's own


@pytest.mark.parametrize(
    "bad", ["--seeds=0", "--experiment=no_such_experiment", "--chunk_runs=0"]
)
def test_a_refused_command_leaves_the_folder_as_it_was(tmp_path, bad):
    """The folder is pruned only once the command has succeeded."""
    cache = tmp_path / "cache"
    stale = _entry(cache / f"jit_stale-{'0' * 64}-cache", 3 << 20, 1_000)
    run = _run(
        tmp_path,
        f"--compilation_cache={cache}",
        "--compilation_cache_max_gib=0.001",
        bad,
    )
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert stale.exists()


def test_the_default_limit_spares_a_shared_folder(tmp_path):
    """2 GiB by default for the folder given or tbal_jax's own; a folder from
    $JAX_COMPILATION_CACHE_DIR, shared with other programs, only with the flag."""
    cache = tmp_path / "cache"
    stale = _entry(cache / f"jit_stale-{'0' * 64}-cache", 0, 1_000)
    os.truncate(stale, 3 << 30)  # sparse: 3 GiB by its size, nothing on disk
    os.utime(stale, (1_000, 1_000))
    shared = _run(tmp_path, JAX_COMPILATION_CACHE_DIR=str(cache))
    assert shared.returncode == 0, shared.stderr
    assert stale.exists()
    given = _run(tmp_path, f"--compilation_cache={cache}", "--overwrite")
    assert given.returncode == 0, given.stderr
    assert not stale.exists()
