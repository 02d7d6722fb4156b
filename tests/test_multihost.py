"""A sweep's rows do not depend on how many devices or processes share its seeds: two
CPU devices in one process, and two processes joined by `jax.distributed` (through the
command line, process 0 writing the folder), give the rows of one device."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from experiments.run import cli
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
ARGS = [
    "--experiment=unit_ball_val",
    "--n_val=100,400",
    "--n_train=100",
    "--c1=0",
    "--methods=tbal",
    "--seeds=5",
    "--chunk_runs=4",
]


def _env(**extra):
    """This process's environment (its XLA flags and compilation cache) plus `extra`."""
    env = dict(os.environ)
    for name, value in extra.items():
        env[name] = f"{env.get(name, '')} {value}".strip()
    return env


def test_two_devices_give_the_same_rows_as_one():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_write_the_rows_of_one(tmp_path):
    port = _free_port()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "experiments.run",
                *ARGS,
                f"--out={tmp_path / 'two'}",
                f"--coordinator=localhost:{port}",
                "--num_processes=2",
                f"--process_id={i}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    meta = json.loads((tmp_path / "two" / "meta.json").read_text())
    assert meta["device"]["count"] == 2
    assert cli(["experiments.run", *ARGS, f"--out={tmp_path / 'one'}"]) == 0
    one = (tmp_path / "one" / "results.csv").read_bytes()
    assert (tmp_path / "two" / "results.csv").read_bytes() == one
