"""Scoring only the rows whose outcome is open (tbal_jax.open_rows, issue 16): the
helper against a plain call, and whole MLP runs with and without it."""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax import config as C
from tbal_jax import open_rows
from tbal_jax import sweep as S
from tbal_jax.datasets import DataArrays, Dataset
from tbal_jax.models import mlp
from tbal_jax.open_rows import on_open_rows

from .test_mlp import blobs


def _f(x):
    w = jnp.linspace(-1, 1, 3 * 5).reshape(3, 5)
    return {"z": jnp.tanh(x @ w), "p": jnp.argmax(x, axis=1)}


def test_open_rows_equal_the_plain_call_and_settled_ones_are_skipped():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(1000, 3)), jnp.float32)
    masks = np.zeros((3, 1000), bool)
    masks[0, rng.choice(1000, 700, replace=False)] = True  # 7 of 10 blocks of 100
    masks[1, [3, 998]] = True  # one block
    # masks[2]: nothing open, no block
    out = jax.vmap(lambda m: on_open_rows(_f, x, m, block=100))(jnp.asarray(masks))
    want = _f(x)
    for i, m in enumerate(masks):
        np.testing.assert_allclose(out["z"][i][m], want["z"][m], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(out["p"][i][m], want["p"][m])
        computed = np.asarray(out["z"][i]).any(axis=1)
        assert computed.sum() == -(-m.sum() // 100) * 100  # whole blocks, no more
    assert not np.asarray(out["z"][2]).any()


@pytest.mark.parametrize("share", [0.0, 0.03, 0.5, 0.97, 1.0])
def test_open_first_is_the_stable_partition(share):
    """The open rows first, each group in its order: a stable argsort of the flags."""
    rng = np.random.default_rng(1)
    flags = rng.random((3, 5000)) < share
    want = np.argsort(~flags, axis=1, kind="stable")
    np.testing.assert_array_equal(jax.jit(jax.vmap(open_rows.open_first))(flags), want)
    np.testing.assert_array_equal(open_rows.open_first(jnp.asarray(flags[0])), want[0])
    counts = jnp.asarray(flags[0], jnp.int8) * 2  # any nonzero flag is open
    np.testing.assert_array_equal(open_rows.open_first(counts), want[0])
    assert open_rows.open_first(jnp.zeros(0, bool)).shape == (0,)


def test_one_block_or_less_is_the_plain_call():
    x = jnp.ones((50, 3))
    out = on_open_rows(_f, x, jnp.zeros(50, bool), block=100)
    np.testing.assert_array_equal(out["z"], _f(x)["z"])


@dataclasses.dataclass(frozen=True)
class _EveryRow(mlp.MLP):
    skip_settled_rows: ClassVar[bool] = False


@pytest.mark.parametrize(
    "settings",
    [
        {"score": "temperature", "estimator": "clopper_pearson_fixed_fresh"},
        {"protocol": "al"},
    ],
    ids=["tbal-fitted-score-fresh", "al"],
)
def test_mlp_sweeps_are_the_same_with_every_row_scored(settings, monkeypatch):
    """Sweeps of 2 seeds x 2 N_v (vmapped: each run's own trip count) on a 3,000-point
    pool, 1,000 validation and 600 test points, in blocks of 256 rows so that each of
    the three is blocked: skipping the settled rows changes no label, record or test
    label."""
    monkeypatch.setattr(open_rows, "BLOCK", 256)
    k = 3
    x, y = blobs(4600, k, 8, 8)
    arrays = DataArrays(
        x[:3000], y[:3000], x[3000:4000], y[3000:4000], x[4000:], y[4000:]
    )
    outs = []
    for cls in (mlp.MLP, _EveryRow):
        model = cls("m", widths=(32,), epochs=3, lr=0.1, weight_decay=1e-3)
        ds = Dataset("blobs", k, 8, 3000, 1000, model, arrays=arrays, n_test=600)
        cfg = C.StaticConfig.for_grid(ds, [300, 1000], [300], n_test=600, **settings)
        grid = C.grid_params([300, 1000], [300], [0.3], [0.0])
        out = S.run_sweep(cfg, [0, 5], grid, sweeper=S.Sweeper())
        outs.append(jax.tree.map(np.asarray, (out.outcomes, out.rounds)))
    (outcomes, rounds), (outcomes_all, rounds_all) = outs
    assert outcomes.keys() == outcomes_all.keys()
    for a, b in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(outs[1])):
        np.testing.assert_array_equal(a, b)
    first = next(iter(outcomes.values()))
    assert first.n_auto.sum() > 0 and first.test_n_auto.sum() > 0
