"""Paper-style figures (algorithm.md section 9): error and coverage against the swept quantity.

Left panel "Auto-labeling error (%)" with a mean +- std band over seeds and the tolerance
eps drawn as a dashed line; right panel "Coverage (%)". One series per method, variant
(model, estimator, score, query, delta, where a sweep has several: `tbal_jax.labels`)
and C1.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from tbal_jax import labels
from tbal_jax.manifest import atomic_path
from tbal_jax.protocols import outcome_labels, outcome_markers

AXIS_LABELS = {
    "n_val": r"Validation size $N_v$",
    "n_train": r"Training budget $N_q$",
    "eps": r"Tolerance $\epsilon$ (%)",
}
STYLE = {
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 13,
    "legend.fontsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def save(fig, stem: Path, atomic=atomic_path) -> list[Path]:
    """Write `fig` as stem.png (150 dpi) and stem.pdf through `atomic(path)` (a
    temporary name renamed into place; a result store's records the file first), and
    close it."""
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        with atomic(path) as tmp:
            fig.savefig(tmp, dpi=150, format=path.suffix[1:])
    plt.close(fig)
    return paths


def _series(summary: list[dict], x: str, columns: tuple[str, ...]):
    """{(method, variant, c1): (x, mean err, std err, mean cov, std cov)} sorted by x."""
    groups: dict = {}
    for row in summary:
        key = (row["method"], labels.variant(row, columns), row["c1"])
        groups.setdefault(key, []).append(row)
    out = {}
    for key, rows in groups.items():
        rows = sorted(rows, key=lambda r: r[x])
        out[key] = tuple(
            np.array([r[name] for r in rows], float)
            for name in (
                x,
                "auto_error_mean",
                "auto_error_std",
                "coverage_mean",
                "coverage_std",
            )
        )
    return out


def sweep_figure(
    summary: list[dict], x: str, title: str, stem: Path, atomic=atomic_path
) -> list[Path]:
    """Draw the two-panel figure of a sweep and save it as PNG and PDF."""
    columns = labels.varying(summary)
    series = _series(summary, x, columns)
    c1_values = sorted({c1 for _, _, c1 in series})
    variants = list(dict.fromkeys(v for _, v, _ in series))
    scale_x = 100.0 if x == "eps" else 1.0
    order, markers = list(outcome_labels()), outcome_markers()
    with plt.rc_context(STYLE):
        fig, (ax_err, ax_cov) = plt.subplots(1, 2, figsize=(11, 4.2))
        for (method, var, c1), (xs, em, es, cm, cs) in sorted(
            series.items(),
            key=lambda kv: (order.index(kv[0][0]), variants.index(kv[0][1]), kv[0][2]),
        ):
            label = labels.series_label(method, var, columns)
            if len(c1_values) > 1:
                label += f" ($C_1$={c1:g})"
            style = dict(
                color=f"C{(order.index(method) + 5 * variants.index(var)) % 10}",
                marker=markers.get(method, "o"),
                ms=5,
                ls="-" if c1_values.index(c1) == 0 else "--",
            )
            for ax, mean, std in ((ax_err, em, es), (ax_cov, cm, cs)):
                std = np.nan_to_num(std)
                ax.plot(xs * scale_x, 100 * mean, label=label, **style)
                ax.fill_between(
                    xs * scale_x,
                    100 * (mean - std),
                    100 * (mean + std),
                    color=style["color"],
                    alpha=0.15,
                    lw=0,
                )
        eps_values = sorted({row["eps"] for row in summary})
        if x == "eps":
            grid = np.array(eps_values) * 100
            ax_err.plot(grid, grid, "k--", lw=1.2, label=r"$\epsilon$")
        else:
            for e in eps_values:
                ax_err.axhline(
                    100 * e,
                    color="k",
                    ls="--",
                    lw=1.2,
                    label=rf"$\epsilon$ = {100 * e:g}%",
                )
        ax_err.set(xlabel=AXIS_LABELS[x], ylabel="Auto-labeling error (%)")
        ax_cov.set(xlabel=AXIS_LABELS[x], ylabel="Coverage (%)")
        ax_err.set_ylim(bottom=0)
        ax_cov.set_ylim(top=100)
        for ax in (ax_err, ax_cov):
            ax.grid(alpha=0.3)
        ax_err.legend(frameon=False, fontsize=9, ncol=2)
        fig.suptitle(title)
        fig.tight_layout()
        return save(fig, stem, atomic)


BOUND_STYLES = [  # (colour, line style) of `bound_overlay`'s curves, in order
    ("k", "-"),
    ("k", "--"),
    ("0.5", "-"),
    ("0.5", "--"),
    ("C2", ":"),
    ("C4", "-."),
]


def bound_overlay(
    x,
    errors,
    bounds: dict,
    eps: float,
    stem: Path,
    title: str = "",
    excess: float = 0.0,
    xlabel: str = AXIS_LABELS["n_val"],
    legend_title: str | None = None,
    atomic=atomic_path,
) -> list[Path]:
    """Bound curves over an empirical sweep (algorithm.md sections 9, 11).

    Left: the mean +- std band and the max over seeds of the auto-labeling error
    (`errors`: (seeds, len(x)) fractions, NaN where nothing was auto-labelled), each curve
    of `bounds` ({label: values}, up to six, in `BOUND_STYLES`), and eps; log scale.
    Right: the fraction of seeds whose error exceeds eps + `excess`. `legend_title`
    states what the curves share (e.g. their delta). Saved as PNG and PDF.
    """
    x = np.asarray(x, float)
    errors = np.asarray(errors, float)
    labelled = ~np.isnan(errors)
    mean = np.nanmean(np.where(labelled.any(0), errors, 0.0), axis=0)
    std = (
        np.nanstd(np.where(labelled.any(0), errors, 0.0), axis=0, ddof=1)
        if len(errors) > 1
        else np.zeros_like(mean)
    )
    worst = np.nanmax(np.where(labelled.any(0), errors, 0.0), axis=0)
    exceed = np.mean(labelled & (np.nan_to_num(errors) > eps + excess), axis=0)
    with plt.rc_context(STYLE):
        fig, (ax, ax_rate) = plt.subplots(
            1, 2, figsize=(11, 5.0), gridspec_kw={"width_ratios": [1.6, 1]}
        )
        for (label, values), (color, style) in zip(
            bounds.items(), BOUND_STYLES, strict=False
        ):
            ax.plot(
                x, 100 * np.asarray(values), color=color, ls=style, lw=1.6, label=label
            )
        ax.fill_between(
            x,
            100 * np.maximum(mean - std, 1e-3),
            100 * (mean + std),
            color="C0",
            alpha=0.2,
            lw=0,
        )
        ax.plot(x, 100 * mean, "o-", color="C0", ms=4, label="TBAL error, mean ± std")
        ax.plot(
            x, 100 * worst, "s--", color="C3", ms=4, label="TBAL error, max over seeds"
        )
        ax.axhline(
            100 * eps,
            color="grey",
            ls="--",
            lw=1,
            label=rf"$\epsilon$ = {100 * eps:g}%",
        )
        ax.set(yscale="log", xlabel=xlabel, ylabel="Auto-labeling error (%)")
        fig.legend(
            *ax.get_legend_handles_labels(),
            loc="lower center",
            ncol=2 if len(bounds) > 3 else 3,
            frameon=False,
            fontsize=9,
            title=legend_title,
            title_fontsize=9,
        )
        ax_rate.plot(x, 100 * exceed, "o-", color="C3", ms=4)
        threshold = rf"$\epsilon$ + {100 * excess:g}%" if excess else r"$\epsilon$"
        ax_rate.set(
            xlabel=xlabel, ylabel=f"Seeds with error > {threshold} (%)", ylim=(-2, 102)
        )
        for a in (ax, ax_rate):
            a.grid(alpha=0.3, which="both")
        fig.suptitle(title)
        fig.tight_layout(rect=(0, 0.08 + 0.035 * (len(bounds) + 3) / 2, 1, 1))
        return save(fig, stem, atomic)


def labels_scatter(
    x, y, panels: dict, title: str, stem: Path, atomic=atomic_path
) -> list[Path]:
    """One panel per method: a 2-d pool coloured by its final labels (queried, machine
    label per class with wrong ones marked, unlabelled). `panels`: {title: (N,) labels
    holding QUERIED (-2), UNLABELLED (-1) or the machine label}."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1, len(panels), figsize=(5.2 * len(panels), 6.0), squeeze=False
        )
        for ax, (name, labels) in zip(axes[0], panels.items()):
            auto = labels >= 0
            groups = [
                (labels == -1, "unlabeled", dict(c="0.8", s=4)),
                (auto & (labels == 0) & (y == 0), "auto-labeled 0", dict(c="C0", s=4)),
                (auto & (labels == 1) & (y == 1), "auto-labeled 1", dict(c="C1", s=4)),
                (
                    auto & (labels != y),
                    "auto-labeled wrong",
                    dict(c="C3", s=8, marker="x"),
                ),
                (labels == -2, "queried", dict(c="k", s=10, marker="^")),
            ]
            for mask, label, style in groups:
                ax.scatter(
                    x[mask, 0],
                    x[mask, 1],
                    label=f"{label} ({mask.sum()})",
                    linewidths=0.8,
                    **style,
                )
            ax.set(title=name, aspect="equal", xticks=[], yticks=[])
            for side in ("left", "bottom"):
                ax.spines[side].set_visible(False)
            ax.legend(
                loc="upper center",
                bbox_to_anchor=(0.5, 0.0),
                ncol=2,
                fontsize=9,
                markerscale=2,
                frameon=False,
            )
        fig.suptitle(title)
        fig.tight_layout()
        return save(fig, stem, atomic)
