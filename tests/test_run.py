"""The whole run and the sweep: reproducibility, no recompilation, invariants, faithfulness
(algorithm.md sections 1, 2, 10)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax import config as C
from tbal_jax import published
from tbal_jax import sweep as S
from tbal_jax.run import QUERIED, UNLABELLED, make_run, summarise

CFG = C.StaticConfig.for_grid("unit_ball", n_val=[600], n_train=[100, 200])
GRID = C.grid_params([100, 600], [100, 200], [0.05], [0.0, 0.25])


@pytest.fixture(scope="module")
def sweep_result():
    return S.run_sweep(CFG, [0, 7, 14], GRID)


def _single(seed, j):
    """The unbatched run (its state is what the invariants test inspects)."""
    p = C.device_params(C.RunParams(*(a[j : j + 1] for a in GRID)))
    params = C.RunParams(*(jnp.asarray(a[0]) for a in p))
    return jax.jit(make_run(CFG).run)(jax.random.key(seed), params)


def _pool_y(seed):
    return CFG.dataset.split(jax.random.split(jax.random.key(seed))[0], ()).pool_y


def test_sweep_row_equals_the_single_run(sweep_result):
    for i, seed in enumerate(sweep_result.seeds):
        for j in (0, 3, 6):
            one = S.run_one(CFG, int(seed), C.RunParams(*(a[j] for a in GRID)))
            for name in one.summary._fields:
                np.testing.assert_array_equal(
                    getattr(sweep_result.summary, name)[i, j],
                    getattr(one.summary, name)[0, 0],
                    err_msg=name,
                )
            np.testing.assert_array_equal(
                sweep_result.rounds.thresholds[i, j], one.rounds.thresholds[0, 0]
            )


def test_unbatched_run_agrees_statistically(sweep_result):
    """The unbatched `run` may round differently (see tbal_jax.sweep) but is the same
    algorithm: its counts stay close to the sweep's."""
    for i, seed in enumerate(sweep_result.seeds):
        out = _single(int(seed), 3)
        one = summarise(
            out.labels["tbal"],
            _pool_y(int(seed)),
            out.record,
            CFG.dataset.n_pool,
            out.test_labels["tbal"],
            jnp.zeros(0, jnp.int32),
        )
        assert abs(int(one.n_auto) - int(sweep_result.summary.n_auto[i, 3])) < 800


def test_chunking_does_not_change_results(sweep_result):
    chunked = S.run_sweep(CFG, [0, 7, 14], GRID, chunk_runs=len(GRID.n_val))
    assert chunked.chunks == 2  # two seeds per chunk at least, the last one padded
    reordered = S.run_sweep(CFG, [14, 0], GRID, chunk_runs=len(GRID.n_val))
    for name in sweep_result.summary._fields:
        full = getattr(sweep_result.summary, name)
        np.testing.assert_array_equal(getattr(chunked.summary, name), full)
        np.testing.assert_array_equal(getattr(reordered.summary, name), full[[2, 0]])


def test_new_grid_values_do_not_recompile(sweep_result):
    fn = S._sweep_fn(CFG)
    keys = S.seed_keys([0, 7])
    other = C.grid_params([150, 500], [120, 180], [0.1], [0.5, 1.0])
    jax.block_until_ready(fn(keys, C.device_params(GRID), ()))
    jax.block_until_ready(fn(keys, C.device_params(other), ()))
    assert fn._cache_size() == 1
    traces = S.SWEEPER.traces
    S.run_sweep(CFG, [0, 7, 14], other)
    assert S.SWEEPER.traces == traces  # the cached program served the new grid


def test_different_seeds_differ(sweep_result):
    n_auto = sweep_result.summary.n_auto
    assert len({tuple(row) for row in n_auto}) == len(n_auto)


def test_invariants():
    for seed in (0, 7):
        for j in range(len(GRID.n_val)):
            state, record, labels, _ = _single(seed, j)
            status = np.asarray(state.pool_status)
            np.testing.assert_array_equal(labels["tbal"], status)
            n_train = int(GRID.n_train[j])
            n_queried = int(state.n_queried)
            n_auto = int((status >= 0).sum())
            # auto-labelled and queried are disjoint, and the counts agree
            assert (status == QUERIED).sum() == n_queried <= n_train
            assert n_auto == int(np.asarray(record.n_auto).sum())
            assert n_auto / len(status) <= 1 - n_queried / len(status)
            # the validation set only shrinks; rounds stay within the bound of algorithm.md section 2
            used = np.asarray(record.val_used)[np.asarray(record.trained)]
            assert (np.diff(used) <= 0).all() and used[0] == GRID.n_val[j]
            assert int(np.asarray(record.ran).sum()) <= C.max_rounds_for(n_train)
            # the budget is spent unless the pool ran out first, and the round that
            # spent it still trained on all of it (algorithm.md section 2, step 6)
            assert n_queried == n_train or (status != UNLABELLED).all()
            last = int(np.flatnonzero(np.asarray(record.ran))[-1])
            assert bool(record.trained[last]) and int(record.train_used[last]) == n_queried
            assert bool(state.done)  # stopped by the rule, not by the end of the scan


def test_a_run_that_labels_nothing_is_kept():
    grid = C.grid_params([20], [100], [0.01], [0.0])  # below the floor of 25
    result = S.run_sweep(CFG, [0, 7], grid)
    assert (result.summary.n_auto == 0).all()
    assert np.isnan(result.summary.auto_error).all()
    assert (result.summary.coverage == 0).all()


def test_circles_runs():
    cfg = C.StaticConfig.for_grid("circles", n_val=[2000], n_train=[300])
    result = S.run_sweep(cfg, [0, 7], C.grid_params([2000], [300], [0.01], [0.0]))
    assert (result.summary.n_queried <= 300).all()
    assert (result.summary.coverage > 0).all()  # the bad model still labels some points


@pytest.mark.slow
def test_faithful_to_the_published_table():
    """algorithm.md section 10, TBAL at C1 = 0, 20 seeds: the seed-noise criterion holds for
    error and coverage at every published N_v."""
    pub = published.UNIT_BALL_N_VAL["tbal"]
    n_val = sorted(pub)
    cfg = C.StaticConfig.for_grid("unit_ball", n_val=n_val, n_train=[500])
    result = S.run_sweep(
        cfg, 7 * np.arange(20), C.grid_params(n_val, [500], [0.01], [0])
    )
    for j, nv in enumerate(n_val):
        e, e_sd, c, c_sd = pub[nv]
        err = 100 * result.summary.auto_error[:, j]
        cov = 100 * result.summary.coverage[:, j]
        assert published.agrees(err.mean(), err.std(ddof=1), 20, e, e_sd), nv
        assert published.agrees(cov.mean(), cov.std(ddof=1), 20, c, c_sd), nv


def test_grid_beyond_the_configured_capacity_is_refused():
    from tbal_jax.validate import ConfigError

    with pytest.raises(ConfigError, match="n_val=1000 exceeds"):
        S.run_one(CFG, 0, C.RunParams(1000, 100, 0.01, 0.0))
    with pytest.raises(ConfigError, match="n_train=900 exceeds"):
        S.run_one(CFG, 0, C.RunParams(100, 900, 0.01, 0.0))


def test_memory_budget_shrinks_chunks_not_results(sweep_result):
    budget = 0.75 * sweep_result.peak_bytes / 2**30  # the full chunk does not fit
    small = S.run_sweep(CFG, [0, 7, 14], GRID, memory_budget_gib=budget)
    assert small.seeds_per_chunk < sweep_result.seeds_per_chunk
    assert small.peak_bytes < sweep_result.peak_bytes and small.chunks == 2
    for name in sweep_result.summary._fields:
        np.testing.assert_array_equal(
            getattr(small.summary, name), getattr(sweep_result.summary, name)
        )
