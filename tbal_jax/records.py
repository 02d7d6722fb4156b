"""How a result store opens, checks, repairs and clears its folder (`tbal_jax.store`),
on the record format of `tbal_jax.manifest`: `Records` verifies every listed chunk
against its checksums, rebuilds a damaged or lost manifest from the chunks that verify,
refuses another configuration's or another environment's folder (unless told to
overwrite it or to mix environments), and deletes only the files the store wrote."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from absl import logging

from tbal_jax.errors import ConfigError
from tbal_jax.manifest import (
    CHUNKS,
    FORMAT,
    MANIFEST,
    WRITTEN,
    atomic_path,
    chunk_names,
    compact,
    describe,
    env_diff,
    file_digest,
    log_written,
    read,
    read_chunk,
    seed_ranges,
    written,
)


class Records:
    """A folder's records as one store holds them: `data` (the manifest) and which of
    its environments is this machine's (`env`). `open` checks the folder (module
    docstring of `tbal_jax.store`)."""

    def __init__(self, folder: Path, config: dict, config_hash: str, options: dict):
        self.folder, self.hash, self.config = folder, config_hash, config
        self.overwrite = options.get("overwrite", False)
        self.allow_env_change = options.get("allow_env_change", False)
        self.env = 0
        self.data = self.fresh(None)

    def fresh(self, env) -> dict:
        return {
            "format": FORMAT,
            "config_hash": self.hash,
            "description": describe(self.config),
            "config": compact(self.config),
            "environments": [env] if env else [],
            "environment_changed": False,
            "chunks": [],
            "files": [],
            "timings": {},
            "complete": False,
        }

    def open(self, here: dict) -> None:
        """Resume, rebuild, refuse or clear what the folder holds (`here`: this
        machine's fingerprint)."""
        old, damage = read(self.folder / MANIFEST)
        log = written(self.folder)
        if old is None and damage is None and not log:
            self.data = self.fresh(here)  # no run's folder (the user's files only)
            return
        if old is not None and old["config_hash"] == self.hash:
            self.data = old
            if self._same_env(here):
                return self._verify_chunks(log)
        elif not self.overwrite:
            if old is not None:
                self._refuse(f"{old['description']}, not this configuration's")
            return self._rebuild(damage or "is missing", log, here)
        self._clear(old, log)
        self.data = self.fresh(here)

    def _refuse(self, what: str):
        raise ConfigError(
            f"--out={self.folder} holds {what}; choose another --out, or pass "
            "--overwrite to replace them"
        )

    def _warn(self, what: str) -> None:
        logging.warning("--out=%s: %s", self.folder, what)

    def _same_env(self, here: dict) -> bool:
        """Whether the chunks may be resumed here: refused (one line) where they were
        computed elsewhere, unless `allow_env_change` (recorded) or `overwrite` (False:
        recompute them)."""
        envs = self.data["environments"]
        used = [envs[i] for i in sorted({c["env"] for c in self.data["chunks"]})]
        other = next((e for e in used if e != here), None)
        if other is not None and not self.allow_env_change:
            if self.overwrite:
                return False
            raise ConfigError(
                f"--out={self.folder} holds chunks computed in another environment "
                f"({env_diff(other, here)}), not bit-identical to this machine's; "
                "resume there, pass --overwrite to recompute them here, or "
                "allow_env_change=True to mix them"
            )
        if here not in envs:
            envs.append(here)
        self.env = envs.index(here)
        if other is not None and not self.data["environment_changed"]:
            self.data["environment_changed"] = True
            self.write()
        return True

    def _verify_chunks(self, log: dict) -> None:
        """Drop (one line each) and delete the listed chunks whose files are missing
        or fail their checksums, and the unlisted chunk files of a killed save."""
        keep, listed = [], set()
        for c in self.data["chunks"]:
            listed |= {c["file"], c["csv"]}
            why = self._damage(c["file"], c["sha256"]["npz"]) or self._damage(
                c["csv"], c["sha256"]["csv"]
            )
            if why is None:
                keep.append(c)
                continue
            self._warn(f"{why}; recomputing its {c['count']} seed(s) of {c['unit']}")
            self.unlink(c["file"], c["csv"])
        mine = self.hash[:16]
        self.unlink(
            *(
                n
                for n, h in log.items()
                if h == mine and _in_chunks(n) and n not in listed
            )
        )
        if len(keep) < len(self.data["chunks"]):
            self.data["chunks"] = keep
            self.write()

    def _damage(self, name: str, sha: str) -> str | None:
        path = self.folder / name
        if not path.is_file():
            return f"{name} is missing"
        if file_digest(path) != sha:
            return f"{name} is damaged (its checksum differs from the manifest's)"
        return None

    def _rebuild(self, damage: str, log: dict, here: dict) -> None:
        """The manifest again, from the chunk files that verify."""
        mine = self.hash[:16]
        names = {n for n in log if _in_chunks(n) and n.endswith(".npz")}
        names |= {f"{CHUNKS}/{p.name}" for p in (self.folder / CHUNKS).glob("*.npz")}
        if not log and not names:
            self._refuse(f"a {MANIFEST} that this tool did not write (it {damage})")
        self.data, done = self.fresh(None), {}
        for name in sorted(names):
            meta, why = read_chunk(self.folder, name)
            if meta is not None and meta.get("config_hash") != self.hash:
                self._refuse(f"results of another configuration ({MANIFEST} {damage})")
            if why is not None:
                if log.get(name) == mine:
                    self._warn(f"{name} {why}; recomputing its seeds")
                    self.unlink(name, str(Path(name).with_suffix(".csv")))
                continue
            seeds = {int(s) for s in meta["seeds"]}
            if seeds & done.setdefault(meta["unit"], set()):
                self.unlink(name, meta["csv"])  # a second copy of saved seeds
                continue
            done[meta["unit"]] |= seeds
            sha = {"npz": file_digest(self.folder / name), "csv": meta["csv_sha256"]}
            self.add_chunk(meta["unit"], name, meta["csv"], meta["seeds"], sha, meta)
        if any(h != mine and (self.folder / n).exists() for n, h in log.items()):
            self._refuse(f"files of another configuration ({MANIFEST} {damage})")
        self.data["files"] = sorted(
            n for n in log if not _in_chunks(n) and (self.folder / n).exists()
        )
        chunks = self.data["chunks"]
        self._warn(
            f"{MANIFEST} {damage}; rebuilt from the {len(chunks)} chunk(s) that verify "
            f"({sum(c['count'] for c in chunks)} seed-unit pairs)"
        )
        self._same_env(here)
        self.write()

    def add_chunk(self, unit, npz, csv, seeds, sha: dict, meta: dict) -> None:
        """List a saved chunk (`meta`: its own record, with its environment)."""
        envs = self.data["environments"]
        if meta["env"] not in envs:
            envs.append(meta["env"])
        entry = {"unit": unit, "file": npz, "csv": csv, "count": len(seeds)}
        entry |= {"seeds": seed_ranges(seeds), "sha256": sha}
        self.data["chunks"].append(entry | {"env": envs.index(meta["env"])})

    def _clear(self, old: dict | None, log: dict) -> None:
        """Delete the store's files (`overwrite`): those its records name, and chunk
        files that carry its record of them."""
        names = set(log)
        for path in (self.folder / CHUNKS).glob("*.npz"):
            names |= set(chunk_names(self.folder, path))
        if old is not None:
            names |= {
                *old["files"],
                *(c[k] for c in old["chunks"] for k in ("file", "csv")),
            }
        self.unlink(*names, MANIFEST, WRITTEN)
        with contextlib.suppress(OSError):
            (self.folder / CHUNKS).rmdir()  # unless something else lives there

    def unlink(self, *names: str) -> None:
        """Delete these files of the folder, and their temporary twins."""
        for name in names:
            path = self.folder / name
            for p in (path, path.with_name(f".{path.name}.tmp")):
                if not p.is_dir():
                    p.unlink(missing_ok=True)

    def record(self, names: list[str]) -> None:
        """Log and list files the store writes or was told of."""
        new = sorted(set(names) - set(self.data["files"]))
        if new:
            log_written(self.folder, self.hash, new)
            self.data["files"] = sorted({*self.data["files"], *new})
            self.write()

    def owns(self, name: str) -> bool:
        log = written(self.folder)
        return name in self.data["files"] or log.get(name) == self.hash[:16]

    def write(self) -> None:
        """The manifest, flushed and renamed into place: one line per chunk."""
        head = {k: v for k, v in self.data.items() if k != "chunks"}
        chunks = ",\n".join(f"  {json.dumps(c)}" for c in self.data["chunks"])
        text = json.dumps(head, indent=1, default=str)[:-2]
        with atomic_path(self.folder / MANIFEST) as tmp:
            tmp.write_text(f'{text},\n "chunks": [\n{chunks}\n ]\n}}\n')


def _in_chunks(name: str) -> bool:
    return name.startswith(f"{CHUNKS}/")
