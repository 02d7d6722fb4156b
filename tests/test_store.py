"""The result store through the command line (issues 11, 15, 20): nothing lost on
kill -9, Ctrl-C, SIGTERM or a full disk; a rerun resumes to a byte-identical
results.csv, also from a damaged chunk or manifest; other configurations refused; the
user's files kept; one writer. `test_store_recovery.py` checks the store on its own."""

import errno
import json
import signal
import subprocess
import sys
import time

import pytest

from experiments.run import cli
from tbal_jax import store as store_lib

# 16 seeds, two seeds per chunk: eight chunks of a small, quick sweep
ARGS = [
    "--experiment=unit_ball_val",
    "--n_val=100,400",
    "--n_train=100",
    "--c1=0",
    "--methods=tbal",
    "--seeds=16",
    "--chunk_runs=4",
]
CHUNKS = 8


def run_here(*args) -> int:
    return cli(["experiments.run", *ARGS, *args])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """results.csv of an uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    assert run_here(f"--out={out}") == 0
    return (out / "results.csv").read_bytes()


def _manifest(out):
    return json.loads((out / store_lib.MANIFEST).read_text())


def _start_and_stop_after_a_chunk(out, stop):
    """Run the command line in a subprocess; `stop` it once a chunk is saved."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.run", *ARGS, f"--out={out}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not (out / store_lib.MANIFEST).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    stop(proc)
    _, stderr = proc.communicate(timeout=120)
    saved = len(_manifest(out)["chunks"])
    assert 1 <= saved < CHUNKS, saved  # stopped part way
    return proc.returncode, stderr


def test_kill_9_then_the_same_command_resumes(reference, tmp_path):
    out = tmp_path / "out"
    code, _ = _start_and_stop_after_a_chunk(
        out, lambda p: p.send_signal(signal.SIGKILL)
    )
    assert code == -signal.SIGKILL
    assert not (out / "results.csv").exists()  # nothing that looks complete
    assert run_here(f"--out={out}") == 0
    assert (out / "results.csv").read_bytes() == reference
    meta = json.loads((out / "meta.json").read_text())
    assert 0 < meta["methods"]["tbal"]["resumed_seeds"] < 16


@pytest.mark.parametrize(
    "sig, says",
    [(signal.SIGINT, "interrupted: "), (signal.SIGTERM, "interrupted by SIGTERM: ")],
)
def test_ctrl_c_and_sigterm_say_what_was_saved_in_one_line(
    sig, says, reference, tmp_path
):
    out = tmp_path / "out"
    code, stderr = _start_and_stop_after_a_chunk(out, lambda p: p.send_signal(sig))
    assert code == 130 and "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"stopped: {says}") and "rerun" in last, last
    chunks = _manifest(out)["chunks"]
    assert f"{len(chunks)} chunk(s)" in last
    listed = {c[k] for c in chunks for k in ("file", "csv")}
    assert {f"chunks/{p.name}" for p in (out / "chunks").iterdir()} == listed
    assert run_here(f"--out={out}") == 0
    assert (out / "results.csv").read_bytes() == reference


def test_a_full_disk_keeps_the_finished_chunks(
    reference, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    save = store_lib.ResultStore.save_chunk

    def fill_up(self, method, chunk, rows_csv):
        if len(self.manifest["chunks"]) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(out))
        save(self, method, chunk, rows_csv)

    monkeypatch.setattr(store_lib.ResultStore, "save_chunk", fill_up)
    assert run_here(f"--out={out}") == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stopped: the disk is full"), lines
    assert "3 chunk(s)" in lines[0] and len(_manifest(out)["chunks"]) == 3
    monkeypatch.setattr(store_lib.ResultStore, "save_chunk", save)
    assert run_here(f"--out={out}") == 0
    assert (out / "results.csv").read_bytes() == reference


def _one_error_line(capsys, code, *names):
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert all(n in lines[0] for n in names), lines


def test_another_configuration_is_refused_unless_overwrite(reference, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_here(f"--out={out}", "--c1=0,0.25", "--seeds=2") == 0
    assert (out / "table_c1_0p25.md").exists()
    _one_error_line(capsys, run_here(f"--out={out}"), "holds results of", "--overwrite")
    assert run_here(f"--out={out}", "--overwrite") == 0
    assert not any(out.glob("*c1_0p25*"))  # the old C1 = 0.25 tables and figures
    assert (out / "results.csv").read_bytes() == reference
    assert run_here(f"--out={out}") == 0  # the same configuration again: fine
    assert (out / "results.csv").read_bytes() == reference


def test_the_users_files_are_not_an_earlier_run_and_are_kept(reference, tmp_path):
    notes = tmp_path / "table_of_my_notes.txt"  # `table*` is an output name
    notes.write_text("mine\n")
    assert run_here(f"--out={tmp_path}", "--seeds=2") == 0
    assert run_here(f"--out={tmp_path}", "--overwrite") == 0
    assert notes.read_text() == "mine\n"
    assert (tmp_path / "results.csv").read_bytes() == reference


def _one_warning(caplog, start: str) -> None:
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    ours = [line for line in lines if line.startswith("--out=")]
    assert len(ours) == 1 and start in ours[0], lines


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_damaged_chunk_is_recomputed(damage, reference, tmp_path, caplog):
    assert run_here(f"--out={tmp_path}") == 0
    npz = tmp_path / "chunks" / "tbal-0002.npz"
    if damage == "deleted":
        npz.unlink()
    else:
        npz.write_bytes(npz.read_bytes()[:100])
    caplog.clear()
    assert run_here(f"--out={tmp_path}") == 0
    why = "is missing" if damage == "deleted" else "is damaged (its checksum differs"
    _one_warning(caplog, f"chunks/tbal-0002.npz {why}")
    assert (tmp_path / "results.csv").read_bytes() == reference
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["methods"]["tbal"]["resumed_seeds"] == 14


@pytest.mark.parametrize("content", ["", '{"format": 2, "chunks": [', "[]"])
def test_a_damaged_manifest_is_rebuilt(content, reference, tmp_path, caplog):
    assert run_here(f"--out={tmp_path}") == 0
    (tmp_path / store_lib.MANIFEST).write_text(content)
    caplog.clear()
    assert run_here(f"--out={tmp_path}") == 0
    _one_warning(caplog, f"rebuilt from the {CHUNKS} chunk(s) that verify")
    assert (tmp_path / "results.csv").read_bytes() == reference
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["methods"]["tbal"]["resumed_seeds"] == 16
    (tmp_path / store_lib.MANIFEST).write_text(content)  # and --overwrite clears it
    assert run_here(f"--out={tmp_path}", "--overwrite") == 0
    assert (tmp_path / "results.csv").read_bytes() == reference
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["methods"]["tbal"]["resumed_seeds"] == 0  # cleared, all recomputed


def test_two_runs_cannot_write_one_folder(tmp_path, capsys):
    with store_lib.ResultStore(tmp_path, {"another": "run"}):
        _one_error_line(
            capsys, run_here(f"--out={tmp_path}"), "being written by another run"
        )


@pytest.mark.parametrize("where", ["file", "under_file", "empty"])
def test_unusable_out_is_one_line_before_compiling(where, tmp_path, capsys):
    (tmp_path / "f").write_text("")
    out = {"file": tmp_path / "f", "under_file": tmp_path / "f" / "x", "empty": ""}
    _one_error_line(capsys, run_here(f"--out={out[where]}"), "--out")
