"""Scoring only the rows whose outcome is open (tbal_jax.open_rows, issue 16): the
helper against a plain call, and whole MLP runs with and without it."""

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax import config as C
from tbal_jax.datasets import DataArrays, Dataset
from tbal_jax.models import mlp
from tbal_jax.open_rows import on_open_rows
from tbal_jax.run import make_run

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


def test_one_block_or_less_is_the_plain_call():
    x = jnp.ones((50, 3))
    out = on_open_rows(_f, x, jnp.zeros(50, bool), block=100)
    np.testing.assert_array_equal(out["z"], _f(x)["z"])


@dataclasses.dataclass(frozen=True)
class _EveryRow(mlp.MLP):
    skip_settled_rows: ClassVar[bool] = False


@pytest.mark.parametrize(
    "settings",
    [{}, {"protocol": "al"}, {"score": "temperature"}],
    ids=["tbal", "al", "fitted-score"],
)
def test_mlp_runs_are_the_same_with_every_row_scored(settings):
    """A 4,000-point pool and 1,000 validation points (two blocks and one): skipping
    the settled rows changes no label, record or test label."""
    k = 12
    x, y = blobs(5000, k, 8, 8)
    arrays = DataArrays(x[:4000], y[:4000], x[4000:], y[4000:])
    outs = []
    for cls in (mlp.MLP, _EveryRow):
        model = cls("m", widths=(32,), epochs=3, lr=0.1, weight_decay=1e-3)
        ds = Dataset("blobs", k, 8, 4000, 1000, model, arrays=arrays)
        cfg = C.StaticConfig.for_grid(ds, [600], [300], **settings)
        params = C.device_params(C.RunParams(600, 300, 0.1, 0.0))
        out = jax.jit(make_run(cfg).run)(jax.random.key(3), params, ds.device_arrays())
        outs.append(jax.tree.map(np.asarray, (out.labels, out.record)))
    (labels, record), (labels_all, record_all) = outs
    assert labels.keys() == labels_all.keys()
    for name in labels:
        np.testing.assert_array_equal(labels[name], labels_all[name])
    for a, b in zip(record, record_all):
        np.testing.assert_array_equal(a, b)
    assert record.n_auto.sum() > 0 or "protocol" in settings
