"""Paper-style tables (algorithm.md section 10): mean ± std (%) of error and coverage per method
and variant (`tbal_jax.labels`), one row per value of the swept quantity, as Markdown
and LaTeX (booktabs)."""

from __future__ import annotations

import math

from tbal_jax import labels
from tbal_jax.protocols import outcome_labels

X_LABELS = {"n_val": "$N_v$", "n_train": "$N_q$", "eps": r"$\epsilon$ (\%)"}


def _cell(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return (
        f"{100 * mean:.2f} ± {100 * std:.2f}"
        if not math.isnan(std)
        else f"{100 * mean:.2f}"
    )


def sweep_table(summary: list[dict], x: str, c1: float) -> tuple[str, str]:
    """(markdown, latex) for one value of C1; methods in the figures' order."""
    rows = [r for r in summary if r["c1"] == c1]
    columns = labels.varying(rows)
    variants = list(dict.fromkeys(labels.variant(r, columns) for r in rows))
    methods = [
        (m, v)
        for m in outcome_labels()
        for v in variants
        if any((r["method"], labels.variant(r, columns)) == (m, v) for r in rows)
    ]
    xs = sorted({r[x] for r in rows})
    by_key = {(r["method"], labels.variant(r, columns), r[x]): r for r in rows}
    names = {key: labels.series_label(*key, columns) for key in methods}
    head = [X_LABELS[x].replace("$", "").replace(r"\%", "%")]
    for key in methods:
        head += [f"{names[key]} err (%)", f"{names[key]} cov (%)"]
    body = []
    for value in xs:
        line = [f"{100 * value:g}" if x == "eps" else f"{value:g}"]
        for key in methods:
            r = by_key.get((*key, value))
            if r is None:  # this series has no run at this value
                line += ["n/a", "n/a"]
                continue
            line += [
                _cell(r["auto_error_mean"], r["auto_error_std"]),
                _cell(r["coverage_mean"], r["coverage_std"]),
            ]
        body.append(line)
    markdown = "\n".join(
        ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        + ["| " + " | ".join(line) + " |" for line in body]
    )
    latex_head = [X_LABELS[x]] + [
        rf"\multicolumn{{2}}{{c}}{{{names[key]}}}" for key in methods
    ]
    latex = "\n".join(
        [
            r"\begin{tabular}{l" + "cc" * len(methods) + "}",
            r"\toprule",
            " & ".join(latex_head) + r" \\",
            " & " + " & ".join(["err (\\%)", "cov (\\%)"] * len(methods)) + r" \\",
            r"\midrule",
            *[
                " & ".join(c.replace("±", r"$\pm$") for c in line) + r" \\"
                for line in body
            ],
            r"\bottomrule",
            r"\end{tabular}",
        ]
    )
    return markdown, latex
