"""Estimators with a finite-sample guarantee (algorithm.md section 12): Clopper-Pearson with a
union over the candidates, Learn then Test (fixed-sequence testing) and Selection with
Guaranteed Risk (binary search), each with delta split over classes and rounds; and their
variants (`VARIANTS`): delta spent over rounds by the geometric or front rule, and/or
candidates fixed in advance (algorithm.md section 12, "Spending delta over rounds and
candidates fixed in advance"); and `ltt_betting`, Learn then Test with a betting test
that is valid at every validation size at once (`betting`; algorithm.md section 12, "A
time-uniform test").

The level functions take the round's share of delta and a divisor (`spending.round_delta`):
(delta, R) under the uniform rule, so delta / (k |T| R) is computed as before, and
(delta w_r, 1) under the others.
"""

from __future__ import annotations

import jax.numpy as jnp

from tbal_jax.estimators.base import CANDIDATES, Estimator
from tbal_jax.estimators.betting import (
    BettingEstimator,
    betting_accept,
    betting_bound,
)
from tbal_jax.estimators.binomial import (
    BINOMIAL_RTOL,
    binomial_lower_tail,
    clopper_pearson_upper,
)
from tbal_jax.estimators.select import (
    select_binary_search,
    select_fixed_sequence,
    select_smallest,
)
from tbal_jax.estimators.spending import SPENDS


def _clopper_pearson_bound(n, wrong, eps, c1, level):
    del eps, c1
    return clopper_pearson_upper(wrong, n, level)


def _binomial_accept(n, wrong, eps, c1, level):
    """Clopper-Pearson limit <= eps  <=>  P(Bin(n, eps) <= wrong) <= level; the tail
    is an upper bound and gets the margin BINOMIAL_RTOL, so rounding only rejects."""
    del c1
    return binomial_lower_tail(wrong, n, eps) * (1 + BINOMIAL_RTOL) <= level


def _union_classes_candidates_rounds(delta, k, rounds, levels, n_kept):
    """delta / (k |T| R): every candidate of every class in every round (algorithm.md section 12);
    under a non-uniform rule delta w_r / (k |T|)."""
    del n_kept
    return delta / (k * levels.n_candidates.astype(jnp.float32) * rounds)


def _union_classes_rounds(delta, k, rounds, levels, n_kept):
    """delta / (k R): one fixed-sequence procedure per class and round (algorithm.md section 12);
    under a non-uniform rule delta w_r / k."""
    del levels, n_kept
    return delta / (k * rounds)


def _union_sgr(delta, k, rounds, levels, n_kept):
    """delta / (k R s), s = ceil(log2(|T'| + 1)) with |T'| the class's candidates with
    n > MIN_COUNT: the most tests a binary search with lo = -1, hi <= |T'| makes
    (algorithm.md section 12 writes ceil(log2 |T'|), one short when |T'| is a power of two)."""
    del levels
    steps = jnp.maximum(jnp.ceil(jnp.log2(n_kept.astype(jnp.float32) + 1.0)), 1.0)
    return delta / (k * rounds * steps)


CLOPPER_PEARSON = Estimator(
    "clopper_pearson",
    "for one round and class, if the model and the candidate set do not "
    "depend on the validation points, P(population error of {score >= t[y], "
    "pred = y} > eps) <= delta / (k R), by a union over the |T| candidates; "
    "over the run, <= delta by a union over classes and rounds",
    _clopper_pearson_bound,
    select_smallest,
    level=_union_classes_candidates_rounds,
    accept=_binomial_accept,
    label="Clopper-Pearson",
    marker="D",
)
LTT = Estimator(
    "ltt",
    "for one round and class, under the same independence, P(population "
    "error of the chosen region > eps) <= delta / (k R) by fixed-sequence "
    "testing from the largest candidate down (Learn then Test), with no union "
    "over candidates; over the run, <= delta by a union over classes and rounds",
    _clopper_pearson_bound,
    select_fixed_sequence,
    level=_union_classes_rounds,
    accept=_binomial_accept,
    label="Learn then Test",
    marker="v",
)
SGR = Estimator(
    "sgr",
    "for one round and class, under the same independence, P(population "
    "error of the chosen region > eps) <= delta / (k R) by a union over the "
    "at most s tests of the binary search (Selection with Guaranteed Risk); "
    "over the run, <= delta by a union over classes and rounds",
    _clopper_pearson_bound,
    select_binary_search,
    level=_union_sgr,
    accept=_binomial_accept,
    label="SGR",
    marker="x",
)

LTT_BETTING = BettingEstimator(
    "ltt_betting",
    "as ltt, with a betting test in place of Clopper-Pearson (the average wealth of "
    "20 constant bets fixed in advance reaching (k R) / delta): for one round and "
    "class, if the model and the candidates do not depend on the validation points, "
    "P(population error of the chosen region > eps) <= delta / (k R); each test "
    "holds at every validation size simultaneously, so with the candidates and the "
    "sequence's start fixed in advance a validation set grown until a threshold is "
    "certified keeps the promise; over the run, <= delta by the union over classes "
    "and rounds, which stays: each round tests a new hypothesis",
    betting_bound,
    select_fixed_sequence,
    level=_union_classes_rounds,
    accept=betting_accept,
    label="LTT, betting (time-uniform)",
    marker="h",
)


def _variants(base: Estimator) -> tuple[Estimator, ...]:
    """Every other (spend, candidates) combination of `base` for the uniform, geometric
    and front rules, fresh validation with the fixed candidates (its promise needs
    them), and the back rule with the data's candidates, at the default rho, front and
    m (each registered name is a command-line case the tests run; `Estimator.variant`
    makes the other back-rule combinations)."""
    spends = [s for s in SPENDS if s != "back"]
    settings = (
        [
            (spend, candidates, "reuse")
            for candidates in CANDIDATES
            for spend in spends
            if (spend, candidates) != ("uniform", "data")
        ]
        + [(spend, "fixed", "fresh") for spend in spends]
        + [("back", "data", "reuse")]
    )
    return tuple(
        base.variant(spend, candidates, validation=validation)
        for spend, candidates, validation in settings
    )


VARIANTS = {e.name: _variants(e) for e in (CLOPPER_PEARSON, LTT, SGR)}
