"""Traced sweeps kept across runs of the command line (issue 16, start-up).

JAX's persistent compilation cache (`tbal_jax.runtime.compilation_cache`) skips XLA's
compile, but each process still traces and lowers every sweep to find its cache key:
1-3 s a program on a CPU, most of a second run's start-up. The command line turns this
module on with its cache (`enable`, from `experiments._cli.compilation_cache`); then
`exported` also keeps each traced sweep, serialised by `jax.export`, in the cache
folder's `tbal_jax_traced/`, and a later run loads it instead of tracing (about 0.1 s).
Only the command line turns it on: there the configuration is built from flags out of
this package's own components, and nothing changes a module's globals at run time.

A trace is looked up by a key of everything it depends on (`trace_key`): a description
of the static configuration (`describe`), the shapes of the chunk, the grid and the
data, JAX's trace context (the settings `jit` itself keys its traces on), the versions
of Python, JAX, jaxlib, NumPy and optax, the backend, and the source of every module of
this package as it was when the package was imported. `describe` covers dataclasses,
functions (code, defaults, closure contents) and classes of this package and of the
versioned libraries only; anything else (a user's own component, an object known only
by its repr) raises `Unstable`, and such a sweep is traced as before. A stored trace
carries a digest of itself; one that is damaged, or that fails to load or compile, is
deleted and the sweep traced again. Nothing here can stop a run: every failure falls
back to tracing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import sys
import tempfile
import types
from pathlib import Path

import jax
import numpy as np
from jax import export

_PACKAGE = Path(__file__).parent
_SUBFOLDER = "tbal_jax_traced"
# where descriptions of functions and classes are trusted: this package (its source is
# in the key) and libraries whose versions are in the key
_TRUSTED = ("tbal_jax", "jax", "jaxlib", "numpy", "optax", "builtins", "math")
_MAGIC = b"tbal_jax traced sweep 1\n"


class Unstable(Exception):
    """An object without a description that is the same in every process."""


def _package_digest() -> str | None:
    """The source of every module of this package (None for a sourceless install)."""
    h, found = hashlib.sha256(), False
    for path in sorted(_PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(_PACKAGE)).encode())
        h.update(path.read_bytes())
        found = True
    return h.hexdigest() if found else None


_DIGEST_AT_IMPORT = _package_digest()  # the code this process runs
_folder: Path | None = None


def enable(cache_folder: str | os.PathLike | None) -> None:
    """Keep traces in `cache_folder`/tbal_jax_traced (None: keep none)."""
    global _folder
    _folder = None if cache_folder is None else Path(cache_folder) / _SUBFOLDER


def folder() -> Path | None:
    """Where traces are kept: as `enable` set, on one device of one process (sharded
    programs are traced as before); else None."""
    if _folder is None or jax.process_count() != 1 or jax.device_count() != 1:
        return None
    return _folder


def _trusted(module: str | None) -> bool:
    return (module or "").split(".")[0] in _TRUSTED


def describe(obj, depth: int = 0) -> str:
    """A description of `obj` equal in two processes when the code and values it
    stands for are (module docstring); `Unstable` where there is none."""
    if depth > 40:
        raise Unstable("nested too deeply")
    d = functools.partial(describe, depth=depth + 1)
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return f"{type(obj).__name__}:{obj!r}"
    if isinstance(obj, (tuple, list)):
        kind = type(obj)
        if kind not in (tuple, list) and not _trusted(kind.__module__):
            raise Unstable(kind.__qualname__)
        return f"{kind.__module__}.{kind.__qualname__}({', '.join(map(d, obj))})"
    if isinstance(obj, dict) and type(obj) is dict:
        return "{" + ", ".join(sorted(f"{d(k)}: {d(v)}" for k, v in obj.items())) + "}"
    if isinstance(obj, (np.ndarray, np.generic)):
        a = np.ascontiguousarray(obj)
        if a.dtype.hasobject:
            raise Unstable("an object array")
        digest = hashlib.sha256(a.tobytes()).hexdigest()
        return f"array({a.dtype}, {a.shape}, {digest})"
    if isinstance(obj, functools.partial):
        return f"partial({d(obj.func)}, {d(obj.args)}, {d(obj.keywords)})"
    if isinstance(obj, types.FunctionType):
        if not _trusted(obj.__module__):
            raise Unstable(f"{obj.__module__}.{obj.__qualname__}")
        cells = tuple(c.cell_contents for c in obj.__closure__ or ())
        return (
            f"function({obj.__module__}.{obj.__qualname__}, {_code(obj.__code__)}, "
            f"{d(obj.__defaults__)}, {d(obj.__kwdefaults__)}, {d(cells)})"
        )
    if isinstance(obj, type):
        if not _trusted(obj.__module__):
            raise Unstable(obj.__qualname__)
        return f"type({obj.__module__}.{obj.__qualname__})"
    if dataclasses.is_dataclass(obj):
        kind = type(obj)
        if not _trusted(kind.__module__):
            raise Unstable(kind.__qualname__)
        # fields left out of comparison hold data, not settings: a Dataset's arrays,
        # which the sweep takes as an argument (their shapes are in the key)
        fields = ", ".join(
            f"{f.name}={d(getattr(obj, f.name))}"
            for f in dataclasses.fields(obj)
            if f.compare
        )
        return f"{kind.__module__}.{kind.__qualname__}({fields})"
    raise Unstable(f"{type(obj).__qualname__} object")


def _code(code: types.CodeType) -> str:
    """A code object's bytecode, names and constants (nested code objects included)."""
    consts = tuple(
        _code(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts
    )
    body = code.co_code + repr((consts, code.co_names)).encode()
    return hashlib.sha256(body).hexdigest()[:16]


def _versions() -> str:
    import jaxlib
    import optax

    return repr(
        (sys.version, jax.__version__, jaxlib.__version__, np.__version__)
        + (optax.__version__, jax.default_backend())
    )


def _trace_context() -> str:
    """JAX's trace context (`jax._src.config.trace_context`: what `jit` keys on),
    without the entries known only by address (the empty axis environment at the top
    level, where sweeps are traced)."""
    from jax._src import config

    return repr(tuple(x for x in config.trace_context() if " at 0x" not in repr(x)))


def trace_key(cfg, *shapes) -> str | None:
    """The key of a sweep's trace (module docstring), or None where there is none."""
    try:
        if _DIGEST_AT_IMPORT is None:
            return None
        parts = (describe(cfg), repr(shapes), _trace_context(), _versions())
    except Exception:  # Unstable, or anything a description trips on: no key
        return None
    text = "\n".join((*parts, _DIGEST_AT_IMPORT))
    return hashlib.sha256(text.encode()).hexdigest()


def _load(path: Path) -> export.Exported | None:
    """A stored trace, or None (absent, damaged, unreadable: a damaged file is
    deleted)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        logging.warning("traced sweep %s unreadable (%s); tracing it again", path, err)
        return None
    n = len(_MAGIC)
    head, digest, payload = data[:n], data[n : n + 32], data[n + 32 :]
    try:
        if head != _MAGIC or hashlib.sha256(payload).digest() != digest:
            raise ValueError("its digest does not match")
        traced = export.deserialize(bytearray(payload))
    except Exception as err:
        logging.warning("traced sweep %s unreadable (%s); tracing it again", path, err)
        forget(path)
        return None
    try:  # its last use, for `runtime.prune_cache`
        os.utime(path)
    except OSError:
        pass
    return traced


def forget(path: Path) -> None:
    """Delete a stored trace (one that failed to load or compile)."""
    try:
        path.unlink()
    except OSError:
        pass


def _store(traced: export.Exported, path: Path) -> None:
    """Write `traced` whole or not at all; any failure costs the next run a trace."""
    if _package_digest() != _DIGEST_AT_IMPORT:
        return  # the source changed since import: its key would name other code
    payload = traced.serialize()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
        os.replace(part, path)
    finally:
        if os.path.exists(part):
            os.unlink(part)


def exported(fn, specs: tuple, cfg) -> tuple[export.Exported, Path] | None:
    """(`fn`, a jitted sweep, traced at `specs`; the file that holds it): loaded when
    an earlier run stored it, else traced now and stored. None where no trace is kept
    or anything fails (then trace `fn` as usual)."""
    where = folder()
    key = trace_key(cfg, *specs) if where is not None else None
    if key is None:
        return None
    path = where / f"{key}.jaxexport"
    traced = _load(path)
    if traced is not None:
        return traced, path
    try:
        traced = export.export(fn)(*specs)
    except Exception as err:  # e.g. a host callback, which export cannot serialise
        logging.info("sweep not kept as a trace (%s)", " ".join(str(err).split())[:200])
        return None
    try:
        _store(traced, path)
    except Exception as err:  # a read-only or full disk
        logging.warning("could not keep the traced sweep in %s (%s)", where, err)
    return traced, path


def serialisable(*namedtuples: type) -> None:
    """Let `jax.export` serialise programs whose arguments or results hold these
    NamedTuple types (their qualified names identify them in a stored trace); a name
    already registered (a reloaded module) is left as it is."""
    for t in namedtuples:
        try:
            export.register_namedtuple_serialization(
                t, serialized_name=f"{t.__module__}.{t.__qualname__}"
            )
        except ValueError:
            pass
