"""The claims an identify run decides, each from its interval: per part (deactivation, fine-tuning and the controls
beyond the paper) on average over tasks and per task, and the cross-task matrix's specificity index."""
from __future__ import annotations

from ...report.html import Claim
from ...analysis.stats import interval_verdict
from .report import DIRECTIONS, holm_cell


def gap_basis(gap: dict) -> str:
    """The gap's examples and runs (results written before the two-level statistics: examples only)."""
    return gap.get("basis") or f"n={gap['n']}"


def claims(results: dict) -> list[Claim]:
    """Per part: the claim averaged over tasks and per task (from the gaps' intervals); deactivation with the full
    matrix: its diagonal dominates (the specificity index above 0)."""
    found = []
    for part in DIRECTIONS:
        if part not in results:
            continue
        data = results[part]
        for name, gap in data["gap"].items():
            where = "on average over tasks" if name == "average" else f"on {name}"
            beyond = (" (a control beyond the paper)" if part.endswith("_matched") else
                      " (general neurons kept out, beyond the paper)" if part.endswith("_general_excluded") else "")
            found.append(Claim(f"{data['claim']} {where}{beyond}", gap["verdict"],
                               f"gap {gap['mean']:+.1f} [{gap['low']:+.1f}, {gap['high']:+.1f}], p={gap['p']:.2g}"
                               f"{holm_cell(gap)}, {gap_basis(gap)} ({gap['test']})"))
        if "specificity" in data:
            sp = data["specificity"]
            found.append(Claim("the cross-task matrix has its largest drops on the diagonal (index > 0)",
                               interval_verdict(sp["low"], sp["high"]),
                               f"index {sp['index']:+.1f} [{sp['low']:+.1f}, {sp['high']:+.1f}] points "
                               f"(bootstrap over test examples)"))
    return found
