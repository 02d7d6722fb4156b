"""Monte-Carlo checks of the theory against the simulator (SPEC section 11)."""

import jax
import numpy as np
import pandas as pd
import pytest

import theory
from tbal_jax import bounds
from tbal_jax import config as C
from tbal_jax import sweep as S
from tbal_jax.experiments import get_experiment, run_experiment


def test_upper_bound_holds_in_at_least_1_minus_delta_of_seeds():
    """Hundreds of seeds of small runs: each run's multi-round bound (VC, d = 30) from
    its own round record holds in at least 1 - delta of them."""
    delta = 0.1
    cfg = C.StaticConfig.for_grid("unit_ball", n_val=[400], n_train=[100])
    grid = C.grid_params([100, 400], [100], [0.05], [0.0])
    result = S.run_sweep(cfg, np.arange(300), grid)
    err = result.summary.n_auto_wrong / np.maximum(result.summary.n_auto, 1)
    bound = bounds.run_upper_bounds(
        result.rounds.n_val,
        result.rounds.n_auto,
        0.05,
        bounds.BoundSettings(delta=delta),
    )
    labelled = result.summary.n_auto > 0
    assert labelled.mean() > 0.9
    holds = np.where(labelled, err <= bound, True)
    assert holds.mean() >= 1 - delta


@pytest.mark.parametrize("eps_a, eps, p0", [(0.05, 0.05, 0.5), (0.1, 0.1, 1.0)])
def test_below_the_lower_bound_the_estimator_fails_more_often_than_delta(
    eps_a, eps, p0
):
    """The two-point instance of the proof: with half the validation points the lower
    bound asks for, the paper's estimator errs under H0 or H1 more often than delta;
    with many times more it does not (so the simulation can tell the two apart)."""
    delta = 0.05
    needed = float(theory.validation_lower_bound(eps, delta, p0, eps_a))
    few = bounds.two_point_failure(
        jax.random.key(0), int(needed / 2), eps_a, eps, p0, 400
    )
    many = bounds.two_point_failure(
        jax.random.key(1), int(20 * needed), eps_a, eps, p0, 400
    )
    assert max(few) > delta
    # the bound itself: max failure >= exp(-n p0 KL) / 4 for any test
    floor = float(
        theory.failure_probability_lower_bound(int(needed / 2), eps, p0, eps_a)
    )
    assert max(few) >= floor > delta
    assert max(many) <= delta


def test_bounds_vs_empirics_experiment(tmp_path):
    exp = get_experiment("bounds_vs_empirics").with_grid(n_val=[100, 400, 1200])
    paths = run_experiment(exp, [0, 7, 14], tmp_path)
    table = pd.read_csv(paths["bounds"])
    assert list(table.columns[:6]) == [
        "n_val",
        "upper_bound",
        "lower_bound",
        "observed_mean_error",
        "observed_max_error",
        "violation_rate",
    ]
    np.testing.assert_allclose(table.upper_bound, [0.7534, 0.5866, 0.4478], atol=1e-4)
    assert (table.lower_bound > 0.01).all() and (table.lower_bound.diff()[1:] < 0).all()
    assert (table.observed_max_error >= table.observed_mean_error).all()
    assert table.violation_rate.between(0, 1).all()
    assert (tmp_path / "bounds_vs_empirics.png").stat().st_size > 10_000
