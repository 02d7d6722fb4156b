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


PINNED = "1b13357"  # the last commit that moved rows on purpose (batch-invariant products)


@pytest.mark.slow
def test_rows_match_the_pinned_commit_on_this_machine(tmp_path):
    """The same rows from the code at `PINNED` and the code at hand, both computed here,
    so the check holds on any machine (where git and the commit are at hand)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parent.parent
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", PINNED],
        capture_output=True,
    )
    if archive.returncode:
        pytest.skip(f"commit {PINNED} is not in this clone (a shallow clone?)")
    old = tmp_path / "old"
    old.mkdir()
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    script = (
        "import json, runpy;"
        f"m = runpy.run_path({str(make_rows.__file__)!r});"
        "print(json.dumps([r for c in m['CASES'] for r in m['rows'](*c)]))"
    )
    env = os.environ | {"PYTHONPATH": str(old)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=old,
        env=env,
        timeout=1200,
        check=True,
    )
    before = json.loads(out.stdout.strip().splitlines()[-1])
    after = [r for case in make_rows.CASES for r in make_rows.rows(*case)]
    assert len(before) == len(after) == 320
    for old_row, new_row in zip(before, after):
        assert new_row == old_row, {k: old_row[k] for k in ("dataset", "protocol")}
