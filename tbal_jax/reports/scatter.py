"""Where each method's labels land on one run of a 2-d dataset (algorithm.md section 9): one
panel per method, from the first seed; no sweep, no rows."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from tbal_jax import labels, plots
from tbal_jax.datasets import host_pools
from tbal_jax.grid import device_params
from tbal_jax.params import RunParams
from tbal_jax.protocols import PROTOCOLS
from tbal_jax.reports.base import AXIS_SYMBOLS, Report
from tbal_jax.run import make_run
from tbal_jax.sweep import seed_keys


class ScatterReport(Report):
    def title(self, exp, seeds=None, rows=None) -> str:
        fixed = [
            f"{AXIS_SYMBOLS[a]} = {getattr(exp.axes, a)[0]:g}"
            for a in ("n_val", "n_train", "eps", "c1")
        ]
        seed = "" if seeds is None else f", seed {int(seeds[0])}"
        return f"{exp.heading()}{seed} ({', '.join(fixed)})"

    def write(self, exp, dataset, done, folder: Path, atomic) -> dict:
        seed = int(done.seeds[0])
        params = device_params(RunParams(*(v[0] for v in exp.axes)))
        key = seed_keys([seed])[0]
        pools = host_pools(dataset, jax.random.split(key)[0])
        panels = {}
        for unit in exp.units:
            sim = make_run(exp.static_config(dataset, unit))
            out = jax.jit(sim.run)(key, params, dataset.device_arrays()).labels
            wanted = PROTOCOLS.get(unit.method).outcomes[-1]  # TBAL, AL+SC, PL+SC
            panels[labels.method_label(wanted)] = np.asarray(out[wanted])
        figure = plots.labels_scatter(
            pools.pool_x,
            pools.pool_y,
            panels,
            self.title(exp, [seed]),
            folder / exp.name,
        )
        return {"tables": [], "figure": figure}


SCATTER = ScatterReport(
    "scatter",
    swept=False,
    runs_sweeps=False,
    max_seeds=1,
    one_of=("estimators", "models", "scores", "queries"),  # one panel per method
)
