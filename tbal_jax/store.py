"""A result folder that loses nothing (issue 11): chunks saved as they finish, resumable.

Layout of a folder a run writes (`run_experiment`):

- `manifest.json`: the configuration's hash and description, and every saved chunk
  (method, file, seeds; each chunk holds all grid cells of its seeds);
- `chunks/<method>-<n>.npz`: a chunk's outputs as arrays (what a resumed run reloads),
  and `chunks/<method>-<n>.csv`: the same chunk's rows, to read while a run goes on;
- the outputs (`results.csv`, `summary.csv`, `meta.json`, tables, figures), written once
  every chunk is in, and listed in the manifest.

Every file is written to a temporary name, flushed to disk and renamed, and a chunk file is
never changed once written; the manifest is renamed into place only after its chunk, so
a killed run (even `kill -9`) leaves a folder that the same command resumes: it skips the
saved seeds, and since a run depends only on its seed and grid cell, the final
`results.csv` is byte for byte that of an uninterrupted run.

A folder holding another configuration's results is refused unless `overwrite`, which
first deletes that configuration's files (the manifest's list, and the output names
`stale` matches). A lock (`flock` on `.lock`, released by the kernel if the process dies)
stops two runs from writing one folder. With several processes, process 0 alone reads
and writes the folder; the others learn from it which seeds are still to run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils

from tbal_jax.errors import ConfigError, Stopped
from tbal_jax.run import RoundRecord, RunSummary
from tbal_jax.sweep import Chunk, SweepOutput

MANIFEST = "manifest.json"
LOCK = ".lock"
CHUNKS = "chunks"
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


def config_hash(config: dict) -> str:
    """SHA-256 of the configuration as canonical JSON."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def array_digest(arrays) -> str:
    """SHA-256 of arrays' shapes, dtypes and bytes (None entries skipped)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            a = np.ascontiguousarray(a)
            h.update(f"{a.shape}{a.dtype}".encode())
            h.update(a.data)
    return h.hexdigest()


def code_digest() -> str:
    """SHA-256 of the package's source files: results of edited code are another
    configuration's, even at the same version number."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; once the caller has written it, flush it
    to disk and rename it to `path` (a reader sees the old file or the new, whole)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_folder(folder) -> Path:
    """An output folder that exists (created if need be) and can be written; a
    `ConfigError` naming it otherwise."""
    if folder is None or str(folder).strip() == "":
        raise ConfigError("the output folder is empty: give --out=FOLDER")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out={folder} is a file; give a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ConfigError(
            f"--out={folder} cannot be written ({err.strerror or err}); "
            "choose a folder you can write"
        ) from None
    return folder


def _flatten(output: SweepOutput) -> dict:
    arrays = {
        f"outcomes.{method}.{field}": value
        for method, summary in output.outcomes.items()
        for field, value in summary._asdict().items()
    }
    return arrays | {f"rounds.{f}": v for f, v in output.rounds._asdict().items()}


def _unflatten(arrays: dict) -> SweepOutput:
    outcomes: dict = {}
    for name, value in arrays.items():
        if name.startswith("outcomes."):
            _, method, field = name.split(".")
            outcomes.setdefault(method, {})[field] = value
    rounds = {n.split(".")[1]: v for n, v in arrays.items() if n.startswith("rounds.")}
    return SweepOutput(
        {m: RunSummary(**fields) for m, fields in outcomes.items()},
        RoundRecord(**rounds),
    )


class ResultStore:
    """One run's hold on its output folder (module docstring); use it in a `with`."""

    def __init__(
        self,
        folder,
        config: dict,
        overwrite: bool = False,
        stale: tuple[str, ...] = (),
        writer: bool = True,
    ):
        self.folder = check_folder(folder) if writer else Path(folder)
        self.config = config
        self.hash = config_hash(config)
        self.overwrite = overwrite
        self.stale = stale
        self.writer = writer
        self._lock = None
        self.manifest = {"config_hash": self.hash, "config": config, "chunks": []}

    def __enter__(self):
        if self.writer:
            self._take_lock()
            self._read_manifest()
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def _take_lock(self) -> None:
        lock = open(self.folder / LOCK, "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise ConfigError(
                f"--out={self.folder} is being written by another run ({holder}); "
                "wait for it to finish or choose another --out"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        self._lock = lock

    def _read_manifest(self) -> None:
        path = self.folder / MANIFEST
        old = json.loads(path.read_text()) if path.exists() else None
        ours = old is not None and old.get("config_hash") == self.hash
        leftovers = [p for pattern in self.stale for p in self.folder.glob(pattern)]
        if ours:
            self.manifest = old
            return
        if old is None and not leftovers:
            return
        if not self.overwrite:
            what = _describe(old["config"]) if old else "results of an earlier run"
            raise ConfigError(
                f"--out={self.folder} holds {what}, not this configuration's; choose "
                "another --out, or pass --overwrite to replace them"
            )
        for name in (old or {}).get("outputs", []):
            (self.folder / name).unlink(missing_ok=True)
        for p in leftovers:
            p.unlink(missing_ok=True)
        shutil.rmtree(self.folder / CHUNKS, ignore_errors=True)
        path.unlink(missing_ok=True)

    def _write_manifest(self) -> None:
        with atomic_path(self.folder / MANIFEST) as tmp:
            tmp.write_text(json.dumps(self.manifest, indent=1, default=str) + "\n")

    def _entries(self, method: str) -> list[dict]:
        return [c for c in self.manifest["chunks"] if c["method"] == method]

    def done_seeds(self, method: str) -> set[int]:
        """The seeds whose runs of `method` are saved."""
        return {s for c in self._entries(method) for s in c["seeds"]}

    def todo(self, method: str, seeds: np.ndarray) -> np.ndarray:
        """The seeds still to run, in their order (process 0 decides for all)."""
        done = np.isin(seeds, list(self.done_seeds(method)))
        if jax.process_count() > 1:
            done = multihost_utils.broadcast_one_to_all(done.astype(np.int32)) > 0
        return seeds[~done]

    def save_chunk(self, method: str, chunk: Chunk, rows_csv) -> None:
        """Save a finished chunk: its arrays, its rows (`rows_csv(path)` writes them),
        then the manifest that lists it."""
        if not self.writer:
            return
        (self.folder / CHUNKS).mkdir(exist_ok=True)
        stem = f"{CHUNKS}/{method}-{len(self._entries(method)):04d}"
        with atomic_path(self.folder / f"{stem}.npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, seeds=chunk.seeds, **_flatten(chunk.output))
        with atomic_path(self.folder / f"{stem}.csv") as tmp:
            rows_csv(tmp)
        self.manifest["chunks"].append(
            {
                "method": method,
                "file": f"{stem}.npz",
                "seeds": [int(s) for s in chunk.seeds],
            }
        )
        self._write_manifest()

    def output(self, method: str, seeds: np.ndarray) -> SweepOutput:
        """The saved outputs of `method` for `seeds`, in that order."""
        parts, saved = [], []
        for entry in self._entries(method):
            with np.load(self.folder / entry["file"]) as f:
                arrays = {name: f[name] for name in f.files}
            saved.append(arrays.pop("seeds"))
            parts.append(_unflatten(arrays))
        index = {int(s): i for i, s in enumerate(np.concatenate(saved))}
        order = np.array([index[int(s)] for s in seeds])
        return jax.tree.map(lambda *xs: np.concatenate(xs)[order], *parts)

    def finish(self, outputs: list[Path]) -> None:
        """Record the outputs written: the run is complete."""
        if not self.writer:
            return
        self.manifest["outputs"] = sorted(
            str(Path(p).relative_to(self.folder)) for p in outputs
        )
        self.manifest["complete"] = True
        self._write_manifest()

    def saved(self) -> str:
        """What the folder holds, in a few words."""
        chunks = self.manifest["chunks"]
        runs = sum(len(c["seeds"]) for c in chunks)
        return (
            f"{len(chunks)} chunk(s) ({runs} seed-method pairs) are saved in "
            f"{self.folder}"
        )

    def stopped(self, err: BaseException) -> Stopped:
        """The one-line `Stopped` for Ctrl-C or a full disk."""
        if isinstance(err, KeyboardInterrupt):
            why = "interrupted"
        else:
            why = f"the disk is full ({err.filename or self.folder})"
        return Stopped(
            f"{why}: {self.saved()}; rerun the same command to resume",
            interrupted=isinstance(err, KeyboardInterrupt),
        )


def _describe(config: dict) -> str:
    exp = config.get("experiment", {})
    seeds = config.get("seeds", [])
    return f"results of {exp.get('name', '?')} with {len(seeds)} seed(s)"
