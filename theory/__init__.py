"""Bounds for threshold-based auto-labeling (TBAL), vectorised NumPy (SPEC section 11).

Upper bounds on the auto-labeling error (`theory.upper_bound`, built on the capacity
terms of `theory.complexity`), a first-principles lower bound on the validation data
needed to certify an error level (`theory.lower_bound`, derived in theory/README.md),
and planning inverses between validation size and excess error (`theory.planning`).
"""

from theory.complexity import rademacher_complexity, uniform_deviation, vc_complexity
from theory.lower_bound import (
    exact_lower_bound,
    failure_probability_lower_bound,
    kl_bernoulli,
    minimax_test_error,
    two_point_kl,
    validation_lower_bound,
    validation_lower_bound_small_eps,
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
    "detectable_excess_for_validation_size",
    "exact_lower_bound",
    "failure_probability_lower_bound",
    "kl_bernoulli",
    "minimax_test_error",
    "multi_round_upper_bound",
    "rademacher_complexity",
    "reference_upper_bound",
    "round_error_bound",
    "two_point_kl",
    "uniform_deviation",
    "upper_bound_excess_for_validation_size",
    "validation_lower_bound",
    "validation_lower_bound_small_eps",
    "validation_size_for_upper_bound",
    "validation_term",
    "vc_complexity",
]
