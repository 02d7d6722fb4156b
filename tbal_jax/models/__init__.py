"""Models (algorithm.md section 5): the interface (`base.Model`) and the registry `MODELS`.

A model is a frozen dataclass of hyperparameters with three pure functions, `init`,
`fit` and `logits` (see `tbal_jax.models.base`), and `supports(dataset)`, the host check
that it can serve the data. Add one: a module here with its class or preset, and one
`MODELS.register(...)` line below; `--model=NAME` then picks it for any sweep.
"""

from tbal_jax.models.base import Model
from tbal_jax.models.linear import (
    CIRCLES_LOGISTIC,
    UNIT_BALL_SVM,
    LinearBinary,
    newton_minimise,
)
from tbal_jax.models.mlp import MLP, MLP_FASHION, MLP_IMDB, MLP_TINY_IMAGENET
from tbal_jax.models.softmax import SOFTMAX_LOGISTIC, SoftmaxLogistic
from tbal_jax.registry import Registry

MODELS: Registry[Model] = Registry("model")
MODELS.register(UNIT_BALL_SVM)
MODELS.register(CIRCLES_LOGISTIC)
MODELS.register(SOFTMAX_LOGISTIC)
MODELS.register(MLP_TINY_IMAGENET)
MODELS.register(MLP_IMDB)
MODELS.register(MLP_FASHION)

__all__ = [
    "CIRCLES_LOGISTIC",
    "MLP",
    "MLP_FASHION",
    "MLP_IMDB",
    "MLP_TINY_IMAGENET",
    "MODELS",
    "SOFTMAX_LOGISTIC",
    "UNIT_BALL_SVM",
    "LinearBinary",
    "Model",
    "SoftmaxLogistic",
    "newton_minimise",
]
