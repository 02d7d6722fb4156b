"""The estimators of algorithm.md section 12: binomial tails against scipy, selection against the
literal reference, and the guarantee itself by Monte Carlo, with broken variants that
the same check must catch."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from tbal_jax import estimators as T
from tests import reference

GUARANTEED = ("clopper_pearson", "ltt", "sgr")


def _tail(w, n, p):
    return np.asarray(
        T.binomial_lower_tail(
            jnp.asarray(w, jnp.int32), jnp.asarray(n, jnp.int32), jnp.float32(p)
        ),
        np.float64,
    )


@pytest.mark.parametrize("n", [26, 100, 1000, 4000, 10_000])
@pytest.mark.parametrize("p", [1e-4, 0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 0.9, 0.999])
def test_binomial_tail_bounds_scipy_in_both_tails(n, p):
    """An upper bound on the lower tail once the rounding margin BINOMIAL_RTOL is
    applied (down to tails of 1e-30), and within 4% above where the tail is in
    [1e-8, 1e-2]; the upper tail by symmetry (P(Bin(n, p) >= w) =
    P(Bin(n, 1 - p) <= n - w))."""
    w = np.unique(np.linspace(0, n, 301).round().astype(int))
    lower = _tail(w, np.full_like(w, n), p)
    ref = stats.binom.cdf(w, n, p)
    upper = _tail(n - w, np.full_like(w, n), 1 - p)
    ref_upper = stats.binom.sf(w - 1, n, p)
    for got, want in ((lower, ref), (upper, ref_upper)):
        meaningful = want > 1e-30
        assert (got[meaningful] * (1 + T.BINOMIAL_RTOL) >= want[meaningful]).all()
        assert (got <= 1).all()
        tail = (want > 1e-8) & (want < 1e-2)
        assert (got[tail] <= want[tail] * 1.04).all()


@pytest.mark.parametrize(
    "n,w", [(30, 0), (100, 3), (1000, 10), (4000, 25), (10_000, 900)]
)
@pytest.mark.parametrize("level", [0.05, 1e-4, 1e-7])
def test_clopper_pearson_upper_matches_scipy(n, w, level):
    got = float(T.clopper_pearson_upper(jnp.int32(w), jnp.int32(n), jnp.float32(level)))
    exact = stats.beta.ppf(1 - level, w + 1, n - w)
    assert exact * (1 - 1e-4) <= got <= exact * 1.01 + 1e-6


def test_clopper_pearson_bound_and_acceptance_agree():
    """The bound (bisection) and the acceptance test (tail at eps) are one decision."""
    est = T.ESTIMATORS["clopper_pearson"]
    rng = np.random.default_rng(0)
    n = jnp.asarray(rng.integers(26, 5000, 400), jnp.int32)
    w = jnp.asarray(rng.integers(0, 60, 400), jnp.int32)
    eps, level = jnp.float32(0.02), jnp.float32(1e-4)
    u = est.bound(n, w, eps, 0.0, level)
    accepted = np.asarray(est.accept(n, w, eps, 0.0, level))
    far = np.abs(np.asarray(u) / 0.02 - 1) > 1e-3  # away from the boundary
    np.testing.assert_array_equal(accepted[far], (np.asarray(u) <= 0.02)[far])
    assert 20 < accepted.sum() < 380  # both decisions occur


def _case(rng, n, k, levels=None):
    scores = rng.uniform(0.5, 1.0, n)
    if levels:  # ties
        scores = np.round(scores * levels) / levels
    preds = rng.integers(0, k, n)
    flip = rng.uniform(size=n) < 0.1 * (1.0 - scores)
    labels = np.where(flip, (preds + 1) % k, preds)
    return scores.astype(np.float32), preds.astype(np.int32), labels.astype(np.int32)


@pytest.mark.parametrize("method", GUARANTEED)
@pytest.mark.parametrize(
    "n,k,ties", [(300, 2, None), (450, 3, 40), (900, 2, None), (3000, 10, 200)]
)
def test_guaranteed_selection_matches_reference(method, n, k, ties):
    rng = np.random.default_rng(n + k)
    s, p, y = _case(rng, n, k, ties)
    capacity, rounds, eps, delta = n + 50, 3, 0.1, 0.1
    pad = capacity - n
    est = T.ESTIMATORS[method](k, capacity, rounds)
    got = np.asarray(
        est(
            jnp.asarray(np.append(s, np.zeros(pad, np.float32))),
            jnp.asarray(np.append(p, np.zeros(pad, np.int32))),
            jnp.asarray(np.append(y, np.zeros(pad, np.int32))),
            jnp.asarray(np.arange(capacity) < n),
            jnp.float32(eps),
            jnp.float32(0.0),
            jnp.float32(delta),
        )
    )
    want = reference.guaranteed_thresholds(
        s,
        p,
        y,
        eps,
        delta,
        k,
        rounds,
        method,
        lambda w, n: _tail(w, n, eps),
        T.BINOMIAL_RTOL,
    )
    np.testing.assert_array_equal(got, want.astype(np.float32))
    assert np.isfinite(got).any(), "the case should let some class be auto-labelled"


# ---- the guarantee, by Monte Carlo -------------------------------------------------
# One round, one predicted class: scores U(0, 1) and P(wrong | s) = A (1 - s), so the
# population error of {score >= t} is A (1 - t) / 2, exactly.
A, EPS, DELTA, N_VAL, SEEDS = 0.3, 0.05, 0.05, 2000, 400


def violation_rate(
    estimator: T.Estimator, rounds: int = 1, score_range=None, seed: int = 2024
) -> float:
    """P(population error of the chosen region > EPS) over SEEDS draws, for round 0 of a
    run of `rounds` (its share of delta); `score_range` where fixed candidates lie."""
    estimate = estimator(2, N_VAL, rounds, score_range)

    def one(key):
        ks, kw = jax.random.split(key)
        s = jax.random.uniform(ks, (N_VAL,))
        wrong = jax.random.uniform(kw, (N_VAL,)) < A * (1 - s)
        preds = jnp.zeros(N_VAL, jnp.int32)
        t = estimate(
            s,
            preds,
            wrong.astype(jnp.int32),
            jnp.ones(N_VAL, bool),
            jnp.float32(EPS),
            jnp.float32(0.0),
            jnp.float32(DELTA),
        )[0]
        return jnp.isfinite(t) & (A * (1 - t) / 2 > EPS)

    keys = jax.random.split(jax.random.key(seed), SEEDS)
    return float(jnp.mean(jax.jit(jax.vmap(one))(keys)))


def _broken(est: T.Estimator, factor: float) -> T.Estimator:
    return dataclasses.replace(est, level=lambda *a: factor * est.level(*a))


# the break: delta x 20, and for the estimators with a union over candidates or
# search steps, that union dropped as well
BREAKS = {"clopper_pearson": 20 * 10_001, "ltt": 20, "sgr": 20 * 14}


@pytest.mark.slow
@pytest.mark.parametrize("method", GUARANTEED)
def test_violation_rate_within_delta_and_breaks_are_caught(method):
    margin = 3 * np.sqrt(DELTA * (1 - DELTA) / SEEDS)
    est = T.ESTIMATORS[method]
    intact = violation_rate(est)
    broken = violation_rate(_broken(est, BREAKS[method]))
    assert intact <= DELTA + margin, intact
    assert broken > DELTA + margin, f"the check cannot see a broken {method}: {broken}"


def test_plugin_violates_the_check():
    """The empirical error is not a confidence bound: it fails the same check."""
    assert violation_rate(T.ESTIMATORS["plugin"]) > DELTA + 0.1


def test_below_the_needed_validation_size_guaranteed_estimators_label_nothing():
    """With n < ln(delta')/ln(1 - eps) validation points, even zero errors cannot pass
    (algorithm.md section 12): at N_v = 200 and eps = 0.01, delta' <= 0.05 / 2 needs n >= 367."""
    rng = np.random.default_rng(1)
    s = rng.uniform(0.5, 1.0, 200).astype(np.float32)
    p = np.zeros(200, np.int32)
    for method in GUARANTEED:
        t = T.ESTIMATORS[method](2, 200, 1)(
            jnp.asarray(s),
            jnp.asarray(p),
            jnp.asarray(p),  # no errors at all
            jnp.ones(200, bool),
            jnp.float32(0.01),
            jnp.float32(0.0),
            jnp.float32(0.05),
        )
        assert np.isinf(np.asarray(t)).all(), method
    # and with eps = 0.05 (n_min = 72) the same error-free data is labelled
    t = T.ESTIMATORS["ltt"](2, 200, 1)(
        jnp.asarray(s),
        jnp.asarray(p),
        jnp.asarray(p),
        jnp.ones(200, bool),
        jnp.float32(0.05),
        jnp.float32(0.0),
        jnp.float32(0.05),
    )
    assert np.isfinite(np.asarray(t)[0])


def test_counts_memory_is_linear_in_the_validation_size():
    """No k x 10,001 table: at k = 200 and N_v = 10,000 the estimate's temporaries stay
    within a few arrays of N_v (the histogram took 8 MB per run)."""
    est = T.ESTIMATORS["sigma"](200, 10_000, 1)
    args = (
        jax.ShapeDtypeStruct((10_000,), jnp.float32),
        jax.ShapeDtypeStruct((10_000,), jnp.int32),
        jax.ShapeDtypeStruct((10_000,), jnp.int32),
        jax.ShapeDtypeStruct((10_000,), bool),
        jax.ShapeDtypeStruct((), jnp.float32),
        jax.ShapeDtypeStruct((), jnp.float32),
    )
    mem = jax.jit(est).lower(*args).compile().memory_analysis()
    assert mem.temp_size_in_bytes < 40 * 10_000 * 4, mem.temp_size_in_bytes


# ---- inside the run ----------------------------------------------------------------


def test_test_sample_changes_nothing_else_and_measures_the_population():
    """The held-out sample is labelled by the run's own rounds: the pool's results are
    bit-identical with and without it, and its error tracks the pool's."""
    from tbal_jax import config as C
    from tbal_jax import sweep as S

    grid = C.grid_params([400, 1000], [200], [0.05], [0.0])
    plain = C.StaticConfig.for_grid("unit_ball", [1000], [200])
    tested = dataclasses.replace(plain, n_test=5000)
    a = S.run_sweep(plain, [0, 7, 14], grid).summary
    b = S.run_sweep(tested, [0, 7, 14], grid).summary
    for f in ("n_auto", "n_auto_wrong", "n_queried", "n_rounds"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert (a.test_n_auto == 0).all()  # no sample, nothing counted
    pool_cov = b.n_auto / plain.dataset.n_pool
    test_cov = b.test_n_auto / 5000
    assert np.abs(pool_cov - test_cov).max() < 0.03
    pool_err = b.n_auto_wrong / np.maximum(b.n_auto, 1)
    test_err = b.test_n_wrong / np.maximum(b.test_n_auto, 1)
    assert np.abs(pool_err - test_err).max() < 0.01


def test_fixed_datasets_have_no_test_sample():
    from tbal_jax import config as C
    from tbal_jax.loaders import load_dataset
    from tbal_jax.validate import ConfigError

    cfg = C.StaticConfig.for_grid(load_dataset("digits"), [200], [100], n_test=10)
    with pytest.raises(ConfigError, match="n_test=10: digits is a fixed dataset"):
        cfg.check()


def test_estimators_experiment_end_to_end(tmp_path):
    from tbal_jax.experiments import get_experiment, run_experiment

    exp = get_experiment("estimators_circles").with_grid(
        n_val=[300, 1000], estimators=["plugin", "ltt"]
    )
    exp = dataclasses.replace(exp, n_test=2000)
    out = run_experiment(exp, [0, 7, 14], tmp_path)
    import pandas as pd

    runs = pd.read_csv(out["results"])
    assert set(runs.estimator) == {"plugin", "ltt"} and len(runs) == 2 * 2 * 3
    assert runs.test_coverage.notna().all() and (runs.n_test == 2000).all()
    cells = pd.read_csv(out["estimators"])
    assert len(cells) == 4 and (cells.n_runs == 3).all()
    ltt_small = cells[(cells.estimator == "ltt") & (cells.n_val == 300)]
    # 300 validation points over two classes cannot certify eps = 0.01 (n_min ~ 570)
    assert (ltt_small.coverage_mean == 0).all() and (ltt_small.n_no_auto == 3).all()
    summary = pd.read_csv(out["summary"])
    assert len(summary) == 4  # never pools two estimators
    for path in out["figure"]:
        assert path.stat().st_size > 5_000


def test_the_estimators_report_reads_the_thresholded_outcome_only(tmp_path):
    """With AL, the report's cells are AL+SC's runs (thresholds estimated once at the
    end), not pooled with plain AL's, which label every remaining point."""
    from tbal_jax.experiments import get_experiment, run_experiment

    exp = get_experiment("estimators_circles").with_grid(
        n_val=[1000], estimators=["plugin"], methods=["al"]
    )
    exp = dataclasses.replace(exp, n_test=2000)
    out = run_experiment(exp, [0, 7], tmp_path)
    import pandas as pd

    runs = pd.read_csv(out["results"])
    assert set(runs.method) == {"al", "al_sc"}
    (cell,) = pd.read_csv(out["estimators"]).itertuples()
    sc = runs[runs.method == "al_sc"]
    assert cell.n_runs == 2 and cell.coverage_mean == pytest.approx(sc.coverage.mean())
    assert sc.coverage.mean() < runs[runs.method == "al"].coverage.mean()
