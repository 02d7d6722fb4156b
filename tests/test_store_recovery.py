"""The result store on its own (issues 15 and 20), with small made-up chunks: it deletes
only what it wrote, diagnoses a damaged folder in one line and recovers the right rows,
keeps a manifest that grows with the chunks, stops on SIGTERM as on Ctrl-C, keeps
timings for a resumed run, and refuses chunks of another environment."""

import json
import os
import signal
import zipfile

import numpy as np
import pytest

from tbal_jax import manifest as mf
from tbal_jax import store as store_lib
from tbal_jax.errors import ConfigError
from tbal_jax.run import RoundRecord, RunSummary
from tbal_jax.store import ResultStore, code_digest
from tbal_jax.sweep import Chunk, SweepOutput

SEEDS = np.arange(8)
CONFIG = {"experiment": {"name": "toy"}, "seeds": [int(s) for s in SEEDS]}
OTHER = CONFIG | {"experiment": {"name": "other"}}


def chunk(seeds) -> Chunk:
    """A chunk whose every number is its seed, so rows are easy to check."""
    col = np.asarray(seeds, np.float32)[:, None]
    summary = RunSummary(*[col] * len(RunSummary._fields))
    rounds = RoundRecord(*[col[..., None]] * len(RoundRecord._fields))
    return Chunk(0, 1, np.asarray(seeds), SweepOutput({"tbal": summary}, rounds))


def rows(seeds):
    return lambda p: p.write_text("".join(f"{s}\n" for s in seeds))


def save(store, seeds, per=2):
    for i in range(0, len(seeds), per):
        store.save_chunk("tbal", chunk(seeds[i : i + per]), rows(seeds[i : i + per]))


def fill(folder, config=CONFIG, **kw) -> dict:
    """A run of all SEEDS, two a chunk, with results.csv written and finished."""
    with ResultStore(folder, config, **kw) as store:
        save(store, store.todo("tbal", SEEDS))
        with store.atomic_path(folder / "results.csv") as tmp:
            tmp.write_text("results\n")
        store.finish([folder / "results.csv"])
        return store.manifest


def resume(folder, config=CONFIG, **kw) -> np.ndarray:
    """Open the folder again, run what is missing, check every seed's rows; returns
    the seeds that had to be run."""
    with ResultStore(folder, config, **kw) as store:
        todo = store.todo("tbal", SEEDS)
        save(store, todo)
        out = store.output("tbal", SEEDS)
        np.testing.assert_array_equal(out.outcomes["tbal"].coverage[:, 0], SEEDS)
        np.testing.assert_array_equal(out.rounds.val_used[:, 0, 0], SEEDS)
        assert sorted(store.done_seeds("tbal")) == list(SEEDS)
    return todo


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# 1. the code digest -----------------------------------------------------------------


def test_code_digest_covers_every_subpackage_by_relative_path(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "sub" / "deeper").mkdir(parents=True)
        (root / "top.py").write_text("x = 1\n")
        (root / "sub" / "mod.py").write_text("y = 2\n")
        (root / "sub" / "deeper" / "leaf.py").write_text("z = 3\n")
    assert code_digest(a) == code_digest(b)  # relative paths: same tree, same digest
    (b / "sub" / "deeper" / "leaf.py").write_text("z = 4\n")
    assert code_digest(a) != code_digest(b)  # a file two folders down counts
    (b / "sub" / "deeper" / "leaf.py").write_text("z = 3\n")
    (b / "sub" / "mod.py").rename(b / "sub" / "deeper" / "mod.py")
    assert code_digest(a) != code_digest(b)  # moved between folders
    assert code_digest() == code_digest(os.path.dirname(store_lib.__file__))


# 2. only the store's files ----------------------------------------------------------


def test_the_users_files_are_not_an_earlier_run_and_survive_overwrite(tmp_path):
    notes = tmp_path / "table_of_my_notes.txt"
    notes.write_text("mine\n")
    manifest = fill(tmp_path)  # a folder holding only the user's files: a new run
    assert manifest["files"] == ["results.csv"]
    assert len(manifest["chunks"]) == 4
    with pytest.raises(ConfigError) as err:
        ResultStore(tmp_path, OTHER).__enter__()
    assert one_line(err) == (
        f"--out={tmp_path} holds results of toy with 8 seed(s), not this "
        "configuration's; choose another --out, or pass --overwrite to replace them"
    )
    with ResultStore(tmp_path, OTHER, overwrite=True):
        pass
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == [".lock", "table_of_my_notes.txt"] and notes.read_text() == "mine\n"


def test_an_output_the_store_did_not_write_is_refused_unless_overwrite(tmp_path):
    (tmp_path / "results.csv").write_text("the user's\n")
    with ResultStore(tmp_path, CONFIG) as store:
        with pytest.raises(ConfigError) as err:
            with store.atomic_path(tmp_path / "results.csv") as tmp:
                tmp.write_text("ours\n")
    assert one_line(err) == (
        f"--out={tmp_path} holds results.csv, which this run did not write; move it "
        "away, or pass --overwrite to replace it"
    )
    assert (tmp_path / "results.csv").read_text() == "the user's\n"
    with ResultStore(tmp_path, CONFIG, overwrite=True) as store:
        with store.atomic_path(tmp_path / "results.csv") as tmp:
            tmp.write_text("ours\n")
    assert (tmp_path / "results.csv").read_text() == "ours\n"
    with ResultStore(tmp_path, CONFIG) as store:  # now the store's own: replaced
        with store.atomic_path(tmp_path / "results.csv") as tmp:
            tmp.write_text("again\n")


def test_finish_records_outputs_written_elsewhere_in_manifest_and_log(tmp_path):
    with ResultStore(tmp_path, CONFIG) as store:
        (tmp_path / "fig.png").write_bytes(b"png")
        store.finish([tmp_path / "fig.png"])
    manifest = json.loads((tmp_path / mf.MANIFEST).read_text())
    assert manifest["files"] == ["fig.png"] and manifest["complete"]
    assert mf.written(tmp_path) == {"fig.png": store_lib.config_hash(CONFIG)[:16]}


def test_a_legacy_manifest_is_another_configuration(tmp_path):
    (tmp_path / "chunks").mkdir()
    (tmp_path / "chunks" / "tbal-0000.npz").write_bytes(b"old")
    (tmp_path / "chunks" / "tbal-0000.csv").write_bytes(b"old")
    (tmp_path / "results.csv").write_text("old\n")
    legacy = {
        "config_hash": "abc",
        "config": {"experiment": {"name": "unit_ball_val"}, "seeds": [0, 1]},
        "chunks": [{"method": "tbal", "file": "chunks/tbal-0000.npz", "seeds": [0]}],
        "outputs": ["results.csv"],
    }
    (tmp_path / mf.MANIFEST).write_text(json.dumps(legacy))
    with pytest.raises(ConfigError) as err:
        ResultStore(tmp_path, CONFIG).__enter__()
    assert "holds results of unit_ball_val with 2 seed(s), not this" in one_line(err)
    with ResultStore(tmp_path, CONFIG, overwrite=True):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]


# 3. damaged folders -----------------------------------------------------------------


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


DAMAGED_MANIFESTS = {
    "truncated": (
        lambda p: _truncate(p),
        "is not JSON, truncated? (",
    ),
    "empty": (lambda p: p.write_text(""), "is empty"),
    "a list": (
        lambda p: p.write_text("[]"),
        "is not a manifest: a JSON list, not an object",
    ),
    "deleted": (lambda p: p.unlink(), "is missing"),
}


@pytest.mark.parametrize("damage", list(DAMAGED_MANIFESTS))
def test_a_damaged_manifest_is_rebuilt_from_the_chunks(damage, tmp_path, caplog):
    fill(tmp_path)
    spoil, why = DAMAGED_MANIFESTS[damage]
    spoil(tmp_path / mf.MANIFEST)
    assert len(resume(tmp_path)) == 0  # every chunk verifies: nothing to recompute
    (line,) = warnings(caplog)
    assert line.startswith(f"--out={tmp_path}: manifest.json {why}"), line
    assert line.endswith(
        "; rebuilt from the 4 chunk(s) that verify (8 seed-unit pairs)"
    ), line
    manifest = json.loads((tmp_path / mf.MANIFEST).read_text())
    assert manifest["files"] == ["results.csv"]  # the outputs, from the log
    assert [c["seeds"] for c in manifest["chunks"]] == [
        [[0, 2]],
        [[2, 4]],
        [[4, 6]],
        [[6, 8]],
    ]


DAMAGED_CHUNKS = {
    "npz deleted": ("npz", lambda p: p.unlink(), "is missing"),
    "npz truncated": (
        "npz",
        _truncate,
        "is damaged (its checksum differs from the manifest's)",
    ),
    "csv deleted": ("csv", lambda p: p.unlink(), "is missing"),
    "csv changed": (
        "csv",
        lambda p: p.write_text("x\n"),
        "is damaged (its checksum differs from the manifest's)",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGED_CHUNKS))
def test_a_damaged_chunk_is_recomputed(damage, tmp_path, caplog):
    fill(tmp_path)
    ext, spoil, why = DAMAGED_CHUNKS[damage]
    spoil(tmp_path / "chunks" / f"tbal-0001.{ext}")
    np.testing.assert_array_equal(resume(tmp_path), [2, 3])
    assert warnings(caplog) == [
        f"--out={tmp_path}: chunks/tbal-0001.{ext} {why}; recomputing its 2 seed(s) "
        "of tbal"
    ]
    assert resume(tmp_path).size == 0  # and it stays recovered
    listed = {c[k] for c in read_manifest(tmp_path)["chunks"] for k in ("file", "csv")}
    assert {f"chunks/{p.name}" for p in (tmp_path / "chunks").iterdir()} == listed


def read_manifest(folder) -> dict:
    return json.loads((folder / mf.MANIFEST).read_text())


def test_a_damaged_manifest_and_a_truncated_chunk(tmp_path, caplog):
    fill(tmp_path)
    _truncate(tmp_path / "chunks" / "tbal-0002.npz")  # a BadZipFile to np.load
    with pytest.raises(zipfile.BadZipFile):
        np.load(tmp_path / "chunks" / "tbal-0002.npz")
    (tmp_path / mf.MANIFEST).write_text('{"format": 2, "chunks": [')
    np.testing.assert_array_equal(resume(tmp_path), [4, 5])
    first, second = warnings(caplog)
    assert first.startswith(
        f"--out={tmp_path}: chunks/tbal-0002.npz is damaged (BadZipFile: "
    ) and first.endswith("; recomputing its seeds"), first
    assert second.endswith(
        "rebuilt from the 3 chunk(s) that verify (6 seed-unit pairs)"
    )


def test_a_chunk_saved_but_not_listed_is_deleted_and_recomputed(tmp_path):
    """kill -9 between a chunk's files and the manifest that lists them."""
    with ResultStore(tmp_path, CONFIG) as store:
        save(store, SEEDS[:6])
    listed = (tmp_path / mf.MANIFEST).read_bytes()
    with ResultStore(tmp_path, CONFIG) as store:
        save(store, SEEDS[6:])
        with store.atomic_path(tmp_path / "summary.csv") as tmp:
            tmp.write_text("half\n")  # an output written, not yet finished
    (tmp_path / mf.MANIFEST).write_bytes(listed)  # as if killed before the manifest
    assert (tmp_path / "chunks" / "tbal-0003.npz").exists()
    with ResultStore(tmp_path, CONFIG) as store:
        np.testing.assert_array_equal(store.todo("tbal", SEEDS), [6, 7])
        assert not (tmp_path / "chunks" / "tbal-0003.npz").exists()
    with ResultStore(tmp_path, OTHER, overwrite=True):
        pass  # the unfinished output was logged: deleted with the rest
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]


def test_a_chunk_damaged_after_opening_is_one_line(tmp_path):
    fill(tmp_path)
    with ResultStore(tmp_path, CONFIG) as store:
        _truncate(tmp_path / "chunks" / "tbal-0003.npz")
        with pytest.raises(ConfigError) as err:
            store.output("tbal", SEEDS)
    assert one_line(err).startswith(
        f"--out={tmp_path}: chunks/tbal-0003.npz cannot be read (BadZipFile: "
    )
    assert one_line(err).endswith("; rerun the same command to recompute it")
    np.testing.assert_array_equal(resume(tmp_path), [6, 7])


@pytest.mark.parametrize("same", [True, False])
def test_overwrite_clears_the_stores_files_under_a_damaged_manifest(same, tmp_path):
    fill(tmp_path)
    (tmp_path / "chunks" / "notes.txt").write_text("mine\n")
    (tmp_path / "my.csv").write_text("mine\n")
    (tmp_path / mf.MANIFEST).write_text("[]")
    with ResultStore(tmp_path, CONFIG if same else OTHER, overwrite=True) as store:
        assert store.manifest["chunks"] == []
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert left == [".lock", "chunks", "chunks/notes.txt", "my.csv"]


def test_a_manifest_that_is_not_the_stores_is_refused(tmp_path):
    (tmp_path / mf.MANIFEST).write_text("[]")  # no chunk, no log: someone else's
    with pytest.raises(ConfigError) as err:
        ResultStore(tmp_path, CONFIG).__enter__()
    assert one_line(err) == (
        f"--out={tmp_path} holds a manifest.json that this tool did not write (it is "
        "not a manifest: a JSON list, not an object); choose another --out, or pass "
        "--overwrite to replace them"
    )


def test_a_lost_manifest_of_another_configuration_is_refused(tmp_path):
    fill(tmp_path, OTHER)
    (tmp_path / mf.MANIFEST).unlink()
    with pytest.raises(ConfigError) as err:
        ResultStore(tmp_path, CONFIG).__enter__()
    assert one_line(err) == (
        f"--out={tmp_path} holds results of another configuration (manifest.json is "
        "missing); choose another --out, or pass --overwrite to replace them"
    )


# 4. the manifest's size -------------------------------------------------------------


def test_seed_ranges():
    assert mf.seed_ranges([5, 6, 7, 1, 2, 9]) == [[5, 8], [1, 3], [9, 10]]
    assert mf.seed_ranges([]) == []
    seeds = [3, 4, 10, 0, 1, 2, 2**32 - 1]
    np.testing.assert_array_equal(mf.expand(mf.seed_ranges(seeds)), seeds)


def test_the_manifest_grows_with_the_chunks_not_the_seeds(tmp_path):
    seeds = np.arange(100_000)
    config = {"experiment": {"name": "big"}, "seeds": [int(s) for s in seeds]}
    with ResultStore(tmp_path, config) as store:
        for part in np.split(seeds, 20):
            store.save_chunk("tbal", chunk(part), rows([]))
        assert store.todo("tbal", seeds).size == 0
    size = (tmp_path / mf.MANIFEST).stat().st_size
    assert size < 20_000, size  # 1.09 MB with a list of seeds
    manifest = read_manifest(tmp_path)
    assert manifest["config"]["seeds"] == {"count": 100_000, "ranges": [[0, 100_000]]}
    assert manifest["chunks"][3]["seeds"] == [[15_000, 20_000]]


# 5. SIGTERM -------------------------------------------------------------------------


def test_sigterm_stops_as_ctrl_c_does_and_the_handler_is_restored(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with ResultStore(tmp_path, CONFIG) as store:
        save(store, SEEDS[:2])
        with pytest.raises(KeyboardInterrupt) as err:
            os.kill(os.getpid(), signal.SIGTERM)
        stopped = store.stopped(err.value)
    assert str(stopped) == (
        f"interrupted by SIGTERM: 1 chunk(s) (2 seed-unit pairs) are saved in "
        f"{tmp_path}; rerun the same command to resume"
    )
    assert stopped.interrupted
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_a_chunk_is_saved_waits_for_its_manifest(sig, tmp_path):
    def write_then_signal(path):
        os.kill(os.getpid(), sig)
        path.write_text("0\n1\n")

    with ResultStore(tmp_path, CONFIG) as store:
        with pytest.raises(KeyboardInterrupt):
            store.save_chunk("tbal", chunk([0, 1]), write_then_signal)
    manifest = read_manifest(tmp_path)
    assert [c["seeds"] for c in manifest["chunks"]] == [[[0, 2]]]
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == [
        "tbal-0000.csv",
        "tbal-0000.npz",
    ]  # whole, listed, and no temporary file left
    np.testing.assert_array_equal(resume(tmp_path), np.arange(2, 8))


# 6. timings -------------------------------------------------------------------------


def test_timings_are_kept_for_a_resumed_run(tmp_path):
    with ResultStore(tmp_path, CONFIG) as store:
        assert store.timing("tbal") == {}
        save(store, SEEDS[:4])
        store.save_timing("tbal", {"compile_seconds": 1.5, "chunks": 2})
    with ResultStore(tmp_path, CONFIG) as store:
        assert store.timing("tbal") == {"compile_seconds": 1.5, "chunks": 2}
        save(store, store.todo("tbal", SEEDS))
        assert store.timing("tbal") == {"compile_seconds": 1.5, "chunks": 2}
        assert store.timing("pl") == {}


# 7. the environment -----------------------------------------------------------------

HERE = {
    "processor": "CPU A",
    "isa": ["avx2", "fma"],
    "machine": "x86_64",
    "jaxlib": "0.4.1",
    "xla_flags": "",
}
THERE = HERE | {"processor": "CPU B", "isa": ["avx2", "avx512f", "fma"]}


def test_the_manifest_records_this_machines_fingerprint(tmp_path):
    assert fill(tmp_path)["environments"] == [store_lib.machine_fingerprint()]
    assert set(store_lib.machine_fingerprint()) >= {"processor", "isa", "jaxlib"}
    assert set(store_lib.machine_fingerprint()) >= {"xla_flags"}


def test_a_resume_in_another_environment_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(store_lib, "machine_fingerprint", lambda: dict(HERE))
    with ResultStore(tmp_path, CONFIG) as store:
        save(store, SEEDS[:4])
    monkeypatch.setattr(store_lib, "machine_fingerprint", lambda: dict(THERE))
    with pytest.raises(ConfigError) as err:
        ResultStore(tmp_path, CONFIG).__enter__()
    assert one_line(err) == (
        f"--out={tmp_path} holds chunks computed in another environment (isa here "
        "adds avx512f; processor 'CPU A', here 'CPU B'), not bit-identical to this "
        "machine's; resume there, pass --overwrite to recompute them here, or "
        "allow_env_change=True to mix them"
    )
    np.testing.assert_array_equal(resume(tmp_path, allow_env_change=True), SEEDS[4:])
    manifest = read_manifest(tmp_path)
    assert manifest["environments"] == [HERE, THERE]
    assert manifest["environment_changed"] is True
    assert [c["env"] for c in manifest["chunks"]] == [0, 0, 1, 1]
    np.testing.assert_array_equal(resume(tmp_path, overwrite=True), SEEDS)
    assert read_manifest(tmp_path)["environments"] == [THERE]


def test_writer_false_touches_nothing(tmp_path):
    with ResultStore(tmp_path / "absent", CONFIG, writer=False) as store:
        np.testing.assert_array_equal(store.todo("tbal", SEEDS), SEEDS)
        save(store, SEEDS)
        store.finish([])
    assert not (tmp_path / "absent").exists()
