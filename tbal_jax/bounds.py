"""The theory's bounds next to simulated TBAL runs (SPEC section 11).

- `bounds_table`: per validation size, the reference upper bound, a lower bound on the
  error level that N_v points can certify, and the observed errors over seeds.
- `run_upper_bounds`: each run's multi-round upper bound from its per-round record.
- `two_point_failure`: the two-point instance of the lower bound's proof, simulated with
  the simulator's own threshold estimator (the Monte-Carlo check of the lower bound).

`theory` never imports `tbal_jax`; this module is where the two meet.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

import theory
from tbal_jax.thresholds import ESTIMATORS

BOUNDS_COLUMNS = [
    "n_val",
    "upper_bound",
    "lower_bound",
    "observed_mean_error",
    "observed_max_error",
    "violation_rate",
    "upper_bound_violation_rate",
    "multi_round_bound_mean",
    "n_runs",
    "n_no_auto",
]


@dataclasses.dataclass(frozen=True)
class BoundSettings:
    """Constants of the bounds (SPEC section 11's reference notebook for the upper one).

    The lower bound needs delta < 1/4 to say anything, so it uses its own `lower_delta`.
    """

    vc_dim: int = 30
    delta: float = 0.3
    p0: float = 1.0
    n_auto: int = 10_000
    lower_delta: float = 0.05


def run_upper_bounds(n_val_rounds, n_auto_rounds, eps, settings=BoundSettings()):
    """Multi-round upper bound of each run (VC capacity), from its round record."""
    complexity = functools.partial(theory.vc_complexity, d=settings.vc_dim)
    return theory.multi_round_upper_bound(
        n_val_rounds, n_auto_rounds, complexity, settings.delta, settings.p0, eps_a=eps
    )


def bounds_table(n_val, errors, run_bounds, eps: float, settings=BoundSettings()):
    """Rows of bounds.csv (fractions). `errors`, `run_bounds`: (seeds, len(n_val)), NaN
    where a run auto-labelled nothing; such runs count as not violating anything."""
    n_val = np.asarray(n_val, np.float64)
    upper = theory.reference_upper_bound(
        n_val, settings.vc_dim, settings.delta, settings.p0, settings.n_auto, eps
    )
    lower = eps + theory.detectable_excess_for_validation_size(
        n_val, settings.lower_delta, settings.p0, eps
    )
    rows = []
    for j, nv in enumerate(n_val):
        err = errors[:, j]
        labelled = ~np.isnan(err)
        rows.append(
            {
                "n_val": int(nv),
                "upper_bound": float(upper[j]),
                "lower_bound": float(lower[j]),
                "observed_mean_error": float(np.nanmean(err))
                if labelled.any()
                else np.nan,
                "observed_max_error": float(np.nanmax(err))
                if labelled.any()
                else np.nan,
                "violation_rate": float(np.mean(labelled & (np.nan_to_num(err) > eps))),
                "upper_bound_violation_rate": float(
                    np.mean(labelled & (np.nan_to_num(err) > upper[j]))
                ),
                "multi_round_bound_mean": float(np.nanmean(run_bounds[:, j]))
                if labelled.any()
                else np.nan,
                "n_runs": len(err),
                "n_no_auto": int((~labelled).sum()),
            }
        )
    return rows


def two_point_failure(key, n: int, eps_a: float, eps: float, p0: float, n_seeds: int):
    """Failure rates of the paper-preset estimator on the lower bound's two-point instance.

    Each of n validation points falls in the region (score 0.9) with probability p0 and
    is then wrong with probability eps_a (H0) or eps_a + eps (H1); points outside the
    region (score 0.6) are always wrong, so only the region can be certified. The
    estimator (sigma slack, C1 = 0) runs at the midpoint tolerance eps_a + eps/2.
    Returns (P_H0[region refused], P_H1[region certified]) over `n_seeds` seeds; the
    lower bound says their maximum exceeds delta whenever n is below
    `theory.validation_lower_bound(eps, delta, p0, eps_a)`.
    """
    estimate = ESTIMATORS["sigma"](2, n)
    tolerance = jnp.float32(eps_a + eps / 2)

    def certified(key, error):
        k_in, k_wrong = jax.random.split(key)
        inside = jax.random.bernoulli(k_in, p0, (n,))
        wrong = jnp.where(inside, jax.random.bernoulli(k_wrong, error, (n,)), True)
        scores = jnp.where(inside, 0.9, 0.6).astype(jnp.float32)
        preds = jnp.ones(n, jnp.int32)
        labels = jnp.where(wrong, 0, 1).astype(jnp.int32)
        t = estimate(
            scores, preds, labels, jnp.ones(n, bool), tolerance, jnp.float32(0)
        )
        return t[1] <= 0.9

    keys = jax.random.split(key, n_seeds)
    run = jax.jit(jax.vmap(certified, in_axes=(0, None)))
    refused_h0 = 1.0 - float(np.mean(run(keys, jnp.float32(eps_a))))
    certified_h1 = float(np.mean(run(keys, jnp.float32(eps_a + eps))))
    return refused_h0, certified_h1
