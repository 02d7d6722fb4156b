"""Bernoulli KL divergences (algorithm.md section 11): the per-point information of a test.

`kl_bernoulli` is KL(Ber(p) || Ber(q)) without cancellation for p near q (README
section 4); `two_point_kl` is the smaller direction between the lower bound's two
hypotheses, region error eps_a (H0) and eps_a + eps (H1). Used by the lower bounds
(`theory.lower_bound`, `theory.exact`), the planning inverses and the KL-Chernoff limit
(`theory.binomial`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from theory._validation import hypotheses, unit_interval

_SERIES_TERMS = 60  # |z| <= 1/2: the last term is below 2^-60 / 60


def _log1p_minus_x(z: np.ndarray) -> np.ndarray:
    """ln(1 + z) - z without cancellation: its Taylor series for |z| <= 1/2."""
    small = np.abs(z) <= 0.5
    zs = np.where(small, z, 0.0)
    series = np.zeros_like(zs)
    for j in range(_SERIES_TERMS, 1, -1):  # Horner: sum_{j>=2} (-1)^(j+1) z^j / j
        series = zs * ((-1.0) ** (j + 1) / j + series)
    series = zs * series
    with np.errstate(invalid="ignore"):
        direct = np.log1p(np.where(small, 0.0, z)) - np.where(small, 0.0, z)
    return np.where(small, series, direct)


def _kl_from_difference(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    """KL(Ber(q + x) || Ber(q)) from q and the difference x itself (broadcast float64
    arrays with q + x in [0, 1]); `kl_bernoulli` explains the three branches. Passing
    x rather than p keeps its digits when |x| << q, where q + x rounds them away."""
    q, x = np.broadcast_arrays(q, x)
    p = q + x
    near = (np.abs(x) <= 0.5 * q) & (np.abs(x) <= 0.5 * (1.0 - q)) & (q > 0) & (q < 1)
    qn = np.where(near, q, 0.5)
    xn = np.where(near, x, 0.0)
    pn = qn + xn
    close = (
        xn**2 / (qn * (1.0 - qn))
        + pn * _log1p_minus_x(xn / qn)
        + (1.0 - pn) * _log1p_minus_x(-xn / (1.0 - qn))
    )
    inside = (q > 0) & (q < 1)
    qi = np.where(inside, q, 0.5)
    xi = np.where(inside, x, 0.0)
    far = special.xlogy(qi + xi, 1.0 + xi / qi) + special.xlog1py(
        1.0 - qi - xi, -xi / (1.0 - qi)
    )
    edge = special.rel_entr(p, q) + special.rel_entr(1.0 - p, 1.0 - q)
    far = np.where(inside, far, edge)
    return np.maximum(np.where(near, close, far), 0.0)


def kl_bernoulli(p: ArrayLike, q: ArrayLike) -> np.ndarray:
    """KL divergence KL(Ber(p) || Ber(q)) in nats (algorithm.md section 11, lower bound).

    KL = p ln(p/q) + (1 - p) ln((1 - p)/(1 - q)), with 0 ln 0 = 0; +inf when Ber(p)
    puts mass where Ber(q) has none (q = 0 < p or q = 1 > p).

    Precision: for p close to q the two terms are each of order |p - q| and cancel to
    order (p - q)^2. There, with x = p - q,
        KL = x^2 / (q (1 - q)) + p L(x / q) + (1 - p) L(-x / (1 - q)),
    L(z) = ln(1 + z) - z by its series: every term is of order x^2, so the relative
    error stays near machine precision (1e-15 at x = 1e-8, where the direct form loses
    two digits). Elsewhere p ln(1 + x/q) + (1 - p) ln(1 - x/(1 - q)) through
    `scipy.special.xlogy` and `xlog1py` (no cancellation when |x| is not small against
    q or 1 - q), and `scipy.special.rel_entr` at q in {0, 1}.

    Args:
        p: Parameter of the first Bernoulli, in [0, 1].
        q: Parameter of the second Bernoulli, in [0, 1], broadcast against p.

    Returns:
        KL, float64 in [0, inf], of the broadcast shape.

    Raises:
        ValueError: if p or q is outside [0, 1].
    """
    p, q = np.broadcast_arrays(unit_interval("p", p), unit_interval("q", q))
    return _kl_from_difference(q, p - q)[()]


def two_point_kl(eps: ArrayLike, eps_a: ArrayLike = 0.01) -> np.ndarray:
    """Per-region-point divergence of the two hypotheses, the smaller KL direction.

    KL2(eps, eps_a) = min(KL(Ber(eps_a + eps) || Ber(eps_a)),
                          KL(Ber(eps_a) || Ber(eps_a + eps)))   (README section 2).

    For eps_a = 0 it equals KL(Ber(0) || Ber(eps)) = -ln(1 - eps) (the other direction
    is +inf). For small eps both directions are ~ eps^2 / (2 eps_a (1 - eps_a)); for
    eps_a < 1/2 KL(Ber(eps_a) || Ber(eps_a + eps)) is the smaller one. Increasing in
    eps. Computed from eps itself, not from (eps_a + eps) - eps_a, so an eps far below
    eps_a keeps its digits.

    Args:
        eps: Excess error of H1, > 0, with eps_a + eps <= 1.
        eps_a: Error of H0 (the tolerance), in [0, 1).

    Returns:
        KL2, float64 in (0, inf], of the broadcast shape.

    Raises:
        ValueError: if eps is outside (0, 1], eps_a outside [0, 1) or eps_a + eps > 1.
    """
    eps, eps_a = hypotheses(eps, eps_a)
    alternative = np.minimum(eps_a + eps, 1.0)
    return np.minimum(
        _kl_from_difference(eps_a, eps), _kl_from_difference(alternative, -eps)
    )[()]
