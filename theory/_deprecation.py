"""Former positional argument orders, kept working with a DeprecationWarning.

The argument convention of theory/__init__.py changed the positional order of a few
functions. Each of them now takes the parameters whose position changed by keyword
only, so a call can never be read in the wrong order: a call that passes them
positionally is read in the old order, gives the old result and warns with the keyword
call to write instead. Once the old order is retired they can become positional again,
in the convention's order.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import warnings
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def _value(name: str, value: object) -> str:
    """A number as written in a call (1556, 0.01), anything else by its name."""
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return name


def former_order(*old: str, renamed: dict[str, str] | None = None) -> Callable[[F], F]:
    """Decorator: positional arguments past the function's positional parameters are
    the parameters `old`, in that (former) order; keywords in `renamed` are former
    names of parameters. Either warns, naming the call to write instead."""
    renamed = renamed or {}

    def decorate(function: F) -> F:
        name = function.__name__
        parameters = inspect.signature(function).parameters
        leading = [
            p
            for p, spec in parameters.items()
            if spec.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            positional, extra = args[: len(leading)], args[len(leading) :]
            if len(extra) > len(old):
                raise TypeError(
                    f"{name}() takes at most {len(leading) + len(old)} positional "
                    f"arguments, got {len(args)}"
                )
            keywords = {}
            for given, value in [*zip(old, extra), *kwargs.items()]:
                given = renamed.get(given, given)
                if given in keywords:
                    raise TypeError(f"{name}() got multiple values for {given!r}")
                keywords[given] = value
            stale = (
                [f"the positional order ({', '.join([*leading, *old])})"]
                if extra
                else []
            )
            stale += [f"the keyword {given}=" for given in kwargs if given in renamed]
            if stale:
                call = [_value(p, v) for p, v in zip(leading, positional)] + [
                    f"{p}={_value(p, keywords[p])}" for p in parameters if p in keywords
                ]
                warnings.warn(
                    f"{name}: {' and '.join(stale)} is deprecated (theory's "
                    f"argument convention); call {name}({', '.join(call)})",
                    DeprecationWarning,
                    stacklevel=2,
                )
            return function(*positional, **keywords)

        return wrapper  # type: ignore[return-value]

    return decorate
