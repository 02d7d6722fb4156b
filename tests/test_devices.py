"""Results do not depend on how many devices a sweep is spread over."""

import json
import os
import subprocess
import sys

import numpy as np

from tbal_jax import config as C
from tbal_jax import sweep as S

SCRIPT = """
import json
from tbal_jax import config as C, sweep as S
import jax
cfg = C.StaticConfig.for_grid("unit_ball", n_val=[600], n_train=[100, 200])
grid = C.grid_params([100, 600], [100, 200], [0.05], [0.0, 0.25])
r = S.run_sweep(cfg, [0, 7, 14], grid)
print(json.dumps({"devices": jax.device_count(), "n_auto": r.summary.n_auto.tolist(),
                  "wrong": r.summary.n_auto_wrong.tolist(),
                  "queried": r.summary.n_queried.tolist()}))
"""


def test_two_devices_give_the_same_rows_as_one():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    two = json.loads(out.stdout.strip().splitlines()[-1])
    assert two["devices"] == 2
    cfg = C.StaticConfig.for_grid("unit_ball", n_val=[600], n_train=[100, 200])
    one = S.run_sweep(
        cfg, [0, 7, 14], C.grid_params([100, 600], [100, 200], [0.05], [0.0, 0.25])
    )
    np.testing.assert_array_equal(two["n_auto"], one.summary.n_auto)
    np.testing.assert_array_equal(two["wrong"], one.summary.n_auto_wrong)
    np.testing.assert_array_equal(two["queried"], one.summary.n_queried)
