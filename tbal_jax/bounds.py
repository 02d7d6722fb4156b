"""The theory's bounds next to simulated TBAL runs (algorithm.md section 11; theory/README.md).

One failure probability `BoundSettings.delta` for every bound (the figure states it):
- `reference_curves`: per validation size, the reference form of the upper bound (VC,
  d = 30, p0 = 1, n_a = 10,000, delta / 2 per term), the exact-binomial bound in the same
  setting, and the sharp lower bound: the smallest error level eps + excess that N_v
  points can resolve (`theory.exact_resolvable_excess`).
- `run_upper_bounds`: each run's per-round upper bounds from its own round record, in
  the general ratio form (Sauer capacity, per-round p0 estimated from the record) and
  in the exact-binomial form (Clopper-Pearson, union over the candidate set).
- `bounds_table`: the rows of bounds.csv.
- `two_point_failure`: the lower bound's two-point instance, simulated with the
  simulator's own threshold estimator.

`theory` never imports `tbal_jax`; this module is where the two meet.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

import theory
from tbal_jax.estimators import GRID_ABOVE, GRID_SIZE, SIGMA

BOUNDS_COLUMNS = [
    "n_val",
    "delta",
    "reference_upper_bound",
    "binomial_upper_bound",
    "resolvable_error",
    "observed_mean_error",
    "observed_max_error",
    "violation_rate",
    "run_bound_mean",
    "run_bound_violation_rate",
    "run_binomial_bound_mean",
    "run_binomial_bound_violation_rate",
    "n_runs",
    "n_no_auto",
]
_EPS_MARGIN = 1e-5  # w <= floor(eps m (1 + margin)): float32 and TIE_RTOL = 1e-6


@dataclasses.dataclass(frozen=True)
class BoundSettings:
    """Constants of the bounds: one failure probability `delta` for all of them; the VC
    dimension of the class of regions and the reference's n_a (algorithm.md section 11);
    `fixed_candidates`, the estimator's m where its candidates are fixed in advance
    (algorithm.md section 12), else None (the section 3 set, `candidate_count`)."""

    delta: float = 0.05
    vc_dim: int = 30
    n_auto: int = 10_000
    fixed_candidates: int | None = None


def candidate_count(n_val, fixed: int | None = None) -> np.ndarray:
    """|T|, the candidate thresholds of algorithm.md section 3 at n_v validation points: the
    10,001-point grid above 500 points, else (at most) the raw scores; with `fixed`, the
    m candidates fixed in advance (algorithm.md section 12), whatever n_v."""
    n_val = np.asarray(n_val, np.float64)
    if fixed is not None:
        return np.full(n_val.shape, float(fixed))
    return np.where(n_val > GRID_ABOVE, float(GRID_SIZE), np.maximum(n_val, 1.0))


def reference_curves(n_val, eps: float, settings=BoundSettings()) -> dict:
    """The curves that need no run: {"reference_upper_bound", "binomial_upper_bound",
    "resolvable_error"}, each (len(n_val),), fractions, at `settings.delta`.

    Reference form: `theory.reference_upper_bound` with delta / 2 per term (so 1 - delta
    overall). Exact-binomial, same setting (p0 = 1: all n_v points in the region,
    floor(eps n_v) of them wrong, the region chosen among |T| candidates, n_a
    auto-labeled): `theory.binomial_round_error_bound` with delta / 2 per step. Resolvable
    error: eps + the smallest excess that n_v points can resolve at delta (the exact
    two-point minimax value, p0 = 1).
    """
    n_val = np.asarray(n_val, np.float64)
    half = settings.delta / 2
    reference = theory.reference_upper_bound(
        n_val, delta=half, p0=1.0, eps_a=eps, d=settings.vc_dim, n_a=settings.n_auto
    )
    binomial = theory.binomial_round_error_bound(
        errors=np.floor(eps * n_val * (1 + _EPS_MARGIN)),
        n_region=n_val,
        n_auto=settings.n_auto,
        delta=half,
        n_candidates=candidate_count(n_val, settings.fixed_candidates),
    )
    resolvable = eps + theory.exact_resolvable_excess(
        n_val, delta=settings.delta, eps_a=eps
    )
    return {
        "reference_upper_bound": reference,
        "binomial_upper_bound": binomial,
        "resolvable_error": resolvable,
    }


def round_masses(n_train, n_auto, n_pool: int, delta: float) -> np.ndarray:
    """Per-round lower confidence limits on the auto-labeled region's mass, (..., R).

    Round i's region met U_i = n_pool - n_train_i - (points auto-labeled before round i)
    unlabeled points and took n_auto_i of them; with the region fixed given the
    validation and training data, n_auto_i ~ Bin(U_i, p_i), and the Clopper-Pearson
    lower limit at delta / R (each round) holds for every round with probability
    >= 1 - delta. 1 where a round auto-labeled nothing (its bound is not evaluated).
    """
    from scipy import stats  # at use: it takes about a second to import
    n_train = np.asarray(n_train, np.float64)
    n_auto = np.asarray(n_auto, np.float64)
    before = np.cumsum(n_auto, axis=-1) - n_auto
    unlabeled = np.maximum(n_pool - n_train - before, n_auto)
    level = delta / n_auto.shape[-1]
    lower = stats.beta.ppf(level, n_auto, np.maximum(unlabeled - n_auto + 1, 1.0))
    return np.where(n_auto > 0, np.nan_to_num(lower, nan=0.0), 1.0)


def region_validation_counts(rounds) -> tuple[np.ndarray, np.ndarray]:
    """(per class (..., R, k), total (..., R)): each round's validation points in its
    region, exactly, from the record's `val_removed_class`.

    Round i's region is {score >= t[c], pred = c} over the classes c (algorithm.md
    section 3, step 2: class c's points are those the model *predicts* c), and step 5 of
    algorithm.md section 2 removes the validation points in it; in the paper's loop (a
    fixed score, every round testing on the whole current validation set) those are the
    points the thresholds were estimated on that lie in the region. Each class with a
    finite threshold has more than 25 of them (algorithm.md section 3); a class with
    t[c] = +inf has none.
    """
    per_class = np.asarray(rounds.val_removed_class, np.float64)
    return per_class, per_class.sum(axis=-1)


def _binomial_round_bounds(
    rounds, eps: float, delta: float, fixed: int | None = None
) -> np.ndarray:
    """Upper bounds on each round's wrong auto-labeled count, (..., R).

    The region's m validation points (`region_validation_counts`, exact) hold at most
    w = sum_c floor(eps m_c) errors: each class's threshold was accepted with a plug-in
    error <= eps on its m_c points (algorithm.md section 3; the sum of the floors is at
    most floor(eps m)). Then the Clopper-Pearson limit on the region's error, with the
    union over the |T|^k threshold tuples of R rounds at delta / 2 (|T| =
    `candidate_count`, `fixed` where the candidates were fixed in advance), and the binomial
    quantile of the round's n_auto points at delta / (2R) (algorithm.md section 11, the
    record bounds of a run).

    The union stays over tuples, for the whole region: a union over the k |T| class
    regions would bound each class's error, but the record does not say how many of the
    n_auto points each class region took, and without that the only valid combination is
    the largest class limit, which pays for the smallest class's m_c (looser than the
    tuples in most rounds of the `bounds_vs_empirics` cells at N_v >= 400).
    """
    from scipy import stats  # at use: it takes about a second to import
    n_auto = np.asarray(rounds.n_auto, np.float64)
    n_val = np.asarray(rounds.val_used, np.float64)
    k = np.asarray(rounds.thresholds).shape[-1]
    r = n_auto.shape[-1]
    per_class, m = region_validation_counts(rounds)
    errors = np.floor(eps * per_class * (1 + _EPS_MARGIN)).sum(axis=-1)
    used = n_auto > 0
    worst = np.zeros(n_auto.shape)
    worst[used] = theory.clopper_pearson_upper(
        errors[used], m[used], delta / 2, candidate_count(n_val[used], fixed) ** k * r
    )
    wrong = stats.binom.isf(delta / (2 * r), n_auto, worst)
    return np.where(used, wrong, 0.0)


def run_upper_bounds(
    rounds, eps: float, n_pool: int, settings=BoundSettings()
) -> tuple[np.ndarray, np.ndarray]:
    """Each run's upper bounds on its auto-labeling error from its own round record.

    Returns (general, binomial), each of the record's batch shape (..., NaN where a run
    auto-labeled nothing), both holding with probability >= 1 - delta under the
    assumptions of `theory.upper_bound` (iid validation and pool from the round's
    remaining distribution, candidates fixed by the scores):
    - general: the n_auto-weighted mean of `theory.round_error_bound` (ratio form,
      Sauer capacity of VC dimension `vc_dim`, union over k classes), delta / 3 for
      each of the validation side, the n_auto term and the per-round masses
      (`round_masses`, the p0 of each round);
    - binomial: (sum of `_binomial_round_bounds`) / (sum of n_auto), delta / 2 each side.
    """
    delta = settings.delta
    n_auto = np.asarray(rounds.n_auto, np.float64)
    k = np.asarray(rounds.thresholds).shape[-1]
    p0 = round_masses(rounds.train_used, n_auto, n_pool, delta / 3)
    general = theory.multi_round_upper_bound(
        rounds.val_used,
        n_auto,
        functools.partial(theory.sauer_complexity, d=settings.vc_dim),
        delta / 3,
        np.maximum(p0, 1e-300),
        eps_a=eps,
        n_classes=k,
    )
    total = n_auto.sum(axis=-1)
    wrong = _binomial_round_bounds(
        rounds, eps, delta, settings.fixed_candidates
    ).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        binomial = np.where(total > 0, wrong / total, np.nan)
    return general, binomial


def _share_above(err, bound) -> float:
    """Share of runs whose error exceeds the bound (runs without labels do not)."""
    return float(np.mean(~np.isnan(err) & (np.nan_to_num(err) > np.nan_to_num(bound))))


def bounds_table(n_val, errors, run_bounds, eps: float, settings=BoundSettings()):
    """Rows of bounds.csv (fractions). `errors` and each of `run_bounds` (general,
    binomial): (seeds, len(n_val)), NaN where a run auto-labelled nothing."""
    curves = reference_curves(n_val, eps, settings)
    general, binomial = run_bounds
    rows = []
    for j, nv in enumerate(np.asarray(n_val)):
        err = errors[:, j]
        labelled = ~np.isnan(err)
        some = labelled.any()
        rows.append(
            {
                "n_val": int(nv),
                "delta": settings.delta,
                **{name: float(values[j]) for name, values in curves.items()},
                "observed_mean_error": float(np.nanmean(err)) if some else np.nan,
                "observed_max_error": float(np.nanmax(err)) if some else np.nan,
                "violation_rate": _share_above(err, np.full(err.shape, eps)),
                "run_bound_mean": float(np.nanmean(general[:, j])) if some else np.nan,
                "run_bound_violation_rate": _share_above(err, general[:, j]),
                "run_binomial_bound_mean": float(np.nanmean(binomial[:, j]))
                if some
                else np.nan,
                "run_binomial_bound_violation_rate": _share_above(err, binomial[:, j]),
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
    estimate = SIGMA(2, n)
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
