"""The paper's figure and table of a sweep (algorithm.md sections 9 and 10): one two-panel
figure (error with the eps line, coverage) and one table per C1, a series and a column
group per method and variant."""

from __future__ import annotations

from pathlib import Path

from tbal_jax import plots, tables
from tbal_jax.reports.base import Report


class SweepReport(Report):
    def write(self, exp, dataset, done, folder: Path, atomic) -> dict:
        out = {"tables": [], "figure": []}
        c1_values = exp.axes.c1
        for c1 in c1_values:
            suffix = f"_c1_{c1:g}".replace(".", "p") if len(c1_values) > 1 else ""
            in_c1 = [r for r in done.summary if r["c1"] == c1]
            title = self.title(exp.with_grid(c1=[c1]), done.seeds, in_c1)
            out["figure"] += plots.sweep_figure(
                in_c1, exp.axis, title, folder / f"{exp.name}{suffix}", atomic
            )
            markdown, latex = tables.sweep_table(done.summary, exp.axis, c1)
            for text, ext in ((markdown, ".md"), (latex, ".tex")):
                path = folder / f"table{suffix}{ext}"
                with atomic(path) as tmp:
                    tmp.write_text(text + "\n")
                out["tables"].append(path)
        return out


SWEEP = SweepReport("sweep", several=("c1", "delta"))
