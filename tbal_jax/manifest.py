"""What a result folder's store records (`tbal_jax.store`), and how a record is checked.

- `manifest.json` (format 2): the configuration's hash and a compact description, the
  environments chunks were computed in (`runtime.machine_fingerprint`), every saved
  chunk (unit, files, seeds as [first, end) ranges, SHA-256 of both files, which
  environment), every other file the store wrote or was told of, the timings callers
  saved. It grows with the chunks, not with the seeds.
- `.written`: an append-only log, one line per file the store is about to write (its
  configuration's hash and name, each line with a CRC), so that `--overwrite` still
  knows the store's files when the manifest is lost or damaged.
- each chunk's `.npz` holds the store's record of it too (`_store`: configuration,
  unit, environment, its CSV's SHA-256), so a damaged manifest is rebuilt from the
  chunks that verify.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

FORMAT = 2
MANIFEST = "manifest.json"
CHUNKS = "chunks"
WRITTEN = ".written"
META = "_store"  # the npz member holding the store's record of a chunk


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


def seed_ranges(seeds) -> list[list[int]]:
    """`seeds` (in their order) as runs [first, end) of consecutive integers."""
    s = np.asarray(seeds, dtype=np.int64).ravel()
    if s.size == 0:
        return []
    cut = np.flatnonzero(np.diff(s) != 1) + 1
    starts, ends = s[np.r_[0, cut]], s[np.r_[cut - 1, s.size - 1]] + 1
    return np.stack([starts, ends], 1).tolist()


def expand(ranges) -> np.ndarray:
    """The seeds of `seed_ranges`' runs, in order."""
    parts = [np.arange(a, b, dtype=np.int64) for a, b in ranges]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def safe_name(name) -> bool:
    """A relative path inside the folder (a record never makes the store delete
    anything outside it)."""
    p = PurePosixPath(name) if isinstance(name, str) else None
    return (
        p is not None and bool(p.parts) and not p.is_absolute() and ".." not in p.parts
    )


def compact(config: dict) -> dict:
    """The configuration as the manifest keeps it: its seeds as ranges."""
    seeds = config.get("seeds")
    if isinstance(seeds, list | tuple) and all(isinstance(s, int) for s in seeds):
        return config | {"seeds": {"count": len(seeds), "ranges": seed_ranges(seeds)}}
    return config


def describe(config: dict) -> str:
    exp = config.get("experiment", {})
    seeds = config.get("seeds", [])
    n = seeds.get("count", "?") if isinstance(seeds, dict) else len(seeds)
    return f"results of {exp.get('name', '?')} with {n} seed(s)"


def _chunk_problem(c) -> str | None:
    if not isinstance(c, dict):
        return "is not an object"
    names = (c.get("file"), c.get("csv"))
    if not (isinstance(c.get("unit"), str) and all(map(safe_name, names))):
        return "lacks its unit or files"
    ranges = c.get("seeds")
    if not (isinstance(ranges, list) and all(_is_range(r) for r in ranges)):
        return "has no seed ranges"
    sha = c.get("sha256")
    if not (
        isinstance(sha, dict)
        and all(isinstance(sha.get(k), str) for k in "npz csv".split())
    ):
        return "has no checksums"
    if not isinstance(c.get("env"), int):
        return "has no environment"
    return None


def _is_range(r) -> bool:
    return (
        isinstance(r, list)
        and len(r) == 2
        and all(isinstance(x, int) for x in r)
        and r[0] < r[1]
    )


def problem(obj) -> str | None:
    """Why `obj` (parsed JSON) is not a manifest of this format; None if it is."""
    if not isinstance(obj, dict):
        return f"a JSON {type(obj).__name__}, not an object"
    if obj.get("format") != FORMAT:
        return f"format {obj.get('format')!r}, not {FORMAT}"
    kinds = {
        "config_hash": str,
        "chunks": list,
        "files": list,
        "environments": list,
        "timings": dict,
    }
    for key, kind in kinds.items():
        if not isinstance(obj.get(key), kind):
            return f"{key!r} missing or not a JSON {kind.__name__}"
    for i, c in enumerate(obj["chunks"]):
        why = _chunk_problem(c)
        if why is None and not 0 <= c["env"] < len(obj["environments"]):
            why = "names no recorded environment"
        if why:
            return f"chunk entry {i} {why}"
    if not all(map(safe_name, obj["files"])):
        return "'files' name a file outside the folder"
    return None


def legacy(obj) -> dict | None:
    """A manifest of the first format (no "format" key) as far as a refusal or an
    `--overwrite` needs it: its description and its files; None if it is not one."""
    if not (isinstance(obj, dict) and "format" not in obj and "config_hash" in obj):
        return None
    chunks = [c["file"] for c in obj.get("chunks", []) if isinstance(c, dict)]
    outputs = obj.get("outputs")
    names = [
        *(outputs if isinstance(outputs, list) else []),
        *chunks,
        *(str(Path(n).with_suffix(".csv")) for n in chunks),
    ]
    return {
        "config_hash": f"format 1: {obj['config_hash']}",  # never this configuration's
        "description": describe(obj.get("config") or {}),
        "chunks": [],
        "files": [n for n in names if safe_name(n)],
    }


def read(path: Path) -> tuple[dict | None, str | None]:
    """(the manifest, None), (None, None) if there is none, or (None, what is wrong
    with it, a few words)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as err:
        return None, f"cannot be read ({err})"
    if not text.strip():
        return None, "is empty"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        where = f"line {err.lineno} column {err.colno}"
        return None, f"is not JSON, truncated? ({err.msg}: {where})"
    old = legacy(obj)
    if old is not None:
        return old, None
    why = problem(obj)
    return (obj, None) if why is None else (None, f"is not a manifest: {why}")


def _line(config_hash: str, name: str) -> str:
    body = f"{config_hash[:16]} {name}"
    return f"{zlib.crc32(body.encode()):08x} {body}\n"


def log_written(folder: Path, config_hash: str, names) -> None:
    """Append `names` to the `.written` log, flushed to disk."""
    lines = "".join(_line(config_hash, n) for n in names if "\n" not in n)
    with open(folder / WRITTEN, "a") as f:
        f.write(lines)
        f.flush()
        os.fsync(f.fileno())


def written(folder: Path) -> dict[str, str]:
    """The `.written` log: each file's name -> its configuration's hash (16 digits);
    lines that do not check (a torn last line) are left out."""
    try:
        text = (folder / WRITTEN).read_text(errors="replace")
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        crc, _, body = line.partition(" ")
        config, _, name = body.partition(" ")
        if crc == f"{zlib.crc32(body.encode()):08x}" and safe_name(name):
            out[name] = config
    return out


def read_chunk(folder: Path, name: str) -> tuple[dict | None, str | None]:
    """A chunk file's own record (`META`, with its seeds), after reading every member
    (the zip's CRCs) and checking its CSV's checksum; or (None, what is wrong)."""
    try:
        with np.load(folder / name) as f:
            arrays = {n: f[n] for n in f.files}
        meta = json.loads(str(arrays[META]))
        seeds = arrays["seeds"]
        csv = meta["csv"]
    except FileNotFoundError:
        return None, "is missing"
    except Exception as err:  # noqa: BLE001 - any damage: one line
        return None, f"is damaged ({type(err).__name__}: {err})"
    if not safe_name(csv) or not (folder / csv).is_file():
        return None, f"has lost its rows ({csv} is missing)"
    if file_digest(folder / csv) != meta.get("csv_sha256"):
        return None, f"has damaged rows ({csv}: checksum differs)"
    return meta | {"seeds": seeds}, None


def chunk_names(folder: Path, path: Path) -> list[str]:
    """A chunk file's name and its CSV's, if it carries the store's record; else []."""
    try:
        with np.load(path) as f:
            meta = json.loads(str(f[META]))
        csv = meta["csv"]
    except Exception:  # noqa: BLE001 - not a chunk the store can vouch for
        return []
    return [f"{CHUNKS}/{path.name}", *([csv] if safe_name(csv) else [])]


def env_diff(old: dict, new: dict) -> str:
    """How two `machine_fingerprint`s differ, in one line."""
    out = []
    for k in sorted(old.keys() | new.keys()):
        a, b = old.get(k), new.get(k)
        if isinstance(a, list) and isinstance(b, list):
            gone, extra = sorted(set(a) - set(b)), sorted(set(b) - set(a))
            parts = [f"adds {' '.join(extra)}"] * bool(extra)
            parts += [f"lacks {' '.join(gone)}"] * bool(gone)
            if parts:
                out.append(f"{k} here {' and '.join(parts)}")
        elif a != b:
            out.append(f"{k} {a!r}, here {b!r}")
    return "; ".join(out)
