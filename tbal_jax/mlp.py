"""Where the MLP lived before the models package: `from tbal_jax.mlp import MLP` keeps
working (the README's and earlier notebooks' import); new code imports
`tbal_jax.models`."""

from tbal_jax.models.mlp import *  # noqa: F401, F403
from tbal_jax.models.mlp import MLP, PRESETS, TrainLog  # noqa: F401
