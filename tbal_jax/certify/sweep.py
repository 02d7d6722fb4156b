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

from tbal_jax.certify.draw import make_draws, prepare
from tbal_jax.certify.methods import METHODS, PROMISES
from tbal_jax.certify.table import ScoresTable

ROW_BUDGET = 1 << 24  # table rows held by one chunk of draws (about 64 MiB per array)
MAX_CHUNK = 4096


def chunk_size(table: ScoresTable, capacity: int) -> int:
    """Draws per compiled chunk: as many as keep one chunk's (n,) arrays in budget."""
    return int(np.clip(ROW_BUDGET // (table.n + capacity), 8, MAX_CHUNK))


def cells(n_val, eps, seeds):
    """The grid flattened: (n_val, eps, seed) per draw, seeds innermost."""
    grid = np.array(
        [(v, e, s) for v in n_val for e in eps for s in seeds], dtype=np.float64
    )
    return grid[:, 0].astype(np.int32), grid[:, 1], grid[:, 2]


def run_method(
    table: ScoresTable,
    name: str,
    grouping: str,
    n_val,
    eps,
    delta: float,
    seeds,
    progress: Callable[[int, int], None] | None = None,
):
    """Every draw of one method: a dict of (draws,) numpy arrays (the `Outcome` fields
    without thresholds, plus n_val, eps, seed) and the compile and run seconds."""
    method = METHODS.get(name)
    grouping = "global" if method.global_only else grouping
    prep = prepare(table, grouping)
    capacity = int(max(n_val))
    draws = make_draws(prep, method, capacity)
    nv, ep, sd = cells(n_val, eps, seeds)
    size = min(chunk_size(table, capacity), len(nv))
    total = len(nv)
    parts = []
    compile_s = run_s = 0.0
    for start in range(0, total, size):
        sl = slice(start, start + size)
        pad = size - len(nv[sl])
        args = [np.pad(a[sl], (0, pad), mode="edge") for a in (nv, ep, sd)]
        keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(args[2].astype(np.uint32)))
        t0 = time.perf_counter()
        out = draws(keys, jnp.asarray(args[0]), jnp.asarray(args[1], jnp.float32),
                    jnp.full(size, delta, jnp.float32))
        out = jax.tree.map(lambda a: np.asarray(a)[: size - pad], out)
        spent = time.perf_counter() - t0
        if start == 0:
            compile_s = spent
        else:
            run_s += spent
        parts.append(out)
        if progress:
            progress(min(start + size, total), total)
    fields = {f: np.concatenate([getattr(p, f) for p in parts]) for f in parts[0]._fields
              if f != "thresholds"}
    fields.update(n_val=nv, eps=ep, seed=sd.astype(np.int64))
    fields["grouping"] = grouping
    return fields, {"first_chunk_s": compile_s, "other_chunks_s": run_s, "chunk": size}


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
        checked = whole if method.promise == "whole" else (0.0 if known == 0 else error)
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
            "violation": bool(checked > e) if method.promise != "fdr" else "",
        })
    return out


def console_progress(label: str):
    """A progress printer for `run_method`: one line, rewritten."""
    start = time.perf_counter()

    def show(done, total):
        end = "\n" if done == total else "\r"
        print(f"  {label}: {done}/{total} draws, {time.perf_counter() - start:.0f} s",
              end=end, file=sys.stderr, flush=True)

    return show


__all__ = ["PROMISES", "cells", "chunk_size", "console_progress", "rows_of",
           "run_method"]
