"""Named experiments (algorithm.md section 8): the `Experiment` type (`base`) and the registry
`EXPERIMENTS` (`--experiment=NAME`, `--list`).

Add one: an `Experiment` in `paper.py`, `real.py`, `confidence.py` or a module of its own, and one
`EXPERIMENTS.register(...)` line below.
"""

from __future__ import annotations

from tbal_jax.datasets import DATASETS
from tbal_jax.presets import confidence, paper, real
from tbal_jax.presets.base import PAPER_SEED_STRIDE, Experiment, Unit, axes, paper_seeds
from tbal_jax.registry import Registry

EXPERIMENTS: Registry[Experiment] = Registry("experiment")
EXPERIMENTS.register(paper.UNIT_BALL_VAL)
EXPERIMENTS.register(paper.UNIT_BALL_TRAIN)
EXPERIMENTS.register(paper.UNIT_BALL_EPS)
EXPERIMENTS.register(paper.CIRCLES_TRAIN)
EXPERIMENTS.register(paper.CIRCLES_SCATTER)
EXPERIMENTS.register(paper.BOUNDS_VS_EMPIRICS)
EXPERIMENTS.register(paper.ESTIMATORS_UNIT_BALL)
EXPERIMENTS.register(paper.ESTIMATORS_CIRCLES)
EXPERIMENTS.register(real.FASHION_MNIST_VAL)
EXPERIMENTS.register(real.FASHION_MNIST_TRAIN)
EXPERIMENTS.register(real.FASHION_MNIST_MLP)
EXPERIMENTS.register(real.IMDB_VAL)
EXPERIMENTS.register(real.IMDB_TRAIN)
EXPERIMENTS.register(real.TINY_IMAGENET_VAL)
EXPERIMENTS.register(real.TINY_IMAGENET_TRAIN)
EXPERIMENTS.register(real.NPZ)
EXPERIMENTS.register(confidence.CONFIDENCE_FASHION_MNIST)
EXPERIMENTS.register(confidence.CONFIDENCE_CIRCLES)
EXPERIMENTS.register(confidence.COLANDER_AUDIT)
EXPERIMENTS.register(confidence.COLANDER_TINY_IMAGENET)
EXPERIMENTS.register(confidence.COLANDER_20NG)


def get_experiment(name: str) -> Experiment:
    return EXPERIMENTS.get(name)


def needs_file(exp: Experiment) -> bool:
    """Whether the experiment runs on a file the user gives (`--data`): such ones are
    not part of `--experiment=all`."""
    return "data" in DATASETS.get(exp.dataset).options


def available_experiments(data_dir: str | None = None) -> tuple[list, list]:
    """(names that `--experiment=all` runs, names it skips and why): every experiment
    but those on the user's own file; those whose data are not installed here (the
    Fashion-MNIST files) are skipped with the reason."""
    runs, skipped = [], []
    for name, exp in EXPERIMENTS.items():
        if needs_file(exp):
            continue
        entry = DATASETS.get(exp.dataset)
        options = {"data_dir": data_dir} if "data_dir" in entry.options else {}
        reason = entry.unavailable(**options)
        if reason:
            skipped.append(f"{name} ({reason})")
            continue
        runs.append(name)
    return runs, skipped


__all__ = [
    "EXPERIMENTS",
    "PAPER_SEED_STRIDE",
    "Experiment",
    "Unit",
    "available_experiments",
    "axes",
    "get_experiment",
    "needs_file",
    "paper_seeds",
]
