"""A result folder that loses nothing (issues 11, 15, 20): chunks saved as they finish.

A run's folder holds `chunks/<unit>-<n>.npz` (a chunk's arrays, which a resumed run
reloads) and `.csv` (its rows, to read while a run goes on), the outputs the caller
writes once every chunk is in, and the store's records (`tbal_jax.manifest`):
`manifest.json` (every chunk with its seed ranges and checksums, every file written, the
environments, saved timings) and `.written` (a log of the files the store wrote). Every
file is written to a temporary name, flushed and renamed, the manifest only after its
chunk; SIGINT and SIGTERM wait for a chunk being saved, then stop the run as Ctrl-C
does. A killed run (even `kill -9`) leaves a folder the same command resumes, to a
byte-identical `results.csv`.

On opening, the store checks what it finds: a listed chunk missing or failing its
checksum is logged in one line and recomputed; a damaged or lost manifest is rebuilt
from the chunks that verify; chunks computed in another environment
(`machine_fingerprint`) are refused unless `allow_env_change`. A folder holding another
configuration's results is refused unless `overwrite`, which deletes exactly the files
the store wrote (or was told of in `finish`): files it did not write are the user's, and
never make a folder "an earlier run". A lock (`flock` on `.lock`) stops two runs from
writing one folder. With several processes, process 0 alone reads and writes the folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import signal
import threading
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils

from tbal_jax import manifest as mf
from tbal_jax.errors import ConfigError, Stopped
from tbal_jax.manifest import CHUNKS, MANIFEST, atomic_path
from tbal_jax.records import Records
from tbal_jax.run import RoundRecord, RunSummary
from tbal_jax.runtime import machine_fingerprint
from tbal_jax.sweep import Chunk, SweepOutput

LOCK = ".lock"
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
__all__ = ["FULL_DISK", "MANIFEST", "ResultStore", "array_digest", "atomic_path"]
__all__ += ["check_folder", "code_digest", "config_hash", "machine_fingerprint"]


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


def code_digest(root=None) -> str:
    """SHA-256 of the package's source files, in every subpackage (each file's path
    relative to `root`, default the package, then its bytes): results of edited or moved
    code are another configuration's, even at the same version number."""
    root = Path(root or Path(__file__).parent)
    h = hashlib.sha256()
    for rel in sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py")):
        data = (root / rel).read_bytes()
        h.update(f"{len(rel.encode())}:{rel}{len(data)}:".encode())
        h.update(data)
    return h.hexdigest()


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
        f"outcomes.{outcome}.{field}": value
        for outcome, summary in output.outcomes.items()
        for field, value in summary._asdict().items()
    }
    return arrays | {f"rounds.{f}": v for f, v in output.rounds._asdict().items()}


def _unflatten(arrays: dict) -> SweepOutput:
    outcomes: dict = {}
    for name, value in arrays.items():
        if name.startswith("outcomes."):
            _, outcome, field = name.split(".")
            outcomes.setdefault(outcome, {})[field] = value
    rounds = {n.split(".")[1]: v for n, v in arrays.items() if n.startswith("rounds.")}
    return SweepOutput(
        {m: RunSummary(**fields) for m, fields in outcomes.items()},
        RoundRecord(**rounds),
    )


class ResultStore:
    """One run's hold on its output folder (module docstring); use it in a `with`.
    `allow_env_change`: resume chunks computed in another environment (recorded)."""

    def __init__(
        self,
        folder,
        config: dict,
        overwrite: bool = False,
        writer: bool = True,
        allow_env_change: bool = False,
    ):
        self.folder = check_folder(folder) if writer else Path(folder)
        self.config, self.hash = config, config_hash(config)
        self.overwrite, self.writer = overwrite, writer
        options = {"overwrite": overwrite, "allow_env_change": allow_env_change}
        self.records = Records(self.folder, config, self.hash, options)
        self._lock, self._handlers = None, {}
        self._deferring, self._pending, self._signal = False, False, None

    @property
    def manifest(self) -> dict:
        """The manifest as this store holds it (`tbal_jax.manifest`)."""
        return self.records.data

    def __enter__(self):
        self._install_handlers()
        try:
            if self.writer:
                self._take_lock()
                self.records.open(machine_fingerprint())
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._handlers.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._handlers = {}
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def _install_handlers(self) -> None:
        """SIGINT and SIGTERM raise KeyboardInterrupt (after a chunk being saved)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                self._handlers[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self._signal = signal.Signals(signum).name
        if self._deferring:
            self._pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def _deferred(self):
        """Signals wait until the body is done."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self._pending:
            self._pending = False
            raise KeyboardInterrupt

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

    def _entries(self, unit: str) -> list[dict]:
        return [c for c in self.manifest["chunks"] if c["unit"] == unit]

    def done_seeds(self, unit: str) -> set[int]:
        """The seeds whose runs of `unit` are saved."""
        return {int(s) for c in self._entries(unit) for s in mf.expand(c["seeds"])}

    def todo(self, unit: str, seeds: np.ndarray) -> np.ndarray:
        """The seeds still to run, in their order (process 0 decides for all)."""
        done = np.isin(seeds, list(self.done_seeds(unit)))
        if jax.process_count() > 1:
            done = multihost_utils.broadcast_one_to_all(done.astype(np.int32)) > 0
        return seeds[~done]

    def save_chunk(self, unit: str, chunk: Chunk, rows_csv) -> None:
        """Save a finished chunk: its rows (`rows_csv(path)` writes them), its arrays,
        then the manifest that lists it; a signal meanwhile waits for the manifest."""
        if not self.writer:
            return
        with self._deferred():
            (self.folder / CHUNKS).mkdir(exist_ok=True)
            n = 1 + max((_index(c["file"]) for c in self._entries(unit)), default=-1)
            npz, csv = (f"{CHUNKS}/{unit}-{n:04d}.{ext}" for ext in ("npz", "csv"))
            mf.log_written(self.folder, self.hash, [csv, npz])
            with atomic_path(self.folder / csv) as tmp:
                rows_csv(tmp)
            env = self.manifest["environments"][self.records.env]
            meta = {"config_hash": self.hash, "unit": unit, "csv": csv, "env": env}
            meta["csv_sha256"] = mf.file_digest(self.folder / csv)
            arrays = _flatten(chunk.output) | {mf.META: np.array(json.dumps(meta))}
            with atomic_path(self.folder / npz) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, seeds=chunk.seeds, **arrays)
                sha = {"npz": mf.file_digest(tmp), "csv": meta["csv_sha256"]}
            self.records.add_chunk(unit, npz, csv, chunk.seeds, sha, meta)
            self.records.write()

    def output(self, unit: str, seeds: np.ndarray) -> SweepOutput:
        """The saved outputs of `unit` for `seeds`, in that order."""
        parts, saved = [], []
        for entry in self._entries(unit):
            try:
                with np.load(self.folder / entry["file"]) as f:
                    arrays = {n: f[n] for n in f.files if n != mf.META}
            except Exception as err:  # noqa: BLE001 - damaged since the store opened
                raise ConfigError(
                    f"--out={self.folder}: {entry['file']} cannot be read "
                    f"({type(err).__name__}: {err}); rerun the same command to "
                    "recompute it"
                ) from None
            saved.append(arrays.pop("seeds"))
            parts.append(_unflatten(arrays))
        index = {int(s): i for i, s in enumerate(np.concatenate(saved))}
        order = np.array([index[int(s)] for s in seeds])
        return jax.tree.map(lambda *xs: np.concatenate(xs)[order], *parts)

    def _name(self, path) -> str:
        name = os.path.relpath(os.path.abspath(path), self.folder.absolute())
        if not mf.safe_name(Path(name).as_posix()):
            raise ValueError(f"{path} is not in --out={self.folder}")
        return Path(name).as_posix()

    @contextlib.contextmanager
    def atomic_path(self, path):
        """`atomic_path(path)` for an output, recorded first (for `overwrite` to
        delete); a file there that the store did not write is refused (one line)
        unless `overwrite`."""
        path = Path(path)
        if self.writer:
            name = self._name(path)
            if path.exists() and not self.overwrite and not self.records.owns(name):
                raise ConfigError(
                    f"--out={self.folder} holds {name}, which this run did not write; "
                    "move it away, or pass --overwrite to replace it"
                )
            self.records.record([name])
        with atomic_path(path) as tmp:
            yield tmp

    def finish(self, outputs: list[Path]) -> None:
        """Record the outputs written: the run is complete."""
        if self.writer:
            self.manifest["complete"] = True
            self.records.record([self._name(p) for p in outputs])
            self.records.write()

    def save_timing(self, unit: str, timing: dict) -> None:
        """Keep `unit`'s timings (JSON values) in the manifest, for a resumed run."""
        if self.writer:
            self.manifest["timings"][unit] = dict(timing)
            self.records.write()

    def timing(self, unit: str) -> dict:
        """The timings `save_timing` kept for `unit` (this run's or an earlier
        run's), or {}."""
        return dict(self.manifest["timings"].get(unit, {}))

    def saved(self) -> str:
        """What the folder holds, in a few words."""
        chunks = self.manifest["chunks"]
        runs = sum(c["count"] for c in chunks)
        return (
            f"{len(chunks)} chunk(s) ({runs} seed-unit pairs) are saved in "
            f"{self.folder}"
        )

    def stopped(self, err: BaseException) -> Stopped:
        """The one-line `Stopped` for Ctrl-C, SIGTERM or a full disk."""
        if isinstance(err, KeyboardInterrupt):
            why = "interrupted" + (" by SIGTERM" if self._signal == "SIGTERM" else "")
        else:
            why = f"the disk is full ({err.filename or self.folder})"
        return Stopped(
            f"{why}: {self.saved()}; rerun the same command to resume",
            interrupted=isinstance(err, KeyboardInterrupt),
        )


def _index(name: str) -> int:
    return int(Path(name).stem.rsplit("-", 1)[1])
