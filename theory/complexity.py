"""Capacity terms and the uniform deviation they feed (SPEC section 11, upper bound).

Every upper bound in this package is built from one deviation form,

    uniform_deviation(n, C, delta) = sqrt((C(n) + ln(1/delta)) / n),

where C(n) >= 0 is a *capacity term* (the complexity of the hypothesis class, measured
on n points). A capacity term is pluggable: the VC form of the reference notebook, a
Rademacher form for norm-bounded linear classes, or any value the user supplies (an
array, or a callable n -> C(n)).
"""

from __future__ import annotations

from typing import Callable, Union

import numpy as np
from numpy.typing import ArrayLike

from theory._validation import nonnegative, positive, probability

Complexity = Union[Callable[[np.ndarray], ArrayLike], ArrayLike]

_LN2 = np.log(2.0)


def vc_complexity(n: ArrayLike, d: ArrayLike) -> np.ndarray:
    """VC capacity term of the reference notebook (SPEC section 11), with a floor.

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
        n: Number of sample points (> 0), any shape.
        d: VC dimension (> 0), broadcast against n.

    Returns:
        C_VC(n), float64, of the broadcast shape of n and d.

    Raises:
        ValueError: if n <= 0 or d <= 0.
    """
    n = positive("n", n)
    d = positive("d", d)
    return np.maximum(d * np.log(n / d), np.minimum(n, d) * _LN2)[()]


def rademacher_complexity(
    weight_norm: ArrayLike, data_radius: ArrayLike, lipschitz: ArrayLike = 1.0
) -> np.ndarray:
    """Capacity term of a norm-bounded linear class via its Rademacher complexity.

    C_Rad = 8 (L B R)^2 + ln 2   (independent of n).

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
    which is the package's deviation form with C_Rad above.

    Args:
        weight_norm: B > 0, bound on the weight norm.
        data_radius: R > 0, bound on the input norm.
        lipschitz: L > 0, Lipschitz constant of the loss in the score.

    Returns:
        C_Rad, float64, of the broadcast shape of the inputs.

    Raises:
        ValueError: if any input is <= 0.
    """
    scale = (
        positive("lipschitz", lipschitz)
        * positive("weight_norm", weight_norm)
        * positive("data_radius", data_radius)
    )
    return (8.0 * scale**2 + _LN2)[()]


def uniform_deviation(
    n: ArrayLike, complexity: Complexity, delta: ArrayLike
) -> np.ndarray:
    """Uniform deviation between empirical and true error on n iid points.

    eps_dev(n) = sqrt((C(n) + ln(1/delta)) / n)   (SPEC section 11, natural logarithm).

    Assumptions: the n points are iid from the distribution the error is measured on;
    C is a capacity term of the class (see `vc_complexity`, `rademacher_complexity`),
    so that with probability >= 1 - delta the empirical error of every member of the
    class is within eps_dev(n) of its true error.

    Args:
        n: Number of points (> 0), any shape.
        complexity: The capacity term C: a callable n -> C(n) (vectorised over n), or
            its value (an array broadcast against n; a user-supplied value); >= 0.
        delta: Failure probability, in (0, 1), broadcast against n.

    Returns:
        eps_dev, float64, of the broadcast shape.

    Raises:
        ValueError: if n <= 0, delta is not in (0, 1) or the capacity term is < 0.
    """
    n = positive("n", n)
    delta = probability("delta", delta)
    capacity = complexity(n) if callable(complexity) else complexity
    capacity = nonnegative("complexity", capacity)
    return np.sqrt((capacity + np.log(1.0 / delta)) / n)[()]
