"""The time-uniform betting test and `ltt_betting` (algorithm.md section 12, "A
time-uniform test"): the count-based wealth is the literal product of the bets; the
float32 decision is the float64 one, never more permissive; the chance that the wealth
ever reaches 1/alpha on a sequence at the null's boundary is <= alpha, while a bet
picked after the data and Clopper-Pearson checked at every n fail that check; the price
in points against Clopper-Pearson; and a run end to end."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from tbal_jax import estimators as E
from tbal_jax.estimators import betting as B
from tbal_jax.estimators.guaranteed import _binomial_accept
from tests.test_delta_spending import _unit_ball_run

J = B.BETS
C = B.BET_FRACTIONS


def _reference_log_wealth(n, w, eps):
    """float64 log K from the counts (the literal product is checked against it)."""
    right = np.log1p(C * eps / (1 - eps))
    with np.errstate(divide="ignore"):
        lose = np.log1p(-C)
    terms = (n - w) * right + (w * lose if w > 0 else 0.0)
    return float(logsumexp(terms) - np.log(J))


@pytest.mark.parametrize(
    "n,w,eps",
    [
        (30, 0, 0.05),
        (200, 3, 0.05),
        (1000, 10, 0.01),
        (500, 30, 0.05),
        (2000, 150, 0.1),
    ],
)
def test_log_wealth_is_the_product_of_the_bets_point_by_point(n, w, eps):
    x = np.zeros(n)
    x[:w] = 1.0
    x = np.random.default_rng(n + w).permutation(x)  # any order: the same counts
    lam = C / (1 - eps)  # lambda_j in (0, 1 / (1 - eps)]
    wealth = np.ones(J)
    for xi in x:  # one point at a time, float64
        wealth = wealth * (1.0 + lam * (eps - xi))
    want = math.log(wealth.mean())
    assert want == pytest.approx(_reference_log_wealth(n, w, eps), abs=1e-9)
    got = float(B.log_wealth(jnp.int32(n), jnp.int32(w), jnp.float32(eps)))
    right = (n - w) * np.log1p(C * eps / (1 - eps))
    lose = w * np.abs(np.log1p(-np.minimum(C, 1 - 1e-12)))  # c = 1: no finite term
    scale = float(np.max(right + np.where(C < 1, lose, 0.0)))
    assert abs(got - want) <= B.BETTING_RTOL * scale + 1e-5, (got, want)


def _grid():
    n, w, eps, level = [], [], [], []
    for e in (0.01, 0.05, 0.1):
        for lv in (0.05 / 34, 0.025, 0.05):
            for nn in (26, 100, 367, 650, 841, 1000, 3000):
                for ww in range(0, int(0.12 * nn) + 1):
                    n.append(nn), w.append(ww), eps.append(e), level.append(lv)
    return tuple(np.asarray(a) for a in (n, w, eps, level))


def test_accept_is_the_float64_decision_and_never_more_permissive():
    n, w, eps, level = _grid()
    got = np.asarray(
        B.betting_accept(
            jnp.asarray(n, jnp.int32),
            jnp.asarray(w, jnp.int32),
            jnp.asarray(eps, jnp.float32),
            0.0,
            jnp.asarray(level, jnp.float32),
        )
    )
    log_k = np.array([_reference_log_wealth(*a) for a in zip(n, w, eps)])
    want = log_k >= -np.log(level)
    assert not (got & ~want).any()  # rounding only rejects
    far = np.abs(log_k + np.log(level)) > 1e-3
    np.testing.assert_array_equal(got[far], want[far])
    assert 200 < got.sum() < len(got) - 200  # both decisions occur
    # the bound (bisection on m) is the same decision, and an upper bound on w / n
    u = np.asarray(
        B.betting_upper(
            jnp.asarray(n, jnp.int32),
            jnp.asarray(w, jnp.int32),
            jnp.asarray(level, jnp.float32),
        )
    )
    away = np.abs(u / eps - 1) > 1e-3
    np.testing.assert_array_equal(got[away], (u <= eps)[away])
    assert (u >= w / n).all()
    # pointwise stricter than Clopper-Pearson at the same level: under H0 the betting
    # test's region {w <= w*} at fixed n has probability <= level (Markov), and
    # Clopper-Pearson's is the largest such region
    cp = np.asarray(
        _binomial_accept(
            jnp.asarray(n, jnp.int32),
            jnp.asarray(w, jnp.int32),
            jnp.asarray(eps, jnp.float32),
            0.0,
            jnp.asarray(level, jnp.float32),
        )
    )
    assert not (got & ~cp).any() and (cp & ~got).any()


# ---- time-uniform validity, by Monte Carlo ------------------------------------------
# sequences at the boundary of H0 (iid Bernoulli(eps), error exactly eps) of length N;
# the test "ever rejects" when its wealth reaches 1/alpha at some n <= N: the error of
# stopping at the first such n (a validation set grown until certified)
MC_EPS, MC_ALPHA, MC_N, MC_SEQS, MC_CHUNK = 0.05, 0.05, 2000, 2000, 250


def _prefix_counts(mean, seed=0):
    x = jax.random.bernoulli(jax.random.key(seed), mean, (MC_SEQS, MC_N))
    n = jnp.arange(1, MC_N + 1, dtype=jnp.int32)[None, :]
    return jnp.broadcast_to(n, x.shape), jnp.cumsum(x, axis=1, dtype=jnp.int32)


@jax.jit
def _ever_rejects(n, w):
    return jnp.any(B.betting_rejects(n, w, MC_EPS, MC_ALPHA), axis=1)


FINE = np.arange(1, 201) / 200


@jax.jit
def _ever_rejects_best_bet(n, w):
    """Broken: the bettor chosen after the data (max over a fine grid, not the mean)."""
    log_k, _ = B._terms(n, w, MC_EPS, FINE)
    return jnp.any(jnp.max(log_k, axis=-1) >= -np.log(MC_ALPHA), axis=1)


def _rate(fn, n, w):
    hits = [
        fn(n[i : i + MC_CHUNK], w[i : i + MC_CHUNK])
        for i in range(0, MC_SEQS, MC_CHUNK)
    ]
    return int(np.concatenate([np.asarray(h) for h in hits]).sum())


def _p_above_alpha(hits):
    """P(Bin(MC_SEQS, alpha) >= hits): small when the rate exceeds alpha (exact)."""
    return float(stats.binom.sf(hits - 1, MC_SEQS, MC_ALPHA))


def test_wealth_ever_reaching_one_over_alpha_is_rare_and_breaks_are_caught():
    n, w = _prefix_counts(MC_EPS)
    intact = _rate(_ever_rejects, n, w)
    # rate <= alpha within Monte-Carlo error (measured: 4.0%)
    assert _p_above_alpha(intact) > 1e-3, intact / MC_SEQS
    best = _rate(_ever_rejects_best_bet, n, w)  # measured: 12.2%
    assert _p_above_alpha(best) < 1e-6, f"a bet picked after the data: {best}"
    # Clopper-Pearson (the exact binomial test, valid at each fixed n) checked at every
    # n: the stopped test is not valid
    tail = stats.binom.cdf(np.asarray(w), np.asarray(n), MC_EPS)
    peeking = int((tail <= MC_ALPHA).any(axis=1).sum())  # measured: 28.2%
    assert _p_above_alpha(peeking) < 1e-6, f"peeking at Clopper-Pearson: {peeking}"
    # and the test has power: at a quarter of eps it certifies almost every sequence
    n, w = _prefix_counts(MC_EPS / 4, seed=1)
    assert _rate(_ever_rejects, n, w) > 0.95 * MC_SEQS


# ---- the price against Clopper-Pearson ----------------------------------------------
def _smallest_error_free(accept, eps, level, top=5000):
    n = jnp.arange(1, top + 1, dtype=jnp.int32)
    ok = np.asarray(
        accept(n, jnp.zeros_like(n), jnp.float32(eps), 0.0, jnp.float32(level))
    )
    assert ok.any() and ok[np.argmax(ok) :].all()  # passes from some n on
    return int(np.argmax(ok)) + 1


@pytest.mark.parametrize("eps", [0.01, 0.05])
@pytest.mark.parametrize("level", [0.025, 0.05 / 34])
def test_error_free_count_is_at_most_log_j_bets_after_clopper_pearson(eps, level):
    """The wealth of an error-free region is between (1 - eps)^-n / J (the all-in
    bettor's share) and (1 - eps)^-n, so n_CP <= n_bet <= n_CP + ceil(log J / a),
    a = -log(1 - eps)."""
    n_bet = _smallest_error_free(B.betting_accept, eps, level)
    n_cp = _smallest_error_free(_binomial_accept, eps, level)
    assert n_cp < n_bet <= n_cp + math.ceil(math.log(J) / -math.log1p(-eps))
    # the estimator's label-free start is that count
    start = B.error_free_start(
        lambda n, w, cls: B.betting_accept(
            n, w, jnp.float32(eps), 0.0, jnp.float32(level)
        ),
        2,
    )
    np.testing.assert_array_equal(np.asarray(start), [n_bet, n_bet])


def _data(n, k=2, seed=0):
    ks = jax.random.split(jax.random.PRNGKey(seed), 3)
    scores = 1.0 / k + (1 - 1.0 / k) * jax.random.uniform(ks[0], (n,))
    preds = jax.random.randint(ks[1], (n,), 0, k)
    height = (scores - 1.0 / k) / (1 - 1.0 / k)
    wrong = jax.random.uniform(ks[2], (n,)) < 0.3 * (1 - height) ** 2
    return scores, preds, jnp.where(wrong, (preds + 1) % k, preds), jnp.ones(n, bool)


def test_the_sequence_starts_where_the_betting_test_can_pass():
    """Started at Clopper-Pearson's count (the plain `Estimator`), the first betting test
    fails even with no error and nothing is certified; `BettingEstimator` starts at its
    own error-free count and certifies."""
    data = _data(3000)
    args = (jnp.float32(0.05), jnp.float32(0.0), jnp.float32(0.05), 0)
    plain = E.Estimator(
        **{
            f.name: getattr(E.LTT_BETTING, f.name)
            for f in dataclasses.fields(E.Estimator)
        }
    )
    t_plain = np.asarray(plain(2, 3000, 17)(*data, *args))
    t_bet = np.asarray(E.LTT_BETTING(2, 3000, 17)(*data, *args))
    assert np.isinf(t_plain).all() and np.isfinite(t_bet).all()
    assert E.LTT_BETTING.select is E.select_fixed_sequence  # one sequence per class


def test_registered_after_the_others_and_its_variants_on_request():
    names = E.ESTIMATORS.names()
    assert E.BASE_ESTIMATORS == (
        "plugin",
        "sigma",
        "hoeffding",
        "clopper_pearson",
        "ltt",
        "sgr",
    )
    assert names.index("ltt_betting") == names.index("sigma_min10") + 1
    assert not [n for n in names if n.startswith("ltt_betting_")]
    est = E.ESTIMATORS["ltt_betting"]
    variant = est.variant("front", "fixed")
    assert isinstance(variant, B.BettingEstimator) and variant.candidates == "fixed"
    assert est.guaranteed and est.title == "LTT, betting (time-uniform)"
    assert "every validation size simultaneously" in est.guarantee
    assert (
        len({e.marker for e in map(E.ESTIMATORS.get, E.BASE_ESTIMATORS)} | {est.marker})
        == 7
    )


# ---- end to end ----------------------------------------------------------------------
def _cp_same_start(n, wrong, eps, c1, level):
    """Clopper-Pearson's test on the betting sequence: the same start (the betting
    test's error-free count, as betting => Clopper-Pearson), then the binomial test."""
    zero = jnp.zeros_like(jnp.asarray(n))
    return _binomial_accept(n, wrong, eps, c1, level) & B.betting_accept(
        n, zero, eps, c1, level
    )


def _runs(estimator, n_val, seeds):
    """The round records of unit-ball runs (N_q = 200, eps = 5%), stacked over seeds."""
    records = [_unit_ball_run(estimator, n_val, s)[1].record for s in seeds]
    return jax.tree.map(lambda *r: np.stack(r), *records)


def test_runs_end_to_end():
    """At N_v = 2000 it certifies thresholds, and every region it labels holds at
    least the betting test's error-free count at the run's delta / (k R)."""
    from tbal_jax.config import StaticConfig

    rec = _runs("ltt_betting", 2000, [0, 1])
    thr, trained = np.asarray(rec.thresholds), np.asarray(rec.trained)
    assert np.isfinite(thr).any() and int(np.asarray(rec.n_auto).sum()) > 0
    assert np.isinf(thr[~trained]).all()
    rounds = StaticConfig.for_grid("unit_ball", [2000], [200]).max_rounds
    start = _smallest_error_free(
        B.betting_accept, 0.05, np.float32(0.05) / (2 * rounds)
    )
    n_region = np.asarray(rec.val_removed_class)  # the active points above t[c]
    assert (n_region[np.isfinite(thr)] >= start).all(), (n_region, start)


@pytest.mark.slow
def test_runs_end_to_end_and_never_labels_more_than_clopper_pearson():
    """At N_v = 2000 the betting estimator certifies thresholds; in round 0 (the same
    model and validation set in both runs) its threshold is never below the one
    Clopper-Pearson's test gives on the same sequence, so it never labels more."""
    seeds = [0, 1, 2]
    bet = _runs("ltt_betting", 2000, seeds)
    cmp_est = dataclasses.replace(
        E.LTT_BETTING, name="cp_same_start", accept=_cp_same_start
    )
    cp = _runs(cmp_est, 2000, seeds)
    t_bet = np.asarray(bet.thresholds)[:, 0]
    t_cp = np.asarray(cp.thresholds)[:, 0]
    np.testing.assert_array_equal(
        np.asarray(bet.val_used)[:, 0], np.asarray(cp.val_used)[:, 0]
    )
    assert np.isfinite(t_bet).any() and int(np.asarray(bet.n_auto).sum()) > 0
    assert (t_bet >= t_cp).all(), (t_bet, t_cp)
    assert (np.asarray(bet.n_auto)[:, 0] <= np.asarray(cp.n_auto)[:, 0]).all()
    trained = np.asarray(bet.trained)
    assert np.isinf(np.asarray(bet.thresholds)[~trained]).all()
