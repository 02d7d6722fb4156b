"""The threshold-estimator interface: counts -> bound -> select (algorithm.md sections 3 and 12).

An estimator turns the current validation set into one threshold per class, over a
fixed-capacity validation buffer where only `active` entries are the current set:

    estimate(scores, preds, labels, active, eps, c1, delta, round_index) -> thresholds (k,)

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

A guaranteed estimator also carries three settings fixed before any data are seen
(algorithm.md section 12, "Spending delta over rounds and candidates fixed in advance"):
how delta is spent over the rounds (`spend`: `uniform`, `geometric` with `rho`, `front`
or `back` with the share `front`; `spending`) and which candidates it tests (`candidates`: `data`, the
section 3 set, or `fixed`, `m` levels over the score's range); and which validation
points each round tests on (`validation`: `reuse`, the whole remaining set, or `fresh`,
a part of its own, `tbal_jax.run.validation_parts`). `Estimator.variant`
makes one; `ESTIMATORS` registers every combination under names such as
`ltt_geometric_fixed`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax.numpy as jnp

from tbal_jax.estimators import spending
from tbal_jax.estimators.binomial import BINOMIAL_RTOL
from tbal_jax.estimators.counts import GRID_SIZE, MAX_CAPACITY, count_levels, of_class
from tbal_jax.estimators.select import MIN_COUNT, NONE

TIE_RTOL = 1e-6  # paper slacks only
DEFAULT_DELTA = 0.05
CANDIDATES = ("data", "fixed")  # the section 3 set, or m levels fixed in advance
VALIDATION = ("reuse", "fresh")  # one validation set for all rounds, or a part per round
DEFAULT_FIXED_LEVELS = 100
SPEND_LABELS = {
    "uniform": "",
    "geometric": "geometric",
    "front": "front-loaded",
    "back": "back-loaded",
}


@dataclasses.dataclass(frozen=True)
class Estimator:
    """A threshold estimator (algorithm.md section 3 and 12): its bound, its selection and, for the
    guaranteed ones, the share delta' of delta that each of its tests gets (`level`).

    Calling it with (k, capacity, rounds, score_range) gives the pure function
    `estimate(scores, preds, labels, active, eps, c1, delta=0.05, round_index=0) -> (k,)`
    for a validation buffer of static size `capacity` in a run that estimates thresholds
    in at most `rounds` rounds (the R over which delta is spent); `round_index` (traced)
    is the round, which reads its share of delta (`spend`); `score_range` = (lo, hi) is
    the range the score can take, where the fixed candidates lie (default [1/k, 1], the
    max-probability score's).

    `spend`, `rho`, `front`, `candidates`, `m` and `validation` are the guaranteed
    estimators' settings (module docstring; `validation` is read by `tbal_jax.run`); the
    defaults are the original rules."""

    name: str
    guarantee: str  # what it promises, and under which assumptions
    bound: Callable  # (n, wrong, eps, c1, level) -> u, an upper bound on the error
    select: Callable  # (levels, k, accept, n_min) -> candidate index per class
    # (share, k, divisor, levels, |T'| per class) -> delta': the round's share of
    # delta (`spending.round_delta`: (delta, R) for uniform, (delta w_r, 1) else)
    level: Callable | None = None
    accept: Callable | None = None  # (n, wrong, eps, c1, level) -> u <= eps, directly
    label: str = ""  # the name figures and tables show
    marker: str = "o"  # its plot marker (guaranteed estimators are drawn dashed)
    spend: str = "uniform"  # delta over rounds: uniform, geometric, front or back
    rho: float = spending.DEFAULT_RHO  # the geometric rule's ratio
    # the front (back) rule's share of delta on round 0 (on the last round)
    front: float = spending.DEFAULT_FRONT
    candidates: str = "data"  # data (algorithm.md section 3) or fixed (m levels)
    m: int = DEFAULT_FIXED_LEVELS  # the number of fixed candidates
    validation: str = "reuse"  # reuse (every round) or fresh (a disjoint part per round)
    # a candidate needs more than `min_count` points above it (algorithm.md section 3;
    # the sequel's code uses 10, section 14); the guaranteed estimators keep MIN_COUNT
    min_count: int = MIN_COUNT

    def __post_init__(self):
        if self.spend not in spending.SPENDS:
            raise ValueError(
                f"{self.name}: spend={self.spend!r}; choose one of {spending.SPENDS}"
            )
        if self.candidates not in CANDIDATES:
            raise ValueError(
                f"{self.name}: candidates={self.candidates!r}; choose one of {CANDIDATES}"
            )
        if not 0 < self.rho < 1 or not 0 < self.front < 1:
            raise ValueError(f"{self.name}: rho and front must lie in (0, 1)")
        if not 2 <= self.m <= GRID_SIZE:
            raise ValueError(f"{self.name}: m={self.m} must lie in [2, {GRID_SIZE}]")
        if self.validation not in VALIDATION:
            raise ValueError(
                f"{self.name}: validation={self.validation!r}; choose one of {VALIDATION}"
            )
        default = (self.spend, self.candidates, self.validation) == (
            "uniform",
            "data",
            "reuse",
        )
        if self.level is None and not default:
            raise ValueError(f"{self.name}: only a guaranteed estimator spends delta")
        if self.level is not None and self.min_count != MIN_COUNT:
            raise ValueError(f"{self.name}: a guaranteed estimator keeps MIN_COUNT")

    def variant(
        self,
        spend: str = "uniform",
        candidates: str = "data",
        rho: float = spending.DEFAULT_RHO,
        front: float = spending.DEFAULT_FRONT,
        m: int = DEFAULT_FIXED_LEVELS,
        validation: str = "reuse",
    ) -> Estimator:
        """This guaranteed estimator with other settings (algorithm.md section 12), named
        `<name>[_<spend>][_fixed][_fresh]` (non-default rho, front or m appended, e.g.
        `ltt_geometric_rho0.7`) and labelled to match."""
        parts, label = [self.name], [self.label or self.name]
        tags = []
        if spend != "uniform":
            parts.append(spend)
            tags.append(SPEND_LABELS[spend])
            if spend == "geometric" and rho != spending.DEFAULT_RHO:
                parts.append(f"rho{rho:g}")
                tags[-1] += rf" $\rho$={rho:g}"
            if spend in ("front", "back") and front != spending.DEFAULT_FRONT:
                parts[-1] += f"{front:g}"  # e.g. ltt_back0.9
                tags[-1] += f" {front:g}"
        if candidates == "fixed":
            parts.append("fixed" if m == DEFAULT_FIXED_LEVELS else f"fixed{m}")
            tags.append(f"{m} fixed candidates")
        if validation == "fresh":
            parts.append("fresh")
            tags.append("fresh validation")
        guarantee = self.guarantee
        if validation == "fresh":
            guarantee += (
                "; validation fresh: each round tests only on its own part of the "
                "validation set, divided once before the loop (most to round 0), so "
                "with fixed candidates each round's test is exact given the earlier "
                "rounds"
            )
        if (spend, candidates) != ("uniform", "data"):
            guarantee += (
                f"; delta spent over rounds by the {spend} rule (round r's tests share "
                "delta w_r, sum_r w_r <= 1), the candidates "
                + (
                    f"{m} levels over the score's range, fixed before the data"
                    if candidates == "fixed"
                    else "those of algorithm.md section 3"
                )
            )
        return dataclasses.replace(
            self,
            name="_".join(parts),
            label=", ".join(label + tags) if tags else self.label,
            guarantee=guarantee,
            spend=spend,
            rho=rho,
            front=front,
            candidates=candidates,
            m=m,
            validation=validation,
        )

    @property
    def guaranteed(self) -> bool:
        return self.level is not None

    @property
    def title(self) -> str:
        return self.label or self.name

    @property
    def line_style(self) -> str:
        """Solid for the slacks; for the guaranteed ones by their spending rule."""
        if not self.guaranteed:
            return "-"
        return {"uniform": "--", "geometric": "-.", "front": ":", "back": (0, (6, 2))}[
            self.spend
        ]

    @property
    def marker_fill(self) -> str:
        """Fixed candidates are drawn with hollow markers."""
        return "none" if self.candidates == "fixed" else "full"

    def __call__(
        self,
        num_classes: int,
        capacity: int,
        rounds: int = 1,
        score_range: tuple[float, float] | None = None,
    ):
        if capacity > MAX_CAPACITY:
            raise ValueError(f"validation capacity {capacity} exceeds {MAX_CAPACITY}")
        k = num_classes
        fixed = None
        if self.candidates == "fixed":
            lo, hi = score_range if score_range is not None else (1.0 / k, 1.0)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(
                    f"{self.name}: fixed candidates need a bounded score range, "
                    f"not [{lo}, {hi}]"
                )
            fixed = (float(lo), float(hi), self.m)

        def estimate(
            scores, preds, labels, active, eps, c1, delta=DEFAULT_DELTA, round_index=0
        ):
            levels = count_levels(scores, preds, labels, active, k, fixed=fixed)
            if self.guaranteed:
                share, divisor = spending.round_delta(
                    self.spend, delta, round_index, rounds, self.rho, self.front
                )
                first = levels.start[:k]
                kept = levels.start[1:] - first > MIN_COUNT
                n_kept = jnp.where(
                    kept,
                    levels.cand[jnp.minimum(first + MIN_COUNT, capacity - 1)] + 1,
                    0,
                )
                level = jnp.broadcast_to(
                    self.level(share, k, divisor, levels, n_kept), (k,)
                )
                # fewer points than ln(delta') / ln(1 - eps) can never pass, even
                # with w = 0 (algorithm.md section 12); the rounding margin is counted in delta'
                n_min = jnp.maximum(
                    jnp.log(level / (1 + BINOMIAL_RTOL)) / jnp.log1p(-eps),
                    MIN_COUNT + 1.0,
                )

                def accept(n, wrong, cls):
                    return self.accept(n, wrong, eps, c1, of_class(level, cls))

            else:  # the paper's slacks: u <= eps, with the tie tolerance
                n_min = jnp.full(k, self.min_count + 1.0)

                def accept(n, wrong, cls):
                    del cls
                    u = self.bound(n, wrong, eps, c1, None)
                    return u <= eps * (1.0 + TIE_RTOL)

            idx = self.select(levels, k, accept, n_min)
            return jnp.where(idx != NONE, levels.value(idx), jnp.inf)

        return estimate
