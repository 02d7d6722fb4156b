"""Seed x grid sweeps in one compiled program (STYLE section 2, item 1).

`run_sweep(cfg, seeds, grid)` runs every (seed, grid cell) pair: the seeds are `vmap`ped on
the outside and the grid cells inside, so each seed's pools are drawn once and shared by its
cells. Grid values are traced arrays: new values never recompile, only a new grid *size* or
a new `StaticConfig` does. Long sweeps run in chunks of whole seeds, padded to one fixed
chunk shape, so a sweep of any size compiles once and its memory stays bounded; progress is
logged through absl. A chunk's size also respects a memory budget: its compiled program's
peak memory (XLA's own `memory_analysis`) must fit, else the chunk is halved. A fixed
dataset's arrays are an argument of the compiled program that is not vmapped: one copy on
each device, shared by every seed and run. With several devices the seeds of a chunk are split over all of them
(a `NamedSharding` of the seed axis). A run depends only on its seed and its grid cell
(keys are `jax.random.key(seed)`), never on the chunk, batch or device it ran on.

Bitwise reproducibility needs every run to go through the same kernels. XLA's CPU backend
rounds a dot differently when it is unbatched, and its YNNPACK fusions differ with the
batch size; so `tbal_jax` switches those fusions off (see `tbal_jax/__init__.py`) and pads
both batch axes to at least two. `run_one` replays a single (seed, cell) this way and
gives exactly the row a sweep of any size gives.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from tbal_jax.config import SWEPT, RunParams, StaticConfig, device_params
from tbal_jax.run import RoundRecord, RunSummary, make_run, summarise
from tbal_jax.validate import check_capacity

DEFAULT_CHUNK_RUNS = 64  # measured: small chunks keep the vmapped Newton loops short
DEFAULT_MEMORY_BUDGET_GIB = 8.0  # per chunk; leaves room on a 24 GiB machine


class SweepOutput(NamedTuple):
    outcomes: dict  # method name -> RunSummary, each field (S, G)
    rounds: RoundRecord  # each field (S, G, R[, k])


@dataclasses.dataclass
class SweepResult:
    """Host-side (NumPy) results of a sweep, with its timing."""

    seeds: np.ndarray  # (S,)
    grid: RunParams  # each field (G,)
    outcomes: dict  # method name -> RunSummary (S, G): "tbal", or "al" and "al_sc", ...
    rounds: RoundRecord  # (S, G, R)
    compile_seconds: float
    run_seconds: float
    chunks: int
    seeds_per_chunk: int
    peak_bytes: int  # XLA's estimate for one chunk: arguments, outputs and temporaries

    @property
    def summary(self) -> RunSummary:
        """The outcome of the configured method itself ("tbal", "al" or "pl")."""
        return next(iter(self.outcomes.values()))


def seed_keys(seeds) -> jax.Array:
    """One typed key per seed: `jax.random.key(seed)`."""
    return jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))


TRACE_COUNT = {"sweep": 0}  # how often the sweep program was traced (tests use it)


def _sweep_fn(cfg: StaticConfig):
    sim = make_run(cfg)
    n_pool = cfg.dataset.n_pool

    def per_seed(key, grid: RunParams, arrays) -> SweepOutput:
        TRACE_COUNT["sweep"] += 1
        data_key, loop_key = jax.random.split(key)
        pools = cfg.dataset.split(data_key, arrays)

        def one(params):
            out = sim.run_on_pools(pools, loop_key, params)
            return SweepOutput(
                {
                    name: summarise(labels, pools.pool_y, out.record, n_pool)
                    for name, labels in out.labels.items()
                },
                out.record,
            )

        return jax.vmap(one)(grid)

    return jax.jit(jax.vmap(per_seed, in_axes=(0, None, None)))


_COMPILED: dict = {}


def _spec(a, sharding):
    return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding)


def compiled_sweep(cfg: StaticConfig, chunk_seeds: int, grid_size: int, arrays=()):
    """The compiled program for (cfg, chunk shape, data shapes), compiled once per
    process; returns (compiled, compile seconds)."""
    split, replicated = _shardings()
    arrays_spec = jax.tree.map(lambda a: _spec(a, replicated), arrays)
    cache_key = (cfg, chunk_seeds, grid_size, str(arrays_spec))
    if cache_key not in _COMPILED:
        keys = jax.ShapeDtypeStruct(
            (chunk_seeds,), jax.random.key(0).dtype, sharding=split
        )
        grid = RunParams(
            *(
                jax.ShapeDtypeStruct((grid_size,), d.dtype, sharding=replicated)
                for d in SWEPT
            )
        )
        start = time.perf_counter()
        compiled = _sweep_fn(cfg).trace(keys, grid, arrays_spec).lower().compile()
        _COMPILED[cache_key] = (compiled, time.perf_counter() - start)
    return _COMPILED[cache_key]


def peak_bytes(compiled) -> int:
    """XLA's estimate of a compiled program's memory: arguments, outputs, temporaries."""
    m = compiled.memory_analysis()
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)


MIN_BATCH = 2  # see `run_sweep`: XLA's CPU kernels round an unbatched dot differently


def chunk_seed_count(n_seeds: int, grid_size: int, chunk_runs: int) -> int:
    """Seeds per chunk: at least MIN_BATCH per device, a multiple of the device count."""
    n_dev = jax.device_count()
    per_chunk = max(MIN_BATCH * n_dev, min(n_seeds, chunk_runs // max(grid_size, 1)))
    return -(-per_chunk // n_dev) * n_dev


def _fit_chunk(cfg, per_chunk, grid_size, arrays, budget_bytes):
    """Halve the seeds per chunk until XLA's peak-memory estimate fits the budget (or
    the chunk is as small as it can be); returns (compiled, compile s, seeds, peak)."""
    smallest = MIN_BATCH * jax.device_count()
    total_s = 0.0
    while True:
        compiled, seconds = compiled_sweep(cfg, per_chunk, grid_size, arrays)
        total_s += seconds
        peak = peak_bytes(compiled)
        if peak <= budget_bytes or per_chunk <= smallest:
            return compiled, total_s, per_chunk, peak
        per_chunk = chunk_seed_count(per_chunk // 2, 1, per_chunk // 2)


def _shardings():
    """(seed axis split over every device, replicated), or (None, None) on one device."""
    if jax.device_count() == 1:
        return None, None
    mesh = jax.make_mesh(
        (jax.device_count(),), ("seeds",), axis_types=(jax.sharding.AxisType.Auto,)
    )
    return NamedSharding(mesh, P("seeds")), NamedSharding(mesh, P())


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """Repeat the last entry up to `size` (padding runs are computed, then dropped)."""
    return np.concatenate([a, np.repeat(a[-1:], size - len(a), axis=0)])


def run_sweep(
    cfg: StaticConfig,
    seeds,
    grid: RunParams,
    chunk_runs: int = DEFAULT_CHUNK_RUNS,
    label: str = "sweep",
    memory_budget_gib: float = DEFAULT_MEMORY_BUDGET_GIB,
) -> SweepResult:
    """Run all seeds x grid cells; see the module docstring."""
    seeds = np.asarray(seeds, np.int64)
    grid = RunParams(*(np.asarray(a) for a in grid))
    check_capacity(cfg, grid.n_val, grid.n_train)
    n_cells = len(grid.n_val)
    g = max(n_cells, MIN_BATCH)
    on_device = device_params(RunParams(*(_pad(a, g) for a in grid)))
    split, replicated = _shardings()
    arrays = jax.device_put(cfg.dataset.device_arrays(), replicated)
    compiled, compile_s, per_chunk, peak = _fit_chunk(
        cfg,
        chunk_seed_count(len(seeds), g, chunk_runs),
        g,
        arrays,
        memory_budget_gib * 2**30,
    )
    n_chunks = math.ceil(len(seeds) / per_chunk)
    padded = _pad(seeds, n_chunks * per_chunk)
    logging.info(
        "%s: %d seeds x %d grid cells = %d runs in %d chunk(s) of %d seeds "
        "(peak %.2f GiB each); compile %.1f s",
        label,
        len(seeds),
        g,
        len(seeds) * g,
        n_chunks,
        per_chunk,
        peak / 2**30,
        compile_s,
    )
    outputs = []
    on_device = jax.device_put(on_device, replicated)
    start = time.perf_counter()
    for c in range(n_chunks):
        chunk = padded[c * per_chunk : (c + 1) * per_chunk]
        keys = jax.device_put(seed_keys(chunk), split)
        out = jax.block_until_ready(compiled(keys, on_device, arrays))
        outputs.append(jax.device_get(out))
        elapsed = time.perf_counter() - start
        eta = elapsed / (c + 1) * (n_chunks - c - 1)
        logging.info(
            "%s: chunk %d/%d done, %.1f s elapsed, ETA %.1f s",
            label,
            c + 1,
            n_chunks,
            elapsed,
            eta,
        )
    run_s = time.perf_counter() - start
    merged = jax.tree.map(
        lambda *xs: np.concatenate(xs)[: len(seeds), :n_cells], *outputs
    )
    return SweepResult(
        seeds,
        grid,
        merged.outcomes,
        merged.rounds,
        compile_s,
        run_s,
        n_chunks,
        per_chunk,
        peak,
    )


def run_one(cfg: StaticConfig, seed: int, params: RunParams) -> SweepResult:
    """One (seed, grid cell), computed exactly as inside any sweep."""
    return run_sweep(
        cfg, [seed], RunParams(*(np.atleast_1d(a) for a in params)), label="run_one"
    )
