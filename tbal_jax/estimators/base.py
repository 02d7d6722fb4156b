"""The threshold-estimator interface: counts -> bound -> select (algorithm.md sections 3 and 12).

An estimator turns the current validation set into one threshold per class, over a
fixed-capacity validation buffer where only `active` entries are the current set:

    estimate(scores, preds, labels, active, eps, c1, delta) -> thresholds (k,)

(+inf for a class with no accepted candidate: nothing is auto-labelled in it). Every
estimator shares three steps: the counts (`counts.count_levels`), a bound u(n, wrong)
on the error of the points above a candidate compared with eps (`Estimator.bound`;
`Estimator.accept` is the same decision computed the cheapest exact way: for the
binomial bounds the tail at eps, which is <= delta' exactly when the Clopper-Pearson
limit is <= eps), and a selection rule (`select`).

The paper preset (`sigma`, with C1 = 0 in all published runs) keeps its exact outputs:
the same candidates, the same float32 err = wrong / n, the same comparisons.

Ties: exact arithmetic accepts u == eps (e.g. 2/40 = 0.05); the reference's float64
`1 - correct/n` rejects some such ties by one ulp. Here err = wrong/n is a correctly
rounded float32 division, which equals float32(eps) whenever wrong/n == eps exactly, so
with C1 = 0 exact ties are accepted as they are. For the paper's slacks only, the
comparison u <= eps * (1 + TIE_RTOL) absorbs rounding in the slack arithmetic when C1 > 0;
a guaranteed estimator never gets that tolerance.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax.numpy as jnp

from tbal_jax.estimators.binomial import BINOMIAL_RTOL
from tbal_jax.estimators.counts import MAX_CAPACITY, count_levels
from tbal_jax.estimators.select import MIN_COUNT, NONE, of_class

TIE_RTOL = 1e-6  # paper slacks only
DEFAULT_DELTA = 0.05


@dataclasses.dataclass(frozen=True)
class Estimator:
    """A threshold estimator (algorithm.md section 3 and 12): its bound, its selection and, for the
    guaranteed ones, the share delta' of delta that each of its tests gets (`level`).

    Calling it with (k, capacity, rounds) gives the pure function
    `estimate(scores, preds, labels, active, eps, c1, delta=0.05) -> (k,)` for a
    validation buffer of static size `capacity` in a run that estimates thresholds in at
    most `rounds` rounds (the R of the union bound)."""

    name: str
    guarantee: str  # what it promises, and under which assumptions
    bound: Callable  # (n, wrong, eps, c1, level) -> u, an upper bound on the error
    select: Callable  # (levels, k, accept, n_min) -> candidate index per class
    level: Callable | None = None  # (delta, k, R, levels, |T'| per class) -> delta'
    accept: Callable | None = None  # (n, wrong, eps, c1, level) -> u <= eps, directly
    label: str = ""  # the name figures and tables show
    marker: str = "o"  # its plot marker (guaranteed estimators are drawn dashed)

    @property
    def guaranteed(self) -> bool:
        return self.level is not None

    @property
    def title(self) -> str:
        return self.label or self.name

    @property
    def line_style(self) -> str:
        return "--" if self.guaranteed else "-"

    def __call__(self, num_classes: int, capacity: int, rounds: int = 1):
        if capacity > MAX_CAPACITY:
            raise ValueError(f"validation capacity {capacity} exceeds {MAX_CAPACITY}")
        k = num_classes

        def estimate(scores, preds, labels, active, eps, c1, delta=DEFAULT_DELTA):
            levels = count_levels(scores, preds, labels, active, k)
            if self.guaranteed:
                first = levels.start[:k]
                kept = levels.start[1:] - first > MIN_COUNT
                n_kept = jnp.where(
                    kept,
                    levels.cand[jnp.minimum(first + MIN_COUNT, capacity - 1)] + 1,
                    0,
                )
                level = jnp.broadcast_to(
                    self.level(delta, k, rounds, levels, n_kept), (k,)
                )
                # fewer points than ln(delta') / ln(1 - eps) can never pass, even
                # with w = 0 (algorithm.md section 12); the rounding margin is counted in delta'
                n_min = jnp.log(level / (1 + BINOMIAL_RTOL)) / jnp.log1p(-eps)

                def accept(n, wrong, cls):
                    return self.accept(n, wrong, eps, c1, of_class(level, cls))

            else:  # the paper's slacks: u <= eps, with the tie tolerance
                n_min = jnp.zeros(k)

                def accept(n, wrong, cls):
                    del cls
                    u = self.bound(n, wrong, eps, c1, None)
                    return u <= eps * (1.0 + TIE_RTOL)

            idx = self.select(levels, k, accept, n_min)
            return jnp.where(idx != NONE, levels.value(idx), jnp.inf)

        return estimate
