"""The exact two-point (minimax) lower bound on validation size (algorithm.md section 11).

The Bretagnolle-Huber bound of `theory.lower_bound` is a relaxation; here is its exact
value for the same two hypotheses (README section 2, "Exact value"): a region of mass
p0 whose error is eps_a (H0) or eps_a + eps (H1), n iid validation points, of which
M ~ Bin(n, p0) land in the region and W | M of them are wrong. Symbols as in
`theory.lower_bound`; every argument broadcasts (the values are computed one element
at a time).

Bounded cost: one evaluation of the minimax error holds the plausible outcomes (m, w)
at once, at most 2^20 of them (8 MiB an array), and the searches stop at n = 2^53;
beyond either limit `ExactCostError` (a ValueError) names it, and the
Bretagnolle-Huber functions (`validation_lower_bound`,
`detectable_excess_for_validation_size`), which have no limit, answer instead. At
p0 = 1 that reaches n ~ 1e11 (eps = 1e-6 at eps_a = 0.01, in seconds); at p0 < 1 the
outcomes form a grid, about 320 n p0 sqrt(eps_a (1 - p0)) of them near the answer.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

from theory._deprecation import former_order
from theory._validation import count, hypotheses, mass, probability, tolerance
from theory.lower_bound import validation_lower_bound
from theory.planning import detectable_excess_for_validation_size

_TAIL = 1e-15  # most outcome mass left out of an evaluation (it can only lower it)
_MAX_OUTCOMES = 2**20  # outcomes (m, w) one evaluation may hold
_N_MAX = 2**53  # largest n searched: integers are exact in float64 up to here
_EPS_RESOLUTION = 2.0**-50  # relative width at which the search in eps stops


class ExactCostError(ValueError):
    """The exact two-point value needs more outcomes or points than its limit.

    The message is one line naming the limit, the arguments and the Bretagnolle-Huber
    function to use instead.
    """


def _setting(eps: float, p0: float, eps_a: float) -> str:
    return f"eps = {eps!r}, p0 = {p0!r}, eps_a = {eps_a!r}"


def _window(n: float, p: float, q: float) -> tuple[float, float]:
    """(lo, hi) with P(Bin(n, p) < lo) < q and P(Bin(n, p) > hi) < q. The upper end
    mirrors `ppf` on n - Bin(n, p): `isf` returns n for q below 1e-16."""
    from scipy import stats  # at use: it takes about a second to import
    return stats.binom.ppf(q, n, p), n - stats.binom.ppf(q, n, 1.0 - p)


def _minimax(n: float, eps: float, p0: float, eps_a: float, tail: float) -> float:
    """`minimax_test_error` of one setting, at most `tail` below the exact value.

    The outcomes x = (m, w) kept are m in the Bin(n, p0) window and w in one window
    for all of them, from the lower end of Bin(m_lo, eps_a) to the upper end of
    Bin(m_hi, eps_a + eps) (W | M grows with M and with the error), each end leaving
    out less than tail / 4: under either hypothesis less than `tail` of the mass is
    left out, so the value, a sum of min(l P0(x), (1 - l) P1(x)) <= (P0 + P1)(x) / 2,
    loses less than `tail`. Sorting the breakpoints l = P1 / (P0 + P1) evaluates the
    concave piecewise-linear maximum at every one (module docstring of the public
    function)."""
    from scipy import stats  # at use: it takes about a second to import
    alternative, q = min(eps_a + eps, 1.0), tail / 4.0
    m_lo, m_hi = _window(n, p0, q)
    w_lo, w_hi = _window(m_lo, eps_a, q)[0], _window(m_hi, alternative, q)[1]
    size = (m_hi - m_lo + 1.0) * (w_hi - w_lo + 1.0)
    if size > _MAX_OUTCOMES:
        raise ExactCostError(
            f"the exact two-point value at n = {n:.0f}, {_setting(eps, p0, eps_a)} "
            f"needs {size:.3g} outcomes, over the limit of 2**20; "
            "validation_lower_bound and detectable_excess_for_validation_size "
            "(Bretagnolle-Huber) have no limit"
        )
    m = np.arange(m_lo, m_hi + 1.0)[:, None]
    w = np.arange(w_lo, w_hi + 1.0)
    m_mass = stats.binom.pmf(m, n, p0)
    good = (m_mass * stats.binom.pmf(w, m, eps_a)).ravel()
    bad = (m_mass * stats.binom.pmf(w, m, alternative)).ravel()
    seen = (good + bad) > 0
    good, bad = good[seen], bad[seen]
    breakpoints = bad / (good + bad)
    order = np.argsort(breakpoints, kind="stable")
    lam, good, bad = breakpoints[order], good[order], bad[order]
    bad_before = np.concatenate([[0.0], np.cumsum(bad)[:-1]])
    good_from = np.cumsum(good[::-1])[::-1]
    return float(np.max(lam * good_from + (1.0 - lam) * bad_before))


def _each(function: Callable[..., float], dtype: type, *arrays: np.ndarray):
    """function applied to every element of the broadcast arrays (as floats)."""
    arrays = np.broadcast_arrays(*arrays)
    out = np.empty(arrays[0].shape, dtype)
    for index in np.ndindex(out.shape):
        out[index] = function(*(float(a[index]) for a in arrays))
    return out[()]


@former_order("eps_a", "eps", "p0")
def minimax_test_error(
    n: ArrayLike, *, eps: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """The smallest achievable max(P(certify | error eps_a + eps), P(refuse | error
    eps_a)) with n validation points (README section 2, the exact value).

    The two hypotheses give laws P0, P1 on the observation (M, W): M ~ Bin(n, p0)
    points in the region (the same under both), W | M ~ Bin(M, eps_a) or
    Bin(M, eps_a + eps) wrong among them. Over randomised tests, by the minimax theorem,
        min_test max(alpha, beta) = max_{l in [0, 1]} sum_x min(l P0(x), (1 - l) P1(x)),
    a concave, piecewise linear function of l whose maximum sits at a breakpoint
    l = P1(x) / (P0(x) + P1(x)); all are evaluated at once after sorting. At p0 = 1 this
    is the randomised likelihood-ratio test of Bin(n, eps_a) against
    Bin(n, eps_a + eps). Outcomes of total mass below 1e-15 are left out, which can only
    lower the value (by less than 1e-15). Keyword-only eps, p0, eps_a; the former order
    (n, eps_a, eps, p0) still works, with a DeprecationWarning.

    Raises:
        ValueError: on n not an integer >= 1, eps outside (0, 1], p0 outside (0, 1],
            eps_a outside [0, 1) or eps_a + eps > 1; ExactCostError beyond the
            module's limit.
    """
    n, (eps, eps_a), p0 = count("n", n), hypotheses(eps, eps_a), mass("p0", p0)
    return _each(lambda *x: _minimax(*x, _TAIL), np.float64, n, eps, p0, eps_a)


def _excess(delta: float, error: Callable[[float, float], float]):
    """x -> ln(error(x) / delta), with the outcome mass an evaluation may leave out
    set far below delta: min(1e-15, 1e-6 delta)."""
    tail = min(_TAIL, 1e-6 * delta)

    @functools.lru_cache(maxsize=None)  # the searches revisit their bracket's ends
    def excess(x: float) -> float:
        with np.errstate(divide="ignore"):
            return float(np.log(error(x, tail)) - np.log(delta))

    return excess


def _crossing(excess, lo, hi, resolution: Callable[[float], float], integer: bool):
    """The upper end of [lo, hi] shrunk around the sign change of the non-increasing
    excess (excess(lo) > 0 >= excess(hi)) to width resolution(hi) (1 for integers).

    Secant steps through the two latest points (the logarithm of the error is nearly
    linear in n and smooth in eps, so they converge superlinearly: about ten
    evaluations where bisection needs up to 53), kept resolution / 2 inside the bracket (one
    integer for n) so that the last ones straddle the crossing; a bisection step
    whenever two steps have not halved the bracket (Dekker's safeguard)."""
    if hi - lo <= resolution(hi):
        return hi
    latest, widths = [(lo, excess(lo)), (hi, excess(hi))], [hi - lo]
    while hi - lo > resolution(hi):
        (a, fa), (b, fb) = latest[-2:]
        x = lo + (hi - lo) / 2
        halving = len(widths) < 3 or widths[-1] <= widths[-3] / 2
        if halving and np.isfinite([fa, fb]).all() and fa != fb:
            x = b - fb * (b - a) / (fb - fa)
        if not lo < x < hi:
            x = lo + (hi - lo) / 2
        if integer:
            x = min(max(round(x), lo + 1), hi - 1)
        else:
            margin = resolution(hi) / 2
            x = min(max(x, lo + margin), hi - margin)
        f = excess(x)
        lo, hi = (x, hi) if f > 0 else (lo, x)
        latest.append((x, f))
        widths.append(hi - lo)
    return hi


def _exact_n(eps: float, delta: float, p0: float, eps_a: float) -> int:
    """`exact_lower_bound` of one setting: from the Bretagnolle-Huber n (every smaller
    n fails), doubling, then `_crossing` (the error does not grow with n)."""
    if delta >= 0.5:
        return 0
    bh = float(validation_lower_bound(eps, delta, p0, eps_a))

    def too_far() -> ExactCostError:
        return ExactCostError(
            f"exact_lower_bound searches n <= 2**53, exceeded at "
            f"{_setting(eps, p0, eps_a)}, delta = {delta!r}; validation_lower_bound "
            f"gives n >= {bh:.4g}"
        )

    excess = _excess(delta, lambda n, tail: _minimax(n, eps, p0, eps_a, tail))
    if not bh < _N_MAX:
        raise too_far()
    lo = max(math.ceil(bh * (1.0 - 1e-12)) - 1, 0)  # fails (Bretagnolle-Huber)
    hi = max(2 * lo, 1)
    while excess(hi) > 0:
        lo, hi = hi, 2 * hi
        if hi > _N_MAX:
            raise too_far()
    return _crossing(excess, lo, hi, lambda hi: 1, integer=True)


@former_order("eps_a", "eps", "delta", "p0")
def exact_lower_bound(
    *, eps: ArrayLike, delta: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """The smallest validation size with which some procedure certifies a region of
    error eps_a and refuses one of error eps_a + eps, each with failure probability at
    most delta: the exact two-point (minimax) bound (README section 2).

    The smallest n with `minimax_test_error`(n, eps=eps, p0=p0, eps_a=eps_a) <= delta,
    searched from the Bretagnolle-Huber n (`validation_lower_bound`, same arguments,
    a lower bound on it) by doubling and bisection (the error does not grow with n: a
    test may ignore points). Keyword-only arguments; the former order
    (eps_a, eps, delta, p0) still works, with a DeprecationWarning.

    Examples (delta = 0.05, p0 = 1): eps_a = eps = 0.01: 1556; eps_a = eps = 0.1: 134;
    eps_a = 0, eps = 0.01: 293.

    p0 < 1: the n validation points are thinned, only Bin(n, p0) of them land in the
    region, and the count is observed (it carries no information on the error). The
    result is exact for this thinned experiment; it is close to, but not the same as,
    (result at p0 = 1) / p0 (585 rather than 586 at eps_a = 0, eps = 0.01, p0 = 1/2).
    Outcomes of total mass below min(1e-15, 1e-6 delta) are ignored, which can only
    lower the result. 0 when delta >= 1/2 (a coin toss errs with probability 1/2
    either way).

    Returns:
        n, int64, of the broadcast shape.

    Raises:
        ValueError: on eps outside (0, 1], delta outside (0, 1), p0 outside (0, 1],
            eps_a outside [0, 1) or eps_a + eps > 1; ExactCostError beyond the
            module's limits.
    """
    (eps, eps_a), delta = hypotheses(eps, eps_a), probability("delta", delta)
    return _each(_exact_n, np.int64, eps, delta, mass("p0", p0), eps_a)


def _exact_eps(n: float, delta: float, p0: float, eps_a: float) -> float:
    """`exact_resolvable_excess` of one setting: from the Bretagnolle-Huber excess
    (every smaller one fails), doubling up to 1 - eps_a, then `_crossing`."""
    bh = float(detectable_excess_for_validation_size(n, delta, p0, eps_a))
    if delta >= 0.5 or not math.isfinite(bh):
        return bh  # 0 or +inf
    excess = _excess(delta, lambda eps, tail: _minimax(n, eps, p0, eps_a, tail))
    top = 1.0 - eps_a
    low = bh * (1.0 - 1e-9)
    high = min(2.0 * low, top)
    while excess(high) > 0:
        if high >= top:
            return math.inf
        low, high = high, min(2.0 * high, top)
    return _crossing(
        excess, low, high, lambda high: _EPS_RESOLUTION * high, integer=False
    )


@former_order("eps_a", "delta", "p0")
def exact_resolvable_excess(
    n: ArrayLike, *, delta: ArrayLike, p0: ArrayLike = 1.0, eps_a: ArrayLike = 0.01
) -> np.ndarray:
    """The smallest excess over eps_a that n validation points can resolve: the eps at
    which `minimax_test_error`(n, eps=eps, p0=p0, eps_a=eps_a) falls to delta (README
    section 2).

    For every smaller excess, no procedure using n iid validation points can both
    certify a region of error eps_a and refuse one of error eps_a + eps with failure
    probability <= delta. Searched from the Bretagnolle-Huber excess
    (`detectable_excess_for_validation_size`, same arguments, below it) by doubling and
    bisection, to 2^-50 relative; +inf when even eps = 1 - eps_a cannot be resolved,
    0 when delta >= 1/2. Keyword-only delta, p0, eps_a; the former order
    (n, eps_a, delta, p0) still works, with a DeprecationWarning.

    Returns:
        The excess, float64, of the broadcast shape.

    Raises:
        ValueError: on n not an integer >= 1, delta outside (0, 1), p0 outside (0, 1]
            or eps_a outside [0, 1); ExactCostError beyond the module's limit.
    """
    n, delta = count("n", n), probability("delta", delta)
    p0, eps_a = mass("p0", p0), tolerance("eps_a", eps_a)
    return _each(_exact_eps, np.float64, n, delta, p0, eps_a)
