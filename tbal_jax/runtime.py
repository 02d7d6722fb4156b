"""What an entry point asks of JAX before it starts: nothing here runs at import.

- `deterministic_cpu()`: XLA's CPU backend rounds a dot differently with its experimental
  YNNPACK fusions on, and differently for each batch size, so a run's result would depend
  on the sweep it ran in (see `tbal_jax.sweep`). This turns those fusions off (about 10%
  slower on CPU) through `XLA_FLAGS`, which XLA reads once, when its backend starts; it is
  only set where the installed jaxlib knows the flag (XLA aborts on an unknown flag, and
  older jaxlibs have no YNNPACK fusions to turn off).
- `compilation_cache(folder)`: JAX's persistent compilation cache, so a later process
  loads compiled sweeps instead of compiling them again (JAX docs, "Persistent
  compilation cache").
- `prune_cache(folder, max_bytes)`: keep that folder (and the traced sweeps beside it,
  `tbal_jax.trace_cache`) within a size, the least recently used files deleted first;
  JAX's own cache never deletes anything unless `filelock` is installed and
  `jax_compilation_cache_max_size` set, and then fails on a folder filled before.
- `distributed(...)`: `jax.distributed.initialize`, for a sweep over several hosts.
- `machine_fingerprint()`: what a run's bits depend on besides the code and the seed
  (the processor and its instruction sets, jaxlib, XLA's flags): XLA's CPU code
  generation and rounding follow the processor, so rows are bit-identical only between
  machines with the same fingerprint.

The command line, the tests (conftest.py) and the notebooks call the first two.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
import time
from pathlib import Path

from absl import logging

from tbal_jax.errors import ConfigError

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
# /proc/cpuinfo flags that XLA's CPU code generation chooses kernels by
ISA_PREFIXES = ("sse", "ssse", "avx", "fma", "f16c", "amx", "bmi", "neon", "asimd", "sve")


def _jaxlib_knows(flag: str) -> bool:
    """Whether a shared library of the installed jaxlib holds the flag's name."""
    import jaxlib

    name = flag.lstrip("-").encode()
    for lib in sorted(Path(jaxlib.__file__).parent.glob("*.so")):
        if lib.stat().st_size == 0:
            continue
        with (
            open(lib, "rb") as f,
            mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m,
        ):
            if m.find(name) >= 0:
                return True
    return False


def _backend_started() -> bool:
    from jax._src import xla_bridge

    return xla_bridge.backends_are_initialized()


def deterministic_cpu() -> bool:
    """Turn XLA's CPU YNNPACK fusions off (module docstring); returns whether the flag is
    set. Call it before JAX starts its backend (before the first computation)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if YNN_FLAG in flags:
        return True
    if not _jaxlib_knows(YNN_FLAG):
        return False
    if _backend_started():
        raise RuntimeError(
            "deterministic_cpu() must run before JAX's first computation; "
            "call it at the top of the program"
        )
    os.environ["XLA_FLAGS"] = f"{flags} {YNN_FLAG}=".strip()
    return True


def compilation_cache(folder: str | os.PathLike) -> None:
    """Keep compiled programs in `folder` across processes (every program, however
    quick its compile). Child processes inherit it through the environment."""
    import jax

    folder = str(Path(folder).absolute())
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


# the files of a cache folder that `prune_cache` may delete, by their exact names: JAX's
# compiled programs at its top (`<name>-<sha256>-cache`; the access-time file of JAX's
# own LRU cache goes with its program), the traced sweeps of `tbal_jax.trace_cache`
# (`tbal_jax_traced/<sha256>.jaxexport`) and, on a GPU, XLA's per-fusion autotuning
# results (every plain file of `xla_gpu_per_fusion_autotune_cache_dir/`, which JAX puts
# in the folder); anything else in the folder is left alone
_PROGRAM = re.compile(r".+-[0-9a-f]{64}-cache")
_TRACE = re.compile(r"[0-9a-f]{64}\.jaxexport")
_ANY = re.compile(r".+")
_AUTOTUNE = "xla_gpu_per_fusion_autotune_cache_dir"
_CACHE_SUFFIX, _ATIME_SUFFIX = "-cache", "-atime"
# a trace being written (`tempfile.mkstemp(suffix=".part")` beside it); one older than
# STALE_PART_S was left by a writer that was killed, and goes at every pruning
_PART = re.compile(r"tmp\w+\.part")
STALE_PART_S = 3600.0


def _cache_entries(folder: Path) -> list[tuple[float, int, Path]]:
    """(last use, size, path) of each program and trace in `folder` (module comment)."""
    entries = []
    for where, pattern in (
        (folder, _PROGRAM),
        (folder / "tbal_jax_traced", _TRACE),
        (folder / _AUTOTUNE, _ANY),
    ):
        try:
            paths = [p for p in where.iterdir() if pattern.fullmatch(p.name)]
        except OSError:  # no such folder yet, or unreadable
            continue
        for path in paths:
            try:
                st = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):  # plain files only, never a link
                entries.append((max(st.st_atime, st.st_mtime), st.st_size, path))
    return entries


def _delete_stale_parts(traces: Path) -> None:
    try:
        parts = [p for p in traces.iterdir() if _PART.fullmatch(p.name)]
    except OSError:
        return
    now = time.time()
    for path in parts:
        try:
            st = path.lstat()
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_PART_S:
                path.unlink()
        except OSError:
            continue


def prune_cache(folder: str | os.PathLike, max_bytes: float) -> tuple[int, int]:
    """Delete the least recently used entries of a compilation cache folder (its
    programs and its `tbal_jax_traced/` traces) until they take at most `max_bytes`;
    returns (files deleted, bytes freed). A file's last use is the later of its access
    and modification times (a loaded trace is touched; JAX's programs carry the access
    time the file system keeps, which `relatime` updates about once a day). A file that
    cannot be read or deleted is skipped: a cache never stops a run. Stale partial traces
    (`STALE_PART_S`) are deleted whatever the size, and not counted."""
    _delete_stale_parts(Path(folder) / "tbal_jax_traced")
    entries = _cache_entries(Path(folder))
    total = sum(size for _, size, _ in entries)
    deleted = freed = 0
    for _, size, path in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        try:
            path.unlink()
        except OSError:  # already gone (another process pruning), or not ours to delete
            continue
        if path.name.endswith(_CACHE_SUFFIX):
            companion = path.with_name(path.name[: -len(_CACHE_SUFFIX)] + _ATIME_SUFFIX)
            try:
                companion.unlink(missing_ok=True)
            except OSError:
                pass
        total -= size
        deleted, freed = deleted + 1, freed + size
    if deleted:
        logging.info(
            "compilation cache %s: deleted the %d least recently used files (%.0f MiB) "
            "to keep it within %.1f GiB",
            folder,
            deleted,
            freed / 2**20,
            max_bytes / 2**30,
        )
    return deleted, freed


def check_distributed(
    coordinator: str | None, num_processes: int | None, process_id: int | None
) -> None:
    """The settings of a multi-process run, checked before anything starts: a process
    count of at least 1, an index below it, a coordinator of the form HOST:PORT, and
    either all three or none (the cluster's own settings)."""
    if num_processes is not None and num_processes < 1:
        raise ConfigError(f"--num_processes={num_processes}: give at least 1 process")
    if process_id is not None and (
        num_processes is None or not 0 <= process_id < num_processes
    ):
        raise ConfigError(
            f"--process_id={process_id}: give 0 to {num_processes - 1} for "
            f"--num_processes={num_processes}"
            if num_processes is not None
            else f"--process_id={process_id} needs --num_processes"
        )
    if coordinator is not None:
        host, colon, port = coordinator.rpartition(":")
        if not (colon and host and port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(
                f"--coordinator={coordinator!r}: give HOST:PORT of process 0, e.g. "
                "--coordinator=host0:1234"
            )
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ConfigError(
            "--coordinator, --num_processes and --process_id go together: give all "
            "three, or none to take the cluster's settings"
        )


def distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: float = 60.0,
) -> None:
    """Join a multi-process JAX job (`jax.distributed.initialize`). Without arguments
    JAX reads them from the cluster (SLURM, Open MPI, Kubernetes, TPU pods); on CPU the
    processes exchange results through gloo. The settings are checked first
    (`check_distributed`); the join runs in a thread, so Ctrl-C works while waiting,
    and a peer that has not joined within `timeout_s` is a one-line `ConfigError`."""
    import threading

    import jax

    check_distributed(coordinator, num_processes, process_id)
    if not timeout_s > 0:
        raise ConfigError(f"--init_timeout={timeout_s}: give seconds above 0")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    failed: list[BaseException] = []

    def join():
        try:  # JAX's own limit comes later than ours, so ours is the one that speaks
            jax.distributed.initialize(
                coordinator,
                num_processes,
                process_id,
                initialization_timeout=int(timeout_s) + 60,
            )
        except BaseException as err:  # reported by the waiting thread
            failed.append(err)

    thread = threading.Thread(target=join, name="jax.distributed", daemon=True)
    thread.start()
    thread.join(timeout_s)  # interruptible: Ctrl-C raises KeyboardInterrupt here
    if thread.is_alive():
        raise ConfigError(
            f"no multi-process run joined within {timeout_s:g} s (coordinator "
            f"{coordinator or 'from the cluster'}); start every process, or raise "
            "--init_timeout"
        )
    if failed:
        reason = " ".join(str(failed[0]).split())[:200] or type(failed[0]).__name__
        raise ConfigError(
            f"could not join a multi-process run ({reason}); outside a cluster give "
            "--coordinator, --num_processes and --process_id"
        )


def _cpuinfo() -> tuple[str, list[str]]:
    """The processor's model name and its instruction-set flags (Linux; else the
    `platform` module's processor name and no flags)."""
    import platform

    model, flags = platform.processor() or platform.machine(), []
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, flags
    fields = dict(
        (name.strip(), value.strip())
        for name, _, value in (line.partition(":") for line in text.splitlines())
    )  # the last processor's lines (all processors are alike)
    model = fields.get("model name") or fields.get("CPU part") or model
    isa = (fields.get("flags") or fields.get("Features") or "").split()
    flags = sorted(f for f in isa if f.startswith(ISA_PREFIXES))
    return model, flags


def machine_fingerprint() -> dict:
    """What a result's bits depend on besides the code, the config and the seed: the
    processor (model and instruction-set flags), the machine type, jaxlib's version and
    the XLA flags. Equal fingerprints: equal bits; unequal: agreement is statistical."""
    import platform

    import jaxlib

    model, flags = _cpuinfo()
    return {
        "processor": model,
        "isa": flags,
        "machine": platform.machine(),
        "jaxlib": jaxlib.__version__,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
