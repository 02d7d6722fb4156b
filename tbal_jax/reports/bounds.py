"""The theory's bounds against TBAL's observed errors (algorithm.md section 11): `bounds.csv`
and the bound-vs-observed figure for a one-eps, one-C1 N_v sweep, every bound at the one
delta of `bounds.BoundSettings`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tbal_jax import bounds, plots, results
from tbal_jax.errors import ConfigError
from tbal_jax.estimators import ESTIMATORS, MIN_COUNT
from tbal_jax.reports.base import Report
from tbal_jax.scores import SCORES


class BoundsReport(Report):
    def check(self, exp) -> None:
        """The run bounds read each round's validation region from the record
        (`bounds.region_validation_counts`: the points a round removes): the paper's
        loop with a fixed score, every round testing on the whole current validation
        set, and a rule that needs more than MIN_COUNT points above a threshold."""
        super().check(exp)
        for name in exp.scores:
            if SCORES.get(name).fitted:
                raise ConfigError(
                    f"{exp.name}: score {name} is fitted on part of the validation set; "
                    "the bounds assume the paper's loop with a fixed score"
                )
        for name in exp.estimators:
            if ESTIMATORS.get(name).validation != "reuse":
                raise ConfigError(
                    f"{exp.name}: estimator {name} tests each round on its own part of "
                    "the validation set; the bounds assume the paper's loop, which "
                    "tests on all of it"
                )
            if ESTIMATORS.get(name).min_count != MIN_COUNT:
                raise ConfigError(
                    f"{exp.name}: estimator {name} keeps thresholds with fewer than "
                    f"{MIN_COUNT + 1} points above them; the bounds assume the paper's "
                    "rule"
                )

    def write(self, exp, dataset, done, folder: Path, atomic) -> dict:
        ((unit, sweep),) = [
            (u, s) for u, s in done.sweeps.items() if u.method == self.needs_method
        ]
        eps = exp.eps[0]
        n_val = sweep.grid.n_val
        errors = sweep.summary.n_auto_wrong / np.where(
            sweep.summary.n_auto > 0, sweep.summary.n_auto, np.nan
        )
        estimator = ESTIMATORS.get(unit.estimator)
        settings = bounds.BoundSettings(
            fixed_candidates=estimator.m if estimator.candidates == "fixed" else None
        )
        run_bounds = bounds.run_upper_bounds(
            sweep.rounds, eps, dataset.n_pool, settings
        )
        rows = bounds.bounds_table(n_val, errors, run_bounds, eps, settings)
        path = folder / "bounds.csv"
        with atomic(path) as tmp:
            results.write_csv(tmp, rows, bounds.BOUNDS_COLUMNS)
        d = settings.vc_dim
        curves = {
            f"upper, reference form (VC d = {d}, $p_0$ = 1, $n_a$ = 10$^4$)": [
                r["reference_upper_bound"] for r in rows
            ],
            "upper, exact binomial, same setting (Clopper-Pearson, union over T)": [
                r["binomial_upper_bound"] for r in rows
            ],
            f"upper, each run's record: ratio form (Sauer d = {d}), mean": [
                r["run_bound_mean"] for r in rows
            ],
            "upper, each run's record: exact binomial, mean": [
                r["run_binomial_bound_mean"] for r in rows
            ],
            "lower: smallest error $N_v$ points can resolve (exact two-point)": [
                r["resolvable_error"] for r in rows
            ],
        }
        figure = plots.bound_overlay(
            n_val,
            errors,
            curves,
            eps,
            folder / exp.name,
            self.title(exp, sweep.seeds),
            legend_title=rf"every bound at $\delta$ = {settings.delta:g}",
            atomic=atomic,
        )
        return {"bounds": path, "tables": [], "figure": figure}


BOUNDS = BoundsReport(
    "bounds",
    needs_method="tbal",
    what="bounds vs observed",
    one_of=("estimators", "models", "scores", "queries"),  # one TBAL configuration
)
