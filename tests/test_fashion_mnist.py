"""A small Fashion-MNIST sweep end to end (issue 7). It needs the four IDX files of
Debian's `dataset-fashion-mnist`: without them it skips, except under CI=true, where
`.ci/run` installs them and the test must run."""

import os

import pandas as pd
import pytest

from tbal_jax.experiments import get_experiment, run_experiment
from tbal_jax.loaders import fashion_mnist_available

pytestmark = pytest.mark.skipif(
    not fashion_mnist_available() and os.environ.get("CI", "") != "true",
    reason="Fashion-MNIST files absent (apt-get install dataset-fashion-mnist)",
)


@pytest.mark.slow
def test_small_fashion_mnist_sweep(tmp_path):
    exp = get_experiment("fashion_mnist_val").with_grid(
        n_val=[500, 4000], c1=[0.0, 0.25], methods=["tbal", "pl"]
    )
    out = run_experiment(exp, [0, 7], tmp_path)
    runs = pd.read_csv(out["results"])
    assert set(runs.dataset) == {"fashion_mnist"} and set(runs.num_classes) == {10}
    assert len(runs) == 2 * 4 * 3  # seeds x cells x outcomes, none dropped
    tbal, pl = runs[runs.method == "tbal"], runs[runs.method == "pl"]
    # a linear model is a "bad model" here (algorithm.md section 7): labelling everything is ~20% wrong,
    # TBAL labels a large part of the pool near the tolerance
    assert (pl.auto_error > 0.12).all()
    assert (tbal.coverage > 0.2).all() and (tbal.auto_error < 0.1).all()
    assert tbal.auto_error.mean() < pl.auto_error.mean() / 2
    for figure in out["figure"]:
        assert figure.stat().st_size > 10_000
