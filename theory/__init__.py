"""Bounds for threshold-based auto-labeling (TBAL), vectorised NumPy and SciPy (SPEC 11).

Upper bounds on the auto-labeling error: the reference notebook's instantiation and the
general ratio form (`theory.upper_bound`, on the capacity terms of `theory.complexity`),
and exact-binomial bounds with a union over the finite candidate set
(`theory.binomial`); lower bounds on the validation data needed to certify an error
level (`theory.lower_bound`: Bretagnolle-Huber, its closed form, the exact two-point
minimax value, a k-class Fano form; derived in theory/README.md); planning inverses
between validation size and excess error (`theory.planning`).
"""

from theory.binomial import (
    binomial_round_error_bound,
    clopper_pearson_upper,
    hoeffding_upper,
    kl_chernoff_upper,
)
from theory.complexity import (
    rademacher_complexity,
    sauer_complexity,
    uniform_deviation,
    vc_complexity,
)
from theory.lower_bound import (
    bretagnolle_huber_log_term,
    exact_lower_bound,
    exact_resolvable_excess,
    failure_probability_lower_bound,
    kl_bernoulli,
    minimax_test_error,
    multiclass_validation_lower_bound,
    two_point_kl,
    validation_lower_bound,
    validation_lower_bound_closed_form,
)
from theory.planning import (
    detectable_excess_for_validation_size,
    upper_bound_excess_for_validation_size,
    validation_size_for_upper_bound,
)
from theory.upper_bound import (
    multi_round_upper_bound,
    reference_upper_bound,
    round_error_bound,
    validation_term,
)

__all__ = [
    "binomial_round_error_bound",
    "bretagnolle_huber_log_term",
    "clopper_pearson_upper",
    "detectable_excess_for_validation_size",
    "exact_lower_bound",
    "exact_resolvable_excess",
    "failure_probability_lower_bound",
    "hoeffding_upper",
    "kl_bernoulli",
    "kl_chernoff_upper",
    "minimax_test_error",
    "multi_round_upper_bound",
    "multiclass_validation_lower_bound",
    "rademacher_complexity",
    "reference_upper_bound",
    "round_error_bound",
    "sauer_complexity",
    "two_point_kl",
    "uniform_deviation",
    "upper_bound_excess_for_validation_size",
    "validation_lower_bound",
    "validation_lower_bound_closed_form",
    "validation_size_for_upper_bound",
    "validation_term",
    "vc_complexity",
]
