"""Names for figures and tables, read from the registries (algorithm.md section 9).

A sweep's rows differ by method (outcome) and C1 and, when a sweep combines several, by
the run's components and confidence level: `VARIANT_COLUMNS`. A figure draws one series
and a table one column group per (method, variant); `varying(rows)` says which variant
columns take more than one value, and only those are named in a label, so a figure of
one estimator says nothing of estimators, and one of two says which is which.
"""

from __future__ import annotations

from tbal_jax.estimators import ESTIMATORS, SIGMA
from tbal_jax.models import MODELS
from tbal_jax.protocols import outcome_labels, protocol_of
from tbal_jax.queries import MARGIN_RANDOM, QUERIES
from tbal_jax.scores import MAX_PROB, SCORES

VARIANT_COLUMNS = ("model", "estimator", "score", "query", "delta")
DEFAULT_VARIANT = {  # the paper preset: a title names only what differs from it
    "estimator": SIGMA.name,
    "score": MAX_PROB.name,
    "query": MARGIN_RANDOM.name,
}
_TITLES = {"model": MODELS, "estimator": ESTIMATORS, "score": SCORES, "query": QUERIES}


def component_title(column: str, name: str) -> str:
    """A component's display name (a name no registry knows is shown as it is)."""
    registry = _TITLES[column]
    if name not in registry:
        return name
    entry = registry.get(name)
    return getattr(entry, "title", "") or getattr(entry, "label", "") or name


def method_label(method: str) -> str:
    return outcome_labels().get(method, method)


def _applies(row: dict, column: str) -> bool:
    """Whether a row's value of `column` says how it ran: a protocol that takes its
    budget up front (PL) queries at random, whatever the query column of the others."""
    if column != "query":
        return True
    protocol = protocol_of(row["method"])
    return protocol is None or not protocol.budget_up_front


def _values(rows: list[dict], column: str) -> set:
    return {r[column] for r in rows if _applies(r, column)}


def varying(rows: list[dict]) -> tuple[str, ...]:
    """The variant columns with more than one value among `rows` (where they apply)."""
    return tuple(c for c in VARIANT_COLUMNS if len(_values(rows, c)) > 1)


def variant(row: dict, columns: tuple[str, ...]) -> tuple:
    """The row's values of the varying columns (None where one does not apply)."""
    return tuple(row[c] if _applies(row, c) else None for c in columns)


def variant_label(values: tuple, columns: tuple[str, ...]) -> str:
    """ "MLP 256-128, SGR, delta = 0.1" for the varying columns' values."""
    return ", ".join(
        f"δ = {v:g}" if c == "delta" else component_title(c, v)
        for c, v in zip(columns, values)
        if v is not None
    )


def series_label(method: str, values: tuple, columns: tuple[str, ...]) -> str:
    """A legend or column label: the method, then the variant when several are shown."""
    label = method_label(method)
    return f"{label}, {variant_label(values, columns)}" if columns else label


def fixed_variant(rows: list[dict]) -> str:
    """The components with one value that differs from the paper preset (a figure
    title's note, e.g. "estimator SGR"); empty when all are the preset's."""
    parts = []
    for c, default in DEFAULT_VARIANT.items():
        values = _values(rows, c)
        if len(values) != 1:
            continue
        (v,) = values
        if v != default:
            parts.append(f"{c} {component_title(c, v)}")
    return ", ".join(parts)
