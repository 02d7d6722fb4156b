"""The estimators head to head (algorithm.md section 12): violation rate and coverage per
estimator and N_v, one panel per tolerance (`tbal_jax.estimators_report`)."""

from __future__ import annotations

from pathlib import Path

from tbal_jax import estimators_report
from tbal_jax.reports.base import Report


class EstimatorsReport(Report):
    def write(self, exp, dataset, done, folder: Path, atomic) -> dict:
        return estimators_report.write(exp, done.rows, done.seeds, folder, atomic)


ESTIMATORS_REPORT = EstimatorsReport(
    "estimators",
    several=("eps",),
    one_of=("methods", "models", "scores", "queries"),  # one cell per estimator
)
