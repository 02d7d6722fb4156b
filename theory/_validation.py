"""Input checks shared by the bounds: convert to float64 and reject bad values.

Each checker returns its input as a float64 array and raises `InvalidArgumentError` (a
`ValueError`) with a one-line message that names the argument and its first offending
value, written as a plain float ("got 0.5", "got nan", "got inf"). NaN fails every
check; infinite values fail every check but `nonnegative`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.typing import ArrayLike


class InvalidArgumentError(ValueError):
    """An argument of a `theory` function outside its domain.

    The message is one line: the argument's name, what it must satisfy and its first
    offending value, e.g. "n must be an integer >= 1, got 0.5".
    """


def _show(value: ArrayLike) -> str:
    """A number as a plain float, "0.5" or "1e-17" rather than "np.float64(0.5)"."""
    return repr(float(value))


def checked(
    name: str,
    value: ArrayLike,
    valid: Callable[[np.ndarray], np.ndarray],
    requirement: str,
) -> np.ndarray:
    """Returns ``value`` as float64 if ``valid`` holds everywhere; else the error."""
    array = np.asarray(value, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.broadcast_to(valid(array), array.shape)
    if not np.all(ok):
        raise InvalidArgumentError(
            f"{name} must {requirement}, got {_show(array[~ok].flat[0])}"
        )
    return array


def jointly(requirement: str, valid: Callable[..., np.ndarray], **values) -> None:
    """Checks a relation between arguments, e.g. errors <= n; the message shows each
    argument at the first place where it fails: "errors must be <= n, got errors =
    5.0, n = 3.0"."""
    arrays = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in values.values()))
    ok = np.broadcast_to(valid(*arrays), arrays[0].shape)
    if not np.all(ok):
        where = tuple(np.argwhere(~ok)[0])
        shown = ", ".join(
            f"{name} = {_show(array[where])}" for name, array in zip(values, arrays)
        )
        raise InvalidArgumentError(f"{requirement}, got {shown}")


def probability(name: str, value: ArrayLike) -> np.ndarray:
    """A confidence parameter such as delta: strictly inside (0, 1)."""
    return checked(name, value, lambda x: (x > 0) & (x < 1), "lie in (0, 1)")


def mass(name: str, value: ArrayLike) -> np.ndarray:
    """A probability mass that must be positive, such as p0: in (0, 1]."""
    return checked(name, value, lambda x: (x > 0) & (x <= 1), "lie in (0, 1]")


def unit_interval(name: str, value: ArrayLike) -> np.ndarray:
    """A Bernoulli parameter: in [0, 1]."""
    return checked(name, value, lambda x: (x >= 0) & (x <= 1), "lie in [0, 1]")


def tolerance(name: str, value: ArrayLike) -> np.ndarray:
    """An error level that still leaves room for an excess, such as eps_a: in [0, 1)."""
    return checked(name, value, lambda x: (x >= 0) & (x < 1), "lie in [0, 1)")


def hypotheses(eps: ArrayLike, eps_a: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The two-point hypotheses' errors: eps in (0, 1], eps_a in [0, 1),
    eps_a + eps <= 1; both as float64 (not broadcast)."""
    eps = checked("eps", eps, lambda x: (x > 0) & (x <= 1), "lie in (0, 1]")
    eps_a = tolerance("eps_a", eps_a)
    jointly("eps_a + eps must be <= 1", lambda a, e: e <= 1 - a, eps_a=eps_a, eps=eps)
    return eps, eps_a


def positive(name: str, value: ArrayLike) -> np.ndarray:
    """A finite, strictly positive real, such as a VC dimension or an excess target."""
    return checked(name, value, lambda x: np.isfinite(x) & (x > 0), "be finite and > 0")


def nonnegative(name: str, value: ArrayLike) -> np.ndarray:
    """A quantity that may be zero or +inf, such as a capacity term."""
    return checked(name, value, lambda x: x >= 0, "be >= 0")


def count(name: str, value: ArrayLike, minimum: int = 1) -> np.ndarray:
    """A number of points, classes or candidates: a finite integer >= minimum."""
    return checked(
        name,
        value,
        lambda x: np.isfinite(x) & (x >= minimum) & (x == np.floor(x)),
        f"be an integer >= {minimum}",
    )
