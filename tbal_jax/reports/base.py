"""The report interface: what an experiment of a kind writes besides its rows, and the
rules its grid must follow (algorithm.md section 9).

A `Report` says which axes besides the swept one may take several values (`several`),
whether it draws a swept axis at all (`swept`), how many seeds it can show, which method
it needs, how the figure's title reads, and `write(exp, dataset, done, folder)`: the
tables and figures from a finished experiment (`Done`: its sweeps, rows, summary and
seeds; for a report that runs no sweep, the seeds alone), every file through the result
store's `atomic_path`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

from tbal_jax import labels
from tbal_jax.errors import ConfigError
from tbal_jax.estimators import ESTIMATORS
from tbal_jax.params import RunParams

AXIS_SYMBOLS = {
    "n_val": "$N_v$",
    "n_train": "$N_q$",
    "eps": r"$\epsilon$",
    "c1": "$C_1$",
    "delta": r"$\delta$",
}
AXIS_NAMES = {
    "n_val": "validation size",
    "n_train": "training budget",
    "eps": "tolerance",
}


class Done(NamedTuple):
    """A finished experiment: one `SweepResult` per unit, the rows and summary of all
    of them, and the seeds."""

    sweeps: dict
    rows: list
    summary: list
    seeds: object


@dataclasses.dataclass(frozen=True)
class Report:
    """How an experiment of one kind is checked, titled and written (module docstring).
    Subclasses override `write` (and `title` where it reads differently)."""

    name: str
    several: tuple[str, ...] = ()
    swept: bool = True
    runs_sweeps: bool = True
    max_seeds: int | None = None
    needs_method: str | None = None
    one_of: tuple[str, ...] = ()  # unit fields that must hold one value (it draws one)
    what: str = ""  # the title's subject; default: the swept axis's name

    def single_axes(self, exp) -> list[str]:
        """The axes that must hold exactly one value."""
        free = set(self.several) | ({exp.axis} if self.swept else set())
        return [a for a in RunParams._fields if a not in free]

    def check(self, exp) -> None:
        for axis in self.single_axes(exp):
            values = getattr(exp.axes, axis)
            if len(values) != 1:
                raise ConfigError(
                    f"{exp.name} takes one value of {axis}, got "
                    f"{','.join(str(v) for v in values)}"
                )
        for field in self.one_of:  # a report that draws one configuration
            if len(getattr(exp, field)) != 1:
                raise ConfigError(
                    f"{exp.name} draws one configuration; give one of {field} (got "
                    f"{','.join(str(v) for v in getattr(exp, field))})"
                )
        if self.needs_method and self.needs_method not in exp.methods:
            raise ConfigError(
                f"{exp.name} needs the {self.needs_method} method: keep {self.needs_method} in "
                "--methods"
            )

    def check_seeds(self, exp, seeds) -> None:
        if self.max_seeds is not None and len(seeds) > self.max_seeds:
            raise ConfigError(
                f"{exp.name} shows {self.max_seeds} run; give --seeds="
                f"{self.max_seeds} (it draws the first seed)"
            )

    def title(self, exp, seeds=None, rows=None) -> str:
        """The heading, the swept axis, every axis with one value, the seeds, and the
        components that differ from the paper preset (or vary) in `rows`."""
        fixed = [
            f"{AXIS_SYMBOLS.get(a, a)} = {getattr(exp.axes, a)[0]:g}"
            for a in RunParams._fields
            if len(getattr(exp.axes, a)) == 1
            and (a != exp.axis or not self.swept)
            and (a != "delta" or self._delta_matters(exp))
        ]
        if rows:
            note = labels.fixed_variant(rows)
            fixed += [note] if note else []
        if seeds is not None:
            fixed.append(f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}")
        what = self.what or AXIS_NAMES[exp.axis]
        return f"{exp.heading()}: {what} ({', '.join(fixed)})"

    @staticmethod
    def _delta_matters(exp) -> bool:
        """delta is named where a guaranteed estimator uses it."""
        return any(ESTIMATORS.get(e).guaranteed for e in exp.estimators)

    def write(self, exp, dataset, done: Done, folder: Path, atomic) -> dict:
        """{"tables": [paths], "figure": [paths], ...}: the report's files, each written
        through `atomic(path)` (the result store's: it records the file first, and
        refuses to replace a file it did not write)."""
        raise NotImplementedError
