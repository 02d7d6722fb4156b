"""Each promise checked as stated (algorithm.md section 13): per method and cell (N_v,
eps), the violation rate with its exact 95% interval for the high-probability promises
(against delta), the mean error of the machine labels (the FDR) with its 95% normal
interval for conformal labelling (against eps), coverage, runs with nothing machine-labelled and human labels used; a
markdown table and one figure (coverage against N_v above, the promise's check below).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from tbal_jax.certify.methods import FDR, METHODS, WHOLE
from tbal_jax.estimators_report import clopper_pearson_interval
from tbal_jax.manifest import atomic_path
from tbal_jax.plots import STYLE, save

CELL = ("estimator", "grouping", "n_val", "eps", "delta")
Z95 = 1.959963984540054


def _fdp(r) -> float:
    """The share of wrong machine labels, 0 when nothing is labelled (the FDR's FDP)."""
    return 0.0 if math.isnan(r["error"]) else r["error"]


def summarise(rows: list[dict]) -> list[dict]:
    """One row per (estimator, grouping, N_v, eps, delta), methods in registry order."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[c] for c in CELL), []).append(r)
    order = {name: i for i, name in enumerate(METHODS)}
    out = []
    for key in sorted(groups, key=lambda k: (order[k[0]], *k[1:])):
        runs = groups[key]
        cell = dict(zip(CELL, key))
        promise = runs[0]["promise"]
        n = len(runs)
        fdp = np.array([_fdp(r) for r in runs])
        half = Z95 * fdp.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
        if promise == FDR:
            bad, low, high = "", math.nan, math.nan
            kept = bool(fdp.mean() - half <= cell["eps"]) if n > 1 else True
        else:
            bad = sum(1 for r in runs if r["violation"])
            low, high = clopper_pearson_interval(bad, n)
            kept = low <= cell["delta"]
        out.append(cell | {
            "promise": promise,
            "n_runs": n,
            "violations": bad,
            "violation_rate": bad / n if bad != "" else math.nan,
            "violation_low": low,
            "violation_high": high,
            "fdr_mean": float(fdp.mean()),
            "fdr_low": float(fdp.mean() - half),
            "fdr_high": float(fdp.mean() + half),
            "promise_kept": kept,
            "coverage_mean": float(np.mean([r["coverage"] for r in runs])),
            "n_no_auto": sum(1 for r in runs if r["n_auto"] == 0),
            "whole_error_mean": float(np.mean([r["whole_error"] for r in runs])),
            "human_labels_mean": float(np.mean([r["human_labels"] for r in runs])),
        })
    return out


def _check_text(s: dict) -> str:
    if s["promise"] == FDR:
        return f"FDR {100 * s['fdr_mean']:.2f}% [{100 * s['fdr_low']:.2f}, " \
               f"{100 * s['fdr_high']:.2f}]"
    what = "P(whole err > eps)" if s["promise"] == WHOLE else "P(err > eps)"
    return f"{what} {100 * s['violation_rate']:.1f}% [{100 * s['violation_low']:.1f}, " \
           f"{100 * s['violation_high']:.1f}]"


def table(summary: list[dict]) -> str:
    """The summary as a markdown table, one row per cell."""
    lines = [
        "| estimator | grouping | N_v | eps | coverage % | nothing labelled | "
        "human labels | promise check (95% interval) | kept |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {METHODS.get(s['estimator']).title} | {s['grouping']} | {s['n_val']} | "
            f"{s['eps']:g} | {100 * s['coverage_mean']:.1f} | {s['n_no_auto']}/"
            f"{s['n_runs']} | {s['human_labels_mean']:.0f} | {_check_text(s)} | "
            f"{'yes' if s['promise_kept'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def figure(summary: list[dict], title: str, stem: Path, atomic=atomic_path):
    """Coverage against N_v per method (top) and the promise's check (bottom: the
    violation rate with its interval, or the FDR for conformal labelling), one column
    per eps, delta dashed."""
    eps_values = sorted({s["eps"] for s in summary})
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            2, len(eps_values), figsize=(5.4 * len(eps_values), 8.2), squeeze=False,
            sharex=True,
        )
        for col, eps in enumerate(eps_values):
            top, bottom = axes[0, col], axes[1, col]
            for name in METHODS:
                cells = sorted(
                    (s for s in summary if s["estimator"] == name and s["eps"] == eps),
                    key=lambda s: s["n_val"],
                )
                if not cells:
                    continue
                method = METHODS.get(name)
                x = np.array([s["n_val"] for s in cells])
                style = {"marker": method.marker, "label": method.title,
                         "linestyle": "-" if method.guaranteed else ":"}
                line, = top.plot(x, [100 * s["coverage_mean"] for s in cells], **style)
                if method.promise == FDR:
                    y = np.array([s["fdr_mean"] for s in cells])
                    lo = np.array([s["fdr_low"] for s in cells])
                    hi = np.array([s["fdr_high"] for s in cells])
                else:
                    y = np.array([s["violation_rate"] for s in cells])
                    lo = np.array([s["violation_low"] for s in cells])
                    hi = np.array([s["violation_high"] for s in cells])
                bottom.errorbar(x, 100 * y, yerr=100 * np.abs(np.stack([y - lo, hi - y])),
                                color=line.get_color(), capsize=3, **style)
            delta = summary[0]["delta"]
            bottom.axhline(100 * delta, color="k", linestyle="--", linewidth=1,
                           label=rf"$\delta = \alpha$ = {delta:g}")
            if any(s["promise"] == FDR for s in summary):
                bottom.axhline(100 * eps, color="0.5", linestyle="-.", linewidth=1,
                               label=r"$\epsilon$ (the FDR's bound)")
            top_y = 100 * max(4 * delta, 1.6 * eps)  # the promises' scale
            bottom.set_ylim(0, top_y)
            off = [
                f"{METHODS.get(n).title} {100 * max(s['violation_rate'] for s in summary if s['estimator'] == n and s['eps'] == eps):.0f}%"
                for n in METHODS
                if any(s["estimator"] == n and s["eps"] == eps
                       and s["violation_rate"] * 100 > top_y for s in summary)
            ]
            if off:
                bottom.text(0.02, 0.97, "off scale (up to): " + ", ".join(off),
                            transform=bottom.transAxes, va="top", fontsize=9)
            top.set_title(rf"$\epsilon$ = {eps:g}")
            top.set_ylabel("Coverage (%)")
            bottom.set_ylabel("Promise check (%)")
            bottom.set_xlabel(r"Validation size $N_v$")
            for ax in (top, bottom):
                ax.set_xscale("log")
                ax.grid(alpha=0.3)
        handles, names = axes[1, 0].get_legend_handles_labels()
        fig.legend(handles, names, loc="lower center", ncol=4, fontsize=9,
                   frameon=False)
        fig.suptitle(title + "\n(check: P(error > eps) with its exact 95% interval, "
                     "against delta; for Conformal Labeling its FDR, against eps)",
                     fontsize=11)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        return save(fig, stem, atomic)


__all__ = ["figure", "summarise", "table"]
