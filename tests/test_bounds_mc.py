"""Monte-Carlo checks of the theory (algorithm.md section 11), each with teeth: every check runs
on the bound as implemented and on deliberately broken variants of it, and must pass the
first and fail every variant (a Monte-Carlo test is only a test if a
plausible bug makes it fail)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import theory
from tbal_jax import bounds
from tbal_jax import config as C
from tbal_jax import sweep as S
from tbal_jax.datasets import UNIT_BALL
from tbal_jax.experiments import get_experiment, run_experiment

pytestmark = pytest.mark.slow  # the whole module: CI runs it

# ------------------------------------------------------------------ upper bound


GRID = np.linspace(0.0, 0.95, 50)  # the finite candidate set, fixed in advance


def _one_round(rng, runs, n_val, n_pool, eps_a):
    """One TBAL round on a 1-d instance, vectorised over runs (NumPy).

    Scores s ~ U(0, 1), the model errs with probability 0.4 (1 - s), so the region
    {s >= t} has mass p = 1 - t and conditional error e = 0.2 (1 - t). The threshold is
    the smallest candidate with more than 25 validation points above it and plug-in
    error <= eps_a (algorithm.md section 3, C1 = 0); the pool's n_pool points then give
    n_auto ~ Bin(n_pool, p) auto-labeled points, Bin(n_auto, e) of them wrong."""
    s = rng.random((runs, n_val))
    wrong = rng.random((runs, n_val)) < 0.4 * (1.0 - s)
    above = s[:, :, None] >= GRID
    m = above.sum(axis=1)
    w = (above & wrong[:, :, None]).sum(axis=1)
    ok = (m > 25) & (w <= eps_a * m)
    labelled = ok.any(axis=1)
    t = GRID[ok.argmax(axis=1)]
    n_auto = np.where(labelled, rng.binomial(n_pool, 1.0 - t), 0)
    errors = rng.binomial(n_auto, 0.2 * (1.0 - t)) / np.maximum(n_auto, 1)
    return labelled, n_auto, errors, 1.0 - t


def _general_bound(n_val, n_auto, p0, eps_a, delta, broken=None):
    """`theory.round_error_bound` with the finite class's capacity ln |T| (rigorous:
    Hoeffding and a union over T), or one of its broken variants."""
    capacity = np.log(GRID.size)
    if broken == "validation term removed":
        auto = theory.uniform_deviation(n_auto, capacity, delta)
        return np.minimum(eps_a + auto, 1.0)
    bound = theory.round_error_bound(n_val, n_auto, capacity, delta, p0, eps_a)
    return 0.2 * bound if broken == "bound scaled by 0.2" else bound


@pytest.mark.parametrize(
    "broken", [None, "validation term removed", "bound scaled by 0.2"]
)
def test_round_bound_holds_with_probability_1_minus_2_delta(broken):
    """The claim as stated: the general round bound (ratio form) fails in at most
    2 delta of the runs (delta on each side). The instance is hard for the plug-in
    rule (the chosen region errs above eps_a in 60% of the runs), so both broken
    variants fail in more than 2 delta of them (about 40% each)."""
    rng = np.random.default_rng(0)
    delta, eps_a, n_val = 0.05, 0.1, 100
    labelled, n_auto, errors, p = _one_round(rng, 4000, n_val, 50_000, eps_a)
    assert labelled.mean() > 0.85
    n_auto, errors, p = n_auto[labelled], errors[labelled], p[labelled]
    bound = _general_bound(n_val, n_auto, p, eps_a, delta, broken)
    rate = np.mean(errors > bound)
    if broken is None:
        assert rate <= 2 * delta
    else:
        assert rate > 2 * delta + 0.1  # several standard errors (0.008) above


def test_clopper_pearson_is_tight():
    """A case where a bound is tight: for one fixed candidate, Clopper-Pearson's
    miss probability P(e > u(W)) stays <= delta for every e and comes within 20% of
    delta for some (exact over W ~ Bin(n, e); no simulation noise)."""
    n, delta = 200, 0.05
    w = np.arange(n + 1)
    upper = theory.clopper_pearson_upper(w, n, delta)
    errors = np.linspace(0.001, 0.3, 600)
    miss = np.array(
        [np.sum(np.where(e > upper, stats.binom.pmf(w, n, e), 0.0)) for e in errors]
    )
    assert miss.max() <= delta
    assert miss.max() >= 0.8 * delta


# ------------------------------------------------------------------ lower bound


def _optimal_test(n, eps_a, eps, p0):
    """The minimax (randomised likelihood-ratio) test of the two-point instance as a
    table: certify probability phi[m, w] after M = m region points, W = w wrong."""
    m = np.arange(n + 1)[:, None]
    w = np.arange(n + 1)[None, :]
    region = stats.binom.pmf(m, n, p0)
    good = (region * stats.binom.pmf(w, m, eps_a)).ravel()
    bad = (region * stats.binom.pmf(w, m, eps_a + eps)).ravel()
    order = np.argsort(bad / np.maximum(good + bad, 1e-300), kind="stable")
    # certify the most H0-like outcomes first; balance the two errors at the boundary
    refuse0 = 1.0 - np.concatenate([[0.0], np.cumsum(good[order])])
    certify1 = np.concatenate([[0.0], np.cumsum(bad[order])])
    j = int(np.argmax(refuse0 <= certify1)) - 1 if np.any(refuse0 <= certify1) else -1
    phi = np.zeros(good.size)
    phi[order[: max(j, 0)]] = 1.0
    if j >= 0:
        gap = (refuse0[j] - certify1[j]) / max(good[order[j]] + bad[order[j]], 1e-300)
        phi[order[j]] = np.clip(gap, 0.0, 1.0)
    return phi.reshape(n + 1, n + 1)


def _simulated_failure(rng, n, eps_a, eps, p0, runs=20_000):
    """max(P_H0(refuse), P_H1(certify)) of the optimal test, by simulation."""
    if n == 0:
        return 0.5  # no data: the best test is a coin toss
    phi = _optimal_test(n, eps_a, eps, p0)
    m = rng.binomial(n, p0, (2, runs))
    w = rng.binomial(m, np.array([[eps_a], [eps_a + eps]]))
    return max(1.0 - phi[m[0], w[0]].mean(), phi[m[1], w[1]].mean())


def _lower_bound(eps_a, eps, delta, p0, broken=None):
    """`theory.validation_lower_bound`, or one of its broken variants."""
    if broken == "ln(1/delta) for the log term":
        kl = theory.two_point_kl(eps, eps_a)
        return np.log(1 / delta) / (p0 * kl)
    if broken == "larger KL direction":
        kl = max(
            theory.kl_bernoulli(eps_a + eps, eps_a),
            theory.kl_bernoulli(eps_a, eps_a + eps),
        )
        return float(theory.bretagnolle_huber_log_term(delta)) / (p0 * kl)
    if broken == "p0 dropped":
        return float(theory.validation_lower_bound(eps, delta, 1.0, eps_a))
    return float(theory.validation_lower_bound(eps, delta, p0, eps_a))


LOWER_CASES = [  # (eps_a, eps, delta, p0)
    (0.0, 0.05, 0.2, 1.0),
    (0.1, 0.1, 0.05, 0.25),
]
SHARPNESS = 4.0  # the optimal test meets delta with 4x the Bretagnolle-Huber points


@pytest.mark.parametrize(
    "broken",
    [None, "ln(1/delta) for the log term", "larger KL direction", "p0 dropped"],
)
def test_lower_bound_against_the_optimal_test(broken):
    """With one point fewer than the bound, even the optimal test fails more often
    than delta (the bound is valid); with SHARPNESS times the bound it does not (the
    bound is not loose). The broken variants claim too much (log term, at eps_a = 0
    where the optimal test needs ln((1 - delta)/delta) / KL points) or too little
    (the larger KL direction is +inf at eps_a = 0; p0 dropped), and fail one check."""
    rng = np.random.default_rng(1)
    checks = []
    for eps_a, eps, delta, p0 in LOWER_CASES:
        bound = _lower_bound(eps_a, eps, delta, p0, broken)
        below = int(np.ceil(bound)) - 1
        if below >= 1:
            checks.append(_simulated_failure(rng, below, eps_a, eps, p0) > delta)
        enough = int(np.ceil(SHARPNESS * bound))
        checks.append(_simulated_failure(rng, enough, eps_a, eps, p0) <= delta)
    assert all(checks) == (broken is None)


def test_bretagnolle_huber_below_exact_below_c_times():
    """Bretagnolle-Huber n <= exact n <= SHARPNESS x Bretagnolle-Huber n."""
    for eps_a, eps, delta, p0 in [*LOWER_CASES, (0.01, 0.01, 0.05, 1.0)]:
        bh = _lower_bound(eps_a, eps, delta, p0)
        exact = theory.exact_lower_bound(eps=eps, delta=delta, p0=p0, eps_a=eps_a)
        assert bh <= exact <= SHARPNESS * bh


# -------------------------------------------------------------- the simulator


@pytest.fixture(scope="module")
def small_runs():
    """300 seeds of small unit-ball runs (N_v = 100 and 400, N_q = 100, eps = 0.05)."""
    cfg = C.StaticConfig.for_grid("unit_ball", n_val=[400], n_train=[100])
    grid = C.grid_params([100, 400], [100], [0.05], [0.0])
    return S.run_sweep(cfg, np.arange(300), grid)


@pytest.mark.parametrize(
    "broken", [None, "validation term removed", "bound scaled by 0.2"]
)
def test_run_bounds_hold_on_simulated_runs(small_runs, broken, monkeypatch):
    """Each run's exact-binomial bound from its own round record holds in at least
    1 - delta of the runs; without its validation term (the plug-in estimate in place
    of the Clopper-Pearson limit) or scaled by 0.2 it fails in far more. The general
    (ratio) form holds too."""
    delta = 0.1
    if broken == "validation term removed":
        monkeypatch.setattr(
            theory, "clopper_pearson_upper", lambda w, m, level, n: w / m
        )
    general, binomial = bounds.run_upper_bounds(
        small_runs.rounds,
        0.05,
        UNIT_BALL.n_pool,
        bounds.BoundSettings(delta=delta),
    )
    if broken == "bound scaled by 0.2":
        binomial = 0.2 * binomial
    summary = small_runs.summary
    labelled = summary.n_auto > 0
    assert labelled.mean() > 0.9
    errors = summary.n_auto_wrong / np.maximum(summary.n_auto, 1)
    rate = np.mean(labelled & (errors > binomial))
    if broken is None:
        assert rate <= delta
        assert np.mean(labelled & (errors > general)) <= delta
    else:
        assert rate > 2 * delta


def test_bounds_vs_empirics_experiment(tmp_path):
    exp = get_experiment("bounds_vs_empirics").with_grid(n_val=[100, 400, 1200])
    paths = run_experiment(exp, [0, 7, 14], tmp_path)
    table = pd.read_csv(paths["bounds"])
    assert list(table.columns) == bounds.BOUNDS_COLUMNS
    assert (table.delta == bounds.BoundSettings().delta).all()
    # the reference form at delta / 2 per term (the notebook's own values are at 0.3)
    want = theory.reference_upper_bound(np.array([100, 400, 1200]), delta=0.025)
    np.testing.assert_allclose(table.reference_upper_bound, want, rtol=1e-12)
    assert (table.binomial_upper_bound < table.reference_upper_bound).all()
    assert (table.resolvable_error > 0.01).all()
    assert (table.resolvable_error.diff()[1:] < 0).all()
    assert (table.resolvable_error < table.binomial_upper_bound).all()
    assert (table.observed_max_error >= table.observed_mean_error).all()
    for rate in ("violation_rate", "run_bound_violation_rate"):
        assert table[rate].between(0, 1).all()
    assert (tmp_path / "bounds_vs_empirics.png").stat().st_size > 10_000


def test_the_bounds_report_counts_an_estimators_fixed_candidates(tmp_path):
    """With candidates fixed in advance (m = 100) the report's binomial bounds union
    over m candidates at every N_v: the reference curve is the one of
    `BoundSettings(fixed_candidates=100)`, not the data's count (at most 50 raw scores
    at N_v = 50, 10,001 grid points at N_v = 1,200)."""
    from tbal_jax.estimators import ESTIMATORS

    name = "clopper_pearson_fixed"
    m = ESTIMATORS.get(name).m
    exp = get_experiment("bounds_vs_empirics").with_grid(
        n_val=[50, 1200], estimators=[name]
    )
    table = pd.read_csv(run_experiment(exp, [0, 7], tmp_path)["bounds"])
    n_val, eps = np.array([50, 1200]), exp.eps[0]
    fixed = bounds.reference_curves(
        n_val, eps, bounds.BoundSettings(fixed_candidates=m)
    )
    data = bounds.reference_curves(n_val, eps)
    np.testing.assert_allclose(
        table.binomial_upper_bound, fixed["binomial_upper_bound"]
    )
    assert table.binomial_upper_bound[0] > data["binomial_upper_bound"][0]  # 100 > 50
    grid = data["binomial_upper_bound"][1]  # 10,001 candidates
    assert table.binomial_upper_bound[1] < grid  # 100 < 10,001
