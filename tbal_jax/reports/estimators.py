"""The estimators head to head (algorithm.md section 12): violation rate and coverage per
estimator and N_v, one panel per tolerance (`tbal_jax.estimators_report`)."""

from __future__ import annotations

from pathlib import Path

from tbal_jax import estimators_report
from tbal_jax.reports.base import Report
from tbal_jax.store import atomic_path


class EstimatorsReport(Report):
    def write(self, exp, dataset, done, folder: Path) -> dict:
        return estimators_report.write(exp, done.rows, done.seeds, folder, atomic_path)


ESTIMATORS_REPORT = EstimatorsReport("estimators", several=("eps",))
