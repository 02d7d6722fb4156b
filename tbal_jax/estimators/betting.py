"""A betting test of a region's error, valid at every validation size at once
(algorithm.md section 12, "A time-uniform test"; Waudby-Smith and Ramdas 2024 style).

H0: the region's error is >= m (m = eps to certify). Each validation point above the
candidate is a bet: X_i = 1 for a wrong label, and a bettor with constant bet
lambda = c / (1 - m), c in (0, 1], multiplies its wealth by 1 + lambda (m - X_i), i.e.
by 1 + c m / (1 - m) for a right label and 1 - c for a wrong one. Under H0 (iid X_i with
mean >= m) each factor has mean <= 1 and is >= 0, so each bettor's wealth is a
nonnegative supermartingale starting at 1, and so is their average

    K_n = (1 / J) sum_j (1 + c_j m / (1 - m))^(n - w) (1 - c_j)^w

over the grid c_j = j / J, j = 1..J, fixed before any data. By Ville's inequality
P(exists n: K_n >= 1 / level) <= level: rejecting H0 (certifying error < m) when
K_n >= 1 / level is valid at every n simultaneously, and so at a data-dependent
(stopping-time) validation size. With constant bets K_n depends only on the counts
(n points, w wrong), which is all an estimator sees (`Estimator.accept`).

`certify.pac.capital_reaches` is another WSR capital, but with predictable plug-in bets
that depend on the order of the points, not only on their counts; it does not fit here.

The grid: J = 20 uniform bet fractions including c = 1 (the all-in bet, wealth
(1 - m)^-n until the first wrong label, then 0). The mixture loses at most log J = 3.0
nats against the best of its bettors, so an error-free region is certified at most
ceil(log J / -log(1 - eps)) points after Clopper-Pearson would (tests/test_time_uniform.py);
a finer grid passes error-free regions later (more bettors share the mixture) and a
coarser one certifies about as many wrong labels at large n, so J = 20 is a middle.

float32: log K by a logsumexp over the J bettors; a test passes only if log K exceeds
log(1 / level) by a margin BETTING_RTOL times the size of the terms summed, so rounding
can only withhold a certification, never grant one.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from tbal_jax.estimators.base import Estimator
from tbal_jax.types import Array

BETS = 20  # J, the number of bettors
BET_FRACTIONS = (
    np.arange(1, BETS + 1, dtype=np.float64) / BETS
)  # c_j = lambda_j (1 - m)
BETTING_RTOL = 1e-5  # float32 rounding margin of log K, relative to its terms
START_STEPS = 25  # bisection steps for the error-free start count, n in [0, 2^24]


def _terms(n, wrong, m, fractions):
    """Each bettor's log wealth (..., J) and the size of its two terms (rounding scale)."""
    n, w, m = (jnp.asarray(a, jnp.float32) for a in (n, wrong, m))
    shape = jnp.broadcast_shapes(n.shape, w.shape, m.shape)
    n, w, m = (jnp.broadcast_to(a, shape)[..., None] for a in (n, w, m))
    c = jnp.asarray(fractions, jnp.float32).reshape((1,) * len(shape) + (-1,))
    right = (n - w) * jnp.log1p(c * m / (1.0 - m))
    # w = 0 needs no wrong factor, not 0 * log(0) = nan for the all-in bettor c = 1
    lose = jnp.where(w > 0, w * jnp.log1p(-c), 0.0)
    scale = jnp.abs(right) + jnp.where(jnp.isfinite(lose), jnp.abs(lose), 0.0)
    return right + lose, jnp.max(scale, axis=-1)


def log_wealth(n: Array, wrong: Array, m: Array, fractions=BET_FRACTIONS) -> Array:
    """log K_n (float32) against mean m of the average of the constant bettors
    `fractions` (c_j in (0, 1]), for n points of which `wrong` are wrong."""
    log_k, _ = _terms(n, wrong, m, fractions)
    return jax.nn.logsumexp(log_k, axis=-1) - jnp.log(float(len(fractions)))


def betting_rejects(n, wrong, m, level, fractions=BET_FRACTIONS) -> Array:
    """K_n >= 1 / level (H0: error >= m rejected), with the rounding margin."""
    log_k, scale = _terms(n, wrong, m, fractions)
    log_k = jax.nn.logsumexp(log_k, axis=-1) - jnp.log(float(len(fractions)))
    log_inv = -jnp.log(jnp.broadcast_to(jnp.asarray(level, jnp.float32), log_k.shape))
    margin = BETTING_RTOL * (scale + log_inv + np.log(len(fractions)) + 1.0)
    return log_k - margin >= log_inv


def betting_accept(n, wrong, eps, c1, level):
    """`Estimator.accept`: the betting test certifies error < eps at `level`."""
    del c1
    return betting_rejects(n, wrong, eps, level)


def betting_upper(n, wrong, level, steps: int = 30):
    """The confidence-sequence upper limit: the smallest m whose H0 (error >= m) the
    betting test rejects (K_n increases with m), by bisection over [0, 1] and returned
    from the upper end of the bracket; 1 when wrong >= n (no m is rejected)."""
    shape = jnp.broadcast_shapes(jnp.shape(n), jnp.shape(wrong), jnp.shape(level))
    n, wrong, level = (jnp.broadcast_to(a, shape) for a in (n, wrong, level))

    def step(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        rejected = betting_rejects(n, wrong, mid, level)
        return jnp.where(rejected, lo, mid), jnp.where(rejected, mid, hi)

    zeros = jnp.zeros(shape, jnp.float32)
    _, hi = jax.lax.fori_loop(0, steps, step, (zeros, jnp.ones_like(zeros)))
    return jnp.where(wrong >= n, 1.0, hi)


def betting_bound(n, wrong, eps, c1, level):
    """`Estimator.bound`: u = `betting_upper`; u <= eps agrees with `betting_accept`
    up to the bisection's resolution."""
    del eps, c1
    return betting_upper(n, wrong, level)


def error_free_start(accept, num_classes: int) -> Array:
    """(k,) the smallest n at which `accept(n, 0, class)` passes (n >= 2^24 if none):
    with w = 0 the wealth only grows with n, so regions with fewer points never pass.
    Depends on no label."""
    classes = jnp.arange(num_classes)

    def step(_, bracket):
        lo, hi = bracket
        mid = (lo + hi) // 2
        ok = accept(mid, jnp.zeros_like(mid), classes)
        return jnp.where(ok, lo, mid), jnp.where(ok, mid, hi)

    lo = jnp.zeros(num_classes, jnp.int32)
    _, hi = jax.lax.fori_loop(0, START_STEPS, step, (lo, jnp.full_like(lo, 1 << 24)))
    return hi


@dataclasses.dataclass(frozen=True)
class BettingEstimator(Estimator):
    """An `Estimator` whose selection starts where its own test can pass.

    `Estimator.__call__` starts a guaranteed estimator's sequence at the binomial
    count n >= ln(delta' / 1.01) / ln(1 - eps), where an error-free region passes
    Clopper-Pearson. The betting test needs more points there (up to log J /
    -ln(1 - eps) more), so a fixed sequence started at that count would fail at its
    first candidate and certify nothing. Here the start is raised to
    `error_free_start` of the estimator's own accept, a count that depends on no
    label; the selection rule (`select`, e.g. `select_fixed_sequence`) is otherwise
    unchanged, one procedure per class and round."""

    def __call__(self, num_classes, capacity, rounds=1, score_range=None):
        select = self.select

        def start_where_it_can_pass(levels, k, accept, n_min):
            start = error_free_start(accept, k).astype(jnp.float32)
            return select(levels, k, accept, jnp.maximum(n_min, start))

        inner = dataclasses.replace(self, select=start_where_it_can_pass)
        return Estimator.__call__(inner, num_classes, capacity, rounds, score_range)
