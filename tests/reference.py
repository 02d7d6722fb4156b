"""Brute-force float64 / exact references for the tests (algorithm.md sections 3-4), written as
literally as possible: loops over candidates, no cleverness."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

MIN_COUNT = 25


def candidate_set(scores: np.ndarray) -> np.ndarray:
    """algorithm.md section 3, step 1, in float32 arithmetic as the simulator computes it."""
    s = scores.astype(np.float32)
    if len(s) > 500:
        lo, hi = np.float32(s.min()), np.float32(s.max())
        if float(hi) - float(lo) <= 1e-8:
            return np.array([lo], np.float32)
        delta = np.float32(hi - lo) / np.float32(10000)
        return np.array(
            [np.float32(lo + np.float32(k) * delta) for k in range(10001)], np.float32
        )
    return np.unique(s)


def upper(wrong: int, n: int, c1: float, slack: str) -> float:
    err = wrong / n
    if slack == "sigma":
        return err + c1 * np.sqrt(err * (1 - err))
    return err + c1 / np.sqrt(n)


def feasible(wrong: int, n: int, eps: float, c1: float, slack: str) -> bool:
    if n <= MIN_COUNT:
        return False
    if c1 == 0:  # exact arithmetic: ties err == eps are accepted
        return Fraction(wrong, n) <= Fraction(str(eps))
    return upper(wrong, n, c1, slack) <= eps * (1 + 1e-6)


def thresholds(scores, preds, labels, eps, c1, num_classes, slack="sigma"):
    """algorithm.md section 3, literally: for each class, the smallest feasible candidate."""
    scores = np.asarray(scores, np.float32)
    out = np.full(num_classes, np.inf)
    cands = candidate_set(scores)
    for y in range(num_classes):
        in_y = preds == y
        for t in np.sort(cands):
            above = in_y & (scores >= t)
            n = int(above.sum())
            wrong = int((above & (labels != y)).sum())
            if feasible(wrong, n, eps, c1, slack):
                out[y] = t
                break
    return out


def guaranteed_thresholds(
    scores, preds, labels, eps, delta, num_classes, rounds, method, tail, margin
):
    """algorithm.md section 12, literally, for `clopper_pearson`, `ltt` and `sgr`.

    `tail(wrong, n)` gives P(Bin(n, eps) <= wrong) for arrays of counts (the tests give
    it the simulator's tail, checked against scipy separately), so this checks the
    candidates, counts, union sizes and selection rules on their own. A candidate
    passes at `level` if tail * (1 + margin) <= level, so the smallest n that can pass
    with no error is ln(level / (1 + margin)) / ln(1 - eps)."""
    scores = np.asarray(scores, np.float32)
    cands = np.sort(candidate_set(scores))
    out = np.full(num_classes, np.inf)
    for y in range(num_classes):
        in_y = preds == y
        n = np.array([int((in_y & (scores >= t)).sum()) for t in cands])
        w = np.array([int((in_y & (scores >= t) & (labels != y)).sum()) for t in cands])
        p = tail(w, n) * (1 + margin)
        kept = [i for i in range(len(cands)) if n[i] > MIN_COUNT]
        if method == "clopper_pearson":
            level = np.float32(delta / (num_classes * len(cands) * rounds))
            for i in kept:  # ascending t: the smallest accepted
                if p[i] <= level:
                    out[y] = cands[i]
                    break
            continue
        if method == "ltt":
            level = delta / (num_classes * rounds)
        else:
            steps = max(1, int(np.ceil(np.log2(len(kept) + 1))))
            level = delta / (num_classes * rounds * steps)
        n_min = np.log(level / (1 + margin)) / np.log1p(-eps)
        level = np.float32(level)
        usable = [i for i in kept if n[i] >= n_min]  # ascending t
        if method == "ltt":
            for i in reversed(usable):  # from the largest t down
                if p[i] > level:
                    break
                out[y] = cands[i]
        else:  # sgr: binary search
            lo, hi = -1, len(usable)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if p[usable[mid]] <= level:
                    hi = mid
                else:
                    lo = mid
            if hi < len(usable):
                out[y] = cands[usable[hi]]
    return out
