"""Where the experiments lived before `tbal_jax.presets` and `tbal_jax.pipeline`:
`from tbal_jax.experiments import get_experiment, paper_seeds, run_experiment` (the
README's and the notebooks' import) keeps working. New code imports `tbal_jax.presets`
(the named experiments) and `tbal_jax.pipeline` (running one); this module's name is
easy to confuse with the `experiments/` scripts package."""

from tbal_jax.pipeline import run_experiment  # noqa: F401
from tbal_jax.presets import (  # noqa: F401
    EXPERIMENTS,
    PAPER_SEED_STRIDE,
    Experiment,
    available_experiments,
    get_experiment,
    paper_seeds,
)
