"""The sequential NumPy baseline of the benchmark (`experiments.numpy_baseline`) on a
small fixed dataset with k = 3: it runs, spends its budget, and its thresholds are those
of algorithm.md section 3 (checked against a brute-force loop); and its command line."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")  # the `bench` extra

from experiments import numpy_baseline as nb  # noqa: E402
from tbal_jax.datasets import DataArrays  # noqa: E402


def _gaussians(rng, n, k=3, d=8, spread=2.5):
    """k isotropic Gaussian classes with well separated means."""
    means = spread * np.eye(k, d)
    y = rng.integers(0, k, size=n)
    x = means[y] + rng.standard_normal((n, d))
    return x.astype(np.float32), y.astype(np.int32)


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    x, y = _gaussians(rng, 3000)
    x_val, y_val = _gaussians(rng, 1000)
    return DataArrays(x, y, x_val, y_val)


@pytest.mark.parametrize("n_val", [300, 800])  # raw-score and grid candidates
@pytest.mark.parametrize("c1", [0.0, 0.25])
def test_run_tbal_fixed_is_sane(arrays, n_val, c1):
    n_train, eps = 200, 0.05
    out = nb.run_tbal_fixed(0, arrays, n_val, n_train, eps, c1)
    n_pool = len(arrays.y)
    assert out["n_queried"] == n_train  # the pool never runs out here
    assert out["n_rounds"] == 1 + (n_train - int(0.2 * n_train)) // int(0.05 * n_train)
    assert out["n_auto"] == round(out["coverage"] * n_pool)
    assert 0.3 < out["coverage"] <= 1 - n_train / n_pool
    assert 0.0 <= out["auto_error"] < 2 * eps  # a few points of slack: seed noise
    again = nb.run_tbal_fixed(0, arrays, n_val, n_train, eps, c1)
    assert again == out  # one generator per seed: reproducible


def test_slack_labels_less(arrays):
    plain = nb.run_tbal_fixed(1, arrays, 800, 200, 0.05, 0.0)
    slack = nb.run_tbal_fixed(1, arrays, 800, 200, 0.05, 0.25)
    assert slack["n_auto"] <= plain["n_auto"] + 0.05 * len(arrays.y)


def _brute_thresholds(scores, preds, labels, eps, c1, k):
    """algorithm.md section 3 literally: every candidate, every class, one at a time."""
    cands = nb.candidate_thresholds(scores)
    t = np.full(k, np.inf)
    for y in range(k):
        for c in sorted(cands):
            above = (preds == y) & (scores >= c)
            n = int(above.sum())
            if n <= nb.MIN_COUNT:
                continue
            err = float((labels[above] != y).sum()) / n
            if err + c1 * np.sqrt(err * (1 - err)) <= eps * (1 + nb.REL_TOL):
                t[y] = c
                break
    return t


@pytest.mark.parametrize("n_v", [200, 700])
@pytest.mark.parametrize("c1", [0.0, 0.25])
def test_thresholds_match_brute_force_for_k_classes(n_v, c1):
    rng = np.random.default_rng(n_v)
    k = 4
    for _ in range(5):
        scores = rng.uniform(0.3, 1.0, size=n_v).round(3)  # ties included
        preds = rng.integers(0, k, size=n_v)
        # labels wrong more often at low scores, so thresholds land inside the range
        wrong = rng.uniform(size=n_v) < 0.4 * (1.0 - scores)
        labels = np.where(wrong, (preds + 1) % k, preds)
        fast = nb.estimate_thresholds(scores, preds, labels, 0.05, c1, k)
        np.testing.assert_array_equal(
            fast, _brute_thresholds(scores, preds, labels, 0.05, c1, k)
        )


def _baseline(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.numpy_baseline", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_command_line():
    """`--n-val A B` (argparse's nargs="+" of the documented command line) or
    `--n-val=A,B`; bad input as one line `error: ...` with exit status 2."""
    run = _baseline("--seeds", "2", "--n-val", "100", "400", "--n-train=200")
    assert run.returncode == 0, run.stderr
    assert "N_q=200, eps=0.01, C1=0.0, seeds 0..1" in run.stdout
    rows = [line.split("|")[0].strip() for line in run.stdout.splitlines()[3:-1]]
    assert rows == ["100", "400"]
    for args in (["--n-val"], ["--n-val", "100", "x"], ["--n_val=100"], ["7"]):
        bad = _baseline(*args)
        assert bad.returncode == 2, args
        assert len(bad.stderr.strip().splitlines()) == 1
        assert bad.stderr.startswith("error: ")
    help_ = _baseline("--help")
    assert help_.returncode == 0 and "--n-val" in help_.stdout


MLP_FLOPS_CHECK = """
from experiments import bench
from tbal_jax.mlp import MLP
model = MLP(widths=(3,), epochs=2, batch_size=4)
print(bench.mlp_flops(model, dim=2, k=2, n_train=100, rounds=3, rows=10))
print(bench.matmul_rate(size=64, repeats=2) > 0)
"""


def test_mlp_flops_by_hand():
    """P = 2*3 + 3*2 = 12 weights, 6 in the first layer: a 4-row step is 4 * (2P + 2P
    + 2(P - 6)) = 240 FLOPs. N_q = 100: n_s = 20, n_b = 5, so rounds 0-2 train on 20,
    25, 30 labels, ceil(n / 4) = 5 + 7 + 8 = 20 minibatches an epoch, 2 epochs: 40
    steps. Scoring: 3 rounds x 10 rows x 2P. (A subprocess: bench's flags would clash
    with experiments.run's in this one.)"""
    out = subprocess.run(
        [sys.executable, "-c", MLP_FLOPS_CHECK],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == [str((40 * 240, 3 * 10 * 24)), "True"]
