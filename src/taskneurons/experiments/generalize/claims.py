"""The claims a generalization run decides: per test task, similarity correlates with transfer (Table 4)."""
from __future__ import annotations

import math

from ...report.html import Claim
from ...analysis.stats import interval_verdict


def claims(results: dict) -> list[Claim]:
    """Per test task: the parameter similarity of the task-specific neurons correlates positively with transfer
    (Table 4), decided by the Spearman coefficient's bootstrap interval (the permutation p beside it)."""
    found = []
    for task, e in results.get("similarity", {}).get("correlation", {}).items():
        if "error" in e or not math.isfinite(e.get("spearman", math.nan)):
            found.append(Claim(f"similarity correlates with transfer on {task}", "undecided at this n",
                               e.get("error", "a variable is constant: no coefficient")))
            continue
        low, high = e["spearman_ci"]
        found.append(Claim(f"similarity correlates positively with transfer on {task}", interval_verdict(low, high),
                           f"Spearman {e['spearman']:+.2f} [{low:+.2f}, {high:+.2f}], permutation p="
                           f"{e['spearman_perm_p']:.2g}, n={e['n']} models (bootstrap over models)"))
    return found
