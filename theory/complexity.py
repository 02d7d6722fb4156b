"""Capacity terms and the uniform deviation they feed (algorithm.md section 11, upper bound).

Every deviation-form upper bound in this package is built from

    uniform_deviation(n, C, delta) = sqrt((C(n) + ln(1/delta)) / n),

where C(n) >= 0 is a *capacity term* (the log of the number of distinct behaviours of
the class of regions on n points). For a finite class of N regions fixed before the
validation data are drawn, C = ln N makes this Hoeffding's inequality with a union bound
(one-sided; it is sqrt(2) above Hoeffding's sqrt((ln N + ln(1/delta)) / (2 n))), a
rigorous bound. With C = ln Pi(n) for an infinite class it is the reference notebook's
instantiation: the rigorous VC inequality (symmetrisation) needs ln Pi(2n) and absolute
constants, e.g. sqrt(8 (ln Pi(2n) + ln(4/delta)) / n). Capacity terms: `sauer_complexity`
(the full Sauer-Shelah count), `vc_complexity` (the reference's d ln(n/d)),
`rademacher_complexity` (norm-bounded linear scores under a Lipschitz loss), or any value
the user supplies (an array, or a callable n -> C(n)).
"""

from __future__ import annotations

from typing import Callable, Union

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from theory._validation import count, nonnegative, positive, probability

Complexity = Union[Callable[[np.ndarray], ArrayLike], ArrayLike]

_LN2 = np.log(2.0)


def vc_complexity(n: ArrayLike, d: ArrayLike) -> np.ndarray:
    """VC capacity term of the reference notebook (algorithm.md section 11), with a floor.

    C_VC(n) = max(d * ln(n / d), min(n, d) * ln 2)   (natural logarithm).

    Sauer's lemma bounds the growth function of a class of VC dimension d by
    Pi(n) <= (e n / d)^d for n >= d, i.e. ln Pi(n) <= d + d ln(n / d). The reference
    instantiation keeps only d ln(n / d) and drops every absolute constant (the additive
    d here, and the usual multiplicative constants of the VC inequality), so
    sqrt((C_VC + ln(1/delta)) / n) is an order-of-magnitude instantiation, not a bound
    with rigorous constants. For a rigorous one-sided version use a user-supplied
    capacity: Mohri et al. (Foundations of ML, 2nd ed., Cor. 3.19) give
    sqrt(2 d ln(e n/d) / n) + sqrt(ln(1/delta) / (2 n)) <= sqrt((4 d (1 + ln(n/d))
    + ln(1/delta)) / n), i.e. C(n) = 4 d (1 + ln(n / d)).

    The floor min(n, d) ln 2 is a lower bound on ln Pi(n) for every class of VC
    dimension d (it shatters some set of d points), so no capacity term may go below it.
    It is inactive for n >= 2 d (all reference values), keeps C_VC >= 0 when n < d
    (where d ln(n/d) < 0 and the square root would be undefined), and makes C_VC
    non-decreasing in n.

    Args:
        n: Number of sample points (finite, > 0), any shape.
        d: VC dimension (finite, > 0), broadcast against n.

    Returns:
        C_VC(n), float64, of the broadcast shape of n and d.

    Raises:
        ValueError: if n or d is not finite and > 0.
    """
    n = positive("n", n)
    d = positive("d", d)
    return np.maximum(d * np.log(n / d), np.minimum(n, d) * _LN2)[()]


def sauer_complexity(n: ArrayLike, d: int) -> np.ndarray:
    """The full Sauer-Shelah capacity: C_S(n) = ln sum_{i=0}^{min(n, d)} binom(n, i).

    Sauer's lemma: a class of VC dimension d induces at most sum_{i <= d} binom(n, i)
    labelings of n points, so C_S(n) >= ln Pi(n) for every such class (equality for
    some). It equals n ln 2 for n <= d and lies between d ln(n/d) and d (1 + ln(n/d))
    for n >= d (at d = 30: 59.2 at n = 100, where d ln(n/d) = 36.1 drops a third of it).
    Its increments ln(1 + Phi_{d-1}(n) / Phi_d(n)) do not grow with n, so
    (C_S(n) + L) / n is non-increasing for every L >= 0: the validation term it feeds is
    monotone in n and planning is a plain bisection (`theory.planning`). Computed in
    log space (falling factorials, `scipy.special.logsumexp`), exact to rounding up to
    n = 2^53; n may be real (generalised binomial coefficients). The sum has
    min(n, d) + 1 terms, the cost of each element.

    Args:
        n: Number of points (finite, > 0), any shape.
        d: VC dimension, an integer >= 1, broadcast against n.

    Returns:
        C_S(n), float64, of the broadcast shape.

    Raises:
        ValueError: if n is not finite and > 0 or d is not an integer >= 1.
    """
    n, d = np.broadcast_arrays(positive("n", n), count("d", d))
    terms = int(np.max(np.minimum(np.ceil(n), d), initial=0.0))
    i = np.arange(terms + 1.0).reshape((-1,) + (1,) * n.ndim)
    # ln binom(n, i) = sum_{j < i} ln(n - j) - ln i!: no cancellation at large n
    with np.errstate(invalid="ignore", divide="ignore"):
        falling = np.cumsum(np.log(np.maximum(n - i, 0.0)), axis=0)
    falling = np.concatenate([np.zeros((1,) + n.shape), falling[:-1]])
    kept = (i <= n) & (i <= d)
    log_binomials = np.where(kept, falling - special.gammaln(i + 1.0), -np.inf)
    return special.logsumexp(log_binomials, axis=0)[()]


def rademacher_complexity(
    weight_norm: ArrayLike,
    data_radius: ArrayLike,
    lipschitz: ArrayLike = 1.0,
    n_classes: int = 2,
) -> np.ndarray:
    """Capacity term of a norm-bounded linear class via its Rademacher complexity.

    C_Rad = 8 (c_k L B R)^2 + ln 2   (independent of n), c_2 = 1, c_k = 2 k for k > 2.

    What it bounds: the deviation of a *Lipschitz surrogate* (e.g. the ramp loss at
    margin gamma), not of a 0-1 indicator. A bound built on it (`round_error_bound` with
    this capacity) bounds the region's ramp-loss error, which is >= its 0-1 error only
    for the classifier sign(score) with margin gamma; it is not a bound on TBAL's
    thresholded 0-1 error {score >= t} (whose class needs the VC/Sauer capacity).

    Class: scores x -> <w, x> with ||w||_2 <= B on inputs with ||x||_2 <= R, composed
    with a loss in [0, 1] that is L-Lipschitz in the score (e.g. the ramp loss at margin
    gamma, L = 1 / gamma, which upper-bounds the 0-1 error, so the bound controls the
    0-1 error through the margin loss). Standard facts used:
      * R_n(linear class) <= B R / sqrt(n) (Cauchy-Schwarz and Jensen);
      * Talagrand's contraction: R_n(loss class) <= L B R / sqrt(n);
      * symmetrisation and McDiarmid, both tails (Mohri et al. Thm 3.3, Bartlett and
        Mendelson 2002): with probability >= 1 - delta, uniformly over the class,
        |true loss - empirical loss| <= 2 R_n + sqrt(ln(2/delta) / (2 n)).
    Then (a + b)^2 <= 2 a^2 + 2 b^2 gives
        2 L B R / sqrt(n) + sqrt(ln(2/delta) / (2 n))
            <= sqrt((8 (L B R)^2 + ln 2 + ln(1/delta)) / n),
    which is the package's deviation form with C_Rad above. k classes: the multi-class
    margin bound (Mohri et al. Thm 9.2) pays (4 k / gamma) R_n(Pi_1(H)) where the binary
    one (Thm 5.8) pays (2 / gamma) R_n(H): the factor c_k = 2 k for k > 2.

    Args:
        weight_norm: B > 0, bound on the weight norm.
        data_radius: R > 0, bound on the input norm.
        lipschitz: L > 0, Lipschitz constant of the loss in the score.
        n_classes: k, number of classes (integer >= 2 for a classifier; 1 is read as 2).

    Returns:
        C_Rad, float64, of the broadcast shape of the inputs.

    Raises:
        ValueError: if an input is not finite and > 0 or k not an integer >= 1.
    """
    k = count("n_classes", n_classes)
    scale = (
        np.where(k <= 2, 1.0, 2.0 * k)
        * positive("lipschitz", lipschitz)
        * positive("weight_norm", weight_norm)
        * positive("data_radius", data_radius)
    )
    return (8.0 * scale**2 + _LN2)[()]


def uniform_deviation(
    n: ArrayLike, complexity: Complexity, delta: ArrayLike
) -> np.ndarray:
    """Uniform deviation between empirical and true error on n iid points.

    eps_dev(n) = sqrt((C(n) + ln(1/delta)) / n)   (algorithm.md section 11, natural logarithm).

    Assumptions: the n points are iid from the distribution the error is measured on;
    C is a capacity term of the class (see `vc_complexity`, `rademacher_complexity`),
    so that with probability >= 1 - delta the empirical error of every member of the
    class is within eps_dev(n) of its true error.

    Args:
        n: Number of points (finite, > 0), any shape.
        complexity: The capacity term C: a callable n -> C(n) (vectorised over n), or
            its value (an array broadcast against n; a user-supplied value); >= 0.
        delta: Failure probability, in (0, 1), broadcast against n.

    Returns:
        eps_dev, float64, of the broadcast shape.

    Raises:
        ValueError: if n is not finite and > 0, delta is not in (0, 1) or the
            capacity term is < 0 (or nan).
    """
    n = positive("n", n)
    delta = probability("delta", delta)
    capacity = complexity(n) if callable(complexity) else complexity
    capacity = nonnegative("complexity", capacity)
    return np.sqrt((capacity + np.log(1.0 / delta)) / n)[()]
