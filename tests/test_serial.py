"""Batches whose members run one after another (tbal_jax.serial, issue 16): the helper
against each member alone, and whole MLP sweeps that run their seeds serially."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tbal_jax import config as C
from tbal_jax import sweep as S
from tbal_jax.datasets import DataArrays, Dataset
from tbal_jax.models import mlp
from tbal_jax.serial import serial

from .test_mlp import blobs


def _f(w, x, n):
    """A product and a while loop whose trip count is the member's own `n`."""

    def body(c):
        i, h = c
        return i + 1, jnp.tanh(h @ w)

    return jax.lax.while_loop(lambda c: c[0] < n, body, (0, x))[1]


def _inputs(members):
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(members, 6, 6)) / 3, jnp.float32)
    x = jnp.asarray(rng.normal(size=(members, 40, 6)), jnp.float32)
    return w, x, jnp.arange(members) % 4


def test_each_member_is_its_unbatched_result_bit_for_bit():
    w, x, n = _inputs(5)
    out = jax.jit(jax.vmap(serial(_f)))(w, x, n)
    for i in range(5):
        np.testing.assert_array_equal(out[i], jax.jit(_f)(w[i], x[i], n[i]))


def test_nested_vmaps_and_shared_arguments():
    """Seeds x cells as the sweep nests them, x shared by the cells of a seed (not
    batched there, so closed over rather than copied), and a batch with nothing
    batched at all."""
    w, x, n = _inputs(6)
    w, n = w.reshape(2, 3, 6, 6), n.reshape(2, 3)
    cells = lambda w, x, n: jax.vmap(serial(_f), in_axes=(0, None, 0))(w, x, n)  # noqa: E731
    out = jax.jit(jax.vmap(cells))(w, x[:2], n)
    for s in range(2):
        for c in range(3):
            np.testing.assert_array_equal(
                out[s, c], jax.jit(_f)(w[s, c], x[s], n[s, c])
            )
    shared = jax.jit(jax.vmap(serial(_f), in_axes=(None, None, None), axis_size=3))
    np.testing.assert_array_equal(
        shared(w[0, 0], x[0], n[0, 1]),
        jax.jit(_f)(w[0, 0], x[0], n[0, 1])[None].repeat(3, 0),
    )


def test_the_batch_runs_as_a_loop_of_unbatched_products():
    """What makes it fast on a CPU: the compiled batch holds no batched product."""
    w, x, n = _inputs(4)
    text = jax.jit(jax.vmap(serial(_f))).lower(w, x, n).as_text()
    plain = jax.jit(jax.vmap(_f)).lower(w, x, n).as_text()
    assert "batching_dims" in plain and "batching_dims" not in text


def _sweep(model, seeds):
    k = 3
    x, y = blobs(2600, k, 8, 8)
    arrays = DataArrays(x[:2000], y[:2000], x[2000:], y[2000:])
    ds = Dataset("blobs", k, 8, 2000, 600, model, arrays=arrays)
    cfg = C.StaticConfig.for_grid(ds, [200, 600], [200])
    grid = C.grid_params([200, 600], [200], [0.2], [0.0])
    out = S.run_sweep(cfg, seeds, grid, sweeper=S.Sweeper())
    return jax.tree.map(np.asarray, (out.outcomes, out.rounds))


MODEL = mlp.MLP("m", widths=(32,), epochs=3, lr=0.1, weight_decay=1e-3)


def test_a_serial_mlp_sweeps_row_is_the_same_in_any_batch():
    """Seed 5 of a 3-seed sweep (a batch of 6 runs) is bit for bit seed 5 alone."""
    model = dataclasses.replace(MODEL, batching="serial")
    many, alone = _sweep(model, [0, 5, 9]), _sweep(model, [5])
    for a, b in zip(jax.tree.leaves(many), jax.tree.leaves(alone)):
        np.testing.assert_array_equal(a[1:2], b)
    assert next(iter(alone[0].values())).n_auto.sum() > 0


def test_serial_and_vmapped_mlp_sweeps_agree():
    """The same runs batched either way: the products may round differently, so the
    runs agree in their outcome, not always in every bit."""
    outs = [
        next(iter(_sweep(dataclasses.replace(MODEL, batching=b), [0, 5])[0].values()))
        for b in ("serial", "vmap")
    ]
    for field in ("n_auto", "n_auto_wrong", "n_queried"):
        a, b = (np.asarray(getattr(o, field), float) for o in outs)
        assert a.sum() > 0 or field == "n_auto_wrong"
        np.testing.assert_allclose(a.sum(), b.sum(), rtol=0.05, err_msg=field)


REPO = Path(__file__).resolve().parents[1]
TWO_DEVICES = """
import dataclasses, json
import jax, numpy as np
from tests.test_serial import _sweep, MODEL
out = _sweep(dataclasses.replace(MODEL, batching="serial"), [0, 5, 9, 11])
print(json.dumps([jax.device_count(), [np.asarray(a).tolist() for a in jax.tree.leaves(out)]]))
"""


def test_a_serial_mlp_sweep_spread_over_two_devices_gives_one_devices_rows():
    """The seeds of a chunk split over two CPU devices (test_multihost.py), each
    device's runs one after another: every output bit for bit one device's."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    )
    out = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    devices, two = json.loads(out.stdout.strip().splitlines()[-1])
    one = jax.tree.leaves(
        _sweep(dataclasses.replace(MODEL, batching="serial"), [0, 5, 9, 11])
    )
    assert devices == 2 and len(two) == len(one)
    assert "a sweep over 2 CPU devices" in out.stderr  # the warning of sweep._shardings
    for a, b in zip(two, one):
        np.testing.assert_array_equal(np.asarray(a, b.dtype), b)


def test_batching_is_checked_and_auto_is_serial_on_a_cpu():
    with pytest.raises(ValueError, match="batching must be one of auto, vmap, serial"):
        mlp.MLP("m", batching="threads")
    assert MODEL.serial_runs is (jax.default_backend() == "cpu")
    assert dataclasses.replace(MODEL, batching="vmap").serial_runs is False
