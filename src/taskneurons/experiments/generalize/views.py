"""What the report and ``taskneurons runs`` show of a generalization run: its claims, headline and per-task
cells, and its summary."""
from __future__ import annotations

import math
from pathlib import Path

from ...io import write_json, write_text
from ...report.html import Section
from ...runs import Run
from .claims import claims
from .plots import plot
from .report import summary
from .records import Results

__all__ = ["claims", "headline", "task_cells", "refreshed", "sections", "write", "PAGE_PLOTS"]
PAGE_PLOTS = ()  # plots drawn by ``sections``: none


def write(results: Results, run: Run) -> None:
    write_json(run.path("results.json"), results)
    plot(results, run)
    write_text(run.path("summary.md"), summary(results))


def refreshed(results: Results, out: Path) -> tuple[dict, str]:
    return results, summary(results)


def sections(out: Path, results: Results) -> list[Section]:
    return []


def headline(results: Results) -> str:
    correlation = results.get("similarity", {}).get("correlation", {})
    found = [f"{t} rho {e['spearman']:+.2f}" for t, e in correlation.items() if "spearman" in e]
    return ", ".join(found) or f"parts: {', '.join(k for k in ('overlap', 'sweep', 'ablation') if k in results)}"


def task_cells(results: Results) -> dict[str, str]:
    correlation = results.get("similarity", {}).get("correlation", {})
    return {t: f"rho {e['spearman']:+.2f} [{e['spearman_ci'][0]:+.2f}, {e['spearman_ci'][1]:+.2f}]"
            for t, e in correlation.items() if "spearman" in e and math.isfinite(e["spearman"])}
