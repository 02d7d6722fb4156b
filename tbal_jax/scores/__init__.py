"""Confidence functions (algorithm.md sections 3-4 and 14) and their registry `SCORES`
(`--score=NAME`).

Two kinds share one registry, since a fixed score is a confidence function with
nothing to learn:

- fixed scores (`fixed.Score`): a function of the logits (max probability, margin,
  logit gap); the paper's;
- fitted scores (`fitted.FittedScore`): learnt each round on a calibration part of
  the validation set (temperature scaling, histogram binning, scaling-binning,
  Colander); the thresholds are estimated on the rest.

Add one: a `Score` in `fixed.py` or a `FittedScore` subclass in a module here, and one
`SCORES.register(...)` line below.
"""

from __future__ import annotations

from tbal_jax.registry import Registry
from tbal_jax.scores.calibration import (
    SCALING_BINNING,
    TEMPERATURE,
    TOP_LABEL_HISTOGRAM,
)
from tbal_jax.scores.colander import (
    COLANDER,
    COLANDER_CALIBRATION_SPLIT,
    COLANDER_LAST_EPOCH,
)
from tbal_jax.scores.fitted import FittedScore, split
from tbal_jax.scores.fixed import (
    Score,
    abs_logit,
    class_value,
    margin,
    max_prob,
    predicted_class,
    prob_margin,
    top_two,
)

SCORES: Registry[Score | FittedScore] = Registry("score")
MAX_PROB = SCORES.register(
    Score("max_prob", "max probability", max_prob, span=lambda k: (1.0 / k, 1.0))
)
SCORES.register(
    Score("margin", "probability margin", margin, span=lambda k: (0.0, 1.0))
)
SCORES.register(Score("abs_logit", "logit gap", abs_logit))
SCORES.register(TEMPERATURE)
SCORES.register(TOP_LABEL_HISTOGRAM)
SCORES.register(SCALING_BINNING)
SCORES.register(COLANDER)
SCORES.register(COLANDER_CALIBRATION_SPLIT)
SCORES.register(COLANDER_LAST_EPOCH)

__all__ = [
    "COLANDER",
    "COLANDER_CALIBRATION_SPLIT",
    "COLANDER_LAST_EPOCH",
    "MAX_PROB",
    "SCALING_BINNING",
    "SCORES",
    "TEMPERATURE",
    "TOP_LABEL_HISTOGRAM",
    "FittedScore",
    "Score",
    "abs_logit",
    "class_value",
    "margin",
    "max_prob",
    "predicted_class",
    "prob_margin",
    "split",
    "top_two",
]
