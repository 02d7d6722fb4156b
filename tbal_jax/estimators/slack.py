"""The paper's slack estimators and their relatives (algorithm.md sections 3 and 12): accept a
candidate when err + slack <= eps, take the smallest accepted. None is a confidence
bound as used; each estimator's `guarantee` says why."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from tbal_jax.estimators.base import Estimator
from tbal_jax.estimators.select import select_smallest
from tbal_jax.types import Array


def sigma_slack(err: Array, n: Array, c1: Array) -> Array:
    """`sigma`: err + C1*sqrt(err(1-err)) (all published runs; not a confidence bound)."""
    del n
    return err + c1 * jnp.sqrt(err * (1.0 - err))


def hoeffding_slack(err: Array, n: Array, c1: Array) -> Array:
    """`hoeffding`: err + C1/sqrt(n) (C1 plays sqrt(ln(1/delta)/2); no union bound)."""
    return err + c1 / jnp.sqrt(n)


def plugin_slack(err: Array, n: Array, c1: Array) -> Array:
    """`plugin`: the empirical error itself (algorithm.md section 12; section 3 with C1 = 0)."""
    del n, c1
    return err


def _slack_bound(slack):
    def bound(n, wrong, eps, c1, level):
        del eps, level
        return slack(wrong / jnp.maximum(n, 1).astype(jnp.float32), n, c1)

    return bound


def _slack_estimator(
    name: str, slack, guarantee: str, label: str, marker: str
) -> Estimator:
    return Estimator(
        name,
        guarantee,
        _slack_bound(slack),
        select_smallest,
        label=label,
        marker=marker,
    )


SIGMA = _slack_estimator(
    "sigma",
    sigma_slack,
    "none: err + C1 sqrt(err(1-err)) is not a confidence bound; it is 0 when "
    "err = 0 whatever n (the paper preset)",
    r"$\sigma$ slack",
    "s",
)
SIGMA_MIN10 = dataclasses.replace(
    SIGMA,
    name="sigma_min10",
    label=r"$\sigma$ slack, > 10 points",
    guarantee=SIGMA.guarantee.removesuffix(" (the paper preset)")
    + "; a candidate needs more than 10 points above it, as in the sequel's code "
    "(algorithm.md section 14)",
    min_count=10,
)
HOEFFDING = _slack_estimator(
    "hoeffding",
    hoeffding_slack,
    "none as used: err + C1/sqrt(n) is Hoeffding's bound for one fixed "
    "candidate at delta = exp(-2 C1^2), with no union over candidates, "
    "classes or rounds",
    "Hoeffding slack",
    "^",
)
PLUGIN = _slack_estimator(
    "plugin",
    plugin_slack,
    "none: the empirical error wrong / n (section 3 with C1 = 0)",
    "plug-in",
    "o",
)
