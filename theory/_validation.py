"""Input checks shared by the bounds: convert to float64 and reject bad values.

Each checker returns its input as a float64 array and raises ``ValueError`` with a
one-line message that names the argument and its first offending value.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.typing import ArrayLike


def checked(
    name: str,
    value: ArrayLike,
    valid: Callable[[np.ndarray], np.ndarray],
    requirement: str,
) -> np.ndarray:
    """Returns ``value`` as float64 if ``valid`` holds everywhere; else ValueError."""
    array = np.asarray(value, dtype=np.float64)
    ok = np.broadcast_to(valid(array), array.shape)
    if not np.all(ok):
        bad = array[~ok].flat[0]
        raise ValueError(f"{name} must {requirement}, got {bad!r}")
    return array


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


def positive(name: str, value: ArrayLike) -> np.ndarray:
    """A strictly positive quantity, such as a sample size or an excess error."""
    return checked(name, value, lambda x: x > 0, "be > 0")


def nonnegative(name: str, value: ArrayLike) -> np.ndarray:
    """A quantity that may be zero, such as a per-round count."""
    return checked(name, value, lambda x: x >= 0, "be >= 0")


def class_count(name: str, value: ArrayLike) -> np.ndarray:
    """A number of classes for a union bound: an integer >= 1."""
    return checked(
        name, value, lambda x: (x >= 1) & (x == np.floor(x)), "be an integer >= 1"
    )
