"""Post-hoc calibrators as fitted confidence functions (algorithm.md section 14): the
baselines the authors' sequel (Colander) compares with, each fitted on D_cal's rows.

- `Temperature`: temperature scaling (Guo et al. 2017);
- `TopLabelHistogram`: top-label histogram binning (Gupta & Ramdas 2022);
- `ScalingBinning`: the scaling-binning calibrator (Kumar, Liang & Ma 2019).

All three keep the model's prediction (the argmax of the logits) and only replace its
confidence; with no calibration rows each returns the max probability of the logits.
Defaults follow the authors' fixed TBAL configurations for standard training
(configs/calib-exp/hyp-search/tbal/*/*_post_fixed_std_xent.json: D_cal half of the
validation points, 25 points per bin, 25 bins).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from tbal_jax.scores.fitted import Coverage, FittedScore, random_rank
from tbal_jax.scores.fixed import class_value, max_prob
from tbal_jax.types import Array, Key, PyTree


def fit_inverse_temperature(
    logits: Array, y: Array, mask: Array, t_min: float, t_max: float, steps: int
) -> Array:
    """beta = 1/T for the temperature T in [t_min, t_max] minimising the mean log loss
    of softmax(logits / T) against y over the `mask` rows; beta = 1 with no rows.
    (The calibrators scale the logits as logits * beta, in `fit` and `confidence`
    alike, so a D_cal row gets the same score in both: XLA may rewrite a division by
    a computed 1 / beta as that product, not a division by a stored T.)

    The loss f(beta) = mean(logsumexp(beta z) - beta z_y) is convex in beta = 1/T, with
    f'(beta) = mean(E_p[z] - z_y) and f''(beta) = mean(Var_p[z]) under p =
    softmax(beta z), so its minimiser over the range is the root of the increasing
    f'(e^t) in t = log beta, or the end where f' keeps its sign. `steps` iterations of
    safeguarded Newton (Numerical Recipes' rtsafe, in t, from t = 0) find it: a bracket
    [lo, hi] of the root, starting at [-log t_max, -log t_min], moves one end to t by
    the sign of f'; a Newton step that leaves the bracket, or does not halve the step
    before last, is replaced by the bracket's midpoint. The result is the evaluated
    point of least |f'| (float32 noise in f' near the root can trigger a midpoint step
    away from it). The rows outside `mask` are zeroed and change nothing."""
    k = logits.shape[-1]
    rows = mask.astype(jnp.float32)
    n = jnp.maximum(jnp.sum(rows), 1.0)
    # class-major (k, V), each row's top logit 0 (so exp(beta z) <= 1): reductions over
    # the classes run across the rows, not along a short minor axis
    z = jnp.where(mask[:, None], logits, 0.0).T
    z = z - jnp.max(z, axis=0, keepdims=True)
    z_y = jnp.sum(jnp.where(y[None, :] == jnp.arange(k)[:, None], z, 0.0), axis=0)

    def slope_curvature(beta):
        e = jnp.exp(beta * z)
        total = jnp.sum(e, axis=0)
        mean_z = jnp.sum(e * z, axis=0) / total
        var_z = jnp.sum(e * z * z, axis=0) / total - mean_z * mean_z
        return jnp.sum(rows * (mean_z - z_y)) / n, jnp.sum(rows * var_z) / n

    def step(_, state):
        t, lo, hi, dx, dx_old, best, best_slope = state  # t = log beta
        beta = jnp.exp(t)
        slope, curv = slope_curvature(beta)
        d_slope = beta * curv  # d f'(e^t) / dt
        better = jnp.abs(slope) < best_slope
        best = jnp.where(better, t, best)
        best_slope = jnp.where(better, jnp.abs(slope), best_slope)
        lo = jnp.where(slope <= 0.0, t, lo)
        hi = jnp.where(slope >= 0.0, t, hi)
        newton = t - slope / jnp.where(d_slope > 0.0, d_slope, 1.0)
        bisect = (
            (d_slope <= 0.0)
            | (newton < lo)
            | (newton > hi)
            | (jnp.abs(2.0 * slope) > jnp.abs(dx_old * d_slope))
        )
        t_next = jnp.where(bisect, 0.5 * (lo + hi), newton)
        return t_next, lo, hi, jnp.abs(t_next - t), dx, best, best_slope

    lo, hi = jnp.float32(-jnp.log(t_max)), jnp.float32(-jnp.log(t_min))
    t0 = jnp.clip(jnp.float32(0.0), lo, hi)
    state = (t0, lo, hi, hi - lo, hi - lo, t0, jnp.float32(jnp.inf))
    best = jax.lax.fori_loop(0, steps, step, state)[5]
    return jnp.where(jnp.any(mask), jnp.exp(best), 1.0)


def thirds(key: Key, cal: Array) -> tuple[Array, Array, Array]:
    """Scaling-binning's split of the n `cal` rows (algorithm.md section 14): a
    uniformly random floor(n/3) rows (T1), another floor(n/3) (T2) and the rest (T3),
    as the authors' `ScalingBinningCalibrator` cuts D_cal."""
    rank = random_rank(key, cal)
    size = (jnp.sum(cal) // 3).astype(rank.dtype)
    return (
        cal & (rank < size),
        cal & (rank >= size) & (rank < 2 * size),
        cal & (rank >= 2 * size),
    )


def _bin_in_class(edges: Array, offset: Array, count: Array, score: Array) -> Array:
    """The bin of each score among its class's `count` bins, the first j with
    score <= edges[offset + j] (bisection; the class's last edge is +inf)."""
    size = edges.shape[0]

    def step(_, state):
        lo, hi = state
        mid = (lo + hi) // 2
        right = edges[jnp.clip(offset + mid, 0, size - 1)] < score
        active = lo < hi
        return jnp.where(active & right, mid + 1, lo), jnp.where(
            active & ~right, mid, hi
        )

    lo, _ = jax.lax.fori_loop(
        0, size.bit_length(), step, (jnp.zeros_like(count), count)
    )
    return lo


@dataclasses.dataclass(frozen=True)
class Temperature(FittedScore):
    """Temperature scaling (algorithm.md section 14): confidence = the max probability
    of softmax(logits / T), T > 0 the minimiser of D_cal's mean log loss
    (`fit_inverse_temperature`: `steps` safeguarded Newton steps over [t_min, t_max]); T = 1
    with no D_cal rows. The authors fit x / T + b (b changes no softmax) by Adam with
    weight decay on T; this is the exact minimiser."""

    name: str = "temperature"
    label: str = "temperature scaling"
    t_min: float = 1e-3
    t_max: float = 1e3
    steps: int = 20

    def fit(
        self,
        key: Key,
        z: Array,
        logits: Array,
        y: Array,
        cal: Array,
        th: Array,
        coverage: Coverage,
    ) -> PyTree:
        del key, z, th, coverage
        beta = fit_inverse_temperature(
            logits, y, cal, self.t_min, self.t_max, self.steps
        )
        return {"inverse_temperature": beta}

    def confidence(self, params: PyTree, z: Array, logits: Array) -> Array:
        del z
        return max_prob(logits * params["inverse_temperature"])[0]


@dataclasses.dataclass(frozen=True)
class TopLabelHistogram(FittedScore):
    """Top-label histogram binning (Gupta & Ramdas 2022; algorithm.md section 14), as
    the authors' `HB_toplabel`. For each class c, the n_c D_cal rows predicted as c
    are sorted by max probability s and cut into B_c = floor(n_c / points_per_bin)
    groups of consecutive rows, as equal as possible (numpy.array_split: the first
    n_c mod B_c groups have one row more, so each has points_per_bin to
    2 points_per_bin - 1 rows). Bin j of class c is (e_{j-1}, e_j], e_j the largest s
    of group j, the last bin unbounded above; a point predicted as c with score s
    falls in the first bin with s <= e_j, and its confidence is the share of D_cal
    rows in that bin (by the same rule, so ties all go to the lower bin) that the
    model predicts right; 0.5 for a bin left empty (by ties). A class with fewer
    than points_per_bin D_cal rows (none included) keeps the max probability, as the
    authors' identity calibrator does. The authors' delta-randomisation (noise of
    1e-10, below float32's resolution) is left out: ties go by the rule above.

    The bins of all classes lie in one array of floor(V / points_per_bin) slots, class
    by class: one sort by (class, score) fits them, bisection finds a point's bin."""

    name: str = "top_label_histogram"
    label: str = "top-label histogram binning"
    points_per_bin: int = 25

    def fit(
        self,
        key: Key,
        z: Array,
        logits: Array,
        y: Array,
        cal: Array,
        th: Array,
        coverage: Coverage,
    ) -> PyTree:
        del key, z, th, coverage
        v, k = logits.shape
        slots = max(v // self.points_per_bin, 1)
        score, pred = max_prob(logits)
        n_c = jax.ops.segment_sum(cal.astype(jnp.int32), pred, num_segments=k)
        bins = n_c // self.points_per_bin  # B_c
        offset = jnp.cumsum(bins) - bins  # class c's first slot
        start = jnp.cumsum(n_c) - n_c  # class c's first row in the sorted order
        # rows by (class, score), the other rows last (class k)
        cls, sorted_score = jax.lax.sort((jnp.where(cal, pred, k), score), num_keys=2)
        c = jnp.minimum(cls, k - 1)
        rank = jnp.arange(v) - start[c]
        size, extra = (
            n_c[c] // jnp.maximum(bins[c], 1),
            n_c[c] % jnp.maximum(bins[c], 1),
        )
        big = extra * (size + 1)  # rows in the groups with one row more
        group = jnp.where(
            rank < big,
            rank // (size + 1),
            extra + (rank - big) // jnp.maximum(size, 1),
        )
        slot = jnp.where((cls < k) & (bins[c] > 0), offset[c] + group, slots)
        edges = jax.ops.segment_max(sorted_score, slot, num_segments=slots + 1)[:slots]
        last = jnp.where(bins > 0, offset + bins - 1, slots)
        edges = edges.at[last].set(jnp.inf, mode="drop")
        # each D_cal row's bin by the lookup `confidence` uses
        own = _bin_in_class(edges, offset[pred], bins[pred], score)
        binned = cal & (bins[pred] > 0)
        at = jnp.where(binned, offset[pred] + own, slots)
        count = jax.ops.segment_sum(binned.astype(jnp.float32), at, slots + 1)[:slots]
        right = jax.ops.segment_sum(
            (binned & (pred == y)).astype(jnp.float32), at, slots + 1
        )[:slots]
        values = jnp.where(count > 0, right / jnp.maximum(count, 1.0), 0.5)
        return {"edges": edges, "values": values, "offset": offset, "bins": bins}

    def confidence(self, params: PyTree, z: Array, logits: Array) -> Array:
        del z
        score, pred = max_prob(logits)
        offset = class_value(params["offset"], pred)
        bins = class_value(params["bins"], pred)
        j = _bin_in_class(params["edges"], offset, bins, score)
        slots = params["values"].shape[0]
        binned = params["values"][jnp.clip(offset + j, 0, slots - 1)]
        return jnp.where(bins > 0, binned, score)


@dataclasses.dataclass(frozen=True)
class ScalingBinning(FittedScore):
    """Scaling-binning (Kumar, Liang & Ma 2019; algorithm.md section 14), as the
    authors' `ScalingBinningCalibrator` runs it, on the top-label score of all classes
    together: D_cal is cut into random thirds T1, T2, T3 (`thirds`);

    1. scaling: a temperature T fitted on T1 (`fit_inverse_temperature`, as
       `Temperature`), s = the max probability of softmax(logits / T);
    2. bins: T2's scores s sorted and cut into `num_bins` groups as equal as possible
       (numpy.array_split), e_j the largest s of group j (T2's largest for an empty
       group, -inf with T2 empty); bin j is (e_{j-1}, e_j], plus a top bin
       (e_{num_bins - 1}, inf) for scores above all of T2's, as the authors' code has;
    3. discretisation: the confidence of a point is the mean s of T3's rows in its
       bin (the first with s <= e_j).

    A bin with no T3 row takes the value of the nearest non-empty bin below it (above
    it where there is none below); with no T3 row at all (no D_cal rows) the
    confidence is s itself. The authors' loop walks T3's sorted scores one bin at a
    time, so a bin with no T3 row shifts the means of the bins above it (and a first
    bin with none is NaN); only trailing empty bins take the last mean there, which
    the rule above keeps."""

    name: str = "scaling_binning"
    label: str = "scaling-binning"
    num_bins: int = 25
    t_min: float = 1e-3
    t_max: float = 1e3
    steps: int = 20

    def fit(
        self,
        key: Key,
        z: Array,
        logits: Array,
        y: Array,
        cal: Array,
        th: Array,
        coverage: Coverage,
    ) -> PyTree:
        del z, th, coverage
        t1, t2, t3 = thirds(key, cal)
        beta = fit_inverse_temperature(
            logits, y, t1, self.t_min, self.t_max, self.steps
        )
        score = max_prob(logits * beta)[0]
        # step 2: equal-mass bins on T2 (sorted first, the other rows after them)
        m = jnp.sum(t2)
        ordered = jnp.sort(jnp.where(t2, score, jnp.inf))
        g = jnp.arange(self.num_bins)
        size, extra = m // self.num_bins, m % self.num_bins
        end = (g + 1) * size + jnp.minimum(g + 1, extra)  # past group g's last row
        top = jnp.where(m > 0, ordered[jnp.maximum(m - 1, 0)], -jnp.inf)
        edges = jnp.where(
            end > g * size + jnp.minimum(g, extra),
            ordered[jnp.maximum(end - 1, 0)],
            top,
        )
        # step 3: T3's mean score in each of the num_bins + 1 bins
        at = jnp.searchsorted(edges, score, side="left")
        n_bins = self.num_bins + 1
        total = jax.ops.segment_sum(jnp.where(t3, score, 0.0), at, n_bins)
        count = jax.ops.segment_sum(t3.astype(jnp.float32), at, n_bins)
        j = jnp.arange(n_bins)
        below = jax.lax.cummax(jnp.where(count > 0, j, -1))
        above = jax.lax.cummin(jnp.where(count > 0, j, n_bins), reverse=True)
        source = jnp.clip(jnp.where(below >= 0, below, above), 0, n_bins - 1)
        values = (total / jnp.maximum(count, 1.0))[source]
        return {
            "inverse_temperature": beta,
            "edges": edges,
            "values": values,
            "binned": jnp.any(t3),
        }

    def confidence(self, params: PyTree, z: Array, logits: Array) -> Array:
        del z
        score = max_prob(logits * params["inverse_temperature"])[0]
        binned = params["values"][jnp.searchsorted(params["edges"], score, side="left")]
        return jnp.where(params["binned"], binned, score)


TEMPERATURE = Temperature()
TOP_LABEL_HISTOGRAM = TopLabelHistogram()
SCALING_BINNING = ScalingBinning()
