"""The estimators head to head (algorithm.md section 12): does each keep P(error > eps) <= delta,
and what does that cost in coverage?

Per cell (tolerance, estimator, N_v) over the seeds of an `estimators` experiment:
the violation rate P(test_error > eps), where test_error is the population error of the
labelling measured on the held-out test sample (a run that auto-labels nothing cannot
violate, and is counted), with its exact Clopper-Pearson 95% interval; the mean pool and
test coverage; the mean number of rounds. Written as `estimators.csv`, a Markdown and a
LaTeX table, and three figures: violation rate against N_v with the delta line,
coverage against N_v ("what a guarantee costs") with the validation size the theory's
lower bound asks for marked, and the frontier of the guaranteed estimators: one panel per
(tolerance, rule: Clopper-Pearson, LTT, SGR), one line per setting of the rule (delta
spent uniformly, geometrically or front-loaded over rounds; candidates from the data or
fixed in advance; algorithm.md section 12), with the same lower bound marked.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import theory
from tbal_jax import plots, results
from tbal_jax.estimators import BASE_ESTIMATORS, ESTIMATORS
from tbal_jax.labels import component_title
from tbal_jax.protocols import thresholded_outcomes


def _order(name: str) -> int:
    """An estimator's place in tables and legends: the registry's order."""
    names = ESTIMATORS.names()
    return names.index(name) if name in names else len(names)


COLUMNS = [
    "dataset",
    "eps",
    "delta",
    "estimator",
    "c1",
    "n_val",
    "n_runs",
    "violations",
    "violation_rate",
    "violation_low",
    "violation_high",
    "n_no_auto",
    "coverage_mean",
    "test_coverage_mean",
    "n_rounds_mean",
]


def _binomial_sf(k: int, n: int, p: float) -> float:
    """P(Bin(n, p) >= k), exactly enough for n <= a few thousand (log-space terms)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    logs = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def clopper_pearson_interval(
    k: int, n: int, level: float = 0.95
) -> tuple[float, float]:
    """The exact two-sided interval for a binomial proportion k / n (bisection)."""
    alpha = (1 - level) / 2

    def solve(f):  # the p in [0, 1] where the increasing f crosses 0
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return (lo + hi) / 2

    low = 0.0 if k == 0 else solve(lambda p: _binomial_sf(k, n, p) - alpha)
    high = 1.0 if k == n else solve(lambda p: alpha - (1 - _binomial_sf(k + 1, n, p)))
    return low, high


def cells(rows: list[dict]) -> list[dict]:
    """One row per (dataset, eps, delta, estimator, C1, N_v)."""
    keys = ("dataset", "eps", "delta", "estimator", "c1", "n_val")
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, runs in sorted(
        groups.items(), key=lambda kv: (kv[0][:3], _order(kv[0][3]), kv[0][4:])
    ):
        cell = dict(zip(keys, key))
        eps = cell["eps"]
        bad = sum(
            1 for r in runs if not math.isnan(r["test_error"]) and r["test_error"] > eps
        )
        low, high = clopper_pearson_interval(bad, len(runs))
        out.append(
            cell
            | {
                "n_runs": len(runs),
                "violations": bad,
                "violation_rate": bad / len(runs),
                "violation_low": low,
                "violation_high": high,
                "n_no_auto": sum(1 for r in runs if r["n_auto"] == 0),
                "coverage_mean": float(np.mean([r["coverage"] for r in runs])),
                "test_coverage_mean": float(
                    np.mean([r["test_coverage"] for r in runs])
                ),
                "n_rounds_mean": float(np.mean([r["n_rounds"] for r in runs])),
            }
        )
    return out


def needed_validation(eps: float, delta: float) -> float:
    """The validation size below which no test can tell error 0 from error eps with
    failure probability <= delta (`theory.exact_lower_bound`, p0 = 1)."""
    return float(theory.exact_lower_bound(eps=eps, delta=delta, eps_a=0.0))


def table(summary: list[dict]) -> tuple[str, str]:
    """(markdown, latex): violation rate [95% CI] and coverage per estimator and N_v."""
    head = [
        "eps",
        "estimator",
        "N_v",
        "violation rate (%) [95% CI]",
        "coverage (%)",
        "no auto-label",
        "rounds",
    ]
    body = [
        [
            f"{c['eps']:g}",
            component_title("estimator", c["estimator"]),
            f"{c['n_val']}",
            f"{100 * c['violation_rate']:.1f} [{100 * c['violation_low']:.1f}, "
            f"{100 * c['violation_high']:.1f}]",
            f"{100 * c['coverage_mean']:.1f}",
            f"{c['n_no_auto']}/{c['n_runs']}",
            f"{c['n_rounds_mean']:.1f}",
        ]
        for c in summary
    ]
    markdown = "\n".join(
        ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        + ["| " + " | ".join(line) + " |" for line in body]
    )
    latex = "\n".join(
        [
            r"\begin{tabular}{llrrrrr}",
            r"\toprule",
            " & ".join(h.replace("%", r"\%") for h in head) + r" \\",
            r"\midrule",
        ]
        + [" & ".join(c.replace("%", r"\%") for c in line) + r" \\" for line in body]
        + [r"\bottomrule", r"\end{tabular}"]
    )
    return markdown, latex


def frontier_table(summary: list[dict]) -> str:
    """Markdown: per tolerance, one row per guaranteed estimator, one column per N_v:
    mean coverage (%) and, in brackets, the violation rate's 95% upper limit (%); the
    exact lower bound's validation size in the heading. Empty without a guaranteed
    estimator."""
    guaranteed = [c for c in summary if base_rule(c["estimator"])]
    if not guaranteed:
        return ""
    sizes = sorted({c["n_val"] for c in guaranteed})
    blocks = []
    for eps in sorted({c["eps"] for c in guaranteed}):
        need = needed_validation(eps, guaranteed[0]["delta"])
        head = [f"eps = {eps:g} (exact lower bound: {need:.0f} points)"]
        head += [f"N_v = {n}" for n in sizes]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        names = sorted({c["estimator"] for c in guaranteed}, key=_order)
        for name in names:
            at = {
                c["n_val"]: c
                for c in guaranteed
                if c["eps"] == eps and c["estimator"] == name
            }
            cells = [
                f"{100 * at[n]['coverage_mean']:.1f} [{100 * at[n]['violation_high']:.1f}]"
                if n in at
                else ""
                for n in sizes
            ]
            lines.append(
                "| " + " | ".join([component_title("estimator", name), *cells]) + " |"
            )
        blocks.append("\n".join(lines))
    note = (
        "Mean coverage (%) [upper end of the violation rate's exact 95% interval, %]."
    )
    return "\n\n".join(blocks + [note])


def _panels(summary, title, stem, value, ylabel, reference, atomic):
    """One panel per tolerance, one line per estimator against N_v."""
    tolerances = sorted({c["eps"] for c in summary})
    with plt.rc_context(plots.STYLE):
        fig, axes = plt.subplots(
            1,
            len(tolerances),
            figsize=(max(9.5, 5.2 * len(tolerances) + 2.4), 4.6),
            squeeze=False,
        )
        for ax, eps in zip(axes[0], tolerances):
            for name in sorted({c["estimator"] for c in summary}, key=_order):
                rows = sorted(
                    (c for c in summary if c["eps"] == eps and c["estimator"] == name),
                    key=lambda c: c["n_val"],
                )
                if not rows:
                    continue
                x = [c["n_val"] for c in rows]
                line = ax.plot(x, value(rows), ms=5, **_style(name))[0]
                if value is _violation:
                    ax.fill_between(
                        x,
                        [100 * c["violation_low"] for c in rows],
                        [100 * c["violation_high"] for c in rows],
                        color=line.get_color(),
                        alpha=0.15,
                        lw=0,
                    )
            ax.set_xscale("log")
            ticks = sorted({c["n_val"] for c in summary})
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
            reference(ax, eps, summary[0]["delta"])
            ax.set_title(rf"$\epsilon$ = {eps:g}")
            ax.set_xlabel(plots.AXIS_LABELS["n_val"])
            ax.set_ylabel(ylabel)
            ax.set_ylim(-2, 102)
        axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
        fig.suptitle(title)
        fig.tight_layout()
        return plots.save(fig, stem, atomic)


def _style(name: str) -> dict:
    """An estimator's line: its marker (hollow for fixed candidates), its line style
    (solid for the slacks; for a guaranteed one, by how it spends delta) and label."""
    if name not in ESTIMATORS:
        return {"marker": "o", "ls": ":", "label": name}
    e = ESTIMATORS.get(name)
    style = {"marker": e.marker, "ls": e.line_style, "label": e.title}
    return style | ({"mfc": "none"} if e.marker_fill == "none" else {})


def base_rule(name: str) -> str | None:
    """The registered rule (clopper_pearson, ltt, sgr) a guaranteed estimator is a setting
    of (the same selection, levels and test); itself for another guaranteed rule (e.g.
    ltt_betting); None for the slacks and unknown names."""
    if name not in ESTIMATORS or not ESTIMATORS.get(name).guaranteed:
        return None
    e = ESTIMATORS.get(name)
    for base in BASE_ESTIMATORS:
        b = ESTIMATORS.get(base)
        if b.select is e.select and b.level is e.level and b.accept is e.accept:
            return base
    return name


def _setting(name: str, rule: str) -> str:
    """A frontier line's legend entry: the estimator's settings, without the rule's name
    (the panel's title), the same words for each rule so one legend serves all."""
    title, base = ESTIMATORS.get(name).title, ESTIMATORS.get(rule).title
    if title == base:
        return "uniform, candidates from the data"
    return title.removeprefix(base + ", ")


def _frontier(summary, title, stem, atomic):
    """Coverage against N_v, one panel per (tolerance, guaranteed rule), one line per
    setting (spend x candidates), the exact lower bound marked; None without any
    guaranteed estimator."""
    guaranteed = [c for c in summary if base_rule(c["estimator"])]
    if not guaranteed:
        return []
    tolerances = sorted({c["eps"] for c in guaranteed})
    rules = sorted({base_rule(c["estimator"]) for c in guaranteed}, key=_order)
    ticks = sorted({c["n_val"] for c in guaranteed})
    with plt.rc_context(plots.STYLE):
        cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        colours = {}  # one colour per setting, the same in every panel
        for name in sorted({c["estimator"] for c in guaranteed}, key=_order):
            label = _setting(name, base_rule(name))
            colours.setdefault(label, cycle[len(colours) % len(cycle)])
        fig, axes = plt.subplots(
            len(tolerances),
            len(rules),
            figsize=(4.6 * len(rules) + 5.0, 3.9 * len(tolerances) + 0.8),
            squeeze=False,
        )
        for i, eps in enumerate(tolerances):
            for j, rule in enumerate(rules):
                ax = axes[i][j]
                names = sorted(
                    {
                        c["estimator"]
                        for c in guaranteed
                        if base_rule(c["estimator"]) == rule and c["eps"] == eps
                    },
                    key=_order,
                )
                for name in names:
                    rows = sorted(
                        (
                            c
                            for c in guaranteed
                            if c["eps"] == eps and c["estimator"] == name
                        ),
                        key=lambda c: c["n_val"],
                    )
                    label = _setting(name, rule)
                    ax.plot(
                        [c["n_val"] for c in rows],
                        _coverage(rows),
                        ms=5,
                        color=colours[label],
                        **(_style(name) | {"label": label}),
                    )
                ax.set_xscale("log")
                ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
                ax.minorticks_off()
                ax.set_ylim(-2, 102)
                _needed_line(ax, eps, guaranteed[0]["delta"])
                ax.set_title(rf"{ESTIMATORS.get(rule).title}, $\epsilon$ = {eps:g}")
                ax.set_xlabel(plots.AXIS_LABELS["n_val"])
                ax.set_ylabel("Coverage (%)")
        entries = {}  # every panel's settings, once each, in the registry's order
        for ax in axes.flat:
            for handle, label in zip(*ax.get_legend_handles_labels()):
                entries.setdefault(label, handle)
        fig.legend(
            entries.values(),
            entries.keys(),
            loc="center left",
            bbox_to_anchor=(0.765, 0.5),
            frameon=False,
        )
        fig.suptitle(title)
        fig.tight_layout(rect=(0, 0, 0.765, 1))
        return plots.save(fig, stem, atomic)


def _violation(rows):
    return [100 * c["violation_rate"] for c in rows]


def _coverage(rows):
    return [100 * c["coverage_mean"] for c in rows]


def _delta_line(ax, eps, delta):
    del eps
    ax.axhline(100 * delta, color="k", ls="--", lw=1, label=rf"$\delta$ = {delta:g}")


def _needed_line(ax, eps, delta):
    n = needed_validation(eps, delta)
    ax.axvline(n, color="0.4", ls=":", lw=1.2)
    low, high = ax.get_xlim()
    ax.set_xlim(min(low, 0.8 * n), high)
    ax.annotate(
        f"exact lower bound:\n{n:.0f} points tell\nerror 0 from {eps:g}",
        (n, 50),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize=9,
        color="0.3",
        va="bottom",
    )


def write(exp, rows: list[dict], seeds, out_dir: Path, atomic_path) -> dict:
    """estimators.csv, table_estimators.md/.tex, table_frontier.md and the three figures
    (the frontier's table and figure only with a guaranteed estimator), from the rows of
    the outcomes that use thresholds (`thresholded_outcomes`: with --methods=al, AL+SC's
    and not AL's, whose labels no estimator touches)."""
    thresholded = thresholded_outcomes()
    summary = cells([r for r in rows if r["method"] in thresholded])
    if not summary:
        raise ValueError(
            f"{exp.name}: no runs of an outcome with thresholds ({', '.join(thresholded)})"
        )
    csv_path = out_dir / "estimators.csv"
    with atomic_path(csv_path) as tmp:
        results.write_csv(tmp, summary, COLUMNS)
    tables = []
    markdown, latex = table(summary)
    for text, ext in ((markdown, ".md"), (latex, ".tex")):
        path = out_dir / f"table_estimators{ext}"
        with atomic_path(path) as tmp:
            tmp.write_text(text + "\n")
        tables.append(path)
    frontier = frontier_table(summary)
    if frontier:
        path = out_dir / "table_frontier.md"
        with atomic_path(path) as tmp:
            tmp.write_text(frontier + "\n")
        tables.append(path)
    delta = summary[0]["delta"]
    title = exp.figure_title(seeds)
    figures = _panels(
        summary,
        f"{title}\nP(test error > $\\epsilon$) with 95% CI, $\\delta$ = {delta:g}",
        out_dir / f"{exp.name}_violation",
        _violation,
        r"Violation rate (%)",
        _delta_line,
        atomic_path,
    )
    figures += _panels(
        summary,
        f"{title}\nwhat a guarantee costs ($\\delta$ = {delta:g})",
        out_dir / f"{exp.name}_coverage",
        _coverage,
        "Coverage (%)",
        _needed_line,
        atomic_path,
    )
    figures += _frontier(
        summary,
        f"{title}\nthe frontier: coverage of each guaranteed setting "
        f"($\\delta$ = {delta:g})",
        out_dir / f"{exp.name}_frontier",
        atomic_path,
    )
    return {"estimators": csv_path, "tables": tables, "figure": figures}
