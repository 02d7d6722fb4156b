"""Conformal Labeling (Huang et al. 2025, arXiv 2510.14581; algorithm.md section 13): in
each group, machine-label the pool rows whose conformal p-value of "the predicted label
is wrong" passes Benjamini-Hochberg at level alpha = eps (the expected share of wrong
machine labels, the FDR, is then at most eps; the run's delta plays no part).

For a pool row j of group g with confidence s_j, against the group's validation rows
(n_g of them, of which those the model got wrong are the null calibration points):

    p_j = (1 + #{validation rows i of g: wrong_i, s_i >= s_j}) / (n_g + 1)

(ties counted against j: the conservative, non-randomised p-value). BH over the group's
m_g pool rows: R_g = max{r : p_(r) <= alpha r / m_g}; the R_g most confident pool rows are
machine-labelled, so the method is a threshold on the confidence (the R_g-th largest
pool confidence). Rows tied with the R_g-th all pass with it (they share its p-value).

The table's scores never change between draws, so the rows are sorted by (group,
confidence descending) once (`draw.prepare`); a draw is then O(n): cumulative counts of
validation-wrong and pool rows in that order, read at the end of each tie block.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tbal_jax.prefix import prefix_sum


def make(prep, capacity: int):
    """`thresholds(sample, eps, delta) -> (k,)`: the confidence of each group's R_g-th
    pool row at BH level alpha = eps, +inf where BH rejects nothing."""
    del capacity
    k = prep.k
    order = prep.by_group
    group_sorted = prep.group[order]
    starts = jnp.searchsorted(group_sorted, jnp.arange(k))

    def segment_cumsum(x):  # inclusive cumulative sum within each group, sorted order
        total = prefix_sum(x.astype(jnp.float32))
        before = jnp.concatenate([jnp.zeros(1, total.dtype), total])[starts]
        return total - before[group_sorted]

    def thresholds(sample, eps, delta):
        del delta
        alpha = eps
        in_val = ~sample.pool
        null = (in_val & prep.wrong)[order].astype(jnp.int32)
        pool = sample.pool[order]
        n_cal = jax.ops.segment_sum(in_val[order].astype(jnp.int32), group_sorted, k)
        m = jax.ops.segment_sum(pool.astype(jnp.int32), group_sorted, k)
        above = segment_cumsum(null)[prep.tie_end]  # null rows with s_i >= s_j
        rank = segment_cumsum(pool.astype(jnp.int32))  # j's rank among the pool rows
        # p_j <= alpha r / m  <=>  (1 + above) m <= alpha r (n + 1), in float32
        passes = pool & (
            (1.0 + above) * m[group_sorted]
            <= alpha * rank * (n_cal[group_sorted] + 1.0)
        )
        r_max = jax.ops.segment_max(jnp.where(passes, rank, 0), group_sorted, k)
        chosen = pool & (rank <= r_max[group_sorted]) & (r_max[group_sorted] > 0)
        conf = prep.conf[order]
        t = jax.ops.segment_min(jnp.where(chosen, conf, jnp.inf), group_sorted, k)
        return t

    return thresholds
