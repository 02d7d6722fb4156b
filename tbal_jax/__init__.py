"""tbal-jax: a JAX simulator for threshold-based auto-labeling (TBAL).

Importing the package changes nothing in the process (no environment variable, no
matplotlib backend). Entry points ask for what they need from `tbal_jax.runtime`:
`deterministic_cpu()` before JAX's first computation makes every run's result independent
of the sweep it ran in on CPU (the command line, the tests and the notebooks call it).
"""

from tbal_jax.runtime import deterministic_cpu

__all__ = ["deterministic_cpu"]
__version__ = "0.1.0"
