"""Sequential NumPy + scikit-learn reference implementation of TBAL (unit ball; any k).

This is a plain, deliberately *sequential* implementation of threshold-based
auto-labeling (TBAL), paper preset, as described in ``docs/algorithm.md`` sections 2-5 and 7
(Vishwakarma, Lin, Sala, Vinayak, NeurIPS 2023). It runs one seed at a time and one
round at a time, with no batching across runs and no JAX. It exists for two reasons:

(a) it is the speed baseline of the benchmark: what a straightforward NumPy +
    scikit-learn implementation costs per run; and
(b) it is an independent statistical cross-check of the JAX simulator: its error and
    coverage statistics over seeds must agree, within seed noise, with the JAX
    simulator's and with the published table in algorithm.md section 10.

It is one file of about 400 lines on purpose: an independent implementation must not
share the simulator's modules, and a reader checks it against the algorithm top to
bottom.

Preset choices, stated once:

* Data: unit ball, d = 30. 20,000 points come from ``np.random.default_rng(seed)``; the
  first 4,000 are the validation pool and the other 16,000 the unlabeled pool
  (N = 16,000). Every later random draw of the run (seed set, validation set, queries)
  comes from the same generator; nothing is reseeded.
* Model: ``LinearSVC`` (squared hinge, L2, primal liblinear solver, C = 2000, balanced
  class weights, no intercept, tol 1e-12), with the weight vector scaled to unit norm.
  Score s = w.x; probabilities [sigmoid(-s), sigmoid(s)]; confidence = max probability
  = sigmoid(|s|); prediction = argmax of the probabilities (class 0 on an exact tie).
* Thresholds: the ``sigma`` slack u = err + C1*sqrt(err*(1-err)). A candidate t is
  accepted when u <= eps*(1 + 1e-9), so exact ties such as err = 3/300 = eps are
  *accepted*. (The reference code computes ``1 - correct/n`` in float64 and rejects
  some of them; algorithm.md section 3 calls either choice faithful.)
* Queries: ``margin_random`` with C = 2, using the most recently trained model. If no
  model has been trained yet, the query is uniformly random.

Runs are not bit-stable under ulp-level changes to the data. For example, computing
||g|| another way changes one seed in 20 per N_v. The liblinear solution is only as
exact as its stopping rule, and tiny changes in w reorder the margin ranking and move
the discrete thresholds. Compare this module with the JAX simulator statistically,
never seed by seed.

``run_tbal_fixed`` runs the same loop on a fixed dataset with k classes (Fashion-MNIST in
the benchmark) with scikit-learn's ``LogisticRegression(C=1)``, the counterpart of the
simulator's ``softmax_logistic``.

Run ``python experiments/numpy_baseline.py`` for the N_v sweep of algorithm.md section 10
(N_q = 500, eps = 0.01, C1 = 0, seeds 0..9; ``--seeds 20`` runs seeds 0..19).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import sklearn
from absl import flags
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from experiments import _cli
from tbal_jax.published import UNIT_BALL_N_VAL, agrees  # plain data, no JAX
from tbal_jax.validate import check_grid

FLAGS = flags.FLAGS

# --- constants of the unit-ball preset (algorithm.md sections 2, 3, 5 and 7) -------------
DIM = 30
N_TOTAL = 20_000
N_VAL_POOL = 4_000  # first 4,000 points: validation pool; other 16,000: unlabeled pool
SVM_C = 2000.0
SVM_TOL = 1e-12
SEED_FRAC = 0.2  # n_s = int(0.2 * N_q)
BATCH_FRAC = 0.05  # n_b = int(0.05 * N_q)
MARGIN_RANDOM_C = 2
MIN_COUNT = 25  # a candidate threshold is kept only if more than 25 points are above it
GRID_ABOVE = 500  # candidates: a 10,001-point grid when n_v > 500, else the raw scores
GRID_STEPS = 10_000
REL_TOL = 1e-9  # accept u <= eps * (1 + REL_TOL)


# --- data ------------------------------------------------------------------------
def make_unit_ball(rng: np.random.Generator, n: int = N_TOTAL, d: int = DIM):
    """Uniform points in the d-dimensional unit ball, labelled by w* = ones/sqrt(d)."""
    x = rng.standard_normal((n, d))  # Gaussian direction ...
    r = rng.uniform(size=n) ** (1.0 / d)  # ... and radius r = U(0,1)^(1/d)
    x *= (r / np.sqrt(np.einsum("ij,ij->i", x, x)))[:, None]  # x = r * g / ||g||
    w_star = np.ones(d) / np.sqrt(d)
    y = (x @ w_star >= 0).astype(np.int64)
    return x, y


# --- model -----------------------------------------------------------------------
def train_linear(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fresh homogeneous squared-hinge SVM; returns the unit-norm weight vector."""
    clf = LinearSVC(
        loss="squared_hinge",
        penalty="l2",
        dual=False,
        C=SVM_C,
        class_weight="balanced",
        fit_intercept=False,
        tol=SVM_TOL,
        max_iter=100_000,
    )
    # The inputs are finite float64 arrays built here, so scikit-learn's per-call
    # validation (about 0.5 ms of the ~3 ms a fit costs) is skipped. The solver and its
    # result are unchanged.
    with (
        warnings.catch_warnings(),
        sklearn.config_context(assume_finite=True, skip_parameter_validation=True),
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    w = clf.coef_.ravel()
    return w / np.linalg.norm(w)


def predict(w: np.ndarray, x: np.ndarray):
    """Returns (confidence, prediction, margin) of the linear model w on x."""
    s = x @ w
    p1 = 1.0 / (1.0 + np.exp(-s))
    p0 = 1.0 / (1.0 + np.exp(s))
    pred = (p1 > p0).astype(np.int64)  # argmax, first index (class 0) on ties
    conf = np.maximum(p0, p1)
    margin = np.abs(p1 - p0)
    return conf, pred, margin


# --- threshold estimation (algorithm.md section 3) ---------------------------------------
def candidate_thresholds(scores: np.ndarray) -> np.ndarray:
    """Candidate set T, built from the scores of all current validation points."""
    lo, hi = scores.min(), scores.max()
    if scores.size > GRID_ABOVE:
        if hi - lo <= 1e-8:
            return np.array([lo])
        delta = (hi - lo) / GRID_STEPS
        return lo + np.arange(GRID_STEPS + 1) * delta
    return scores.copy()


def estimate_thresholds(
    scores: np.ndarray,
    preds: np.ndarray,
    labels: np.ndarray,
    eps: float,
    c1: float,
    n_classes: int = 2,
) -> np.ndarray:
    """Per-class thresholds t[y] (+inf when class y gets none).

    For class y, t[y] is the smallest candidate t such that
    n = #{j : pred_j = y, s_j >= t} > 25 and err + C1*sqrt(err*(1-err)) <= eps, where
    err = #{j : pred_j = y, s_j >= t, label_j != y} / n.

    Vectorised: sort the class's scores once. Then n(t) and the wrong count above t
    come from ``searchsorted`` into the sorted scores plus a suffix sum of the wrong
    flags.
    """
    cands = candidate_thresholds(scores)
    t = np.full(n_classes, np.inf)
    for y in range(n_classes):
        in_y = preds == y
        s_y = scores[in_y]
        if s_y.size <= MIN_COUNT:
            continue
        order = np.argsort(s_y, kind="stable")
        s_sorted = s_y[order]
        wrong_sorted = (labels[in_y][order] != y).astype(np.int64)
        # wrong_suffix[k] = number of wrong points among s_sorted[k:]
        wrong_suffix = np.concatenate([np.cumsum(wrong_sorted[::-1])[::-1], [0]])
        first = np.searchsorted(s_sorted, cands, side="left")  # first index with s >= t
        n = s_sorted.size - first
        keep = n > MIN_COUNT
        if not keep.any():
            continue
        err = wrong_suffix[first[keep]] / n[keep]
        u = err + c1 * np.sqrt(err * (1.0 - err))
        ok = u <= eps * (1.0 + REL_TOL)
        if ok.any():
            t[y] = cands[keep][ok].min()
    return t


# --- one TBAL run ----------------------------------------------------------------
def run_loop(
    rng: np.random.Generator,
    pool: tuple[np.ndarray, np.ndarray],
    val_pool: tuple[np.ndarray, np.ndarray],
    n_val: int,
    n_train: int,
    eps: float,
    c1: float,
    fit,
    predict_fn,
    n_classes: int,
) -> dict:
    """The TBAL loop (paper preset, algorithm.md section 2) on given pools, sequentially.

    `fit(x, y) -> model` trains a fresh model; `predict_fn(model, x)` returns
    (confidence, prediction, margin p(1) - p(2)). Every random draw comes from `rng`.
    Returns auto_error (NaN if nothing was auto-labeled), coverage (= n_auto / N),
    n_auto, n_queried and n_rounds (round 0 included).
    """
    x_u, y_u = pool
    x_vpool, y_vpool = val_pool
    n_pool = x_u.shape[0]

    n_seed = int(SEED_FRAC * n_train)
    n_batch = int(BATCH_FRAC * n_train)

    # Each pool point is unlabeled, queried (human label) or auto-labeled.
    unlabeled = np.ones(n_pool, dtype=bool)
    auto_label = np.full(n_pool, -1, dtype=np.int64)  # machine label; -1: not auto

    # Round 0: the seed training set, then the validation set.
    train_idx = rng.choice(n_pool, size=n_seed, replace=False)
    unlabeled[train_idx] = False
    n_queried = n_seed
    val_idx = rng.choice(x_vpool.shape[0], size=n_val, replace=False)
    x_v, y_v = x_vpool[val_idx], y_vpool[val_idx]

    model = None  # most recently trained model
    n_rounds = 0
    while True:
        if n_rounds >= 1:
            # Stop check (before each round i >= 1), then step 0: the query.
            n_unl = int(unlabeled.sum())
            if n_unl == 0 or n_queried >= n_train:
                break
            bs = min(n_unl, n_batch, n_train - n_queried)
            if bs <= 0:  # only possible when n_b = int(0.05 * N_q) = 0
                break
            unl_idx = np.flatnonzero(unlabeled)
            if model is None:
                picked = rng.choice(unl_idx, size=bs, replace=False)
            else:  # margin_random: C*bs smallest margins, then bs of them at random
                _, _, margin = predict_fn(model, x_u[unl_idx])
                k = min(MARGIN_RANDOM_C * bs, unl_idx.size)
                closest = unl_idx[np.argsort(margin, kind="stable")[:k]]
                picked = rng.choice(closest, size=bs, replace=False)
            train_idx = np.concatenate([train_idx, picked])
            unlabeled[picked] = False
            n_queried += bs
        n_rounds += 1

        # Step 1: skip training and auto-labeling if there is nothing to do.
        y_tr = y_u[train_idx]
        if y_v.size == 0 or y_tr.min() == y_tr.max():
            continue

        # Step 2: a fresh model on all human-labeled training points.
        model = fit(x_u[train_idx], y_tr)

        # Step 3: per-class thresholds on the current validation set.
        conf_v, pred_v, _ = predict_fn(model, x_v)
        t = estimate_thresholds(conf_v, pred_v, y_v, eps, c1, n_classes)

        # Step 4: auto-label the unlabeled points above their class's threshold.
        unl_idx = np.flatnonzero(unlabeled)
        if unl_idx.size:
            conf_u, pred_u, _ = predict_fn(model, x_u[unl_idx])
            take = conf_u >= t[pred_u]
            chosen = unl_idx[take]
            auto_label[chosen] = pred_u[take]
            unlabeled[chosen] = False

        # Step 5: drop the validation points above their class's threshold.
        keep_v = ~(conf_v >= t[pred_v])
        x_v, y_v = x_v[keep_v], y_v[keep_v]

    auto = auto_label >= 0
    n_auto = int(auto.sum())
    n_wrong = int((auto_label[auto] != y_u[auto]).sum())
    return {
        "auto_error": n_wrong / n_auto if n_auto else float("nan"),
        "coverage": n_auto / n_pool,
        "n_auto": n_auto,
        "n_queried": int(n_queried),
        "n_rounds": int(n_rounds),
        "n_val": int(n_val),
        "n_train": int(n_train),
        "eps": float(eps),
        "c1": float(c1),
    }


def run_tbal(
    seed: int, n_val: int, n_train: int, eps: float = 0.01, c1: float = 0.0
) -> dict:
    """One TBAL run (paper preset) on the unit ball: n_val is N_v, n_train is N_q."""
    rng = np.random.default_rng(seed)
    x_all, y_all = make_unit_ball(rng)
    pool = (x_all[N_VAL_POOL:], y_all[N_VAL_POOL:])
    val_pool = (x_all[:N_VAL_POOL], y_all[:N_VAL_POOL])
    out = run_loop(
        rng, pool, val_pool, n_val, n_train, eps, c1, train_linear, predict, 2
    )
    return out | {"seed": int(seed)}


# --- any k on fixed arrays: multinomial logistic regression ----------------------
def train_softmax(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """A fresh `LogisticRegression(C=1)` (lbfgs, multinomial for k > 2)."""
    clf = LogisticRegression(C=1.0, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    return clf


def predict_softmax(clf: LogisticRegression, x: np.ndarray):
    """(confidence, prediction, margin p(1) - p(2)) over all k classes; classes the
    model never saw have probability 0."""
    proba = np.zeros((x.shape[0], int(clf.classes_.max()) + 1))
    proba[:, clf.classes_] = clf.predict_proba(x)
    top2 = np.sort(proba, axis=1)[:, -2:]
    return top2[:, 1], proba.argmax(axis=1), top2[:, 1] - top2[:, 0]


def run_tbal_fixed(
    seed: int, arrays, n_val: int, n_train: int, eps: float, c1: float = 0.0
) -> dict:
    """One TBAL run on a fixed dataset with its own validation pool (`arrays` =
    (x, y, x_val, y_val), as `tbal_jax.datasets.DataArrays`), with `LogisticRegression`."""
    x, y, x_val, y_val = (np.asarray(a) for a in arrays[:4])
    k = int(max(y.max(), y_val.max())) + 1
    out = run_loop(
        np.random.default_rng(seed),
        (x.astype(np.float64), y),
        (x_val.astype(np.float64), y_val),
        n_val,
        n_train,
        eps,
        c1,
        train_softmax,
        predict_softmax,
        k,
    )
    return out | {"seed": int(seed)}


# --- the N_v sweep of algorithm.md section 10 --------------------------------------------
def define_flags() -> None:
    """The command line's flags (in absl's global FLAGS: called when run as a script)."""
    flags.DEFINE_integer("seeds", 10, "run seeds 0..SEEDS-1")
    flags.DEFINE_integer("n-train", 500, "labelling budget N_q")
    flags.DEFINE_float("eps", 0.01, "error tolerance eps")
    flags.DEFINE_float("c1", 0.0, "the sigma estimator's C1")
    flags.DEFINE_list(
        "n-val",
        ["100", "400", "800", "1200", "1600", "2000"],
        "validation sizes N_v (--n-val 100 400 or --n-val=100,400)",
    )


def main(argv) -> None:
    _cli.no_arguments(argv, "--seeds=20")
    n_train, eps, c1 = FLAGS["n-train"].value, FLAGS.eps, FLAGS.c1
    n_vals = _cli.integers("n-val", FLAGS["n-val"].value)
    _cli.at_least(1, seeds=FLAGS.seeds)
    check_grid("unit_ball", n_val=n_vals, n_train=[n_train], eps=[eps], c1=[c1])
    is_paper_setting = (n_train, eps, c1) == (500, 0.01, 0.0)

    seeds = range(FLAGS.seeds)
    print(
        f"TBAL (NumPy baseline), unit ball, N_q={n_train}, eps={eps}, "
        f"C1={c1}, seeds 0..{FLAGS.seeds - 1}; mean +- std in %"
    )
    header = (
        f"{'N_v':>5} | {'err (ours)':>13} | {'cov (ours)':>13} | "
        f"{'err (pub)':>12} | {'cov (pub)':>13} | {'agree':>5} | {'ms/run':>6}"
    )
    print(header)
    print("-" * len(header))
    all_ms = []
    for n_val in n_vals:
        errs, covs = [], []
        t0 = time.perf_counter()
        for seed in seeds:
            r = run_tbal(seed, n_val, n_train, eps, c1)
            errs.append(r["auto_error"])
            covs.append(r["coverage"])
        ms = 1e3 * (time.perf_counter() - t0) / len(seeds)
        all_ms.append(ms)
        errs, covs = 100 * np.array(errs), 100 * np.array(covs)
        n_nan = int(np.isnan(errs).sum())  # runs that auto-labeled nothing
        n_err = len(errs) - n_nan
        em = np.nanmean(errs) if n_err else np.nan
        es = np.nanstd(errs, ddof=1) if n_err > 1 else np.nan
        cm, cs = covs.mean(), covs.std(ddof=1)
        line = f"{n_val:5d} | {em:5.2f} +- {es:4.2f} | {cm:5.2f} +- {cs:4.2f} | "
        pub = UNIT_BALL_N_VAL["tbal"].get(n_val) if is_paper_setting else None
        if pub is not None:
            pe, pes, pc, pcs = pub
            ok = agrees(em, es, n_err, pe, pes) and agrees(cm, cs, len(covs), pc, pcs)
            line += f"{pe:4.2f} +- {pes:4.2f} | {pc:5.2f} +- {pcs:4.2f} | "
            line += f"{'yes' if ok else 'NO':>5} | "
        else:
            line += f"{'-':>12} | {'-':>13} | {'-':>5} | "
        line += f"{ms:6.1f}" + (f"  ({n_nan} runs with NaN error)" if n_nan else "")
        print(line)
    print(f"mean ms per run: {np.mean(all_ms):.1f}")


if __name__ == "__main__":
    _cli.run(main, define_flags, lists=["n-val"])
