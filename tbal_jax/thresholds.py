"""Per-class threshold estimation: counts -> bound -> select (SPEC sections 3 and 12).

An estimator turns the current validation set into one threshold per class, over a
fixed-capacity validation buffer where only `active` entries are the current set:

    estimate(scores, preds, labels, active, eps, c1, delta) -> thresholds (k,)

(+inf for a class with no accepted candidate: nothing is auto-labelled in it). Every
estimator shares three steps:

1. **counts** (`count_levels`): the candidate set T of SPEC section 3 (the 10,001-point
   grid when n_v > 500, else the raw scores) and, per class y, the pairs
   (n_y(t), wrong_y(t)) that T produces. They change only where a point of class y
   crosses a candidate, so they are evaluated at the occupied candidates only: a co-sort
   of the validation points by (predicted class, candidate index) makes one *level* per
   block of points sharing a candidate, carrying its counts and the smallest candidate
   that yields them. O(N_v log N_v) time and O(N_v) memory for any k (the previous
   k x 10,001 histogram took 1.6 GiB per 64 runs at k = 200, N_v = 10,000).
2. **bound** (`Estimator.bound`): an upper bound u(n, wrong) on the error of the points
   above a candidate, compared with eps. `Estimator.accept` is the same decision
   computed the cheapest exact way (for the binomial bounds: the binomial tail at eps,
   which is <= delta' exactly when the Clopper-Pearson limit is <= eps).
3. **select**: which accepted candidate is used: the smallest (`smallest`, SPEC 3 and the
   `clopper_pearson` of SPEC 12), the last of a fixed sequence walked down from the top
   (`fixed_sequence`, `ltt`), or the end of a binary search (`binary_search`, `sgr`).

The paper preset (`sigma`, with C1 = 0 in all published runs) keeps its exact outputs:
the same candidates, the same float32 err = wrong / n, the same comparisons.

Ties: exact arithmetic accepts u == eps (e.g. 2/40 = 0.05); the reference's float64
`1 - correct/n` rejects some such ties by one ulp. Here err = wrong/n is a correctly
rounded float32 division, which equals float32(eps) whenever wrong/n == eps exactly, so
with C1 = 0 exact ties are accepted as they are. For the paper's slacks only, the
comparison u <= eps * (1 + TIE_RTOL) absorbs rounding in the slack arithmetic when C1 > 0;
a guaranteed estimator never gets that tolerance.

Binomial tails (`binomial_lower_tail`): an upper bound on P(Bin(n, eps) <= w) that is
exact up to float32 rounding: within 4% above scipy's float64 value where the tail lies
in [1e-8, 1e-2], and never more than 0.4% below it down to 1e-30, for n <= 10^4
(tests/test_estimators.py). A candidate is accepted only
if tail * (1 + BINOMIAL_RTOL) <= delta', so rounding can only make an estimator more
conservative, never less.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import betaln

from tbal_jax.types import Array

GRID_SIZE = 10_001
GRID_ABOVE = 500  # grid candidates when n_v > GRID_ABOVE, raw scores otherwise
MIN_COUNT = 25  # a threshold is kept only if more than MIN_COUNT points lie above it
FLAT_SPAN = 1e-8
TIE_RTOL = 1e-6  # paper slacks only
BINOMIAL_RTOL = 0.01  # float32 rounding margin of the binomial tail, conservative
MAX_CAPACITY = 1 << 20  # validation buffer (with k, bounded by the int32 sort key)
DEFAULT_DELTA = 0.05


class Levels(NamedTuple):
    """The validation points co-sorted by (predicted class, candidate index descending);
    entry i is the level "the first n points of class `cls[i]`" (SPEC 3, step 2)."""

    cls: Array  # (V,) predicted class; k for inactive points (sorted last)
    cand: Array  # (V,) candidate index of the point (largest candidate <= its score)
    n: Array  # (V,) n_y(t): points of the class at or above the level's candidates
    wrong: Array  # (V,) wrong_y(t) of those
    first_cand: Array  # (V,) smallest candidate index with these counts
    valid: Array  # (V,) a real level: active and the last point of its candidate block
    key: Array  # (V,) the packed sort keys, ascending (for `counts_at`)
    wrong_cum: Array  # (V,) inclusive cumulative count of wrong points, sorted order
    start: Array  # (k + 1,) first sorted position of each class
    n_candidates: Array  # |T|: 10,001 (1 when flat) on the grid, else distinct scores
    value: Callable[[Array], Array]  # candidate index -> threshold value


def _grid_bins(scores, active):
    """Grid candidates (SPEC 3, step 1): each score's bin is the index of the last grid
    point at or below it; returns (bins, grid value function, flat)."""
    lo = jnp.min(jnp.where(active, scores, jnp.inf))
    hi = jnp.max(jnp.where(active, scores, -jnp.inf))
    flat = (hi - lo) <= FLAT_SPAN
    delta = jnp.where(flat, 1.0, (hi - lo) / (GRID_SIZE - 1))

    def grid(k):  # the k-th candidate, computed the same way wherever it is needed
        return lo + k.astype(scores.dtype) * delta

    b = jnp.clip(jnp.floor((scores - lo) / delta), 0, GRID_SIZE - 1).astype(jnp.int32)
    b = jnp.where(scores < grid(b), b - 1, b)  # one correction each way for rounding
    b = jnp.where((b < GRID_SIZE - 1) & (scores >= grid(b + 1)), b + 1, b)
    return jnp.where(active, jnp.clip(b, 0, GRID_SIZE - 1), 0), grid, flat


_INT_MAX = jnp.iinfo(jnp.int32).max


def _flip_negative(i: Array) -> Array:
    """Reverse the order of the negative float bit patterns (its own inverse)."""
    return jnp.where(i < 0, i ^ 0x7FFFFFFF, i)


def _order_key(x: Array) -> Array:
    """float32 -> int32 with the same order (-0.0 counts as 0.0): XLA sorts one int32
    array about 5x faster than floats or tuples on CPU."""
    return _flip_negative(jax.lax.bitcast_convert_type(x + 0.0, jnp.int32))


def _from_order_key(i: Array) -> Array:
    return jax.lax.bitcast_convert_type(_flip_negative(i), jnp.float32)


def _raw_candidates(scores, active, raw_capacity):
    """Raw candidates (n_v <= 500): the distinct active scores. A point's candidate
    index is its score's rank among them; returns (index per point, value function,
    number of distinct scores)."""
    capacity = scores.shape[0]
    idx = jnp.nonzero(active, size=raw_capacity, fill_value=capacity)[0]
    keys = jnp.where(
        idx < capacity, _order_key(scores)[jnp.minimum(idx, capacity - 1)], _INT_MAX
    )
    ranked = jnp.sort(keys)
    new = jnp.append(True, ranked[1:] != ranked[:-1])
    distinct_rank = jnp.cumsum(new) - 1
    rank = distinct_rank[jnp.searchsorted(ranked, keys, side="left")]
    distinct = jnp.zeros(raw_capacity, jnp.int32).at[distinct_rank].set(ranked)
    cand = jnp.zeros(capacity, jnp.int32).at[idx].set(rank, mode="drop")

    def value(k):
        return _from_order_key(distinct[jnp.clip(k, 0, raw_capacity - 1)])

    return cand, value, jnp.sum(new & (ranked < _INT_MAX))


def _key_bits(num_classes: int, capacity: int) -> int:
    """Bits of a candidate index in the packed sort key (class | candidate | wrong)."""
    cand_bits = max(GRID_SIZE - 1, capacity - 1).bit_length()
    if num_classes.bit_length() + cand_bits + 1 > 31:
        raise ValueError(
            f"{num_classes} classes with a validation capacity of {capacity} do not fit "
            "the int32 sort key; use fewer classes or a smaller validation size"
        )
    return cand_bits


def _pack(cls: Array, cand: Array, wrong: Array, bits: int) -> Array:
    """The sort key: class ascending, then candidate index descending, then wrong."""
    return (cls << (bits + 1)) | ((((1 << bits) - 1) - cand) << 1) | wrong


def count_levels(
    scores: Array, preds: Array, labels: Array, active: Array, num_classes: int
) -> Levels:
    """Step 1, counts: (n, wrong) per class at every occupied candidate, in
    O(N_v log N_v) time and O(N_v) memory for any k: one sort of packed int32 keys
    (class, candidate index descending, wrong)."""
    capacity = scores.shape[0]
    bits = _key_bits(num_classes, capacity)
    top = (1 << bits) - 1
    grid_mode = jnp.sum(active) > GRID_ABOVE
    bins, grid, flat = _grid_bins(scores, active)
    raw, raw_value, n_distinct = _raw_candidates(
        scores, active, min(capacity, GRID_ABOVE)
    )
    cand = jnp.where(grid_mode, bins, raw)
    cls = jnp.where(active, preds, num_classes).astype(jnp.int32)
    wrong = (active & (labels != preds)).astype(jnp.int32)
    key = jnp.sort(_pack(cls, cand, wrong, bits))
    cls, cand, wrong = key >> (bits + 1), top - ((key >> 1) & top), key & 1
    pos = jnp.arange(capacity)
    start = jnp.searchsorted(cls, jnp.arange(num_classes + 1), side="left")
    wrong_cum = jnp.cumsum(wrong)
    same_next = jnp.append(cls[1:] == cls[:-1], False)
    next_cand = jnp.append(cand[1:], 0)

    def value(k):
        return jnp.where(grid_mode, grid(k), raw_value(k))

    return Levels(
        cls=cls,
        cand=cand,
        n=(pos + 1 - start[cls]).astype(jnp.int32),
        wrong=wrong_cum - (wrong_cum - wrong)[start[cls]],
        first_cand=jnp.where(same_next, next_cand + 1, 0),
        valid=(cls < num_classes) & ~(same_next & (cand == next_cand)),
        key=key,
        wrong_cum=wrong_cum,
        start=start,
        n_candidates=jnp.where(grid_mode, jnp.where(flat, 1, GRID_SIZE), n_distinct),
        value=value,
    )


def counts_at(levels: Levels, num_classes: int, cand: Array) -> tuple[Array, Array]:
    """(n_y(t), wrong_y(t)) for each class y at candidate index cand[y]: a binary search
    for the last packed key of class y with a candidate index >= cand[y]."""
    bits = _key_bits(num_classes, levels.key.shape[0])
    first = levels.start[:num_classes]
    last_key = _pack(jnp.arange(num_classes), cand, 1, bits)
    end = jnp.searchsorted(levels.key, last_key, side="right")
    cum = jnp.append(0, levels.wrong_cum)  # cum[i] = wrong points before position i
    return end - first, cum[end] - cum[first]


# ---- step 2: bounds --------------------------------------------------------------


def binomial_lower_tail(wrong: Array, n: Array, p: Array, terms: int = 16) -> Array:
    """An upper bound on P(Bin(n, p) <= wrong), tight in the lower tail (SPEC 12's
    p-values and Clopper-Pearson limits).

    The pmf at `wrong` (through `betaln`, which avoids the cancellation of three
    lgammas) times 1 + r_w + r_w r_{w-1} + ... with r_i = pmf(i-1)/pmf(i): `terms`
    products summed, the rest bounded by a geometric series in the largest remaining
    ratio (the r_i grow with i). Returns 1 when wrong >= n or r_w >= 1 (wrong at or above
    the mode, where the tail is about 1/2 or more). Measured against scipy (float64)
    for n <= 10^4: at most 4% above where the tail lies in [1e-8, 1e-2], and float32
    rounding at most 0.4% below down to 1e-30; `BINOMIAL_RTOL` covers the latter. The upper tail
    follows by symmetry: P(Bin(n, p) >= w) = P(Bin(n, 1-p) <= n - w).
    About 17x cheaper than `betainc` (200 continued-fraction steps) on CPU.
    """
    w = wrong.astype(jnp.float32)
    n = n.astype(jnp.float32)
    odds = (1.0 - p) / p

    def ratio(i):  # pmf(i - 1) / pmf(i); 0 at i = 0
        return jnp.where(i > 0, i * odds / jnp.maximum(n - i + 1, 1.0), 0.0)

    total = prod = jnp.ones_like(w)
    for j in range(terms):
        prod = prod * ratio(w - j)
        total = total + prod
    rest = ratio(w - terms)
    total = total + prod * rest / (1.0 - rest)
    log_pmf = (
        -jnp.log1p(n)
        - betaln(w + 1.0, n - w + 1.0)
        + w * jnp.log(p)
        + (n - w) * jnp.log1p(-p)
    )
    below_mode = (w < n) & (ratio(w) < 1.0)
    return jnp.where(below_mode, jnp.minimum(jnp.exp(log_pmf) * total, 1.0), 1.0)


def clopper_pearson_upper(wrong: Array, n: Array, level: Array, steps: int = 30):
    """The exact binomial upper confidence limit at `level` (SPEC 12): the largest p
    with P(Bin(n, p) <= wrong) >= level. Found by bisection on `binomial_lower_tail`
    and returned from the upper end of the bracket, so never below the exact limit
    (up to BINOMIAL_RTOL); 1 when wrong >= n."""

    def step(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        still_likely = binomial_lower_tail(wrong, n, mid) * (1 + BINOMIAL_RTOL) > level
        return jnp.where(still_likely, mid, lo), jnp.where(still_likely, hi, mid)

    lo = jnp.broadcast_to(
        wrong / jnp.maximum(n, 1),
        jnp.broadcast_shapes(jnp.shape(wrong), jnp.shape(n), jnp.shape(level)),
    ).astype(jnp.float32)
    _, hi = jax.lax.fori_loop(0, steps, step, (lo, jnp.ones_like(lo)))
    return jnp.where(wrong >= n, 1.0, hi)


def sigma_slack(err: Array, n: Array, c1: Array) -> Array:
    """`sigma`: err + C1*sqrt(err(1-err)) (all published runs; not a confidence bound)."""
    del n
    return err + c1 * jnp.sqrt(err * (1.0 - err))


def hoeffding_slack(err: Array, n: Array, c1: Array) -> Array:
    """`hoeffding`: err + C1/sqrt(n) (C1 plays sqrt(ln(1/delta)/2); no union bound)."""
    return err + c1 / jnp.sqrt(n)


def plugin_slack(err: Array, n: Array, c1: Array) -> Array:
    """`plugin`: the empirical error itself (SPEC 12; section 3 with C1 = 0)."""
    del n, c1
    return err


def _slack_bound(slack):
    def bound(n, wrong, eps, c1, level):
        del eps, level
        return slack(wrong / jnp.maximum(n, 1).astype(jnp.float32), n, c1)

    return bound


def _clopper_pearson_bound(n, wrong, eps, c1, level):
    del eps, c1
    return clopper_pearson_upper(wrong, n, level)


def _binomial_accept(n, wrong, eps, c1, level):
    """Clopper-Pearson limit <= eps  <=>  P(Bin(n, eps) <= wrong) <= level; the tail
    is an upper bound and gets the margin BINOMIAL_RTOL, so rounding only rejects."""
    del c1
    return binomial_lower_tail(wrong, n, eps) * (1 + BINOMIAL_RTOL) <= level


# ---- step 3: selection -----------------------------------------------------------


_NONE = jnp.iinfo(jnp.int32).max  # "no candidate" as a candidate index


def _per_class_min(levels: Levels, num_classes: int, values: Array, where: Array):
    return jax.ops.segment_min(
        jnp.where(where, values, _NONE), levels.cls, num_segments=num_classes + 1
    )[:num_classes]


def _of_class(per_class: Array, cls: Array) -> Array:
    """per_class[cls] for co-sorted entries (inactive ones, class k, read class k-1)."""
    return per_class[jnp.minimum(cls, per_class.shape[0] - 1)]


def _eligible(levels: Levels, n_min: Array) -> Array:
    """Real levels with n > MIN_COUNT (SPEC 3) and n >= the class's n_min."""
    return (
        levels.valid
        & (levels.n > MIN_COUNT)
        & (levels.n >= _of_class(n_min, levels.cls))
    )


def select_smallest(levels, num_classes, accept, n_min):
    """The smallest accepted candidate (SPEC 3, step 3, and `clopper_pearson`);
    acceptance need not be monotone in t."""
    ok = _eligible(levels, n_min) & accept(levels.n, levels.wrong, levels.cls)
    return _per_class_min(levels, num_classes, levels.first_cand, ok)


def select_fixed_sequence(levels, num_classes, accept, n_min):
    """Learn then Test, fixed sequence (SPEC 12, `ltt`): from the largest candidate
    with n >= n_min, walk down while the test rejects; the last candidate that did."""
    eligible = _eligible(levels, n_min)
    passes = accept(levels.n, levels.wrong, levels.cls)
    pos = jnp.arange(levels.cls.shape[0])
    first_fail = _per_class_min(levels, num_classes, pos, eligible & ~passes)
    before_fail = pos < jnp.append(first_fail, _NONE)[levels.cls]
    return _per_class_min(
        levels, num_classes, levels.first_cand, eligible & passes & before_fail
    )


def select_binary_search(levels, num_classes, accept, n_min):
    """Selection with Guaranteed Risk (SPEC 12, `sgr`): over the `count` candidates
    with n >= n_min (and > MIN_COUNT), in ascending t, lo = -1, hi = count; test
    mid = (lo + hi) // 2: accepted, hi = mid, else lo = mid; the candidate at hi (none
    if hi = count)."""
    capacity = levels.cls.shape[0]
    first = levels.start[:num_classes]
    # count = 1 + the candidate index of the class's ceil(n_min)-th highest point
    need = jnp.maximum(jnp.ceil(n_min[:num_classes]), MIN_COUNT + 1).astype(jnp.int32)
    has = levels.start[1:] - first >= need
    count = jnp.where(
        has, levels.cand[jnp.minimum(first + need - 1, capacity - 1)] + 1, 0
    )
    classes = jnp.arange(num_classes)

    def step(_, bracket):
        lo, hi = bracket
        mid = (lo + hi) // 2
        n, wrong = counts_at(levels, num_classes, jnp.maximum(mid, 0))
        ok = accept(n, wrong, classes)
        live = hi - lo > 1
        return jnp.where(live & ~ok, mid, lo), jnp.where(live & ok, mid, hi)

    steps = math.ceil(math.log2(max(GRID_SIZE, capacity) + 1))
    _, hi = jax.lax.fori_loop(0, steps, step, (jnp.full_like(count, -1), count))
    return jnp.where(hi < count, hi, _NONE)


# ---- estimators ------------------------------------------------------------------


def _union_classes_candidates_rounds(delta, k, rounds, levels, n_kept):
    """delta / (k |T| R): every candidate of every class in every round (SPEC 12)."""
    del n_kept
    return delta / (k * levels.n_candidates.astype(jnp.float32) * rounds)


def _union_classes_rounds(delta, k, rounds, levels, n_kept):
    """delta / (k R): one fixed-sequence procedure per class and round (SPEC 12)."""
    del levels, n_kept
    return delta / (k * rounds)


def _union_sgr(delta, k, rounds, levels, n_kept):
    """delta / (k R s), s = ceil(log2(|T'| + 1)) with |T'| the class's candidates with
    n > MIN_COUNT: the most tests a binary search with lo = -1, hi <= |T'| makes
    (SPEC 12 writes ceil(log2 |T'|), one short when |T'| is a power of two)."""
    del levels
    steps = jnp.maximum(jnp.ceil(jnp.log2(n_kept.astype(jnp.float32) + 1.0)), 1.0)
    return delta / (k * rounds * steps)


@dataclasses.dataclass(frozen=True)
class Estimator:
    """A threshold estimator (SPEC 3 and 12): its bound, its selection and, for the
    guaranteed ones, the share delta' of delta that each of its tests gets (`level`).

    Calling it with (k, capacity, rounds) gives the pure function
    `estimate(scores, preds, labels, active, eps, c1, delta=0.05) -> (k,)` for a
    validation buffer of static size `capacity` in a run that estimates thresholds in at
    most `rounds` rounds (the R of the union bound)."""

    name: str
    guarantee: str  # what it promises, and under which assumptions
    bound: Callable  # (n, wrong, eps, c1, level) -> u, an upper bound on the error
    select: Callable  # (levels, k, accept, n_min) -> candidate index per class
    level: Callable | None = None  # (delta, k, R, levels, |T'| per class) -> delta'
    accept: Callable | None = None  # (n, wrong, eps, c1, level) -> u <= eps, directly

    @property
    def guaranteed(self) -> bool:
        return self.level is not None

    def __call__(self, num_classes: int, capacity: int, rounds: int = 1):
        if capacity > MAX_CAPACITY:
            raise ValueError(f"validation capacity {capacity} exceeds {MAX_CAPACITY}")
        k = num_classes

        def estimate(scores, preds, labels, active, eps, c1, delta=DEFAULT_DELTA):
            levels = count_levels(scores, preds, labels, active, k)
            if self.guaranteed:
                first = levels.start[:k]
                kept = levels.start[1:] - first > MIN_COUNT
                n_kept = jnp.where(
                    kept,
                    levels.cand[jnp.minimum(first + MIN_COUNT, capacity - 1)] + 1,
                    0,
                )
                level = jnp.broadcast_to(
                    self.level(delta, k, rounds, levels, n_kept), (k,)
                )
                # fewer points than ln(delta') / ln(1 - eps) can never pass, even
                # with w = 0 (SPEC 12); the rounding margin is counted in delta'
                n_min = jnp.log(level / (1 + BINOMIAL_RTOL)) / jnp.log1p(-eps)

                def accept(n, wrong, cls):
                    return self.accept(n, wrong, eps, c1, _of_class(level, cls))

            else:  # the paper's slacks: u <= eps, with the tie tolerance
                n_min = jnp.zeros(k)

                def accept(n, wrong, cls):
                    del cls
                    u = self.bound(n, wrong, eps, c1, None)
                    return u <= eps * (1.0 + TIE_RTOL)

            idx = self.select(levels, k, accept, n_min)
            return jnp.where(idx != _NONE, levels.value(idx), jnp.inf)

        return estimate


def _slack_estimator(name: str, slack, guarantee: str) -> Estimator:
    return Estimator(name, guarantee, _slack_bound(slack), select_smallest)


ESTIMATORS = {
    e.name: e
    for e in [
        _slack_estimator(
            "sigma",
            sigma_slack,
            "none: err + C1 sqrt(err(1-err)) is not a confidence bound; it is 0 when "
            "err = 0 whatever n (the paper preset)",
        ),
        _slack_estimator(
            "hoeffding",
            hoeffding_slack,
            "none as used: err + C1/sqrt(n) is Hoeffding's bound for one fixed "
            "candidate at delta = exp(-2 C1^2), with no union over candidates, "
            "classes or rounds",
        ),
        _slack_estimator(
            "plugin",
            plugin_slack,
            "none: the empirical error wrong / n (section 3 with C1 = 0)",
        ),
        Estimator(
            "clopper_pearson",
            "for one round and class, if the model and the candidate set do not "
            "depend on the validation points, P(population error of {score >= t[y], "
            "pred = y} > eps) <= delta / (k R), by a union over the |T| candidates; "
            "over the run, <= delta by a union over classes and rounds",
            _clopper_pearson_bound,
            select_smallest,
            level=_union_classes_candidates_rounds,
            accept=_binomial_accept,
        ),
        Estimator(
            "ltt",
            "for one round and class, under the same independence, P(population "
            "error of the chosen region > eps) <= delta / (k R) by fixed-sequence "
            "testing from the largest candidate down (Learn then Test), with no union "
            "over candidates; over the run, <= delta by a union over classes and rounds",
            _clopper_pearson_bound,
            select_fixed_sequence,
            level=_union_classes_rounds,
            accept=_binomial_accept,
        ),
        Estimator(
            "sgr",
            "for one round and class, under the same independence, P(population "
            "error of the chosen region > eps) <= delta / (k R) by a union over the "
            "at most s tests of the binary search (Selection with Guaranteed Risk); "
            "over the run, <= delta by a union over classes and rounds",
            _clopper_pearson_bound,
            select_binary_search,
            level=_union_sgr,
            accept=_binomial_accept,
        ),
    ]
}
