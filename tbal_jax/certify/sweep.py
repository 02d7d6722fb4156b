"""Run every (method, N_v, eps, seed) draw of a scores experiment (algorithm.md section
13): one compiled program per method (and grouping) for its whole grid, run in chunks
of fixed size so a sweep shows progress and the last chunk is padded, not recompiled.

A draw's key is `PRNGKey(seed)` alone: every method, N_v and eps of a seed use the same
permutation of the labelled rows (the first N_v of it), so the methods are compared on
the same draws and each seed's validation sets are nested in N_v.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from tbal_jax.certify.draw import GROUPINGS, make_draws, prepare
from tbal_jax.certify.methods import FDR, METHODS, WHOLE
from tbal_jax.certify.table import ScoresTable, check_grid
from tbal_jax.errors import ConfigError

ROW_BUDGET = 1 << 24  # table rows held by one chunk of draws (about 64 MiB per array)
MAX_CHUNK = 4096
EPS_MIN = 1e-6  # the smallest eps or delta, as the sweep's (tbal_jax.params): float32


def check_settings(eps=(), delta=None, grouping=None, estimators=()) -> None:
    """A one-line `ConfigError` for a tolerance or delta outside (0, 1), an unknown
    grouping or an unknown method: the same check for the command lines and the Python
    API (`Plan`), before anything compiles."""
    for e in eps:
        if not 0 < e < 1:
            raise ConfigError(f"--eps={e:g}: a tolerance must be in (0, 1)")
        if e < EPS_MIN:
            raise ConfigError(f"--eps={e:g}: at least {EPS_MIN:g}, please (float32)")
    for flag, values in (("eps", list(eps)), ("estimator", list(estimators))):
        repeated = sorted({v for v in values if values.count(v) > 1}, key=values.index)
        if repeated:
            raise ConfigError(
                f"--{flag}: {', '.join(map(str, repeated))} repeated; give each once"
            )
    if delta is not None and not 0 < delta < 1:
        raise ConfigError(f"--delta={delta:g}: delta (alpha) must be in (0, 1)")
    if delta is not None and delta < EPS_MIN:
        raise ConfigError(f"--delta={delta:g}: at least {EPS_MIN:g}, please (float32)")
    if grouping is not None and grouping not in GROUPINGS:
        raise ConfigError(f"--grouping={grouping}: choose one of {', '.join(GROUPINGS)}")
    for name in estimators:
        METHODS.get(name)


def chunk_size(table: ScoresTable, capacity: int, cells: int) -> int:
    """Seeds per compiled chunk: as many as keep one chunk's (n,) arrays in budget."""
    return int(np.clip(ROW_BUDGET // ((table.n + capacity) * cells), 1, MAX_CHUNK))


class Plan:
    """One method's compiled draws on one table and grid (`make_draws`), built once;
    `run(seeds)` runs them in chunks (the jitted program is reused by every call)."""

    def __init__(self, table: ScoresTable, name: str, grouping: str, n_val, eps,
                 delta: float):
        check_settings(eps, delta, grouping, [name])
        check_grid(table, list(n_val))
        method = METHODS.get(name)
        self.grouping = "global" if method.global_only else grouping
        n_vals = tuple(int(v) for v in n_val)
        self.draws = make_draws(prepare(table, self.grouping), method, n_vals)
        self.grid = [(v, float(e)) for v in n_vals for e in eps]
        self.eps = jnp.asarray(eps, jnp.float32)
        self.delta = jnp.float32(delta)
        self.size = chunk_size(table, max(n_vals), len(self.grid))

    def run(self, seeds, progress: Callable[[int, int], None] | None = None):
        """Every draw: a dict of (draws,) numpy arrays (the `Outcome` fields without
        thresholds, plus n_val, eps, seed; cells outer, seeds inner) and the seconds of
        the first chunk (with any compile) and of the others."""
        seeds = np.asarray(seeds, np.int64)
        size = min(self.size, len(seeds))
        parts, first_s, rest_s = [], 0.0, 0.0
        for start in range(0, len(seeds), size):
            chunk = seeds[start:start + size]
            padded = np.pad(chunk, (0, size - len(chunk)), mode="edge")
            keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(padded.astype(np.uint32)))
            t0 = time.perf_counter()
            out = self.draws(keys, self.eps, self.delta)  # (S, V, E)
            out = jax.tree.map(
                lambda a: np.asarray(a)[: len(chunk)].reshape(len(chunk), -1), out
            )
            spent = time.perf_counter() - t0
            first_s, rest_s = (spent, rest_s) if start == 0 else (first_s, rest_s + spent)
            parts.append(out)
            if progress:
                progress(start + len(chunk), len(seeds))
        fields = {
            f: np.concatenate([getattr(p, f) for p in parts]).T.reshape(-1)
            for f in parts[0]._fields if f != "thresholds"
        }
        fields.update(
            n_val=np.repeat([v for v, _ in self.grid], len(seeds)),
            eps=np.repeat([e for _, e in self.grid], len(seeds)),
            seed=np.tile(seeds, len(self.grid)),
            grouping=self.grouping,
        )
        return fields, {"first_chunk_s": first_s, "other_chunks_s": rest_s,
                        "seeds_per_chunk": size}


def run_method(table: ScoresTable, name: str, grouping: str, n_val, eps, delta: float,
               seeds, progress: Callable[[int, int], None] | None = None):
    """`Plan(...).run(seeds, progress)`: every draw of one method, compiled afresh."""
    return Plan(table, name, grouping, n_val, eps, delta).run(seeds, progress)


def rows_of(experiment: str, table: ScoresTable, name: str, fields: dict, delta):
    """results.csv rows of one method's draws (the README's columns)."""
    method = METHODS.get(name)
    known_total = table.n_labelled
    out = []
    for j in range(len(fields["seed"])):
        n_auto, known, wrong = (int(fields[f][j]) for f in
                                ("n_auto", "n_auto_known", "n_wrong"))
        n_pool = int(fields["n_pool"][j])
        error = wrong / known if known else math.nan
        whole = wrong / known_total
        e = float(fields["eps"][j])
        checked = whole if method.promise == WHOLE else (0.0 if known == 0 else error)
        out.append({
            "experiment": experiment,
            "table": table.name,
            "estimator": name,
            "promise": method.promise,
            "grouping": fields["grouping"],
            "seed": int(fields["seed"][j]),
            "n_val": int(fields["n_val"][j]),
            "eps": e,
            "delta": delta,
            "n_pool": n_pool,
            "n_auto": n_auto,
            "n_auto_wrong": wrong,
            "coverage": n_auto / n_pool,
            "error": error,
            "whole_error": whole,
            "human_labels": int(fields["human"][j]),
            "violation": bool(checked > e) if method.promise != FDR else "",
        })
    return out


def console_progress(label: str):
    """A progress printer for `run_method`: one line, rewritten."""
    start = time.perf_counter()

    def show(done, total):
        end = "\n" if done == total else "\r"
        print(f"  {label}: {done}/{total} seeds, {time.perf_counter() - start:.0f} s",
              end=end, file=sys.stderr, flush=True)

    return show


__all__ = ["Plan", "check_settings", "chunk_size", "console_progress", "rows_of",
           "run_method"]
