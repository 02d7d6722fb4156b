"""Every registered component, whatever registry it is in, meets its interface: shapes,
`jit` and `vmap` give the same values as a plain call, and a 2-seed sweep from the
command line picks it by its flag and writes rows that name it. A new component is
tested here by registering it; nothing in this file names one.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from experiments import run as run_module
from tbal_jax.datasets import DATASETS, UNIT_BALL, Dataset
from tbal_jax.datasets.fixed import DataArrays, fixed_dataset
from tbal_jax.estimators import ESTIMATORS
from tbal_jax.models import MODELS
from tbal_jax.protocols import PROTOCOLS
from tbal_jax.queries import QUERIES
from tbal_jax.scores import SCORES

KEYS = jax.random.split(jax.random.key(0), 2)


def _blobs(k: int, n: int = 240, d: int = 5, seed: int = 0) -> Dataset:
    """A small fixed dataset of k well-separated Gaussian blobs, features of about unit
    scale (the paper's MLP learning rates are for normalised embeddings)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = (rng.normal(size=(n, d)) + 3.0 * np.eye(k, d)[y]) / 3.0
    return fixed_dataset(f"blobs{k}", f"blobs{k}", DataArrays(x, y), 0.25)


def _cheap(model):
    """A model with at most 3 epochs where it trains by epochs (the MLPs), for speed."""
    fields = {f.name for f in dataclasses.fields(model)}
    if "epochs" not in fields:
        return model
    return dataclasses.replace(model, epochs=min(model.epochs, 3))


def _wide(model) -> bool:
    """An MLP preset of the paper's widths (2000-1500): minutes a sweep on this CPU."""
    return max(getattr(model, "widths", ()) or (0,)) > 1000


def _loadable(name: str, tmp_path):
    """The registered dataset `name`, loaded as the CLI would, or a skip reason."""
    entry = DATASETS.get(name)
    if "data" in entry.options:
        path = tmp_path / "data.npz"
        blobs = _blobs(3, n=600).arrays
        np.savez(path, x=blobs.x, y=blobs.y)
        return entry.load(data=str(path)), [f"--data={path}"]
    reason = entry.unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(
                f"{name}: {reason}; CI installs every dataset's files (.ci/run)"
            )
        pytest.skip(f"{name}: {reason}")
    return entry.load(), []


# --- each registry's interface ---------------------------------------------------------


@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_splits_into_pools(name, tmp_path):
    dataset, _ = _loadable(name, tmp_path)
    assert isinstance(dataset, Dataset) and dataset.name == name
    assert dataset.label and dataset.num_classes >= 2
    arrays = dataset.device_arrays()
    pools = dataset.split(KEYS[0], arrays)
    assert pools.pool_x.shape[1] == pools.val_x.shape[1] == dataset.dim
    assert pools.pool_order.shape[0] >= dataset.n_pool
    assert pools.val_order.shape[0] >= dataset.n_val_pool
    y = np.asarray(pools.pool_y)
    assert y.min() >= 0 and y.max() < dataset.num_classes
    first = np.asarray(pools.pool_order[: dataset.n_pool])
    assert len(set(first.tolist())) == dataset.n_pool  # a permutation, no repeat
    jitted = jax.jit(dataset.split)(KEYS[0], arrays)
    batched = jax.vmap(dataset.split, in_axes=(0, None))(KEYS, arrays)
    for a, b, c in zip(pools, jitted, batched):  # XLA may fuse float ops differently
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            np.asarray(c)[0], np.asarray(a), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("name", MODELS.names())
def test_model_fits_and_predicts(name):
    """On 3 blobs, or 2 for a model that supports no more; a model that refuses data
    says why in one line that names it."""
    model = _cheap(MODELS.get(name))
    for k in (2, 3, 10):
        reason = model.supports(_blobs(k))
        assert reason is None or ("\n" not in reason and name in reason), reason
    k = 3 if model.supports(_blobs(3)) is None else 2
    data = _blobs(k)
    assert model.supports(data) is None, "a model must support 2 or 3 classes"
    x = jnp.asarray(data.arrays.x[:64])
    y = jnp.asarray(data.arrays.y[:64])
    mask = jnp.arange(64) < 48  # the last rows are padding

    def fit_logits(key):
        params = model.init(key, data.dim, k)
        params = model.fit(key, params, x, y, mask)
        return model.logits(params, x)

    plain = fit_logits(KEYS[0])
    assert plain.shape == (64, k) and np.isfinite(np.asarray(plain)).all()
    accuracy = (np.asarray(plain).argmax(1) == np.asarray(y))[:48].mean()
    assert accuracy > 1 / k + 0.1, accuracy  # it learns the blobs, more than chance
    np.testing.assert_allclose(
        jax.jit(fit_logits)(KEYS[0]), plain, rtol=1e-4, atol=1e-4
    )
    batched = jax.vmap(fit_logits)(KEYS)
    np.testing.assert_allclose(batched[0], plain, rtol=1e-4, atol=1e-4)


FIXED_SCORES = [n for n in SCORES.names() if not SCORES.get(n).fitted]
FITTED_SCORES = [n for n in SCORES.names() if SCORES.get(n).fitted]


@pytest.mark.parametrize("name", FIXED_SCORES)
@pytest.mark.parametrize("k", [2, 3, 10])
def test_score_shapes_and_transforms(name, k):
    score = SCORES.get(name)
    logits = jax.random.normal(KEYS[0], (50, k))
    conf, pred = score(logits)
    assert conf.shape == (50,) and pred.shape == (50,) and pred.dtype == jnp.int32
    np.testing.assert_array_equal(pred, jnp.argmax(logits, axis=1))
    np.testing.assert_allclose(jax.jit(score)(logits)[0], conf, rtol=1e-6)
    batch = jnp.stack([logits, 2 * logits])
    np.testing.assert_allclose(jax.vmap(score)(batch)[0][0], conf, rtol=1e-6)


@pytest.mark.parametrize("name", FITTED_SCORES)
@pytest.mark.parametrize("k", [2, 3, 10])
def test_fitted_score_fits_on_its_part_and_scores_in_the_unit_interval(name, k):
    """A fitted score (algorithm.md section 14): fit and confidence under jit and vmap,
    confidences in [0, 1], and rows outside D_cal and D_th change nothing."""
    score = _cheap(SCORES.get(name))
    n = 80
    logits = 2.0 * jax.random.normal(KEYS[0], (n, k))
    z = jax.random.normal(KEYS[1], (n, 4))
    y = jnp.where(jnp.arange(n) % 5 == 0, 0, jnp.argmax(logits, axis=1))
    cal, th = jnp.arange(n) % 3 == 0, jnp.arange(n) % 3 == 1

    def coverage(conf, mask):
        return jnp.sum(mask & (conf > 0.5)) / jnp.maximum(jnp.sum(mask), 1)

    def fit_and_score(key, logits, z):
        params = score.fit(key, z, logits, y, cal, th, coverage)
        return score.confidence(params, z, logits)

    conf = fit_and_score(KEYS[0], logits, z)
    assert conf.shape == (n,) and bool(jnp.all((conf >= 0) & (conf <= 1)))
    np.testing.assert_allclose(
        jax.jit(fit_and_score)(KEYS[0], logits, z), conf, atol=1e-6
    )
    batch = jax.vmap(fit_and_score)(KEYS, jnp.stack([logits] * 2), jnp.stack([z] * 2))
    np.testing.assert_allclose(batch[0], conf, atol=1e-6)
    rest = ~(cal | th)
    moved = score.fit(
        KEYS[0],
        jnp.where(rest[:, None], 7.0, z),
        jnp.where(rest[:, None], -3.0, logits),
        jnp.where(rest, 1, y),
        cal,
        th,
        coverage,
    )
    np.testing.assert_allclose(score.confidence(moved, z, logits), conf, atol=1e-6)


@pytest.mark.parametrize("name", QUERIES.names())
def test_query_takes_unlabelled_points_once(name):
    query = QUERIES.get(name)
    n, batch, capacity = 200, 7, 10
    logits = jax.random.normal(KEYS[0], (n, 3))
    unlabeled = jnp.arange(n) % 4 != 0
    priority = -jnp.arange(n, dtype=jnp.float32)

    def select(key, has_model):
        return query(key, logits, has_model, priority, unlabeled, batch, capacity)

    for has_model in (jnp.array(False), jnp.array(True)):
        idx, valid = select(KEYS[0], has_model)
        assert idx.shape == valid.shape == (capacity,) and int(valid.sum()) == batch
        chosen = np.asarray(idx)[np.asarray(valid)]
        assert len(set(chosen.tolist())) == batch
        assert np.asarray(unlabeled)[chosen].all()
        jit_idx, _ = jax.jit(select)(KEYS[0], has_model)
        np.testing.assert_array_equal(jit_idx, idx)
        vmap_idx, _ = jax.vmap(select, in_axes=(0, None))(KEYS, has_model)
        np.testing.assert_array_equal(vmap_idx[0], idx)


@pytest.mark.parametrize("name", ESTIMATORS.names())
@pytest.mark.parametrize("k", [2, 3])
def test_estimator_gives_one_threshold_per_class(name, k):
    estimator = ESTIMATORS.get(name)
    assert estimator.title and estimator.guarantee
    capacity = 600
    estimate = estimator(k, capacity, rounds=3)
    ks = jax.random.split(KEYS[1], 3)
    scores = jax.random.uniform(ks[0], (capacity,))
    preds = jax.random.randint(ks[1], (capacity,), 0, k)
    wrong = jax.random.uniform(ks[2], (capacity,)) > 0.2 + 0.8 * scores  # high: right
    labels = jnp.where(wrong, (preds + 1) % k, preds)
    active = jnp.arange(capacity) < 500

    def run(s):
        return estimate(s, preds, labels, active, 0.05, 0.25, 0.05)

    t = run(scores)
    assert t.shape == (k,)
    finite = np.isfinite(np.asarray(t))
    assert ((np.asarray(t) >= 0) | ~finite).all()
    np.testing.assert_array_equal(jax.jit(run)(scores), t)
    np.testing.assert_array_equal(jax.vmap(run)(jnp.stack([scores, scores]))[1], t)


@pytest.mark.parametrize("name", PROTOCOLS.names())
def test_protocol_outcomes_are_labelled(name):
    """Each outcome has a legend label and a marker of its own among all protocols'."""
    protocol = PROTOCOLS.get(name)
    assert protocol.outcomes[0] == name
    assert len(protocol.markers) == len(protocol.outcomes)
    labels = [lab for p in PROTOCOLS.values() for lab in p.outcome_labels.values()]
    assert len(set(labels)) == len(labels)  # no two outcomes share a legend entry
    markers = [m for p in PROTOCOLS.values() for m in p.markers]
    assert len(set(markers)) == len(markers)
    assert protocol.rounds_for(500) >= 1


# --- every component from the command line ---------------------------------------------

# The guaranteed estimators' variants (algorithm.md section 12) are one code path with
# other settings: from the command line, every estimator with its original settings and
# three variants that between them take every other setting (each CLI sweep compiles a
# run, about 20 s here); every variant still runs end to end in
# tests/test_delta_spending.py and gives thresholds in
# test_estimator_gives_one_threshold_per_class above.
CLI_VARIANTS = ("clopper_pearson_geometric_fixed", "sgr_front_fixed_fresh", "ltt_back")


def _cli_names(registry) -> list[str]:
    if registry is not ESTIMATORS:
        return registry.names()
    settings = {n: ESTIMATORS.get(n) for n in ESTIMATORS.names()}
    original = [
        name
        for name, e in settings.items()
        if (e.spend, e.candidates, e.validation) == ("uniform", "data", "reuse")
    ]
    return original + list(CLI_VARIANTS)


# Each case compiles and runs a sweep (up to a minute on a slow 2-core CI machine, the
# paper-width MLPs several). Every dataset, model kind and method has its own loading or
# training path, so each is run (the paper-width MLPs take mlp_fashion's path and are
# the exhaustive tier, `pytest --exhaustive`); of the scores, queries and estimators,
# which share one path through the command line and have their own conformance tests
# above, a few run and the rest are the exhaustive tier.
CLI_KEPT = {
    "score": ("max_prob", "temperature", "colander"),
    "query": ("margin_random",),
    "estimator": ("sigma", "ltt_back"),
}


def _cli_marks(flag: str, name: str) -> list:
    wide = flag == "model" and _wide(MODELS[name])
    if wide or (flag in CLI_KEPT and name not in CLI_KEPT[flag]):
        return [pytest.mark.exhaustive]
    return []


CLI_CASES = [("dataset", name, "dataset") for name in DATASETS.names()] + [
    pytest.param(flag, name, column, marks=_cli_marks(flag, name))
    for flag, registry, column in (
        ("model", MODELS, "model"),
        ("score", SCORES, "score"),
        ("query", QUERIES, "query"),
        ("estimator", ESTIMATORS, "estimator"),
        ("methods", PROTOCOLS, "method"),
    )
    for name in _cli_names(registry)
]


@pytest.mark.parametrize("flag, name, column", CLI_CASES)
def test_two_seed_sweep_from_the_command_line(flag, name, column, tmp_path, capsys):
    dataset_name = name if flag == "dataset" else "unit_ball"
    if flag == "model" and MODELS.get(name).supports(UNIT_BALL):
        dataset_name = "digits"  # a multi-class model
    dataset, data_flags = _loadable(dataset_name, tmp_path)
    n_val = min(100, dataset.n_val_pool)  # a small grid that every dataset holds
    n_train = max(20, min(100, dataset.n_pool // 2))
    if flag == "model" and dataset_name == "digits":  # the MLPs: few labels, quick
        n_val, n_train = 60, 40
    grid = [f"--n_val={n_val}", f"--n_train={n_train}"]
    args = [
        "experiments.run",
        "--experiment=npz",
        f"--dataset={dataset_name}",
        *data_flags,
        *grid,
        "--eps=0.05",
        "--c1=0",
        "--seeds=2",
        f"--out={tmp_path / 'out'}",
    ]
    if flag != "dataset":
        args.append(f"--{flag}={name}")
    if flag != "methods":
        args.append("--methods=tbal")
    code = run_module.cli(args)
    err = capsys.readouterr().err
    assert code == 0, err[-2000:]
    rows = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(rows.seed) == {0, 7} and len(rows) >= 2
    named = rows[column].astype(str)
    if flag == "methods":  # AL and PL give their +SC outcome too
        assert named.str.startswith(name).all()
    else:
        assert (named == name).all()
    assert rows.coverage.between(0, 1).all()
