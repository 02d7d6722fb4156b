"""Unit-ball and circles rows stay bit-identical across a change that must not move
results: `tests/fixtures/rows.json` holds rows computed by the code before it
(`python -m tests.fixtures.make_rows`), with the fingerprint of the machine that
computed them. XLA's CPU rounding follows the processor, so the rows are compared only
on a machine with the same fingerprint; elsewhere the test is skipped with the reason.
"""

import json

import numpy as np
import pytest

from tbal_jax import runtime
from tests.fixtures import make_rows

STORED = json.loads(make_rows.PATH.read_text())


def _differences(stored: dict, here: dict) -> str:
    return ", ".join(
        f"{k} {stored.get(k)!r} here {here.get(k)!r}"
        for k in sorted(stored | here)
        if stored.get(k) != here.get(k)
    )


@pytest.mark.parametrize("dataset,protocol", make_rows.CASES)
def test_rows_unchanged(dataset, protocol):
    differences = _differences(STORED["machine"], runtime.machine_fingerprint())
    if differences:
        pytest.skip(f"rows.json was computed on another machine ({differences})")
    stored = [
        r for r in STORED["rows"] if (r["dataset"], r["protocol"]) == (dataset, protocol)
    ]
    fresh = make_rows.rows(dataset, protocol)
    assert len(fresh) == len(stored)
    for old, new in zip(stored, fresh):
        where = {k: old[k] for k in ("outcome", "seed", *make_rows.AXES)}
        for f in make_rows.FIELDS:
            assert new[f] == old[f], (where, f)
        np.testing.assert_array_equal(
            np.array(new["thresholds"], np.float32),
            np.array(old["thresholds"], np.float32),
            err_msg=str(where),
        )
