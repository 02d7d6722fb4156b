"""Confidence functions head to head, and the audit of Colander's checkpoint selection
(algorithm.md section 14).

`confidence` (experiments confidence_fashion_mnist, confidence_circles): per model,
confidence function, estimator and N_v, the mean error and coverage on the pool and on
the held-out test data, in the shape of Colander's Table 2, with the share of cells
whose mean error exceeds eps; and a figure (error above, coverage below, one column per
model). `colander_audit`: per checkpoint selection and N_v, the error the thresholds
were chosen at (the threshold set D_th's mistakes among its points above the
thresholds, over all rounds), the test error of the labels, the gap between them (the
selection's optimism) and P(test error > eps).
"""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from tbal_jax import labels, plots, results
from tbal_jax.estimators_report import clopper_pearson_interval
from tbal_jax.reports.base import Report

CELL = ("model", "score", "estimator", "n_val")
COLUMNS = list(CELL) + [
    "eps",
    "n_runs",
    "n_no_auto",
    "auto_error_mean",
    "auto_error_std",
    "coverage_mean",
    "coverage_std",
    "test_error_mean",
    "test_error_std",
    "test_coverage_mean",
    "test_coverage_std",
    "violation_rate",
]
AUDIT_COLUMNS = [
    "score",
    "n_val",
    "eps",
    "n_runs",
    "n_compared",
    "th_error_mean",
    "test_error_mean",
    "optimism_mean",
    "optimism_std",
    "violation_rate",
    "violation_lo",
    "violation_hi",
    "test_coverage_mean",
]
NAMES = {"max_prob": "softmax"}  # the sequel's name for the model's own score


def score_name(name: str) -> str:
    return NAMES.get(name, labels.component_title("score", name))


def _stats(values) -> tuple[float, float]:
    """(mean, sample std) of the values that are not NaN (runs that labelled something),
    as `results.summarise_rows` computes them; NaN where there are none."""
    v = np.asarray([x for x in values if not math.isnan(x)], float)
    if not len(v):
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan


def cells(rows: list[dict]) -> list[dict]:
    """One summary row per (model, score, estimator, N_v) of the rows (the report runs
    TBAL alone). The error means cover the runs that labelled something; `n_no_auto`
    counts the others."""
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(row[c] for c in CELL)].append(row)
    out = []
    for key, runs in groups.items():
        eps = runs[0]["eps"]
        cell = dict(zip(CELL, key)) | {"eps": eps, "n_runs": len(runs)}
        cell["n_no_auto"] = sum(r["n_auto"] == 0 for r in runs)
        for name in ("auto_error", "coverage", "test_error", "test_coverage"):
            cell[f"{name}_mean"], cell[f"{name}_std"] = _stats(r[name] for r in runs)
        tested = [r for r in runs if r["n_test"]]
        cell["violation_rate"] = (
            sum(r["test_error"] > eps for r in tested) / len(tested)
            if tested
            else math.nan
        )
        out.append(cell)
    first = {}  # each model, score and estimator in the order the rows bring them
    for row in rows:
        for k in CELL[:3]:
            first.setdefault((k, row[k]), len(first))
    return sorted(
        out, key=lambda c: tuple(first[(k, c[k])] for k in CELL[:3]) + (c["n_val"],)
    )


def _pct(mean: float, std: float) -> str:
    """mean ± std in %; "-" without a mean, the mean alone without a std (one run)."""
    if math.isnan(mean):
        return "-"
    return f"{100 * mean:.1f}" + ("" if math.isnan(std) else f" ± {100 * std:.1f}")


def table(summary: list[dict], model_titles: dict) -> str:
    """Markdown: per estimator, rows model x confidence function, a column pair (error,
    coverage) per N_v on the pool and on the test data; then the share of cells whose
    mean error exceeds eps."""
    n_vals = sorted({c["n_val"] for c in summary})
    eps = summary[0]["eps"]
    lines = []
    for estimator in dict.fromkeys(c["estimator"] for c in summary):
        mine = [c for c in summary if c["estimator"] == estimator]
        by = {(c["model"], c["score"], c["n_val"]): c for c in mine}
        lines += [
            f"Estimator {labels.component_title('estimator', estimator)}, "
            f"eps = {100 * eps:g}%: error % / coverage % (mean ± std over runs; the "
            "error over the runs that labelled something), pool, then held-out test "
            "data",
            "",
            "| model | confidence | "
            + " | ".join(f"pool err, N_v={n} | pool cov" for n in n_vals)
            + " | "
            + " | ".join(f"test err, N_v={n} | test cov" for n in n_vals)
            + " |",
            "|---|---|" + "---|" * (4 * len(n_vals)),
        ]
        for model, score in dict.fromkeys((c["model"], c["score"]) for c in mine):
            row = [model_titles.get(model, model), score_name(score)]
            for prefix in ("", "test_"):
                for n in n_vals:
                    row += _pair(by.get((model, score, n)), prefix)
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    for name, where in (("auto_error", "pool"), ("test_error", "test data")):
        means = [c[f"{name}_mean"] for c in summary]
        known = [m for m in means if not math.isnan(m)]
        if known:
            over = sum(m > eps for m in known)
            lines.append(
                f"Cells whose mean error on the {where} exceeds eps = {100 * eps:g}%: "
                f"{over} of {len(known)}."
            )
        elif name == "test_error" and all(
            math.isnan(c["test_coverage_mean"]) for c in summary
        ):
            lines.append(
                "No test error: the data have no test split (an .npz may give "
                "x_test, y_test), so only the pool's error is known."
            )
        else:
            lines.append(f"No error on the {where}: no run auto-labelled anything.")
    no_auto = sum(c["n_no_auto"] for c in summary)
    runs = sum(c["n_runs"] for c in summary)
    lines.append(f"Runs that auto-labelled nothing: {no_auto} of {runs}.")
    return "\n".join(lines)


def _pair(cell, prefix: str) -> list[str]:
    """(error, coverage) of a cell on the pool (`prefix` "") or the test data."""
    if cell is None:
        return ["-", "-"]
    names = (
        ("auto_error", "coverage") if not prefix else ("test_error", "test_coverage")
    )
    return [_pct(cell[f"{a}_mean"], cell[f"{a}_std"]) for a in names]


def figure(summary: list[dict], title: str, stem: Path, model_titles: dict, atomic):
    """Error (test data where the data have it, else the pool) above, pool coverage
    below, against N_v; one column per model, one line per confidence function, a
    dashed one per further estimator."""
    models = list(dict.fromkeys(c["model"] for c in summary))
    scores = list(dict.fromkeys(c["score"] for c in summary))
    estimators = list(dict.fromkeys(c["estimator"] for c in summary))
    tested = any(not math.isnan(c["test_error_mean"]) for c in summary)
    err = "test_error" if tested else "auto_error"
    eps = summary[0]["eps"]
    width = max(6.0, 4.2 * len(models))
    fig, axes = plt.subplots(
        2, len(models), figsize=(width, 6.6), squeeze=False, sharex=True
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, model in enumerate(models):
        top, bottom = axes[0, j], axes[1, j]
        for si, score in enumerate(scores):
            for ei, estimator in enumerate(estimators):
                mine = sorted(
                    (
                        c
                        for c in summary
                        if (c["model"], c["score"], c["estimator"])
                        == (model, score, estimator)
                    ),
                    key=lambda c: c["n_val"],
                )
                if not mine:
                    continue
                x = [c["n_val"] for c in mine]
                style = dict(
                    color=colours[si % len(colours)],
                    linestyle=("-", "--", ":")[ei % 3],
                    marker="o",
                    markersize=3.5,
                )
                name = score_name(score) + (
                    f", {labels.component_title('estimator', estimator)}"
                    if len(estimators) > 1
                    else ""
                )
                top.plot(x, [100 * c[f"{err}_mean"] for c in mine], **style)
                bottom.plot(
                    x, [100 * c["coverage_mean"] for c in mine], label=name, **style
                )
        top.axhline(100 * eps, color="0.3", linewidth=0.8, linestyle="--")
        top.set_ylim(0, max(top.get_ylim()[1], 125 * eps))
        top.set_title(model_titles.get(model, model))
        top.set_ylabel(("Test error" if tested else "Auto-labeling error") + " (%)")
        bottom.set_ylabel("Pool coverage (%)")
        bottom.set_xlabel("Validation size $N_v$")
        bottom.set_ylim(0, 100)
    handles, names = axes[1, 0].get_legend_handles_labels()
    ncol = min(len(scores), 3) if len(estimators) == 1 else 2
    fig.suptitle(textwrap.fill(title, int(11 * width)), fontsize=10)
    fig.tight_layout(rect=(0, 0.01 + 0.032 * math.ceil(len(names) / ncol), 1, 1))
    fig.legend(
        handles, names, loc="lower center", ncol=ncol, fontsize=7.5, frameon=False
    )
    return plots.save(fig, stem, atomic)


def _model_titles(done) -> dict:
    """{model name: its title} of the swept configurations."""
    return {r["model"]: labels.component_title("model", r["model"]) for r in done.rows}


def _write_text(atomic, path: Path, text: str) -> Path:
    with atomic(path) as tmp:
        tmp.write_text(text + "\n")
    return path


class ConfidenceReport(Report):
    def write(self, exp, dataset, done, folder: Path, atomic) -> dict:
        summary = cells(done.rows)
        csv_path = folder / "confidence.csv"
        with atomic(csv_path) as tmp:
            results.write_csv(tmp, summary, COLUMNS)
        titles = _model_titles(done)
        tables = [
            _write_text(atomic, folder / "table_confidence.md", table(summary, titles))
        ]
        fig = figure(
            summary,
            self.title(exp, done.seeds),
            folder / exp.name,
            titles,
            atomic,
        )
        return {"confidence": csv_path, "tables": tables, "figure": fig}


def audit_rows(done, n_test: int) -> list[dict]:
    """Per run: the error the thresholds were chosen at (D_th's mistakes among its
    points above the thresholds, summed over the rounds), and the test error and
    coverage over the `n_test` held-out points."""
    out = []
    for unit, sweep in done.sweeps.items():
        above = np.asarray(sweep.rounds.th_n_above).sum(axis=-1)  # (S, G)
        wrong = np.asarray(sweep.rounds.th_n_above_wrong).sum(axis=-1)
        s = sweep.summary
        t_auto, t_wrong = np.asarray(s.test_n_auto), np.asarray(s.test_n_wrong)
        for i, seed in enumerate(sweep.seeds):
            for j in range(len(sweep.grid.n_val)):
                out.append(
                    {
                        "score": unit.score,
                        "seed": int(seed),
                        "n_val": int(sweep.grid.n_val[j]),
                        "eps": float(sweep.grid.eps[j]),
                        "th_error": wrong[i, j] / above[i, j]
                        if above[i, j]
                        else math.nan,
                        "test_error": t_wrong[i, j] / t_auto[i, j]
                        if t_auto[i, j]
                        else math.nan,
                        "test_coverage": t_auto[i, j] / n_test if n_test else math.nan,
                    }
                )
    return out


def audit(runs: list[dict]) -> list[dict]:
    """One row per (selection, N_v): the mean chosen-at and test errors and the
    optimism (test error minus chosen-at error) over the `n_compared` runs that
    labelled something both on D_th and on the test data, and P(test error > eps) over
    all runs with its 95% Clopper-Pearson interval (NaN without test data)."""
    groups = defaultdict(list)
    for r in runs:
        groups[(r["score"], r["n_val"])].append(r)
    out = []
    for (score, n_val), mine in groups.items():
        eps = mine[0]["eps"]
        both = [
            r
            for r in mine
            if not (math.isnan(r["test_error"]) or math.isnan(r["th_error"]))
        ]
        gap_mean, gap_std = _stats(r["test_error"] - r["th_error"] for r in both)
        tested = not math.isnan(mine[0]["test_coverage"])
        # a run that labelled nothing on the test data has not exceeded eps there
        over = sum(r["test_error"] > eps for r in mine)
        lo, hi = (
            clopper_pearson_interval(over, len(mine)) if tested else (math.nan,) * 2
        )
        out.append(
            {
                "score": score,
                "n_val": n_val,
                "eps": eps,
                "n_runs": len(mine),
                "n_compared": len(both),
                "th_error_mean": _stats(r["th_error"] for r in both)[0],
                "test_error_mean": _stats(r["test_error"] for r in both)[0],
                "optimism_mean": gap_mean,
                "optimism_std": gap_std,
                "violation_rate": over / len(mine) if tested else math.nan,
                "violation_lo": lo,
                "violation_hi": hi,
                "test_coverage_mean": _stats(r["test_coverage"] for r in mine)[0],
            }
        )
    order = {score: i for i, (score, _) in enumerate(groups)}  # the units' order
    return sorted(out, key=lambda c: (order[c["score"]], c["n_val"]))


def audit_table(summary: list[dict]) -> str:
    """Markdown of `audit`, in percent."""
    eps = summary[0]["eps"]
    lines = [
        f"eps = {100 * eps:g}%; errors in %, over the runs that labelled something on "
        "both D_th and the test data (compared); optimism = test error - the error on "
        "D_th at the chosen thresholds (mean ± std over those runs, in points); the "
        "violation rate over all runs",
        "",
        "| selection | N_v | runs | compared | error at the thresholds (D_th) | "
        "test error | optimism | P(test error > eps) [95% CI] | test coverage |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in summary:
        violation = (
            "- (no test data)"
            if math.isnan(c["violation_rate"])
            else f"{100 * c['violation_rate']:.1f} [{100 * c['violation_lo']:.1f}, "
            f"{100 * c['violation_hi']:.1f}]"
        )
        lines.append(
            f"| {score_name(c['score'])} | {c['n_val']} | {c['n_runs']} | "
            f"{c['n_compared']} | {_num(c['th_error_mean'])} | "
            f"{_num(c['test_error_mean'])} | "
            f"{_pct(c['optimism_mean'], c['optimism_std'])} | {violation} | "
            f"{_num(c['test_coverage_mean'])} |"
        )
    return "\n".join(lines)


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f}"


def audit_figure(summary: list[dict], title: str, stem: Path, atomic):
    """Left: the test error (solid) and the error at the thresholds on D_th (dashed)
    against N_v, one colour per score; right: P(test error > eps) with its 95%
    interval (the series side by side, so equal values stay visible)."""
    from matplotlib.lines import Line2D

    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    eps = summary[0]["eps"]
    scores = list(dict.fromkeys(c["score"] for c in summary))
    n_vals = sorted({c["n_val"] for c in summary})
    step = 0.12 * (min(np.diff(n_vals)) if len(n_vals) > 1 else n_vals[0])
    handles = []
    for i, score in enumerate(scores):
        mine = [c for c in summary if c["score"] == score]
        x = np.array([c["n_val"] for c in mine], float)
        colour = colours[i % len(colours)]
        style = dict(color=colour, markersize=3.5)
        left.plot(x, [100 * c["test_error_mean"] for c in mine], "o-", **style)
        left.plot(x, [100 * c["th_error_mean"] for c in mine], "s--", **style)
        rate = np.array([100 * c["violation_rate"] for c in mine])
        err = np.array(
            [
                [100 * (c["violation_rate"] - c["violation_lo"]) for c in mine],
                [100 * (c["violation_hi"] - c["violation_rate"]) for c in mine],
            ]
        )
        shift = (i - (len(scores) - 1) / 2) * step
        right.errorbar(x + shift, rate, yerr=err, fmt="o", capsize=3, **style)
        handles.append(
            Line2D([], [], color=colour, marker="o", label=score_name(score))
        )
    handles += [
        Line2D([], [], color="0.3", linestyle="-", label="test error"),
        Line2D(
            [], [], color="0.3", linestyle="--", label="error on D_th at the thresholds"
        ),
    ]
    left.axhline(100 * eps, color="0.3", linewidth=0.8, linestyle=":")
    left.set_ylim(0, max(left.get_ylim()[1], 125 * eps))
    left.set_ylabel("Error (%)")
    right.set_ylabel(r"P(test error > $\epsilon$) (%)")
    right.set_ylim(-2, 100)
    for ax in (left, right):
        ax.set_xlabel("Validation size $N_v$")
        ax.set_xticks(n_vals)
    fig.suptitle(textwrap.fill(title, 100), fontsize=10)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7.5, frameon=False)
    return plots.save(fig, stem, atomic)


class AuditReport(Report):
    def write(self, exp, dataset, done, folder: Path, atomic) -> dict:
        n_test = dataset.n_test if dataset.fixed else exp.n_test
        runs = audit_rows(done, n_test)
        summary = audit(runs)
        csv_path = folder / "audit.csv"
        with atomic(csv_path) as tmp:
            results.write_csv(tmp, summary, AUDIT_COLUMNS)
        tables = [_write_text(atomic, folder / "table_audit.md", audit_table(summary))]
        fig = audit_figure(
            summary, self.title(exp, done.seeds), folder / exp.name, atomic
        )
        return {"audit": csv_path, "tables": tables, "figure": fig}


CONFIDENCE = ConfidenceReport(
    "confidence",
    one_of=("methods", "queries"),
    needs_method="tbal",
    what="confidence functions",
)
AUDIT = AuditReport(
    "colander_audit",
    one_of=("methods", "estimators", "models", "queries"),
    needs_method="tbal",
    what="Colander's checkpoint selection",
)
