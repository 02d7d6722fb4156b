"""Nothing silent, nothing lost (issue 20): every flag is honoured or refused in one
line with exit status 2 before anything runs, and a sweep of several estimators or
deltas is drawn and tabled as several series."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from experiments import run as run_module

SMALL = ["--n_val=100,400", "--n_train=100", "--c1=0", "--seeds=2", "--methods=tbal"]


def cli_here(capsys, *args) -> tuple[int, list[str]]:
    code = run_module.cli(["experiments.run", *args])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def refused(capsys, *args, says: str) -> None:
    code, lines = cli_here(capsys, *args)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert says in lines[0], lines[0]


def test_several_estimators_are_several_series(tmp_path, capsys):
    code, lines = cli_here(capsys, *SMALL, "--estimator=sigma,ltt", f"--out={tmp_path}")
    assert code == 0, lines
    table = (tmp_path / "table.md").read_text()
    assert "TBAL, $\\sigma$ slack err" in table and "TBAL, Learn then Test err" in table
    rows = pd.read_csv(tmp_path / "summary.csv")
    assert set(rows.estimator) == {"sigma", "ltt"}
    ltt = rows[rows.estimator == "ltt"].set_index("n_val").coverage_mean
    sigma = rows[rows.estimator == "sigma"].set_index("n_val").coverage_mean
    assert (ltt < sigma).all()  # the guarantee costs coverage: not one zig-zag line


def test_several_deltas_are_several_series(tmp_path, capsys):
    args = [*SMALL, "--estimator=clopper_pearson", "--delta=0.05,0.5"]
    code, lines = cli_here(capsys, *args, f"--out={tmp_path}")
    assert code == 0, lines
    table = (tmp_path / "table.md").read_text()
    assert "δ = 0.05 err" in table and "δ = 0.5 err" in table
    assert "Clopper-Pearson" not in table  # one estimator: not named in every column


@pytest.mark.parametrize(
    "args, says",
    [
        (["--delta=0.1"], "delta=0.1 changes nothing: sigma use no delta"),
        (["--experiment=circles_scatter", "--seeds=5"], "give --seeds=1"),
        (["--experiment=all", "--n_val=100"], "--n_val would change every"),
        (["--estimator="], "no estimators"),
        (["--data=x.npz"], "--data cannot apply to the unit_ball dataset"),
        (["--experiment=npz", "--data="], "--data is empty"),
        (
            ["--experiment=npz", "--dataset=digits", "--model=unit_ball_svm"],
            "unit_ball_svm is a two-class model and digits has 10 classes",
        ),
        (["--model=nope"], "unknown model 'nope'"),
        (["--num_processes=0", "--distributed"], "--num_processes=0"),
        (["--num_processes=-1", "--distributed"], "--num_processes=-1"),
        (["--process_id=5", "--num_processes=2", "--distributed"], "give 0 to 1"),
        (
            ["--coordinator=garbage", "--num_processes=2", "--process_id=0"],
            "give HOST:PORT",
        ),
        (["--num_processes=2", "--process_id=1"], "only with --distributed"),
        (["--experiment=all", "--estimator=ltt"], "--estimator would change every"),
        (
            ["--experiment=circles_scatter", "--seeds=1", "--estimator=sigma,ltt"],
            "circles_scatter draws one configuration; give one of estimators",
        ),
        (
            ["--experiment=estimators", "--seeds=2", "--score=max_prob,margin"],
            "estimators draws one configuration; give one of scores",
        ),
        (
            ["--experiment=bounds_vs_empirics", "--model=unit_ball_svm,mlp_fashion"],
            "bounds_vs_empirics draws one configuration; give one of models",
        ),
    ],
)
def test_refused_in_one_line(args, says, tmp_path, capsys):
    refused(capsys, *args, f"--out={tmp_path}", says=says)


def test_val_fraction_with_a_validation_pool_is_refused(tmp_path, capsys):
    path = tmp_path / "d.npz"
    x = np.random.default_rng(0).normal(size=(300, 3))
    y = np.arange(300) % 2
    np.savez(path, x=x, y=y, x_val=x, y_val=y)
    refused(
        capsys,
        "--experiment=npz",
        f"--data={path}",
        "--val_fraction=0.3",
        f"--out={tmp_path / 'out'}",
        says="val_fraction=0.3 cannot apply",
    )


def test_a_text_file_named_npz_is_not_an_archive(tmp_path, capsys):
    path = tmp_path / "notes.npz"
    path.write_text("x,y\n1,2\n")
    refused(
        capsys,
        "--experiment=npz",
        f"--data={path}",
        f"--out={tmp_path / 'out'}",
        says="not an .npz archive",
    )


def test_a_memory_budget_no_chunk_fits_is_refused(tmp_path, capsys):
    refused(
        capsys,
        *SMALL,
        "--memory_budget=1e-9",
        f"--out={tmp_path}",
        says="is below what the smallest chunk",
    )


def _run(*args, timeout=120):
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "experiments.run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    return out.returncode, lines, time.monotonic() - start


def test_distributed_without_a_cluster_is_one_line(tmp_path):
    code, lines, _ = _run("--distributed", f"--out={tmp_path}")
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: could not join a multi-process run"), lines


def test_a_missing_peer_is_one_line_after_the_timeout(tmp_path):
    code, lines, seconds = _run(
        "--coordinator=localhost:29531",
        "--num_processes=2",
        "--process_id=0",
        "--init_timeout=3",
        f"--out={tmp_path}",
    )
    assert code == 2, lines
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors and "no multi-process run joined within 3 s" in errors[0], lines
    assert seconds < 60  # not JAX's 300 s and a C++ stack


def test_every_unit_has_a_name_of_its_own():
    """A store unit per (method, estimator, model, score, query): `margin` is both a
    score and a query, and the two must not share a name (or a folder's chunks)."""
    from tbal_jax.estimators import ESTIMATORS
    from tbal_jax.presets import get_experiment
    from tbal_jax.queries import QUERIES
    from tbal_jax.scores import SCORES

    exp = get_experiment("unit_ball_val").with_grid(
        estimators=ESTIMATORS.names(), scores=SCORES.names(), queries=QUERIES.names()
    )
    names = [unit.name for unit in exp.units]
    assert len(set(names)) == len(names) == len(exp.units)
    pl = [u for u in exp.units if u.method == "pl"]  # PL queries at random: once
    assert len(pl) == len(ESTIMATORS) * len(SCORES) and {u.query for u in pl} == {
        "random"
    }


def test_a_file_the_run_did_not_write_is_not_replaced(tmp_path, capsys):
    (tmp_path / "table.md").write_text("my notes\n")
    args = ["--n_val=100", "--n_train=100", "--c1=0", "--seeds=1", "--methods=tbal"]
    refused(capsys, *args, f"--out={tmp_path}", says="holds table.md, which this run")
    assert (tmp_path / "table.md").read_text() == "my notes\n"
    (tmp_path / "table.md").rename(tmp_path / "notes.md")  # moved away: it resumes
    code, lines = cli_here(capsys, *args, f"--out={tmp_path}")
    assert code == 0, lines
    assert (tmp_path / "notes.md").read_text() == "my notes\n"


def test_a_config_built_from_names_runs():
    """`StaticConfig(dataset="unit_ball", ...)` resolves every name once (it used to
    pass the check and fail with AttributeError inside the sweep)."""
    from tbal_jax import config as C
    from tbal_jax import sweep

    cfg = C.StaticConfig(
        dataset="unit_ball", max_n_val=100, max_n_train=100, estimator="ltt"
    )
    assert cfg.dataset.name == "unit_ball" and cfg.estimator.name == "ltt"
    grid = C.grid_params([100], [100], [0.05], [0.0])
    result = sweep.run_sweep(cfg, [0], grid)
    assert result.summary.n_auto.shape == (1, 1)
    with pytest.raises(Exception) as err:
        C.StaticConfig(dataset="unit_ball", query="nope")
    assert "unknown query 'nope'" in str(err.value)


def test_the_scatter_draws_its_one_run(tmp_path, capsys):
    code, lines = cli_here(
        capsys, "--experiment=circles_scatter", "--seeds=1", f"--out={tmp_path}"
    )
    assert code == 0, lines
    png = tmp_path / "circles_scatter.png"
    assert png.stat().st_size > 10_000
    import json

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "circles_scatter.png" in manifest["files"]  # the store owns its figure


def test_a_resumed_run_keeps_the_earlier_timings(tmp_path, capsys):
    import json

    args = [*SMALL, "--n_val=100", f"--out={tmp_path}"]
    assert cli_here(capsys, *args)[0] == 0
    first = json.loads((tmp_path / "meta.json").read_text())["methods"]["tbal"]
    assert cli_here(capsys, *args)[0] == 0  # every seed saved: nothing runs again
    again = json.loads((tmp_path / "meta.json").read_text())["methods"]["tbal"]
    assert again["resumed_seeds"] == 2 and first["resumed_seeds"] == 0
    assert again["run_seconds"] == first["run_seconds"] > 0  # not zeros
    assert again["chunks"] == first["chunks"] >= 1


def _wait_for_port(port: int, proc, limit_s: float = 90.0) -> None:
    """Until something listens on localhost:`port` (process 0's coordinator, started
    once JAX is imported and joining), rather than a fixed sleep that a loaded machine
    can outlast."""
    import socket

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listened on port {port} within {limit_s:g} s")


def test_ctrl_c_works_while_waiting_for_peers(tmp_path):
    import signal

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "experiments.run",
            "--coordinator=localhost:29533",
            "--num_processes=2",
            "--process_id=0",
            "--init_timeout=60",
            f"--out={tmp_path}",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_port(29533, proc)  # JAX is up, its coordinator waiting for process 1
    time.sleep(1)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - start < 30
    assert "stopped: interrupted" in err and "Traceback" not in err
