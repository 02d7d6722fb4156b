"""Threshold estimators (algorithm.md sections 3 and 12): the interface (`base.Estimator`) and
the registry `ESTIMATORS`, in the order reports list them.

Add one: an `Estimator` (a bound and a selection rule; for a guaranteed one also its
share of delta per test) in a module here, and one `ESTIMATORS.register(...)` line
below; `--estimator=NAME` then runs it, and the `estimators` report tables and draws it.

Each guaranteed estimator is also registered with its other settings (algorithm.md section
12): `NAME_geometric`, `NAME_front` (how delta is spent over rounds) and `NAME_fixed`,
`NAME_geometric_fixed`, `NAME_front_fixed` (candidates fixed in advance), and
`NAME_fixed_fresh`, `NAME_geometric_fixed_fresh`, `NAME_front_fixed_fresh` (a fresh part of
the validation set per round), and `NAME_back` (delta's share on the last round), for NAME
in clopper_pearson, ltt, sgr; after the
sequel's `sigma_min10` comes `ltt_betting` (a time-uniform betting test, `betting`), with
its original settings only (each registered name is a command-line case the tests run);
`Estimator.variant` makes others (rho, front, m).
"""

from tbal_jax.estimators.base import (
    CANDIDATES,
    DEFAULT_DELTA,
    DEFAULT_FIXED_LEVELS,
    MIN_COUNT,
    TIE_RTOL,
    Estimator,
)
from tbal_jax.estimators.betting import BettingEstimator, betting_upper, log_wealth
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
from tbal_jax.estimators.guaranteed import (
    CLOPPER_PEARSON,
    LTT,
    LTT_BETTING,
    SGR,
    VARIANTS,
)
from tbal_jax.estimators.select import (
    select_binary_search,
    select_fixed_sequence,
    select_smallest,
)
from tbal_jax.estimators.slack import (
    HOEFFDING,
    PLUGIN,
    SIGMA,
    SIGMA_MIN10,
    hoeffding_slack,
    plugin_slack,
    sigma_slack,
)
from tbal_jax.estimators.spending import SPENDS, round_weights
from tbal_jax.registry import Registry

ESTIMATORS: Registry[Estimator] = Registry("estimator")
ESTIMATORS.register(PLUGIN)
ESTIMATORS.register(SIGMA)
ESTIMATORS.register(HOEFFDING)
ESTIMATORS.register(CLOPPER_PEARSON)
ESTIMATORS.register(LTT)
ESTIMATORS.register(SGR)
for _base in (CLOPPER_PEARSON, LTT, SGR):  # spend x candidates (algorithm.md section 12)
    for _variant in VARIANTS[_base.name]:
        ESTIMATORS.register(_variant)
BASE_ESTIMATORS = ESTIMATORS.names()[:6]  # the six rules with their original settings
ESTIMATORS.register(SIGMA_MIN10)  # the sequel's rule (algorithm.md section 14)
ESTIMATORS.register(LTT_BETTING)  # time-uniform (algorithm.md section 12)

__all__ = [
    "BASE_ESTIMATORS",
    "BINOMIAL_RTOL",
    "CANDIDATES",
    "DEFAULT_FIXED_LEVELS",
    "SPENDS",
    "VARIANTS",
    "CLOPPER_PEARSON",
    "DEFAULT_DELTA",
    "ESTIMATORS",
    "GRID_ABOVE",
    "GRID_SIZE",
    "HOEFFDING",
    "LTT",
    "LTT_BETTING",
    "MAX_CAPACITY",
    "MIN_COUNT",
    "PLUGIN",
    "SGR",
    "SIGMA",
    "SIGMA_MIN10",
    "TIE_RTOL",
    "BettingEstimator",
    "Estimator",
    "Levels",
    "betting_upper",
    "binomial_lower_tail",
    "clopper_pearson_upper",
    "count_levels",
    "counts_at",
    "hoeffding_slack",
    "log_wealth",
    "plugin_slack",
    "round_weights",
    "select_binary_search",
    "select_fixed_sequence",
    "select_smallest",
    "sigma_slack",
]
