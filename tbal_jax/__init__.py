"""tbal-jax: a JAX simulator for threshold-based auto-labeling (TBAL).

Importing the package turns off XLA's experimental YNNPACK fusions on CPU (unless the
user already set that flag): with them, a dot's rounding depends on the batch size, and a
run's result would depend on the sweep it ran in (see `tbal_jax.sweep`). It costs about
10% speed on CPU. It must happen before JAX starts its backend, hence here.
"""

import os

_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}=".strip()

__version__ = "0.1.0"
