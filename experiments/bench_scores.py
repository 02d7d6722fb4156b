"""Benchmark of the scores path (algorithm.md section 13): `experiments.bench --case=scores`.

A table of ImageNet's shape (`scores_imagenet`'s table when it is here, else a synthetic
one of 50,000 rows and 1,000 classes), `scores_imagenet`'s grid (7 N_v from 200 to
20,000 x eps = 0.05, 0.10), three methods (the plug-in threshold with one global threshold, Conformal
Labeling per class, PAC Labels): the compiled, vmapped draws (`certify.sweep`, compile
apart, median of `repeats`) against the same computation as a sequential NumPy loop,
one draw at a time, written the efficient way (sorts and cumulative sums, no Python
loop over rows), in the same process. The figure reported is the ratio of ms per draw.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from tbal_jax.certify import experiments as sx
from tbal_jax.certify.pac import WSR_C
from tbal_jax.certify.sweep import Plan
from tbal_jax.certify.table import ScoresTable, load_scores
from tbal_jax.estimators import MIN_COUNT

N_VAL = sx.SCORES_IMAGENET.n_val
EPS = sx.SCORES_IMAGENET.eps
METHODS = (("plugin", "global"), ("conformal_labeling", "per_class"),
           ("pac_labels", "global"))


def bench_table() -> ScoresTable:
    exp = sx.SCORES_IMAGENET
    if not exp.unavailable():
        return load_scores(exp.table_path(), **dict(exp.columns))
    rng = np.random.default_rng(0)
    n, k = 50_000, 1000
    y = rng.integers(0, k, n).astype(np.int32)
    conf = rng.beta(5, 1.5, n).astype(np.float32)
    yhat = np.where(rng.uniform(size=n) < conf, y, rng.integers(0, k, n)).astype(np.int32)
    return ScoresTable("synthetic_imagenet_shape", y, yhat, conf, tuple(range(k)))


# --- the sequential NumPy loop: one draw at a time ------------------------------------


def _plugin_global(conf, wrong, eps):
    """The plug-in rule on raw candidates / the 10,001-point grid (algorithm.md section 3)."""
    n_v = len(conf)
    if n_v > 500:
        lo, hi = conf.min(), conf.max()
        cands = lo + np.arange(10001, dtype=np.float32) * np.float32((hi - lo) / 10000)
    else:
        cands = np.unique(conf)
    order = np.argsort(-conf, kind="stable")
    s, w = conf[order], np.cumsum(wrong[order])
    n_at = np.searchsorted(-s, -cands, side="right")  # points with score >= t
    w_at = np.where(n_at > 0, w[np.maximum(n_at - 1, 0)], 0)
    ok = (n_at > MIN_COUNT) & (w_at <= eps * n_at)
    return cands[np.argmax(ok)] if ok.any() else np.inf


def _conformal(conf, group, wrong, in_val, alpha, k):
    t = np.full(k, np.inf)
    order = np.lexsort((-conf, group))
    g, s = group[order], conf[order]
    val, null = in_val[order], (in_val & wrong)[order]
    pool = ~val
    starts = np.searchsorted(g, np.arange(k + 1))
    for c in range(k):
        a, b = starts[c], starts[c + 1]
        if a == b or not pool[a:b].any():
            continue
        sc, nul, po = s[a:b], null[a:b], pool[a:b]
        ends = np.searchsorted(-sc, -sc, side="right") - 1  # last row tied with each
        above = np.cumsum(nul)[ends]
        rank = np.cumsum(po)
        m, n_cal = po.sum(), val[a:b].sum()
        passes = po & ((1 + above) * m <= alpha * rank * (n_cal + 1))
        if passes.any():
            r = rank[passes].max()
            t[c] = sc[po & (rank <= r)].min()
    return t


def _capital_reaches(x, m, alpha):
    n = len(x)
    t = np.arange(1, n + 1)
    muhat = (0.5 + np.cumsum(x)) / (1 + t)
    sigma2 = (0.25 + np.cumsum((x - muhat) ** 2)) / (1 + t)
    prev = np.append(0.25, sigma2[:-1])
    bet = np.minimum(np.sqrt(2 * np.log(2 / alpha) / (n * prev)), WSR_C / (1 - m))
    return np.any(np.cumsum(np.log1p(-bet * (x - m))) >= -np.log(alpha))


def _pac(conf, wrong, levels, eps, alpha):
    lo, hi = 0, len(levels) - 1
    while lo <= hi:
        j = (lo + hi) // 2
        if _capital_reaches((wrong & (conf >= levels[j])).astype(float), eps, alpha):
            lo = j + 1
        else:
            hi = j - 1
    return levels[lo - 1] if lo > 0 else np.inf


def numpy_draw(table, method, rows, n_val, eps, delta, levels):
    """One draw, sequentially: thresholds and the pool's counts."""
    val = rows[:n_val]
    in_val = np.zeros(table.n, bool)
    in_val[val] = True
    wrong = table.labelled & (table.y != table.yhat)
    conf = table.confidence
    if method == "plugin":
        t = np.array([_plugin_global(conf[val], wrong[val], eps)])
        group = np.zeros(table.n, int)
    elif method == "conformal_labeling":
        t, group = _conformal(conf, table.yhat, wrong, in_val, eps, table.k), table.yhat
    else:
        t = np.array([_pac(conf[val], wrong[val], levels, eps, delta)])
        group = np.zeros(table.n, int)
    auto = ~in_val & (conf >= t[group])
    return int(auto.sum()), int((auto & wrong).sum())


def time_numpy(table, method, seeds: int, delta=0.05, n_val=N_VAL, eps=EPS) -> dict:
    levels = np.unique(table.confidence)[::-1]
    labelled = np.flatnonzero(table.labelled)
    start = time.perf_counter()
    draws, covered = 0, 0
    for seed in range(seeds):
        rows = labelled[np.random.default_rng(seed).permutation(len(labelled))]
        for v in n_val:
            for e in eps:
                n_auto, _ = numpy_draw(table, method, rows, v, e, delta, levels)
                covered += n_auto / (table.n - v)
                draws += 1
    spent = time.perf_counter() - start
    return {"ms_per_draw": 1e3 * spent / draws, "coverage": covered / draws}


def time_jax(table, method, grouping, seeds: int, repeats: int, delta=0.05,
             n_val=N_VAL, eps=EPS) -> dict:
    t0 = time.perf_counter()
    plan = Plan(table, method, grouping, n_val, eps, delta)
    fields, _ = plan.run(np.arange(seeds))  # compiles
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        plan.run(np.arange(seeds))
        times.append(time.perf_counter() - t0)
    draws = len(fields["seed"])
    coverage = float(np.mean(fields["n_auto"] / fields["n_pool"]))
    return {"ms_per_draw": 1e3 * statistics.median(times) / draws,
            "first_s": compile_s, "coverage": coverage}


def bench_scores(seeds: int, numpy_seeds: int, repeats: int) -> list[dict]:
    """Print and return one row per method: ms/draw each side and the ratio."""
    table = bench_table()
    cells = len(N_VAL) * len(EPS)
    print(f"case: scores ({table.name}: {table.n} rows, {table.k} classes; "
          f"{cells} cells per seed; JAX {seeds} seeds, NumPy {numpy_seeds})")
    out = []
    for method, grouping in METHODS:
        jx = time_jax(table, method, grouping, seeds, repeats)
        npy = time_numpy(table, method, numpy_seeds)
        ratio = npy["ms_per_draw"] / jx["ms_per_draw"]
        print(f"  {method:20s} ({grouping}): JAX {jx['ms_per_draw']:.3f} ms/draw "
              f"(first call {jx['first_s']:.1f} s), NumPy loop "
              f"{npy['ms_per_draw']:.2f} ms/draw: {ratio:.1f}x; mean coverage "
              f"{100 * jx['coverage']:.1f}% vs {100 * npy['coverage']:.1f}%")
        out.append({"method": method, "ratio": ratio, **{f"jax_{k}": v for k, v in
                                                          jx.items()},
                    **{f"numpy_{k}": v for k, v in npy.items()}})
    return out
