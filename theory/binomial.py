"""Exact-binomial upper confidence bounds with a union over a finite candidate set
(algorithm.md section 11, upper bound; algorithm.md section 12 for the candidate set).

TBAL picks its threshold among a finite candidate set T fixed by the scores (algorithm.md
section 3: the 10,001-point grid when n_v > 500, else the raw scores). For a candidate
region fixed before the labels are seen, the count of wrong validation points among the
m that land in it is Bin(m, e), e the region's conditional error. An upper confidence
limit at level delta / N for each of N candidates holds for all of them at once with
probability >= 1 - delta (union bound), hence for the chosen one: no capacity term
needed. Three one-sided limits on e from w errors in m points, sharpest first:

    Clopper-Pearson: the largest p with P(Bin(m, p) <= w) >= delta (exact);
    KL-Chernoff:     the largest q >= w/m with m KL(w/m || q) <= ln(1/delta);
    Hoeffding:       w/m + sqrt(ln(1/delta) / (2 m)).

At m = 1000, w = 10, delta = 0.05: Hoeffding without a union gives 0.0487; the VC form
of the reference (d = 30) 0.339; Clopper-Pearson with a union over N = 10,001 (the grid)
0.0318 (KL-Chernoff reaches 0.0318 at N = 1,800; with no union Clopper-Pearson gives
0.0169). What the limits bound: the conditional 0-1 error of the region; assumptions:
the m points iid from the distribution the region is applied to, the model and the
candidate set independent of their labels (the grid's ends and the raw scores depend on
the validation scores, so in TBAL this is an approximation, as in algorithm.md section 12).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from theory._deprecation import former_order
from theory._validation import count, jointly, probability
from theory.divergence import kl_bernoulli

_BISECTION_STEPS = 60  # halvings of [w/m, 1]: below 1e-18


def _counts(
    errors: ArrayLike, n: ArrayLike, name: str = "n"
) -> tuple[np.ndarray, np.ndarray]:
    """Checks the integers 0 <= errors <= n, n >= 1 (n called `name` in messages);
    returns both as float64, broadcast."""
    n = count(name, n)
    errors = count("errors", errors, minimum=0)
    jointly(
        f"errors must be <= {name}", lambda w, m: w <= m, errors=errors, **{name: n}
    )
    return np.broadcast_arrays(errors, n)


def _level(delta: ArrayLike, n_candidates: ArrayLike) -> np.ndarray:
    """delta / N, the level of each candidate's limit in a union over N candidates."""
    return probability("delta", delta) / count("n_candidates", n_candidates)


def clopper_pearson_upper(
    errors: ArrayLike, n: ArrayLike, delta: ArrayLike, n_candidates: ArrayLike = 1
) -> np.ndarray:
    """Clopper-Pearson upper limit at level delta / N (module docstring).

    u = the (1 - delta/N) quantile of Beta(w + 1, m - w) (`scipy.stats.beta.isf`), 1 when
    w = m: the largest p with P(Bin(m, p) <= w) >= delta / N.

    Args:
        errors: w, wrong points among the m, an integer in [0, m].
        n: m, points in the region, an integer >= 1.
        delta: Failure probability of the whole union, in (0, 1).
        n_candidates: N, the size of the candidate set the region was chosen from,
            an integer >= 1.

    Returns:
        u, float64 in (0, 1], of the broadcast shape.
    """
    from scipy import stats  # at use: it takes about a second to import
    w, m = _counts(errors, n)
    level = _level(delta, n_candidates)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = stats.beta.isf(level, w + 1.0, np.maximum(m - w, 1.0))
    return np.where(w >= m, 1.0, u)[()]


def kl_chernoff_upper(
    errors: ArrayLike, n: ArrayLike, delta: ArrayLike, n_candidates: ArrayLike = 1
) -> np.ndarray:
    """KL-Chernoff upper limit at level delta / N (module docstring).

    u = max{q in [w/m, 1] : m KL(Ber(w/m) || Ber(q)) <= ln(N / delta)}, by vectorised
    bisection (the KL grows in q above w/m); Chernoff's bound
    P(Bin(m, q) <= w) <= exp(-m KL(w/m || q)) makes it valid. Never below
    Clopper-Pearson.
    """
    w, m = _counts(errors, n)
    budget = np.log(1.0 / _level(delta, n_candidates)) / m
    low, high = np.broadcast_arrays(w / m, np.ones_like(m))
    low, high = low.copy(), high.copy()
    inside = kl_bernoulli(w / m, high) > budget  # else u = 1
    for _ in range(_BISECTION_STEPS):  # KL(low) <= budget < KL(high)
        middle = 0.5 * (low + high)
        over = kl_bernoulli(w / m, middle) > budget
        high = np.where(over, middle, high)
        low = np.where(over, low, middle)
    return np.where(inside, low, 1.0)[()]


def hoeffding_upper(
    errors: ArrayLike, n: ArrayLike, delta: ArrayLike, n_candidates: ArrayLike = 1
) -> np.ndarray:
    """Hoeffding upper limit at level delta / N: w/m + sqrt(ln(N/delta) / (2 m)),
    capped at 1 (module docstring)."""
    w, m = _counts(errors, n)
    level = _level(delta, n_candidates)
    return np.minimum(w / m + np.sqrt(np.log(1.0 / level) / (2.0 * m)), 1.0)[()]


@former_order("n_region", "errors", "n_auto", "delta", "n_candidates")
def binomial_round_error_bound(
    *,
    errors: ArrayLike,
    n_region: ArrayLike,
    n_auto: ArrayLike,
    delta: ArrayLike,
    n_candidates: ArrayLike = 1,
) -> np.ndarray:
    """Exact-binomial upper bound on one round's observed auto-labeling error.

    B = Q_{1 - delta}(Bin(n_auto, u)) / n_auto,  u = `clopper_pearson_upper`(w, m,
    delta, N),

    Q the binomial quantile (`scipy.stats.binom.isf`: the smallest c with
    P(Bin > c) <= delta). What it bounds: the fraction of
    the n_auto auto-labeled points that are wrong (algorithm.md section 1's error, for one
    round). Assumptions: the module's for the m validation points in the region (u
    bounds the region's conditional error e with probability >= 1 - delta), and the
    n_auto points iid from the same distribution restricted to the region (their wrong
    count is Bin(n_auto, e), below the quantile at u with probability >= 1 - delta, as
    the quantile grows with the error). Holds with probability >= 1 - 2 delta.
    Keyword-only arguments, counts in the package's order (errors before the n they
    are out of, as in `clopper_pearson_upper`); the former positional order
    (n_region, errors, n_auto, delta, n_candidates) still works, with a
    DeprecationWarning.

    Args:
        errors: w, wrong validation points in the region (integer in [0, m]); any
            upper bound on w (e.g. floor(eps_a m) for a threshold chosen at tolerance
            eps_a) is valid.
        n_region: m, validation points in the region (integer >= 1).
        n_auto: Auto-labeled points (integer >= 1).
        delta: Failure probability of each of the two steps, in (0, 1).
        n_candidates: N, candidates the region was chosen among, an integer >= 1.

    Returns:
        B, float64 in [0, 1], of the broadcast shape.
    """
    from scipy import stats  # at use: it takes about a second to import
    u = clopper_pearson_upper(
        *_counts(errors, n_region, "n_region"), delta, n_candidates
    )
    n_auto = count("n_auto", n_auto)
    wrong = stats.binom.isf(probability("delta", delta), n_auto, u)
    return (wrong / n_auto)[()]
