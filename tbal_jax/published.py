"""The published numbers of algorithm.md section 10 and the seed-noise agreement test.

Unit ball, eps = 0.01, N_q = 500, C1 = 0, 10 seeds; mean and std in percent. The AL+SC
numbers come from the reference code's half-budget AL.
"""

from __future__ import annotations

import math

from tbal_jax.labels import method_label

PUBLISHED_SEEDS = 10
# method -> N_v -> (error mean, error std, coverage mean, coverage std), in %
UNIT_BALL_N_VAL = {
    "tbal": {
        100: (3.10, 1.80, 71.43, 8.86),
        400: (1.97, 0.76, 93.99, 2.39),
        800: (1.64, 0.50, 96.26, 1.33),
        1200: (1.39, 0.39, 96.67, 0.84),
        1600: (1.33, 0.30, 97.13, 0.45),
        2000: (1.28, 0.34, 97.15, 0.54),
    },
    "al_sc": {
        100: (0.68, 0.81, 96.95, 1.01),
        400: (0.59, 0.18, 97.89, 0.50),
        800: (0.66, 0.19, 98.06, 0.53),
        1200: (0.67, 0.19, 98.10, 0.45),
        1600: (0.70, 0.19, 98.16, 0.44),
        2000: (0.71, 0.21, 98.20, 0.34),
    },
    "pl_sc": {
        100: (1.45, 0.73, 92.29, 3.27),
        400: (1.19, 0.53, 91.73, 2.86),
        800: (1.21, 0.41, 92.25, 2.31),
        1200: (1.11, 0.30, 91.98, 2.20),
        1600: (1.11, 0.26, 92.01, 2.09),
        2000: (1.07, 0.25, 91.86, 2.17),
    },
}


def agrees(
    ours_mean: float,
    ours_std: float,
    ours_n: int,
    pub_mean: float,
    pub_std: float,
    pub_n: int = PUBLISHED_SEEDS,
) -> bool:
    """|ours - published| <= 3 sqrt(sd_pub^2 / n_pub + sd_ours^2 / n_ours)."""
    return abs(ours_mean - pub_mean) <= 3 * math.sqrt(
        pub_std**2 / pub_n + ours_std**2 / ours_n
    )


def comparison_table(summary: list[dict], methods=("tbal", "al_sc", "pl_sc")) -> str:
    """Markdown: our mean ± std (%) beside the published one for each method and N_v of
    algorithm.md section 10 (rows of a `unit_ball_val` summary at C1 = 0), with the seed-noise
    test for error and coverage ("yes"/"NO")."""
    ours = {
        (r["method"], r["n_val"]): r
        for r in summary
        if r["c1"] == 0 and r["n_train"] == 500 and r["eps"] == 0.01
    }
    lines = [
        "| method | N_v | error, ours | error, published | agrees | coverage, ours "
        "| coverage, published | agrees |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method in methods:
        for nv, (e, es, c, cs) in UNIT_BALL_N_VAL[method].items():
            r = ours.get((method, nv))
            if r is None:
                continue
            n = r["n_runs"] - r["n_no_auto"]
            pairs = [
                (100 * r["auto_error_mean"], 100 * r["auto_error_std"], n, e, es),
                (100 * r["coverage_mean"], 100 * r["coverage_std"], r["n_runs"], c, cs),
            ]
            cells = []
            for m, s, k, pm, ps in pairs:
                ok = agrees(m, s, k, pm, ps) if k > 1 else False
                cells += [
                    f"{m:.2f} ± {s:.2f}",
                    f"{pm:.2f} ± {ps:.2f}",
                    "yes" if ok else "NO",
                ]
            lines.append(
                f"| {method_label(method)} | {nv} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)
