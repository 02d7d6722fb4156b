"""The ways to certify a model's own labels (algorithm.md section 13), each as a `Method`
with its promise stated in the same words: the threshold estimators of
`tbal_jax.estimators` (one round, R = 1), Conformal Labeling and PAC Labels.

A method's `make(prep, capacity)` gives `thresholds(sample, eps, delta) -> (k,)`, one
threshold per group (+inf: nothing machine-labelled in it).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from tbal_jax.certify import conformal, pac
from tbal_jax.certify.draw import Prepared, Sample
from tbal_jax.estimators import ESTIMATORS, Estimator
from tbal_jax.registry import Registry

REGION, FDR, WHOLE = "region", "fdr", "whole"
PROMISES = {
    REGION: "P(error of the machine labels > eps) <= delta",
    FDR: "E[error of the machine labels] <= eps",
    WHOLE: "P(error of the whole labelled table > eps) <= alpha",
}


@dataclasses.dataclass(frozen=True)
class Method:
    """A certification method: `promise` is one of `PROMISES` (what is checked), and
    `guarantee` says it in full, with its assumptions. `routes_rest`: the pool rows it
    does not machine-label go to the human (PAC Labels); `global_only`: it has one
    threshold for all classes whatever the grouping."""

    name: str
    label: str
    promise: str
    guarantee: str
    make: Callable  # (Prepared, capacity) -> (Sample, eps, delta) -> (k,)
    marker: str = "o"
    routes_rest: bool = False
    global_only: bool = False
    guaranteed: bool = True  # False: a rule with no promise (drawn dotted)

    @property
    def title(self) -> str:
        return self.label or self.name


CONFIDENCE_RANGE = (0.0, 1.0)  # a table's confidences: where fixed candidates lie


def from_estimator(est: Estimator) -> Method:
    """A threshold estimator used once (R = 1) on the validation rows, with C1 = 0: the
    existing threshold step (algorithm.md section 3) on the drawn rows. Its spending
    over rounds and fresh validation parts have no meaning in one round, so only the
    variants with the default ones are registered; fixed candidates lie over [0, 1]."""

    def make(prep: Prepared, capacity: int):
        estimate = est(prep.k, capacity, rounds=1, score_range=CONFIDENCE_RANGE)

        def thresholds(sample: Sample, eps, delta):
            rows = sample.rows
            return estimate(
                prep.conf[rows], prep.group[rows], prep.label[rows], sample.active,
                eps, 0.0, delta,
            )

        return thresholds

    how = _HOW.get(est.name.removesuffix("_fixed"))
    if how and est.candidates == "fixed":
        how += f", on {est.m} candidates over [0, 1] fixed in advance"
    guarantee = est.guarantee if how is None else (
        "the model is fixed, so the regions tested do not depend on the validation "
        "rows: P(error of a group's machine labels > eps) <= delta / k for each of "
        f"the k groups, <= delta over all, {how}"
    )
    return Method(est.name, est.title, REGION, guarantee, make, marker=est.marker,
                  guaranteed=est.guaranteed)


_HOW = {
    "clopper_pearson": "by Clopper-Pearson with a union over the candidates",
    "ltt": "by fixed-sequence testing from the largest candidate down (Learn then "
    "Test), with no union over candidates",
    "sgr": "by a union over the binary search's tests (Selection with Guaranteed Risk)",
}


CONFORMAL_LABELING = Method(
    "conformal_labeling",
    "Conformal Labeling",
    FDR,
    "if the validation rows and the pool rows are exchangeable, the expected share of "
    "wrong machine labels (the FDR) in each group is <= eps: conformal "
    "p-values of 'this label is wrong' against the validation rows the model got "
    "wrong, then Benjamini-Hochberg at level eps over the group's pool rows (Huang "
    "et al. 2025); delta plays no part",
    conformal.make,
    marker="P",
)
PAC_LABELS = Method(
    "pac_labels",
    "PAC Labels",
    WHOLE,
    "if the validation rows are a uniform random sample of the table, P(error of the "
    "whole table, human and machine labels together, > eps) <= alpha = delta: a "
    "betting upper confidence bound (Waudby-Smith and Ramdas) on the share of rows "
    "machine-labelled wrongly; every pool row below the threshold goes to the human "
    "(Candes, Ilyas, Zrnic 2025)",
    pac.make,
    marker="*",
    routes_rest=True,
    global_only=True,
)

METHODS: Registry[Method] = Registry("estimator")
for _est in ESTIMATORS.values():
    if _est.spend == "uniform" and _est.validation == "reuse":  # the others: R > 1 only
        METHODS.register(from_estimator(_est))
METHODS.register(CONFORMAL_LABELING)
METHODS.register(PAC_LABELS)
