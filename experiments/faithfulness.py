"""Our TBAL numbers next to the published ones (SPEC section 10), as a Markdown table.

    python -m experiments.faithfulness [--seeds=20]

Runs `unit_ball_val` at C1 = 0 for the published N_v values and prints mean +- std (%)
beside the published mean +- std, with the seed-noise test
|ours - published| <= 3 sqrt(sd_pub^2/10 + sd_ours^2/S) for error and coverage.
"""

from __future__ import annotations

import numpy as np
from absl import app, flags

from tbal_jax import published, sweep
from tbal_jax.config import grid_params
from tbal_jax.experiments import get_experiment, paper_seeds

flags.DEFINE_integer("seeds", 20, "number of seeds (the paper's 0, 7, 14, ...)")


def faithfulness_table(n_seeds: int) -> str:
    pub = published.UNIT_BALL_N_VAL["tbal"]
    n_val = sorted(pub)
    exp = get_experiment("unit_ball_val").with_grid(n_val=n_val, c1=[0.0])
    result = sweep.run_sweep(exp.static_config(), paper_seeds(n_seeds),
                             grid_params(exp.n_val, exp.n_train, exp.eps, exp.c1))
    err = 100 * result.summary.auto_error
    cov = 100 * result.summary.coverage
    lines = ["| N_v | error, ours | error, published | agrees | coverage, ours | "
             "coverage, published | agrees |", "|---|---|---|---|---|---|---|"]
    for j, nv in enumerate(n_val):
        e, es, c, cs = pub[nv]
        ours = [(np.nanmean(a[:, j]), np.nanstd(a[:, j], ddof=1)) for a in (err, cov)]
        ok = [published.agrees(m, s, n_seeds, pm, ps)
              for (m, s), pm, ps in zip(ours, (e, c), (es, cs))]
        lines.append(
            f"| {nv} | {ours[0][0]:.2f} ± {ours[0][1]:.2f} | {e:.2f} ± {es:.2f} | "
            f"{'yes' if ok[0] else 'NO'} | {ours[1][0]:.2f} ± {ours[1][1]:.2f} | "
            f"{c:.2f} ± {cs:.2f} | {'yes' if ok[1] else 'NO'} |")
    return "\n".join(lines)


def main(argv):
    del argv
    print(f"TBAL, unit ball, N_q = 500, eps = 1%, C1 = 0; ours: "
          f"{flags.FLAGS.seeds} seeds, published: 10 seeds; mean ± std in %")
    print(faithfulness_table(flags.FLAGS.seeds))


if __name__ == "__main__":
    app.run(main)
