"""Bad input through the Python API: one `ConfigError` naming the value, before anything
compiles (issue 11); and a package that changes nothing when imported."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tbal_jax import config as C
from tbal_jax import sweep as S
from tbal_jax.errors import ConfigError
from tbal_jax.experiments import get_experiment, run_experiment
from tbal_jax.loaders import load_dataset

CFG = C.StaticConfig.for_grid("unit_ball", [400], [100])
GRID = C.grid_params([100, 400], [100], [0.01], [0.0])


def _grid(**change):
    return GRID._replace(**{k: np.asarray(v) for k, v in change.items()})


@pytest.mark.parametrize(
    "call, names",
    [
        (lambda: S.run_sweep(CFG, [0], _grid(eps=[-0.5, 0.01])), "eps=-0.5"),
        (lambda: S.run_sweep(CFG, [0], _grid(c1=[-1.0, 0.0])), "c1=-1.0"),
        (lambda: S.run_sweep(CFG, [0], _grid(n_val=[0, 400])), "n_val=0"),
        (lambda: S.run_sweep(CFG, [0], _grid(n_val=[400.7, 100])), "n_val=400.7"),
        (lambda: S.run_sweep(CFG, [0], _grid(n_val=[100, 200, 400])), "lengths"),
        (lambda: S.run_sweep(CFG, [0], _grid(n_val=[100, 100])), "cell twice"),
        (lambda: S.run_sweep(CFG, [0], tuple(GRID)), "RunParams"),
        (lambda: S.run_sweep(CFG, [-7], GRID), "seed -7"),
        (lambda: S.run_sweep(CFG, [2**32 + 7], GRID), f"seed {2**32 + 7}"),
        (lambda: S.run_sweep(CFG, [7.9], GRID), "seed 7.9"),
        (lambda: S.run_sweep(CFG, [7, 7, 14], GRID), "repeat 7"),
        (lambda: S.run_sweep(CFG, [], GRID), "seeds is empty"),
        (lambda: S.run_sweep(CFG, 7, GRID), "seeds=7"),
        (lambda: S.run_sweep(CFG, [0], GRID, chunk_runs=0), "chunk_runs=0"),
        (lambda: S.run_sweep(CFG, [0], GRID, memory_budget_gib=-1), "memory_budget"),
        (lambda: S.run_sweep("cfg", [0], GRID), "StaticConfig"),
        (
            lambda: S.run_sweep(CFG.__class__(CFG.dataset, protocol="xx"), [0], GRID),
            "'xx'",
        ),
        (
            lambda: S.run_sweep(CFG.__class__(CFG.dataset, estimator="xx"), [0], GRID),
            "estimator 'xx'",
        ),
        (lambda: S.run_one(CFG, 0, C.RunParams([1, 2], 100, 0.01, 0.0)), "params="),
        (lambda: S.run_one(CFG, -1, C.RunParams(100, 100, 0.01, 0.0)), "seed -1"),
        (lambda: C.StaticConfig.for_grid("unit_ball", [], [100]), "n_val is empty"),
        (lambda: C.StaticConfig.for_grid("unit_ball", [100], [10]), "n_train=10"),
        (lambda: C.StaticConfig.for_grid("bogus", [100], [100]), "'bogus'"),
        (lambda: C.StaticConfig.for_grid("unit_ball", 100, [100]), "n_val=100"),
        (lambda: C.StaticConfig.for_grid(3, [100], [100]), "dataset=3"),
        (lambda: C.StaticConfig.for_grid("unit_ball", [100], [100], "x"), "'x'"),
        (lambda: C.grid_params([100], [100], [0.01]), "no values for c1"),
        (lambda: C.grid_params([100], [100], [1.5], [0.0]), "eps=1.5"),
        (lambda: C.grid_params([100], [100], [0.01], ["a"]), "c1='a'"),
        (lambda: C.grid_params([100], [100], [0.01], [0], bogus=[1]), "'bogus'"),
        (lambda: load_dataset("bogus"), "'bogus'"),
        (lambda: run_experiment("unit_ball_val", [0], "/tmp/x"), "Experiment"),
    ],
)
def test_bad_input_is_one_config_error_before_compiling(call, names):
    traces = S.SWEEPER.traces
    with pytest.raises(ConfigError) as err:
        call()
    message = str(err.value)
    assert names in message and "\n" not in message, message
    assert S.SWEEPER.traces == traces


def test_seeds_up_to_two_to_the_32_are_accepted():
    S.check_seeds([0, 2**32 - 7])  # distinct keys: no wrap-around below 2^32


@pytest.mark.parametrize(
    "args, names",
    [
        (dict(seeds=[0, 0]), "repeat 0"),
        (dict(seeds=[0], chunk_runs=0), "chunk_runs=0"),
        (dict(seeds=[0], out_dir=""), "empty"),
    ],
)
def test_run_experiment_checks_before_writing(args, names, tmp_path):
    args.setdefault("out_dir", tmp_path / "out")
    exp = get_experiment("unit_ball_val").with_grid(n_val=[100], c1=[0.0])
    with pytest.raises(ConfigError, match=names):
        run_experiment(exp, **args)
    assert not (tmp_path / "out").exists()


def test_a_large_sweep_says_its_size_before_compiling(caplog):
    S._announce("big", CFG, 1000, 20)
    assert "20000 runs" in caplog.text and "min" in caplog.text


def test_a_sweeper_holds_at_most_its_bound():
    sweeper = S.Sweeper(max_programs=1)
    for n_train in ([100], [120]):
        cfg = C.StaticConfig.for_grid("unit_ball", [100], n_train)
        sweeper.compiled(cfg, 2, 2)
    assert len(sweeper._programs) == 1 and sweeper.traces == 2


IMPORT_CHECK = """
import json, os
import jax, matplotlib
from jax._src import xla_bridge
before = dict(os.environ)
import tbal_jax, tbal_jax.experiments, tbal_jax.plots, tbal_jax.store
print(json.dumps({
    "changed": sorted(k for k in set(before) | set(os.environ)
                      if before.get(k) != os.environ.get(k)),
    "backend_chosen": matplotlib.rcParams._get_backend_or_none() is not None,
    "jax_started": xla_bridge.backends_are_initialized(),
}))
"""


def test_importing_changes_nothing():
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "MPLBACKEND": ""},
    )
    result = json.loads(out.stdout)
    # nor starts JAX, so deterministic_cpu() can still follow the imports
    assert result == {"changed": [], "backend_chosen": False, "jax_started": False}
