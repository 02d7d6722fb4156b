"""Threshold estimators (algorithm.md sections 3 and 12): the interface (`base.Estimator`) and
the registry `ESTIMATORS`, in the order reports list them.

Add one: an `Estimator` (a bound and a selection rule; for a guaranteed one also its
share of delta per test) in a module here, and one `ESTIMATORS.register(...)` line
below; `--estimator=NAME` then runs it, and the `estimators` report tables and draws it.
"""

from tbal_jax.estimators.base import DEFAULT_DELTA, MIN_COUNT, TIE_RTOL, Estimator
from tbal_jax.estimators.binomial import (
    BINOMIAL_RTOL,
    binomial_lower_tail,
    clopper_pearson_upper,
)
from tbal_jax.estimators.counts import (
    GRID_ABOVE,
    GRID_SIZE,
    MAX_CAPACITY,
    Levels,
    count_levels,
    counts_at,
)
from tbal_jax.estimators.guaranteed import CLOPPER_PEARSON, LTT, SGR
from tbal_jax.estimators.select import (
    select_binary_search,
    select_fixed_sequence,
    select_smallest,
)
from tbal_jax.estimators.slack import (
    HOEFFDING,
    PLUGIN,
    SIGMA,
    hoeffding_slack,
    plugin_slack,
    sigma_slack,
)
from tbal_jax.registry import Registry

ESTIMATORS: Registry[Estimator] = Registry("estimator")
ESTIMATORS.register(PLUGIN)
ESTIMATORS.register(SIGMA)
ESTIMATORS.register(HOEFFDING)
ESTIMATORS.register(CLOPPER_PEARSON)
ESTIMATORS.register(LTT)
ESTIMATORS.register(SGR)

__all__ = [
    "BINOMIAL_RTOL",
    "CLOPPER_PEARSON",
    "DEFAULT_DELTA",
    "ESTIMATORS",
    "GRID_ABOVE",
    "GRID_SIZE",
    "HOEFFDING",
    "LTT",
    "MAX_CAPACITY",
    "MIN_COUNT",
    "PLUGIN",
    "SGR",
    "SIGMA",
    "TIE_RTOL",
    "Estimator",
    "Levels",
    "binomial_lower_tail",
    "clopper_pearson_upper",
    "count_levels",
    "counts_at",
    "hoeffding_slack",
    "plugin_slack",
    "select_binary_search",
    "select_fixed_sequence",
    "select_smallest",
    "sigma_slack",
]
