"""PAC Labels (Candes, Ilyas, Zrnic 2025, arXiv 2506.10908; algorithm.md section 13): one
confidence threshold for the whole table, such that the error of the whole labelled
table (validation rows and rows below the threshold labelled by the human, the rest by
the model) is at most eps with probability >= 1 - alpha (alpha = the run's delta).

The validation rows are the uniformly drawn sample the human labels (the reference
samples with replacement and weights pi; here pi is uniform and the draw is without
replacement, which keeps the bound valid). For a candidate threshold tau, the sample's
x_t = 1{row t wrong and its confidence >= tau} estimates L(tau), the share of the table
labelled wrongly by the model above tau. L(tau) <= eps is certified when the
Waudby-Smith-Ramdas betting capital against the mean m = eps reaches 1/alpha at some t
(the reference's `wsr` with theta = 0, c = 0.75, the predictable plug-in bets and the
intersection over t; testing m = eps directly instead of a grid of m, so the decision
is exact rather than at the grid's spacing). The threshold is found by the reference's
binary search over the table's distinct confidences (largest first), taking the most
permissive certified one.

Deviations from the reference, each on purpose: labelled means confidence >= tau (it
labels uncertainty < lam, the same set shifted by one candidate); when no candidate is
certified nothing is machine-labelled (its `lams[lb_index - 1]` wraps to the last
candidate and machine-labels almost everything); ties are not broken with noise.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tbal_jax.prefix import prefix_sum

WSR_C = 0.75  # the reference's cap on the bet, c / (1 - m)


def capital_reaches(x, active, m, alpha):
    """Whether the WSR betting capital against mean m, on the active prefix of x (values
    in [0, 1], in sample order), reaches 1/alpha at some t: then the mean is below m
    with confidence 1 - alpha (Ville's inequality)."""
    n = jnp.maximum(jnp.sum(active), 1).astype(jnp.float32)
    x = jnp.where(active, x, 0.0)
    t = jnp.arange(1, x.shape[0] + 1, dtype=jnp.float32)
    muhat = (0.5 + prefix_sum(x)) / (1.0 + t)
    sigma2 = (0.25 + prefix_sum((x - muhat) ** 2)) / (1.0 + t)
    sigma2_prev = jnp.concatenate([jnp.full(1, 0.25), sigma2[:-1]])
    bet = jnp.sqrt(2.0 * jnp.log(2.0 / alpha) / (n * sigma2_prev))
    bet = jnp.minimum(bet, WSR_C / (1.0 - m))
    log_capital = prefix_sum(jnp.where(active, jnp.log1p(-bet * (x - m)), 0.0))
    return jnp.any(active & (log_capital >= -jnp.log(alpha)))


def make(prep, capacity: int):
    """`thresholds(sample, eps, alpha) -> (1,)`: the most permissive certified
    confidence threshold, +inf when none is."""
    del capacity
    levels = prep.levels
    steps = max(int(levels.shape[0]).bit_length(), 1)

    def thresholds(sample, eps, alpha):
        conf = prep.conf[sample.rows]
        wrong = prep.wrong[sample.rows]

        def certified(j):
            x = (wrong & (conf >= levels[j])).astype(jnp.float32)
            return capital_reaches(x, sample.active, eps, alpha)

        def step(_, bounds):  # the reference's binary search: lo = best certified + 1
            lo, hi = bounds
            j = (lo + hi) // 2
            ok = certified(jnp.clip(j, 0, levels.shape[0] - 1))
            live = lo <= hi
            return (
                jnp.where(live & ok, j + 1, lo),
                jnp.where(live & ~ok, j - 1, hi),
            )

        lo, _ = jax.lax.fori_loop(
            0, steps + 1, step, (jnp.int32(0), jnp.int32(levels.shape[0] - 1))
        )
        t = jnp.where(lo > 0, levels[jnp.maximum(lo - 1, 0)], jnp.inf)
        return t[None]

    return thresholds
