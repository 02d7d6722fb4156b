"""Traced sweeps kept across processes (tbal_jax.trace_cache, issue 16): the key is
the same in two processes exactly when the trace is, a stored trace gives the same
program as tracing, and a damaged one is traced again."""

import functools
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from tbal_jax import config as C
from tbal_jax import sweep as S
from tbal_jax import trace_cache

KEY_IN_A_FRESH_PROCESS = """
import json, sys
from tbal_jax import config as C, trace_cache
from tbal_jax.estimators import ESTIMATORS
cfgs = [C.StaticConfig.for_grid("unit_ball", [100], [100]),
        C.StaticConfig.for_grid("unit_ball", [100], [100],
                                estimator=ESTIMATORS.get("ltt").variant("front"))]
print(json.dumps([trace_key for trace_key in
                  (trace_cache.trace_key(c, (2,), (3,)) for c in cfgs)]))
"""


def _keys_in_a_fresh_process():
    out = subprocess.run(
        [sys.executable, "-c", KEY_IN_A_FRESH_PROCESS],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_key_is_the_same_in_every_process_and_follows_the_settings():
    first, second = _keys_in_a_fresh_process(), _keys_in_a_fresh_process()
    assert first == second and None not in first
    assert first[0] != first[1]  # another estimator setting, another trace


def test_functions_are_described_by_code_and_closure():
    from tbal_jax.estimators import slack

    d = trace_cache.describe
    sigma, hoeffding = (
        slack._slack_bound(f) for f in (slack.sigma_slack, slack.hoeffding_slack)
    )
    assert d(sigma) == d(slack._slack_bound(slack.sigma_slack)) != d(hoeffding)
    assert d(functools.partial(slack.sigma_slack, c1=1)) != d(
        functools.partial(slack.sigma_slack, c1=2)
    )
    assert d(np.arange(3)) == d(np.arange(3)) != d(np.arange(1, 4))


def test_what_is_not_this_packages_gets_no_key():
    """A user's own function, class or object could change without the key seeing it
    (its source is not in the key): such a sweep is traced as before."""

    class Opaque:
        pass

    def helper(x):
        return x

    for thing in (Opaque(), Opaque, helper, {1: 2}.get, np.add):
        with pytest.raises(trace_cache.Unstable):
            trace_cache.describe(thing)
        assert trace_cache.trace_key({"x": thing}, (1,)) is None
    cfg = C.StaticConfig.for_grid("unit_ball", [100], [100])
    assert trace_cache.trace_key(cfg, (1,)) is not None


def test_a_trace_that_cannot_be_kept_is_traced_as_before(monkeypatch, tmp_path):
    """A host callback (jax.debug.print) cannot be serialised: no trace is kept, the
    sweep runs."""
    monkeypatch.setattr(trace_cache, "folder", lambda: tmp_path)

    @jax.jit
    def fn(x):
        jax.debug.print("{}", x)
        return x + 1

    spec = jax.ShapeDtypeStruct((2,), np.float32)
    cfg = C.StaticConfig.for_grid("unit_ball", [100], [100])
    assert trace_cache.exported(fn, (spec,), cfg) is None
    assert not list(tmp_path.iterdir())


def _sweep(monkeypatch, where):
    """A small sweep compiled through the trace cache in `where` (this process keeps
    no compilation cache, conftest.py: only the trace folder is pointed here)."""
    monkeypatch.setattr(trace_cache, "folder", lambda: where)
    cfg = C.StaticConfig.for_grid("unit_ball", [100, 200], [100])
    grid = C.grid_params([100, 200], [100], [0.05], [0.0])
    sweeper = S.Sweeper()
    return S.run_sweep(cfg, [0, 3], grid, sweeper=sweeper), sweeper.traces


def test_a_stored_trace_runs_as_the_traced_program_and_a_damaged_one_is_replaced(
    monkeypatch, tmp_path, caplog
):
    sweeper = S.Sweeper()
    cfg = C.StaticConfig.for_grid("unit_ball", [100, 200], [100])
    grid = C.grid_params([100, 200], [100], [0.05], [0.0])
    plain = S.run_sweep(cfg, [0, 3], grid, sweeper=sweeper)
    assert sweeper.traces == 1
    outs, traces = [], []
    for damage in (False, False, True):
        if damage:
            (stored,) = tmp_path.glob("*.jaxexport")
            stored.write_bytes(b"not a trace")
        out, traced = _sweep(monkeypatch, tmp_path)
        outs.append(out)
        traces.append(traced)
    assert traces == [1, 0, 1]  # stored, loaded without tracing, traced again
    assert len(list(tmp_path.glob("*.jaxexport"))) == 1
    assert not list(tmp_path.glob("*.part"))
    assert "unreadable" in caplog.text
    for out in outs:
        for a, b in zip(jax.tree.leaves(out.outcomes), jax.tree.leaves(plain.outcomes)):
            np.testing.assert_array_equal(a, b)
    assert os.path.getsize(next(tmp_path.glob("*.jaxexport"))) > 1000


def test_no_folder_no_trace_kept(monkeypatch):
    monkeypatch.setattr(trace_cache, "folder", lambda: None)
    assert trace_cache.exported(None, (), None) is None
