"""The estimators head to head (algorithm.md section 12): violation rate and coverage per
estimator and N_v, one panel per tolerance (`tbal_jax.estimators_report`)."""

from __future__ import annotations

from pathlib import Path

from tbal_jax import estimators_report
from tbal_jax.reports.base import Report


class EstimatorsReport(Report):
    def check(self, exp) -> None:
        """One cell per (tolerance, estimator, N_v): the runs of one method, model,
        score and query."""
        super().check(exp)
        self.check_one_configuration(exp, ("methods", "models", "scores", "queries"))

    def write(self, exp, dataset, done, folder: Path, atomic) -> dict:
        return estimators_report.write(exp, done.rows, done.seeds, folder, atomic)


ESTIMATORS_REPORT = EstimatorsReport("estimators", several=("eps",))
