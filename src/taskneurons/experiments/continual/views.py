"""What the report and ``taskneurons runs`` show of a continual run: its claims, headline and per-task cells, and
the summary restated from the outcomes (statistics across orders recomputed)."""
from __future__ import annotations

from pathlib import Path

from ...report.html import Section
from .claims import claims
from .report import summary_markdown, write
from .records import Results, main_across, upgraded
from .summary import aggregate

__all__ = ["claims", "headline", "task_cells", "refreshed", "sections", "write", "PAGE_PLOTS"]
PAGE_PLOTS = ()  # plots drawn by ``sections``: none


def refreshed(results: Results, out: Path) -> tuple[dict, str]:
    results = upgraded(results)
    results = {**results, **aggregate(results)}
    return results, summary_markdown(results, [str(p.relative_to(out)) for p in sorted((out / "plots").rglob("*.png"))])


def sections(out: Path, results: Results) -> list[Section]:
    return []


def headline(results: Results) -> str:
    aa = {label: entry["average_accuracy"] for label, entry in main_across(upgraded(results))["summary"].items()}
    return ", ".join(f"{label} AA {sum(v) / len(v):.1f}" for label, v in aa.items() if v and None not in v)


def task_cells(results: Results) -> dict[str, str]:
    """Per task: each method's final score in the first order, for the comparison page."""
    results = upgraded(results)
    order, ev = next(iter(results["orders"].values())), results["config"]["eval_method"]
    cells: dict[str, list[str]] = {}
    for label, result in order["methods"].items():
        for task, outcomes in result["by_evaluation"][ev]["final_outcomes"].items():
            cells.setdefault(task, []).append(f"{label} {sum(outcomes) / max(len(outcomes), 1):.1f}")
    return {task: ", ".join(values) for task, values in cells.items()}
