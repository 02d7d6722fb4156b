"""Reports (algorithm.md section 9): what an experiment writes besides its rows, one per
experiment `kind`, and the registry `REPORTS`.

Add one: a `base.Report` subclass with its `write` in a module here and one
`REPORTS.register(...)` line below; an experiment with `kind=NAME` then uses it.
"""

from tbal_jax.registry import Registry
from tbal_jax.reports.base import Done, Report
from tbal_jax.reports.bounds import BOUNDS
from tbal_jax.reports.confidence import AUDIT, CONFIDENCE
from tbal_jax.reports.estimators import ESTIMATORS_REPORT
from tbal_jax.reports.scatter import SCATTER
from tbal_jax.reports.sweep import SWEEP

REPORTS: Registry[Report] = Registry("report", "kind")
REPORTS.register(SWEEP)
REPORTS.register(BOUNDS)
REPORTS.register(ESTIMATORS_REPORT)
REPORTS.register(SCATTER)
REPORTS.register(CONFIDENCE)
REPORTS.register(AUDIT)

__all__ = ["REPORTS", "Done", "Report"]
