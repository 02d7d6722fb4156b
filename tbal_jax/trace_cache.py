"""Traced sweeps kept across processes, beside JAX's persistent compilation cache (issue 16).

The persistent compilation cache (`tbal_jax.runtime.compilation_cache`) skips XLA's
compile, but each process still traces and lowers every sweep to find its cache key:
1-3 s a program on a CPU, most of a second run's start-up. Where that cache is on (and
on one device of one process), `exported` also keeps the traced sweep itself, serialised
by `jax.export` in the cache folder's `tbal_jax_traced/`, and a later process
deserialises it instead of tracing: about 0.1 s.

A trace is looked up by a key of everything it depends on (`trace_key`): a stable
description of the static configuration (`describe`: dataclass fields, functions by
module, name, code, defaults and closure contents, arrays by their bytes), the shapes of
the chunk, the grid and the data, the JAX configuration values that change a trace, the
versions of JAX and jaxlib, the backend, and the source of every module of this package.
An object with no stable description (one whose repr holds a memory address) gets no
key, and its sweep is traced as before. A stored trace that cannot be read is traced
again and replaced.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import types
from pathlib import Path

import jax
import numpy as np
from jax import export

_PACKAGE = Path(__file__).parent
_FOLDER = "tbal_jax_traced"
# JAX settings that change what a function traces to
_TRACE_FLAGS = (
    "jax_enable_x64",
    "jax_numpy_rank_promotion",
    "jax_numpy_dtype_promotion",
    "jax_default_matmul_precision",
    "jax_default_prng_impl",
    "jax_threefry_partitionable",
)


class Unstable(Exception):
    """An object without a description that is the same in every process."""


def describe(obj, depth: int = 0) -> str:
    """A description of `obj` that is equal in two processes exactly when it traces the
    same (module docstring); `Unstable` where there is none."""
    if depth > 40:
        raise Unstable("nested too deeply")
    d = functools.partial(describe, depth=depth + 1)
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return repr(obj)
    if isinstance(obj, (tuple, list)):
        return f"{type(obj).__name__}({', '.join(map(d, obj))})"
    if isinstance(obj, dict):
        items = sorted((d(k), d(v)) for k, v in obj.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(obj, (np.ndarray, jax.Array, np.generic)):
        return _array(obj)
    if isinstance(obj, functools.partial):
        return f"partial({d(obj.func)}, {d(obj.args)}, {d(obj.keywords)})"
    if isinstance(obj, types.MethodType):
        return f"method({d(obj.__self__)}, {d(obj.__func__)})"
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        cells = tuple(c.cell_contents for c in obj.__closure__ or ())
        return (
            f"function({obj.__module__}.{obj.__qualname__}, {_code(code)}, "
            f"{d(obj.__defaults__)}, {d(obj.__kwdefaults__)}, {d(cells)})"
        )
    if isinstance(obj, type):
        return f"{obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, (types.BuiltinFunctionType, types.ModuleType)):
        return f"{getattr(obj, '__module__', '')}.{obj.__name__}"
    if dataclasses.is_dataclass(obj):
        fields = ", ".join(
            f"{f.name}={d(getattr(obj, f.name))}" for f in dataclasses.fields(obj)
        )
        return f"{type(obj).__module__}.{type(obj).__qualname__}({fields})"
    text = repr(obj)
    if " at 0x" in text or " object at " in text:
        raise Unstable(text[:80])
    return f"{type(obj).__qualname__}:{text}"


_DIGESTS: dict[int, tuple[object, str]] = {}  # id -> (the array, kept alive; digest)


def _array(a) -> str:
    """An array by dtype, shape and a digest of its bytes (computed once a process: a
    fixed dataset's arrays are hashed once, not once per program)."""
    held = _DIGESTS.get(id(a))
    if held is None or held[0] is not a:
        data = np.ascontiguousarray(np.asarray(a))
        held = _DIGESTS[id(a)] = (a, hashlib.blake2b(data.tobytes()).hexdigest())
    a = np.asarray(a)
    return f"array({a.dtype}, {a.shape}, {held[1]})"


def _code(code: types.CodeType) -> str:
    """A code object's bytecode and constants (nested code objects included)."""
    consts = tuple(
        _code(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts
    )
    body = code.co_code + repr((consts, code.co_names)).encode()
    return hashlib.sha256(body).hexdigest()[:16]


@functools.cache
def _package_digest() -> str:
    """The source of every module of this package."""
    h = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(_PACKAGE)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def serialisable(*namedtuples: type) -> None:
    """Let `jax.export` serialise programs whose arguments or results hold these
    NamedTuple types (their qualified names identify them in a stored trace)."""
    for t in namedtuples:
        export.register_namedtuple_serialization(
            t, serialized_name=f"{t.__module__}.{t.__qualname__}"
        )


def folder() -> Path | None:
    """Where traces are kept: inside the persistent compilation cache's folder when that
    cache is on, on one device of one process; else None (no trace is kept)."""
    cache = jax.config.jax_compilation_cache_dir
    if not (jax.config.jax_enable_compilation_cache and cache):
        return None
    if jax.process_count() != 1 or jax.device_count() != 1:
        return None  # sharded programs are traced as before
    return Path(cache) / _FOLDER


def trace_key(cfg, *shapes) -> str | None:
    """The key of a sweep's trace (module docstring), or None where `cfg` has no
    stable description."""
    try:
        config = describe(cfg)
    except Unstable:
        return None
    flags = tuple(getattr(jax.config, name, None) for name in _TRACE_FLAGS)
    import jaxlib

    parts = (
        config,
        repr(shapes),
        repr(flags),
        jax.__version__,
        jaxlib.__version__,
        jax.default_backend(),
        _package_digest(),
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def exported(fn, specs: tuple, cfg) -> export.Exported | None:
    """`fn` (a jitted sweep) traced at `specs`, from the folder when a process traced it
    before, else traced now and stored there; None where no trace is kept (then trace
    `fn` as usual)."""
    where = folder()
    key = trace_key(cfg, *specs) if where is not None else None
    if key is None:
        return None
    path = where / f"{key}.jaxexport"
    if path.is_file():
        try:
            return export.deserialize(bytearray(path.read_bytes()))
        except Exception as err:  # a damaged file: trace again, below
            logging.warning(
                "traced sweep %s unreadable (%s); tracing it again", path, err
            )
    traced = export.export(fn)(*specs)
    try:
        data = traced.serialize()
        where.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(f".{os.getpid()}.part")
        part.write_bytes(data)
        os.replace(part, path)  # whole or absent, whoever reads it
    except Exception as err:  # a read-only or full disk costs the next run a trace
        logging.warning("could not keep the traced sweep in %s (%s)", where, err)
    return traced
