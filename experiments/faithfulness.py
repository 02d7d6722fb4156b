"""Our numbers next to the published ones (algorithm.md section 10), as a Markdown table.

    python -m experiments.faithfulness [--seeds=20]

Runs `unit_ball_val` at C1 = 0 for the published N_v values with TBAL, AL (AL+SC) and PL
(PL+SC), and prints mean ± std (%) beside the published mean ± std, with the seed-noise
test |ours - published| <= 3 sqrt(sd_pub^2/10 + sd_ours^2/S) for error and coverage.
"""

from __future__ import annotations

import tempfile

from absl import flags

from experiments import _cli
from tbal_jax import published
from tbal_jax.experiments import get_experiment, paper_seeds, run_experiment

flags.DEFINE_integer("seeds", 20, "number of seeds (the paper's 0, 7, 14, ...)")


def main(argv):
    _cli.no_arguments(argv, "--seeds=20")
    if flags.FLAGS.seeds < 1:
        raise _cli.BadInput(f"--seeds={flags.FLAGS.seeds}: must be a positive integer")
    exp = get_experiment("unit_ball_val").with_grid(
        n_val=sorted(published.UNIT_BALL_N_VAL["tbal"]), c1=[0.0]
    )
    with tempfile.TemporaryDirectory() as tmp:
        summary = run_experiment(exp, paper_seeds(flags.FLAGS.seeds), tmp)[
            "summary_rows"
        ]
    print(
        f"Unit ball, N_q = 500, eps = 1%, C1 = 0; ours: {flags.FLAGS.seeds} seeds, "
        "published: 10 seeds; mean ± std in %"
    )
    print(published.comparison_table(summary))


if __name__ == "__main__":
    _cli.run(main, define_flags=lambda: None)  # its flag is defined above, at import
