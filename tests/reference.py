"""Brute-force float64 / exact references for the tests (SPEC sections 3-4), written as
literally as possible: loops over candidates, no cleverness."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

MIN_COUNT = 25


def candidate_set(scores: np.ndarray) -> np.ndarray:
    """SPEC 3, step 1, in float32 arithmetic as the simulator computes it."""
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
    """SPEC section 3, literally: for each class, the smallest feasible candidate."""
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
