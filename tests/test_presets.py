"""The paper's real-data presets (algorithm.md section 8) end to end, small, on synthetic .npz
files of the right shapes and class counts: IMDB (1024-d BGE embeddings, 2 classes, no
given validation pool) and Tiny-ImageNet (512-d CLIP features, 200 classes, a given
validation pool). The MLP keeps each preset's training settings with narrow layers and
two epochs, so that CI can afford it."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tbal_jax.experiments import get_experiment, run_experiment
from tbal_jax.loaders import load_npz
from tbal_jax.models import MODELS
from tbal_jax.validate import ConfigError


def _clusters(rng, n, dim, k):
    """Gaussian clusters: learnable, like embeddings of labelled data."""
    centres = rng.normal(size=(k, dim)).astype(np.float32)
    y = rng.integers(0, k, n)
    x = centres[y] + 0.8 * rng.normal(size=(n, dim)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int32)


@pytest.fixture(scope="module")
def imdb_like(tmp_path_factory):
    x, y = _clusters(np.random.default_rng(0), 1500, 1024, 2)
    path = tmp_path_factory.mktemp("imdb") / "imdb.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture(scope="module")
def tiny_imagenet_like(tmp_path_factory):
    rng = np.random.default_rng(1)
    x, y = _clusters(rng, 5000, 512, 200)
    path = tmp_path_factory.mktemp("tin") / "tiny_imagenet.npz"
    np.savez(path, x=x[:4000], y=y[:4000], x_val=x[4000:], y_val=y[4000:])
    return path


def _small(name, **grid):
    """The preset with its MLP narrowed (a Model object, as a Python user may give)."""
    exp = get_experiment(name).with_grid(**grid)
    (model,) = exp.models
    narrow = dataclasses.replace(MODELS.get(model), widths=(32,), epochs=2)
    return exp.with_grid(models=[narrow])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["imdb_val", "imdb_train"])
def test_imdb_presets(name, imdb_like, tmp_path):
    exp = _small(name, n_val=[200, 300], n_train=[200], c1=[0.0])
    if name == "imdb_train":
        exp = _small(name, n_val=[300], n_train=[100, 200], c1=[0.0])
    exp = exp.with_grid(methods=["tbal"])
    out = run_experiment(exp, [0, 7], tmp_path, dataset=load_npz(imdb_like))
    runs = pd.read_csv(out["results"])
    assert len(runs) == 2 * 2 and set(runs.num_classes) == {2}
    assert set(runs.model) == {"mlp_imdb"} and (runs.eps == 0.05).all()
    assert (runs.n_queried <= runs.n_train).all() and (runs.coverage > 0).any()
    assert out["figure"][0].stat().st_size > 10_000


@pytest.mark.slow
def test_tiny_imagenet_preset(tiny_imagenet_like, tmp_path):
    exp = _small(
        "tiny_imagenet_val", n_val=[800, 1000], n_train=[400], c1=[0.0]
    ).with_grid(methods=["tbal"])
    data = load_npz(tiny_imagenet_like)
    assert data.val_given and data.num_classes == 200
    out = run_experiment(exp, [0], tmp_path, dataset=data)
    runs = pd.read_csv(out["results"])
    assert len(runs) == 2 and set(runs.num_classes) == {200}
    assert set(runs.model) == {"mlp_tiny_imagenet"} and (runs.eps == 0.1).all()
    assert (runs.n_auto >= runs.n_auto_wrong).all()


def test_a_preset_refuses_the_wrong_class_count(imdb_like, tmp_path):
    with pytest.raises(ConfigError, match="tiny_imagenet_val is the preset for 200"):
        get_experiment("tiny_imagenet_val").check(load_npz(imdb_like))
