"""The command line: one-line errors before compilation, and a small end-to-end run."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from experiments import run as run_module
from tbal_jax import sweep
from tbal_jax.experiments import get_experiment, run_experiment
from tbal_jax.validate import ConfigError


def cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "experiments.run", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def cli_here(capsys, *args) -> tuple[int, list[str]]:
    """The command line in this process: (exit status, non-empty stderr lines)."""
    code = run_module.cli(["experiments.run", *args])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "args, names",
    [
        (["--eps=1.5"], "eps=1.5"),
        (["--eps=0"], "eps=0.0"),
        (["--c1=-1"], "c1=-1.0"),
        (["--n_val=0"], "n_val=0"),
        (["--n_val=5000"], "n_val=5000"),
        (["--n_val=10.5"], "n_val=10.5"),
        (["--n_train=10"], "n_train=10"),
        (["--n_train=20000"], "n_train=20000"),
        (["--n_val=abc"], "--n_val=abc"),
        (["--experiment=nope"], "'nope'"),
        (["--seeds=0"], "--seeds=0"),
        (["--seeds=100000000000000000000"], "--seeds=100000000000000000000"),
        (["--seeds=10^20"], "--seeds"),
        (["--chunk_runs=0"], "--chunk_runs=0"),
        (["stray"], "'stray'"),
        (["--methods=tbal,xx"], "'xx'"),
        (["--n_val=inf"], "n_val=inf"),
        (["--n_train=1e400"], "n_train=inf"),
        (["--n_val=100,100"], "repeats"),
        (["--eps=1e-50"], "eps=1e-50"),
        (["--n_train=200,500"], "one value of n_train"),
        (["--experiment=bounds_vs_empirics", "--eps=0.01,0.05"], "one value of eps"),
        (["--experiment=bounds_vs_empirics", "--methods=pl"], "keep tbal"),
        (["--no_such_flag"], "no_such_flag"),
        (["--memory_budget=0"], "--memory_budget=0.0: give GiB above 0"),
        (["--memory_budget=nan"], "--memory_budget=nan: give GiB above 0"),
        (["--memory_budget=inf"], "--memory_budget=inf: give GiB above 0"),
    ],
)
def test_bad_input_is_one_line_without_traceback(args, names, tmp_path, capsys):
    code, lines = cli_here(capsys, *args, f"--out={tmp_path}")
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0], (
        lines
    )
    assert not any(tmp_path.iterdir())  # nothing written


def test_empty_out_is_refused(capsys):
    code, lines = cli_here(capsys, "--out=")
    assert code == 2 and lines == [
        "error: --out is empty: give --out=FOLDER, or leave it out"
    ]


def test_unparseable_flag_is_one_line_exit_2():
    result = cli("--seeds=abc")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "--seeds" in lines[0]


ON_DIGITS = {"experiments.mlp_baseline": ["--data=digits", "--n_val=100", "--n_train=100"]}


@pytest.mark.parametrize("module, args, message", [
    ("experiments.mlp_baseline", ["--seeds=0"], "--seeds=0: give at least 1"),
    ("experiments.mlp_baseline", ["--eps=2"], "eps=2.0 is out of range"),
    ("experiments.mlp_baseline", ["--n_val=100000"], "n_val=100000 is out of range"),
    ("experiments.numpy_baseline", ["--n-train=5"], "n_train=5 is out of range"),
    ("experiments.numpy_baseline", ["--seeds=0"], "--seeds=0: give at least 1"),
])
def test_the_baseline_loops_check_their_input(module, args, message):
    """The timing baselines refuse bad sizes and tolerances in one line, before their
    loop runs (they used to end in a NumPy traceback or print NaN)."""
    result = subprocess.run(
        [sys.executable, "-m", module, *ON_DIGITS.get(module, []), *args],
        capture_output=True, text=True, timeout=300,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert message in lines[0], lines[0]


def test_bad_input_is_caught_before_compiling(tmp_path):
    traces = sweep.SWEEPER.traces
    exp = get_experiment("unit_ball_val").with_grid(eps=[2.0])
    with pytest.raises(ConfigError, match="eps=2.0"):
        run_experiment(exp, [0], tmp_path)
    assert sweep.SWEEPER.traces == traces


def test_list(capsys):
    assert run_module.cli(["experiments.run", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("unit_ball_val", "unit_ball_train", "unit_ball_eps", "circles_train"):
        assert name in listed


def test_titles_come_from_the_grid_and_the_seeds():
    val = get_experiment("unit_ball_val").with_grid(n_train=[200], c1=[0.25])
    title = val.figure_title([0, 7])
    assert "validation size" in title and "$N_q$ = 200" in title
    assert "$C_1$ = 0.25" in title and "2 seeds" in title and "$N_v$" not in title
    scatter = get_experiment("circles_scatter").with_grid(c1=[0.25])
    title = scatter.figure_title([14])
    assert "seed 14" in title and "$C_1$ = 0.25" in title
    bounds = get_experiment("bounds_vs_empirics").with_grid(n_train=[300])
    assert "$N_q$ = 300" in bounds.figure_title([0])


def test_small_run_end_to_end(tmp_path):
    result = cli(
        "--experiment=unit_ball_val",
        "--seeds=2",
        "--n_val=20,400",
        "--c1=0",
        "--methods=tbal,pl",
        f"--out={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    runs = pd.read_csv(tmp_path / "results.csv")
    assert len(runs) == 12 and set(runs.seed) == {0, 7}
    assert set(runs.method) == {"tbal", "pl", "pl_sc"}
    runs = runs[runs.method == "tbal"]
    assert list(runs.columns[:19]) == [
        "experiment",
        "dataset",
        "model",
        "num_classes",
        "method",
        "estimator",
        "score",
        "query",
        "seed",
        "n_val",
        "n_train",
        "eps",
        "c1",
        "delta",
        "auto_error",
        "coverage",
        "n_auto",
        "n_auto_wrong",
        "n_queried",
    ]
    assert set(runs.dataset) == {"unit_ball"} and set(runs.num_classes) == {2}
    assert set(runs.estimator) == {"sigma"} and set(runs.delta) == {0.05}
    assert set(runs.score) == {"max_prob"} and set(runs["query"]) == {"margin_random"}
    head = (tmp_path / "table.md").read_text().splitlines()[0]
    assert head.startswith("| N_v | TBAL err (%) | TBAL cov (%) | PL+SC err (%)"), head
    assert runs.test_error.isna().all() and runs.test_coverage.isna().all()
    assert set(runs.model) == {"unit_ball_svm"}
    # N_v = 20 is below the floor of 25: nothing auto-labelled, and the runs are kept
    empty = runs[runs.n_val == 20]
    assert empty.auto_error.isna().all() and (empty.coverage == 0).all()
    summary = pd.read_csv(tmp_path / "summary.csv")
    summary = summary[summary.method == "tbal"]
    assert summary.set_index("n_val").loc[20, "n_no_auto"] == 2
    assert (tmp_path / "table.md").exists() and (tmp_path / "table.tex").exists()
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["seeds"] == [0, 7] and meta["versions"]["jax"]
    assert meta["compile_seconds"] > 0 and meta["device"]["platform"] == "cpu"
    assert set(meta["methods"]) == {"tbal", "pl"}
    assert (tmp_path / "unit_ball_val.png").stat().st_size > 10_000
    assert (tmp_path / "unit_ball_val.pdf").exists()


def test_numpy_scalars_are_numbers():
    import numpy as np

    from tbal_jax.validate import check_grid

    check_grid(
        "unit_ball",
        np.array([100, 400]),
        np.array([500]),
        [np.float32(0.01)],
        np.array([0.0]),
    )


def _blobs_npz(path, n=3000, k=4, dim=8, with_val=False):
    """A label-sorted .npz of k Gaussian classes (as many user files are sorted)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(k, dim)) * 3.0

    def draw(m):
        y = np.sort(rng.integers(0, k, m))
        return (centres[y] + rng.normal(size=(m, dim))).astype(np.float32), y

    x, y = draw(n)
    arrays = {"x": x, "y": y}
    if with_val:
        arrays["x_val"], arrays["y_val"] = draw(n // 4)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "make, names",
    [
        (lambda p: [], "--data"),
        (lambda p: [f"--data={p / 'missing.npz'}"], "missing.npz"),
        (
            lambda p: (
                np.savez(p / "noy.npz", x=np.zeros((50, 3))),
                [f"--data={p / 'noy.npz'}"],
            )[1],
            "noy.npz",
        ),
        (
            lambda p: [f"--data={_blobs_npz(p / 'ok.npz')}", "--n_val=5000"],
            "n_val=5000",
        ),
        (lambda p: [f"--data={_blobs_npz(p / 'ok.npz')}", "--val_fraction=1.5"], "1.5"),
    ],
)
def test_data_errors_are_one_line(make, names, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    out = tmp_path / "out"
    code, lines = cli_here(capsys, "--experiment=npz", *make(data), f"--out={out}")
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0], (
        lines
    )
    assert not out.exists()


@pytest.mark.parametrize("with_val", [False, True])
def test_npz_end_to_end(tmp_path, with_val, capsys):
    path = _blobs_npz(tmp_path / "blobs.npz", with_val=with_val)
    code, lines = cli_here(
        capsys,
        "--experiment=npz",
        f"--data={path}",
        "--n_val=200,400",
        "--n_train=200",
        "--eps=0.1",
        "--c1=0",
        "--seeds=2",
        "--methods=tbal,al",
        f"--out={tmp_path / 'out'}",
    )
    assert code == 0, lines
    runs = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(runs.dataset) == {"npz"} and set(runs.num_classes) == {4}
    assert set(runs.model) == {"softmax_logistic"}
    assert set(runs.method) == {"tbal", "al", "al_sc"}
    tbal = runs[runs.method == "tbal"]
    assert (tbal.coverage > 0.3).all() and (tbal.auto_error < 0.2).all()
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["dataset"]["num_classes"] == 4
    assert (tmp_path / "out" / "npz.png").stat().st_size > 10_000


def test_all_says_what_it_skips_without_fashion_mnist(tmp_path):
    from tbal_jax.experiments import available_experiments

    runs, skipped = available_experiments(str(tmp_path))
    assert "fashion_mnist_val" not in runs and "unit_ball_val" in runs
    assert any("fashion_mnist_val" in s for s in skipped)
    assert "npz" not in runs
