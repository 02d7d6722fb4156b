"""One registry per extension point (the style of evosax's registry dicts).

A `Registry` maps names to component objects; each extension point's subpackage or
module creates one and registers its implementations in one line each
(`DATASETS.register(UNIT_BALL)`). Components carry their own `name` and `label` (and,
where they have one, a plot `style`), so help texts, error messages, figure legends and
tables all read them from here; nothing else keys a table by a name string. Names are
resolved once, at the command line or the Python entry point (`get`, `resolve`). A
registry reads like a dict of its names (`name in R`, `R[name]`, `for name in R`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from tbal_jax.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named components of one kind, in registration order.

    `kind` names the extension point in messages ("estimator"); `flag` is the
    command-line flag that picks one ("--estimator")."""

    def __init__(self, kind: str, flag: str = ""):
        self.kind = kind
        self.flag = flag or f"--{kind}"
        self._entries: dict[str, T] = {}

    def register(self, component: T) -> T:
        """Add `component` under its `name`; a second component of the same name is a
        programming error. Returns the component, so it can decorate or assign."""
        name = component.name
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = component
        return component

    def get(self, name: str) -> T:
        """The component called `name`, or a one-line `ConfigError` listing the names."""
        if not isinstance(name, str) or name not in self._entries:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; choose one of {', '.join(self.names())}"
            )
        return self._entries[name]

    def resolve(self, component: T | str) -> T:
        """A name resolved to its component; a component (or None) passes through."""
        return self.get(component) if isinstance(component, str) else component

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def help(self, what: str) -> str:
        """A flag's help text: what it picks and the registered names."""
        return f"{what}: {', '.join(self.names())}"

    def values(self) -> tuple[T, ...]:
        """The components, in registration order."""
        return tuple(self._entries.values())

    def items(self) -> tuple[tuple[str, T], ...]:
        return tuple(self._entries.items())

    def __iter__(self) -> Iterator[str]:
        """The names, as a dict's keys (`for name in ESTIMATORS`)."""
        return iter(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"
