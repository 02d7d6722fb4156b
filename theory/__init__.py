"""Bounds for threshold-based auto-labeling (TBAL), vectorised NumPy and SciPy (algorithm.md section 11).

Upper bounds on the auto-labeling error: the reference notebook's instantiation and the
general ratio form (`theory.upper_bound`, on the capacity terms of `theory.complexity`),
and exact-binomial bounds with a union over the finite candidate set
(`theory.binomial`); lower bounds on the validation data needed to certify an error
level (`theory.lower_bound`: Bretagnolle-Huber, its closed form, a k-class Fano form;
`theory.exact`: the exact two-point minimax value; derived in theory/README.md) on the
Bernoulli divergences of `theory.divergence`; planning inverses between validation size
and excess error (`theory.planning`).

Argument convention, shared by every public function:
  1. first what the function is evaluated at: sample sizes and counts (a count of
     errors before the n it is out of, as in `clopper_pearson_upper(errors, n, ...)`),
     a target, a capacity term;
  2. then, of eps, delta, p0 (p0_per_class), eps_a, those it takes, in this order:
     eps the excess error over the tolerance eps_a, delta the failure probability, p0
     the region's mass, eps_a the tolerance (the error TBAL targets; eps in docs/algorithm.md);
  3. last the options d, n_a, n_classes, n_candidates, best passed by keyword.
So `validation_lower_bound(eps, delta, p0, eps_a)`,
`exact_lower_bound(eps=..., delta=..., p0=..., eps_a=...)`,
`failure_probability_lower_bound(n, eps, p0, eps_a)`,
`minimax_test_error(n, eps=..., p0=..., eps_a=...)`,
`detectable_excess_for_validation_size(n, delta, p0, eps_a)` and
`exact_resolvable_excess(n, delta=..., p0=..., eps_a=...)` read alike.

Inputs: every numeric argument takes a scalar or an array, and arrays broadcast by
NumPy's rules (the classes of `multiclass_validation_lower_bound` run along the last
axis of p0_per_class, the rounds of `multi_round_upper_bound` along the last axis of
the record). An argument outside its domain (a count that is not a finite integer in
range, such as n = 0.5, n_candidates = 1e-9 or n_v = inf; a probability or mass outside
its interval; nan) raises `InvalidArgumentError`, a ValueError whose one-line message
names the argument and its value. The exact two-point functions have bounded cost:
beyond their limits they raise `ExactCostError`, a ValueError naming the limit.

Deprecated: eight functions had another positional order. Their parameters whose
position changed are keyword-only for now (so no call is read in the wrong order); a
call that passes them positionally is read in the former order, gives the former result
and raises a DeprecationWarning that spells out the call to write:
    exact_lower_bound(eps_a, eps, delta, p0)
    minimax_test_error(n, eps_a, eps, p0)
    exact_resolvable_excess(n, eps_a, delta, p0)
    validation_term(n_val, complexity, delta, p0, n_classes, eps_a)
    upper_bound_excess_for_validation_size(n_v, delta, d, p0, n_classes, eps_a)
    validation_size_for_upper_bound(target_excess, delta, d, p0, n_classes, eps_a)
    reference_upper_bound(n_v, d, delta, p0, n_a, eps)  (and the keyword eps, now eps_a)
    binomial_round_error_bound(n_region, errors, n_auto, delta, n_candidates)
"""

from theory._validation import InvalidArgumentError
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
from theory.divergence import kl_bernoulli, two_point_kl
from theory.exact import (
    ExactCostError,
    exact_lower_bound,
    exact_resolvable_excess,
    minimax_test_error,
)
from theory.lower_bound import (
    bretagnolle_huber_log_term,
    failure_probability_lower_bound,
    multiclass_validation_lower_bound,
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
    "ExactCostError",
    "InvalidArgumentError",
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
