"""The sequential NumPy baseline of the benchmark (`experiments.numpy_baseline`) on a
small fixed dataset with k = 3: it runs, spends its budget, and its thresholds are those
of algorithm.md section 3 (checked against a brute-force loop); and its command line."""

import os
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


SHARE_CHECK = """
import types
import numpy as np
from experiments import bench
from tbal_jax import open_rows
from tbal_jax.protocols import AL, TBAL
open_rows.BLOCK = 10
# 2 seeds a chunk, 1 cell (N_v = 40), 3 rounds; pool 100, validation buffer 40
rounds = types.SimpleNamespace(
    n_auto=np.array([[[50, 10, 0]], [[20, 0, 0]], [[0, 0, 0]], [[95, 0, 0]]]),
    train_used=np.array([[[5, 10, 0]], [[5, 10, 15]], [[5, 10, 15]], [[5, 0, 0]]]),
    val_removed_class=np.array([[[[10, 9], [5, 0], [0, 0]]], [[[20, 10], [0, 0], [0, 0]]],
                                [[[1, 0], [0, 0], [0, 0]]], [[[30, 5], [0, 0], [0, 0]]]]))
result = types.SimpleNamespace(rounds=rounds, seeds_per_chunk=2,
                               grid=types.SimpleNamespace(n_val=np.array([40])))
data = types.SimpleNamespace(n_pool=100)
for protocol in (TBAL, AL):
    cfg = types.SimpleNamespace(max_n_val=40, n_test={n_test}, protocol=protocol)
    print(bench.scored_row_share(result, cfg, data))
"""


def test_scored_row_share_by_hand():
    """Blocks of 10 rows; chunk 1 is seeds 0-1, chunk 2 seeds 2-3. Pool rows open at
    rounds 0-2: seed 0 95, 40, 30 (round 1 stopped it: no query, and round 2 keeps its
    state); seed 1 95, 70, 65; seed 2 95, 90, 85; seed 3 95, 0, 0. Whole blocks, the
    chunk's fullest: chunk 1 100, 70, 70, chunk 2 100, 90, 90, for each of its 2
    seeds. Validation rows open (40 minus those removed before): seed 0 40, 21, 16;
    seed 1 40, 10, 10; seed 2 40, 39, 39; seed 3 40, 5, 5: chunk 1 40, 30, 20, chunk 2
    40, 40, 40. Test sample: 7 rows each round. Every row every round: 3 x 147 per
    run. AL scores only the pool in the loop."""
    out = subprocess.run(
        [sys.executable, "-c", SHARE_CHECK.format(n_test=7)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    tbal, al = map(float, out.stdout.split())
    pool = 2 * (100 + 70 + 70) + 2 * (100 + 90 + 90)
    val = 2 * (40 + 30 + 20) + 2 * (40 + 40 + 40)
    assert tbal == pytest.approx((pool + val + 4 * 3 * 7) / (4 * 3 * 147))
    assert al == pytest.approx(pool / (4 * 3 * 147))


TINY_ARGS = {  # a smoke run of the Tiny-ImageNet case: 200 classes, a few hundred points
    "n_pool": 400,
    "n_val_pool": 200,
    "n_train": 200,
    "epochs": 2,
    "widths": "32,16",
    "seeds": 2,
}
TINY_CHECK = """
import numpy as np
from experiments import bench
model = bench.tiny_imagenet_model(epochs={epochs}, widths=[{widths}])
assert model.widths == ({widths},) and model.epochs == {epochs}, model
assert model.lr == bench.MODELS.get("mlp_tiny_imagenet").lr  # the preset otherwise
print(sum(bench.mlp_flops(model, 512, 200, {n_train}, bench.max_rounds_for({n_train}),
                          {n_pool} + {n_val_pool})))
a, b = (bench.synthetic_tiny_imagenet({n_pool}, {n_val_pool}) for _ in range(2))
assert (a.dim, a.num_classes, a.n_pool, a.n_val_pool) == (512, 200, {n_pool}, {n_val_pool})
assert all(np.array_equal(u, v) for u, v in zip(a.arrays[:4], b.arrays[:4]))  # seeded
assert (np.bincount(a.arrays.y) == {n_pool} // 200).all()  # balanced, every class
print(bench.tiny_imagenet_flops(2000) / 1e12)
"""


def test_tiny_imagenet_case_end_to_end():
    """`--case=tiny_imagenet_synthetic` at a tiny scale: it runs the preset's sweep,
    prints finite, consistent figures, a FLOP count equal to `mlp_flops` for those
    sizes, the projection and the no-baseline note; its size flags belong to it. XLA's
    CPU backend compiles without its costly optimisations here: the compile, not these
    tiny sizes, would take most of the time (about 18 s against 35-40 s on our 2-core
    CPU under load), and this test times nothing."""
    args = [f"--{k}={v}" for k, v in TINY_ARGS.items()]
    xla = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    env = os.environ | {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {xla}"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.bench",
            "--case=tiny_imagenet_synthetic",
            "--repeats=1",
            "--matmul_size=128",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "no baseline loop" in out and "REDUCED sizes" in out
    assert out.count("PROJECTION") == 2
    (line,) = [x for x in out.splitlines() if x.startswith("result: ")]
    fields = dict(item.split("=", 1) for item in line.split()[1:])
    assert fields["case"] == "tiny_imagenet_synthetic"
    assert int(fields["runs"]) == 2 * TINY_ARGS["seeds"]  # C1 = 0 and 0.25 per seed
    figures = {
        k: float(fields[k])
        for k in ("ms_per_run", "runs_per_s", "tflop_per_s", "matmul_fraction")
    }
    assert all(np.isfinite(v) and v > 0 for v in figures.values()), figures
    assert figures["ms_per_run"] * figures["runs_per_s"] == pytest.approx(1000, 1e-3)
    check = subprocess.run(
        [sys.executable, "-c", TINY_CHECK.format(**TINY_ARGS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    expected, preset_tflop = check.stdout.split()
    assert int(fields["flops_per_run"]) == int(expected)
    assert float(preset_tflop) == pytest.approx(54, abs=0.5)  # the 54 TFLOP
    per_run = int(expected) / (figures["ms_per_run"] / 1000)
    assert figures["tflop_per_s"] == pytest.approx(per_run / 1e12, rel=1e-3)
    stray = subprocess.run(
        [sys.executable, "-m", "experiments.bench", "--n_train=200"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert stray.returncode == 2 and "only for --case=tiny_imagenet" in stray.stderr


@pytest.mark.parametrize(
    "module, arg, says",
    [
        ("bench", "--seeds=0", "--seeds=0: must be a positive integer"),
        ("bench", "--repeats=-1", "--repeats=-1: must be a positive integer"),
        ("bench", "--numpy_seeds=-2", "--numpy_seeds=-2: must be 0 or more"),
        ("bench", "--memory_budget_gib=0", "--memory_budget_gib=0.0: give GiB above"),
        ("bench", "--memory_budget_gib=inf", "--memory_budget_gib=inf: give GiB above"),
        ("bench", "--estimators=nope", "--estimators: unknown estimator 'nope'"),
        ("bench", "--case=nope", "flag --case=nope: value should be one of"),
        ("bench", "--widths=", "--widths: give at least one hidden width"),
        ("bench", "--precision=bfloat16", "--precision: only for --case=tiny_imagenet"),
        ("faithfulness", "--seeds=0", "--seeds=0: must be a positive integer"),
        ("faithfulness", "stray", "unexpected argument 'stray'"),
    ],
)
def test_bad_input_is_one_line_before_anything_runs(module, arg, says):
    """`experiments.bench` and `experiments.faithfulness`: each is `error: ...` on one
    line of stderr, exit status 2, and nothing on stdout (the bench prints its device
    line only once the flags hold)."""
    run = subprocess.run(
        [sys.executable, "-m", f"experiments.{module}", arg],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    lines = [x for x in run.stderr.splitlines() if not x.startswith(("I1", "W1"))]
    assert lines == [lines[0]] and lines[0].startswith(f"error: {says}"), lines
    assert run.stdout == ""
