"""Unit-ball and circles rows stay bit-identical across the interface refactor (issue 7):
tests/fixtures/pre_refactor_rows.json holds rows computed by the code before it."""

import json
from pathlib import Path

import numpy as np
import pytest

from tbal_jax import config as C
from tbal_jax import sweep as S

ROWS = json.loads(
    (Path(__file__).parent / "fixtures/pre_refactor_rows.json").read_text()
)
CASES = sorted({(r["dataset"], r["method"]) for r in ROWS})
AXES = [a for a in C.RunParams._fields if a in ROWS[0]]  # later ones keep defaults


@pytest.mark.parametrize("dataset,protocol", CASES)
def test_rows_unchanged(dataset, protocol):
    stored = [r for r in ROWS if (r["dataset"], r["method"]) == (dataset, protocol)]
    axes = {a: sorted({r[a] for r in stored}) for a in AXES}
    cfg = C.StaticConfig.for_grid(dataset, axes["n_val"], axes["n_train"], protocol)
    result = S.run_sweep(cfg, [0, 7], C.grid_params(**axes))
    seeds = list(result.seeds)
    cells = list(zip(*(getattr(result.grid, a) for a in AXES)))
    for r in stored:
        i = seeds.index(r["seed"])
        j = cells.index(tuple(r[a] for a in AXES))
        s = result.outcomes[r["outcome"]]
        for f in ("n_auto", "n_auto_wrong", "n_queried", "n_rounds"):
            assert int(getattr(s, f)[i, j]) == r[f], (r["outcome"], r["seed"], f)
        np.testing.assert_array_equal(
            result.rounds.thresholds[i, j], np.array(r["thresholds"], np.float32)
        )
