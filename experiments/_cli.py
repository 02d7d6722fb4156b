"""The absl command line of `experiments.embed`, `label`, `mlp_baseline`,
`numpy_baseline`, `bench` and `faithfulness`.

`run(main, define_flags, lists)` defines the script's flags and calls `app.run(main)`.
The flags are defined only when the module runs as a script: importing it defines none,
so a process that imports several of these modules, or one of them beside
`experiments.run` or `bench` (the tests; bench imports numpy_baseline), never defines a
flag twice (absl's flags are global; `--seeds`, `--out`, `--n_val` ... have one meaning
per script). `bench` and `faithfulness`, which no module of the package imports (the
tests import bench alone, in a subprocess), define theirs at import and pass
`define_flags=lambda: None`. As `experiments.run` does:

- bad input (an unknown flag, a value of the wrong type, or `main` raising `BadInput`)
  is one line `error: ...` on stderr and exit status 2;
- `--help` (also `-h`) prints the module's docstring and its flags, with exit status 0
  (absl's own help exits with 1);
- each list flag in `lists` also takes its values space-separated, `--n_val 1000 2000`
  as `--n_val=1000,2000` (the documented command lines, written for argparse's
  `nargs="+"`): the values run up to the next flag.

`define_compilation_cache_flag()` and `compilation_cache(value, max_gib)` give a script
`--compilation_cache=PATH|off`, JAX's persistent compilation cache on by default in a
user cache folder (`default_compilation_cache()`), and `--compilation_cache_max_gib`, the
folder pruned to that size (`CompilationCache.prune`) once the command has succeeded;
`experiments.run` uses them.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import NamedTuple

from absl import app, flags

from tbal_jax.errors import ConfigError

# the compilation cache folder's default limit: a few hundred compiled sweeps
CACHE_MAX_GIB = 2.0
_NEGATIVE_NUMBER = re.compile(r"-\d+|-\d*\.\d+")  # a value, not a flag (as argparse)


class BadInput(Exception):
    """Bad command-line input: `run` prints `error: <message>`, exit status 2."""


def default_compilation_cache() -> str:
    """The persistent compilation cache's folder when `--compilation_cache` is not
    given: $JAX_COMPILATION_CACHE_DIR where set (the tests set it to a folder of their
    own), else $XDG_CACHE_HOME/tbal_jax/jax, else ~/.cache/tbal_jax/jax."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return str(Path(base) / "tbal_jax" / "jax")


def define_compilation_cache_flag() -> None:
    """`--compilation_cache=PATH|off` and `--compilation_cache_max_gib=GiB`
    (experiments.run defines them at import)."""
    flags.DEFINE_string(
        "compilation_cache",
        None,
        "folder of JAX's persistent compilation cache, so a later run loads its "
        "compiled programs instead of compiling them again; 'off' for none (default "
        "$JAX_COMPILATION_CACHE_DIR, else $XDG_CACHE_HOME/tbal_jax/jax, else "
        "~/.cache/tbal_jax/jax)",
    )
    flags.DEFINE_float(
        "compilation_cache_max_gib",
        None,
        "the most the compilation cache folder may hold, in GiB: at start-up its least "
        "recently used programs and traces are deleted to fit; inf for no limit "
        f"(default {CACHE_MAX_GIB:g}, except for a folder from "
        "$JAX_COMPILATION_CACHE_DIR, which is shared with other programs and left as "
        "it is)",
    )


class CompilationCache(NamedTuple):
    """The folder `compilation_cache` turned on (None when off) and its size limit."""

    folder: str | None
    max_bytes: float

    def prune(self) -> None:
        """Keep the folder within its limit (`runtime.prune_cache`), the programs this
        command used kept longest; a command calls it once it has succeeded, so a
        refused or failed command leaves the folder as it was."""
        if self.folder is not None and self.max_bytes < float("inf"):
            from tbal_jax import runtime

            runtime.prune_cache(self.folder, self.max_bytes)


def compilation_cache(
    value: str | None, max_gib: float | None = None
) -> CompilationCache:
    """Turn the persistent compilation cache on in `value` (None: the default folder),
    for every program however quick its compile, with the traced sweeps kept beside it
    (`tbal_jax.trace_cache`), or both off for 'off'. Returns the folder and its limit,
    `max_gib` GiB (None: `CACHE_MAX_GIB`, except that a default folder from
    $JAX_COMPILATION_CACHE_DIR, shared with other programs, has none), for
    `CompilationCache.prune`. Call it before anything compiles."""
    import jax

    from tbal_jax import runtime, trace_cache

    if max_gib is not None and not max_gib > 0:  # NaN too
        raise BadInput(
            f"--compilation_cache_max_gib={max_gib}: give a size above 0 GiB, or inf "
            "for no limit"
        )
    if value is not None and value.strip().lower() == "off":
        jax.config.update("jax_enable_compilation_cache", False)
        trace_cache.enable(None)
        return CompilationCache(None, float("inf"))
    if value is not None and not value.strip():
        raise BadInput("--compilation_cache is empty: give a folder, or off")
    folder = value or default_compilation_cache()
    if max_gib is None:
        shared = value is None and bool(os.environ.get("JAX_COMPILATION_CACHE_DIR"))
        max_gib = float("inf") if shared else CACHE_MAX_GIB
    jax.config.update("jax_enable_compilation_cache", True)
    runtime.compilation_cache(folder)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    trace_cache.enable(folder)  # and the traced sweeps beside it
    return CompilationCache(folder, max_gib * 2**30)


def no_arguments(argv: list[str], example: str) -> None:
    """`BadInput` unless the command line held flags only (argv[0] is the program)."""
    if len(argv) > 1:
        raise BadInput(f"unexpected argument {argv[1]!r}; flags look like {example}")


def at_least(low: int, **values: int | None) -> None:
    """`BadInput` for the first integer flag `--name=value` below `low` (None: not
    given, fine)."""
    for name, value in values.items():
        if value is not None and value < low:
            raise BadInput(f"--{name}={value}: give at least {low}")


def integers(name: str, values: list[str]) -> list[int]:
    """The values of the list flag `--name` as integers, else `BadInput`."""
    try:
        return [int(v) for v in values]
    except ValueError:
        raise BadInput(f"--{name}={','.join(values)}: not a list of integers") from None


def _is_value(arg: str) -> bool:
    return not arg.startswith("-") or bool(_NEGATIVE_NUMBER.fullmatch(arg))


def _join_lists(argv: list[str], lists: Collection[str]) -> list[str]:
    """argv with `-h` as `--help` and `--NAME A B` as `--NAME=A,B` for NAME in
    `lists`, up to a `--` (after which everything is an argument)."""
    out, rest = [argv[0]], list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            out += [arg, *rest]
            break
        if arg == "-h":
            arg = "--help"
        elif arg.startswith("--") and arg[2:] in lists:
            values = []
            while rest and _is_value(rest[0]):
                values.append(rest.pop(0))
            if not values:
                raise BadInput(
                    f"{arg}: give at least one value ({arg} A B or {arg}=A,B)"
                )
            arg = f"{arg}={','.join(values)}"
        out.append(arg)
    return out


def _fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _parse(argv: list[str], lists: Collection[str]) -> list[str]:
    """absl's parse of the flags; its errors as one line and exit status 2."""
    try:
        return flags.FLAGS(_join_lists(argv, lists))
    except BadInput as err:
        _fail(str(err))
    except flags.Error as err:
        _fail(" ".join(str(err).split()))
    except SystemExit as exit_:  # --help, --helpfull: the usage is printed, exit 1
        sys.exit(0 if exit_.code == 1 else exit_.code)


def run(
    main: Callable[[list[str]], int | None],
    define_flags: Callable[[], None],
    lists: Collection[str] = (),
) -> None:
    """Define the flags, parse them, and exit with `main(argv)`'s status (None: 0;
    `BadInput`: 2, its message on stderr as one line)."""
    define_flags()

    def checked(argv: list[str]) -> int | None:
        try:
            return main(argv)
        except (BadInput, ConfigError) as err:  # bad input, found before or during
            print(f"error: {err}", file=sys.stderr)
            return 2

    app.run(checked, flags_parser=lambda argv: _parse(argv, lists))
