"""Seed x grid sweeps in one compiled program.

`run_sweep(cfg, seeds, grid)` runs every (seed, grid cell) pair: the seeds are `vmap`ped on
the outside and the grid cells inside, so each seed's pools are drawn once and shared by its
cells. Grid values are traced arrays: new values never recompile, only a new grid *size* or
a new `StaticConfig` does. Every input is checked first (`tbal_jax.validate`), and a large
sweep says how many runs it has and roughly how long they take, before compiling.

Long sweeps run in chunks of whole seeds, padded to one fixed chunk shape, so a sweep of any
size compiles once and its memory stays bounded; progress is logged through absl, and
`on_chunk` receives each finished chunk (`tbal_jax.store` saves it there). A chunk's size
also respects a memory budget: its compiled program's peak memory (XLA's own
`memory_analysis`) must fit, else the chunk is halved. A fixed dataset's arrays are an
argument of the compiled program that is not vmapped: one copy on each device, shared by
every seed and run. The compiled programs belong to a `Sweeper`, which holds a bounded
number of them (`SWEEPER` by default).

With several devices, or several processes joined by `jax.distributed`
(`tbal_jax.runtime.distributed`), the seeds of a chunk are split over every device of
every process (a `NamedSharding` of the seed axis) and every process receives every row. A
run depends only on its seed and its grid cell (keys are `jax.random.key(seed)`), never on
the chunk, batch, device or process it ran on.

Bitwise reproducibility needs every run to go through the same kernels. XLA's CPU backend
rounds a dot differently when it is unbatched, and its YNNPACK fusions differ with the
batch size; so entry points call `tbal_jax.deterministic_cpu()` to switch those fusions off,
and both batch axes are padded to at least two. `run_one` replays a single (seed, cell)
this way and gives exactly the row a sweep of any size gives.

One module of about 400 lines on purpose: the chunk loop, its compiled-program cache,
its memory fitting and its sharding all depend on one chunk shape, and splitting them
would pass that shape and the sharding between modules.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from tbal_jax import trace_cache
from tbal_jax.config import SWEPT, RunParams, StaticConfig, device_params
from tbal_jax.datasets.base import DataArrays
from tbal_jax.errors import ConfigError
from tbal_jax.run import RoundRecord, RunSummary, make_run, summarise
from tbal_jax.validate import (
    check_capacity,
    check_cells,
    check_chunking,
    check_seeds,
)

DEFAULT_CHUNK_RUNS = 64  # measured: small chunks keep the vmapped Newton loops short
DEFAULT_MEMORY_BUDGET_GIB = 8.0  # per chunk; leaves room on a 24 GiB machine
CPU_MS_PER_RUN = 6.0  # README benchmark, unit ball on a 2-core CPU
FASHION_MS_PER_RUN = 482.0  # README benchmark, Fashion-MNIST on the same CPU
LARGE_RUNS = 10_000  # a sweep this large, or
LARGE_SECONDS = 300.0  # this slow by `rough_seconds`, says so before compiling


class SweepOutput(NamedTuple):
    outcomes: dict  # method name -> RunSummary, each field (S, G)
    rounds: RoundRecord  # each field (S, G, R[, k])


trace_cache.serialisable(RunParams, DataArrays, SweepOutput, RunSummary, RoundRecord)


@dataclasses.dataclass
class SweepResult:
    """Host-side (NumPy) results of a sweep, with its timing."""

    seeds: np.ndarray  # (S,)
    grid: RunParams  # each field (G,)
    outcomes: dict  # method name -> RunSummary (S, G): "tbal", or "al" and "al_sc", ...
    rounds: RoundRecord  # each field (S, G, R[, k])
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


def _sweep_fn(cfg: StaticConfig, on_trace=lambda: None):
    """The jitted sweep over (seed keys, grid, dataset arrays); `on_trace` is called
    each time it is traced."""
    sim = make_run(cfg)
    n_pool = cfg.dataset.n_pool

    def per_seed(key, grid: RunParams, arrays) -> SweepOutput:
        on_trace()
        data_key, loop_key = jax.random.split(key)
        pools = cfg.dataset.split(data_key, arrays)
        test = sim.test_sample(data_key, arrays)

        def one(params):
            out = sim.run_on_pools(pools, loop_key, params, test)
            return SweepOutput(
                {
                    name: summarise(
                        labels,
                        pools.pool_y,
                        out.record,
                        n_pool,
                        out.test_labels[name],
                        test[1],
                    )
                    for name, labels in out.labels.items()
                },
                out.record,
            )

        return jax.vmap(one)(grid)

    return jax.jit(jax.vmap(per_seed, in_axes=(0, None, None)))


def _spec(a, sharding):
    return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding)


class Sweeper:
    """Owns a process's compiled sweep programs, one per (cfg, chunk shape, data
    shapes): at most `max_programs`, the least recently used dropped first (each holds
    its executable's memory). `traces` counts how often a sweep was traced."""

    def __init__(self, max_programs: int = 16):
        self.max_programs = max_programs
        self.traces = 0
        self._programs: OrderedDict = OrderedDict()

    def _traced(self) -> None:
        self.traces += 1

    def clear(self) -> None:
        """Drop every held program (and the memory of its executable)."""
        self._programs.clear()

    def compiled(self, cfg: StaticConfig, chunk_seeds: int, grid_size: int, arrays=()):
        """The compiled program, compiled at most once while it is held; returns
        (compiled, compile seconds)."""
        split, replicated = _shardings()
        arrays_spec = jax.tree.map(lambda a: _spec(a, replicated), arrays)
        cache_key = (cfg, chunk_seeds, grid_size, str(arrays_spec))
        if cache_key in self._programs:
            self._programs.move_to_end(cache_key)
            return self._programs[cache_key]
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
        fn = _sweep_fn(cfg, self._traced)
        specs = (keys, grid, arrays_spec)
        compiled = None
        kept = trace_cache.exported(fn, specs, cfg)  # None: no trace kept
        if kept is not None:
            try:
                compiled = jax.jit(kept[0].call).trace(*specs).lower().compile()
            except Exception as err:  # a stored trace this JAX cannot run: trace
                logging.warning("traced sweep %s failed (%s); tracing", kept[1], err)
                trace_cache.forget(kept[1])
        if compiled is None:
            compiled = fn.trace(*specs).lower().compile()
        self._programs[cache_key] = (compiled, time.perf_counter() - start)
        while len(self._programs) > self.max_programs:
            self._programs.popitem(last=False)
        return self._programs[cache_key]


SWEEPER = Sweeper()  # the default owner of compiled sweeps


def compiled_sweep(cfg: StaticConfig, chunk_seeds: int, grid_size: int, arrays=()):
    """`SWEEPER.compiled`: (compiled program, compile seconds)."""
    return SWEEPER.compiled(cfg, chunk_seeds, grid_size, arrays)


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


def _fit_chunk(sweeper, cfg, per_chunk, grid_size, arrays, budget_bytes):
    """Halve the seeds per chunk until XLA's peak-memory estimate fits the budget;
    returns (compiled, compile s, seeds, peak). A budget that even the smallest chunk
    exceeds is a one-line `ConfigError` (after compiling it: the estimate needs the
    program), never a run at many times the budget."""
    smallest = MIN_BATCH * jax.device_count()
    total_s = 0.0
    while True:
        compiled, seconds = sweeper.compiled(cfg, per_chunk, grid_size, arrays)
        total_s += seconds
        peak = peak_bytes(compiled)
        if peak <= budget_bytes:
            return compiled, total_s, per_chunk, peak
        if per_chunk <= smallest:
            raise ConfigError(
                f"memory_budget={budget_bytes / 2**30:g} GiB is below what the smallest "
                f"chunk ({per_chunk} seeds) needs, {peak / 2**30:.3g} GiB by XLA's "
                "estimate; raise it"
            )
        per_chunk = chunk_seed_count(per_chunk // 2, 1, per_chunk // 2)


def _shardings():
    """(seed axis split over every device of every process, replicated), or (None,
    None) on one device."""
    if jax.device_count() == 1:
        return None, None
    if jax.default_backend() == "cpu" and jax.process_count() == 1:
        logging.log_first_n(
            logging.WARNING,
            "a sweep over %d CPU devices: longer unit-ball sweeps spread this way have "
            "hung in block_until_ready with jaxlib 0.10.2 (README, Benchmark); one CPU "
            "device is the tested default",
            1,
            jax.device_count(),
        )
    mesh = jax.make_mesh(
        (jax.device_count(),), ("seeds",), axis_types=(jax.sharding.AxisType.Auto,)
    )
    return NamedSharding(mesh, P("seeds")), NamedSharding(mesh, P())


def _put(tree, sharding):
    """Host arrays onto the devices. With several processes every process holds the
    same host arrays and places the parts its own devices hold."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree.map(
        lambda a: jax.make_array_from_callback(
            a.shape, sharding, lambda index: np.asarray(a)[index]
        ),
        tree,
    )


def _keys(seeds: np.ndarray, sharding) -> jax.Array:
    keys = seed_keys(seeds)
    if jax.process_count() == 1:
        return jax.device_put(keys, sharding)
    return jax.random.wrap_key_data(
        _put(np.asarray(jax.random.key_data(keys)), sharding)
    )


def _fetch(out):
    """A chunk's output on the host of every process (gathered over processes)."""
    if jax.process_count() == 1:
        return jax.device_get(out)
    return multihost_utils.process_allgather(out, tiled=True)


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """Repeat the last entry up to `size` (padding runs are computed, then dropped)."""
    return np.concatenate([a, np.repeat(a[-1:], size - len(a), axis=0)])


def _trim(output, seeds: int, cells: int):
    """Drop the padding runs: the first `seeds` seeds and `cells` cells."""
    return jax.tree.map(lambda x: x[:seeds, :cells], output)


def rough_seconds(cfg: StaticConfig, runs: int) -> float:
    """A rough CPU time for `runs` runs, before anything is compiled: the README's CPU
    benchmark (unit ball ~6 ms per run; Fashion-MNIST, 60,000 x 64 with 10 classes,
    ~480 ms), scaled by the pool's size x dimension x classes."""
    d = cfg.dataset
    size = d.n_pool * d.dim * d.num_classes / (60_000 * 64 * 10)
    return runs * max(CPU_MS_PER_RUN, FASHION_MS_PER_RUN * size) / 1000


def _announce(label: str, cfg: StaticConfig, n_seeds: int, n_cells: int) -> None:
    """The run count, and for a large sweep a rough time, said before compiling."""
    runs = n_seeds * n_cells
    seconds = rough_seconds(cfg, runs)
    if runs >= LARGE_RUNS or seconds >= LARGE_SECONDS:
        logging.warning(
            "%s: %d seeds x %d grid cells = %d runs, roughly %.0f min on a CPU "
            "(compiling first; the log gives a measured ETA after each chunk)",
            label,
            n_seeds,
            n_cells,
            runs,
            seconds / 60,
        )
    else:
        logging.info("%s: %d runs; compiling", label, runs)


class Chunk(NamedTuple):
    """A finished chunk, passed to `run_sweep`'s `on_chunk` on the host: its seeds and
    their outputs (padding dropped), each field (seeds in chunk, G, ...)."""

    index: int
    count: int  # chunks in the sweep
    seeds: np.ndarray
    output: SweepOutput


def run_sweep(
    cfg: StaticConfig,
    seeds,
    grid: RunParams,
    chunk_runs: int = DEFAULT_CHUNK_RUNS,
    label: str = "sweep",
    memory_budget_gib: float = DEFAULT_MEMORY_BUDGET_GIB,
    on_chunk: Callable[[Chunk], None] | None = None,
    sweeper: Sweeper | None = None,
) -> SweepResult:
    """Run all seeds x grid cells; see the module docstring. Every input is checked
    before anything compiles (`tbal_jax.validate`). `on_chunk(chunk)` is called after
    each chunk (`tbal_jax.store` saves it there); `sweeper` owns the compiled programs
    (default: `SWEEPER`)."""
    sweeper = sweeper or SWEEPER
    if not isinstance(cfg, StaticConfig):
        raise ConfigError(
            f"cfg={type(cfg).__name__} is not a StaticConfig; build one with "
            "StaticConfig.for_grid"
        )
    cfg.check()
    seeds = check_seeds(seeds)
    check_cells(cfg.dataset, grid)
    grid = RunParams(*(np.ravel(a) for a in grid))
    check_capacity(cfg, grid.n_val, grid.n_train)
    check_chunking(chunk_runs, memory_budget_gib)
    n_cells = len(grid.n_val)
    g = max(n_cells, MIN_BATCH)
    _announce(label, cfg, len(seeds), n_cells)
    on_device = device_params(RunParams(*(_pad(a, g) for a in grid)))
    split, replicated = _shardings()
    arrays = _put(cfg.dataset.device_arrays(), replicated)
    compiled, compile_s, per_chunk, peak = _fit_chunk(
        sweeper,
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
    on_device = _put(on_device, replicated)
    start = time.perf_counter()
    for c in range(n_chunks):
        chunk = padded[c * per_chunk : (c + 1) * per_chunk]
        out = jax.block_until_ready(compiled(_keys(chunk, split), on_device, arrays))
        real = min(per_chunk, len(seeds) - c * per_chunk)
        outputs.append(_trim(_fetch(out), real, n_cells))
        if on_chunk is not None:
            on_chunk(Chunk(c, n_chunks, chunk[:real], outputs[-1]))
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
    merged = jax.tree.map(lambda *xs: np.concatenate(xs), *outputs)
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
    check_seeds([seed])
    if not isinstance(params, RunParams) or any(np.size(a) != 1 for a in params):
        raise ConfigError(
            f"params={params!r}: give one RunParams of single values, "
            "e.g. RunParams(400, 500, 0.01, 0.0)"
        )
    return run_sweep(
        cfg, [seed], RunParams(*(np.ravel(a) for a in params)), label="run_one"
    )
