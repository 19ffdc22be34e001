"""The claims a continual run decides: the stage budget (can a stage teach a task?), the paper's comparisons of
Table 5 (AA, and BWT for NCFT against SeqFT) and the random-neuron controls beyond the paper, each over the orders
it ran with the two-level interval."""
from __future__ import annotations

import numpy as np

from ...report.html import Claim
from ...analysis.stats import order_gap, paired_gap
from .metrics import forgetting_outcomes
from .stages import runs_text
from .summary import views


# the paper's claims of Table 5 that a run can test: (method, method it beats in AA)
CLAIMED = [("ncft", "seqft"), ("ncft", "seqlora"), ("ncft", "epi"), ("wncft", "ncft"), ("olora", "ncft")]
# and in backward transfer (less forgetting: BWT above, i.e. closer to 0 from below)
CLAIMED_BWT = [("ncft", "seqft")]
# beyond the paper (issue 27): NCFT's (W-NCFT's) choice of neurons matters, in AA and in BWT, against random sets
CONTROLS = [("ncft", "random_ncft"), ("wncft", "random_wncft")]


def budget_check(results: dict) -> list[Claim]:
    """Can the stage budget teach a task? Per-Task FT's A_i above zero-shot by more than ``learn_margin`` points
    on each task (paired bootstrap over its test examples); forgetting is only measurable for tasks that were
    learnt."""
    c, found = results["config"], []
    labels = [label for label, info in results.get("methods", {}).items() if info["method"] == "per_task_ft"]
    seen = set()
    for order in results["orders"].values():
        zero = order.get("zero_shot_outcomes") or {}
        for label in labels:
            view = order["methods"][label]["by_evaluation"][c["eval_method"]]
            for task, outcomes in view["final_outcomes"].items():
                if task in zero and (label, task) not in seen:
                    seen.add((label, task))
                    gap = paired_gap([outcomes], [zero[task]], c["n_boot"], c["confidence"], c["seed"])
                    margin = c["learn_margin"]
                    verdict = ("holds" if gap.low > margin else "does not hold" if gap.high < margin
                               else "undecided at this n")
                    found.append(Claim(f"the stage budget teaches {task}: {label}'s A_i beats zero-shot by more than "
                                       f"{margin:g} points", verdict, f"{gap} over {gap.n} test examples ({gap.test})"))
    return found


def claims(results: dict) -> list[Claim]:
    """The budget check, then for every pair of CLAIMED methods in the run (and of CONTROLS, in AA and BWT): AA of
    the first above the second's, by
    the paired gap over the test examples after the last stage (the same examples for both methods); and for
    CLAIMED_BWT, BWT of the first above the second's, each example's change from right after its task's stage to
    the end (a[i][N] - a[i][i], tasks before the last) paired the same way. Both methods run the same orders on
    the same test examples, so the orders are paired runs (``analysis.stats.order_gap``: the spread of the per-order
    gaps and the examples both counted; the training seeds of an order averaged first; with one order it holds
    for that order). The gap is the mean over orders of each order's gap: for AA and BWT, of the metric's."""
    c = results["config"]
    finals, forgotten = {}, {}
    for name, label, view in views(results, c["eval_method"]):
        finals.setdefault(label, {})[name] = view["final_outcomes"]
        if view.get("learnt_outcomes"):  # methods with stages
            forgotten.setdefault(label, {})[name] = forgetting_outcomes(view)
    by_method = {}
    for label, info in results.get("methods", {}).items():
        by_method.setdefault(info["method"], []).append(label)
    found = budget_check(results)
    for outcomes, pairs, what in ((finals, CLAIMED, "AA"), (forgotten, CLAIMED_BWT, "BWT"),
                                  (finals, CONTROLS, "AA"), (forgotten, CONTROLS, "BWT")):
        for high, low in pairs:
            for a in [a for a in by_method.get(high, []) if a in outcomes]:
                for b in [b for b in by_method.get(low, []) if b in outcomes]:
                    shared = [o for o in outcomes[a] if o in outcomes[b]]
                    if not shared:
                        continue
                    orders_a, orders_b = by_order(outcomes[a], shared), by_order(outcomes[b], shared)
                    gap = order_gap(list(orders_a.values()), list(orders_b.values()), c["n_boot"], c["confidence"],
                                    c["seed"])
                    beyond = " (a control beyond the paper)" if pairs is CONTROLS else ""
                    found.append(Claim(f"{a}'s {what} above {b}'s{beyond}", gap.verdict("greater"),
                                       f"{gap} over {gap.n} test examples of {gap.tasks} task(s) in "
                                       f"{runs_text(shared)}{': for this order' if len(orders_a) == 1 else ''} "
                                       f"({gap.test})"))
    return found


def by_order(runs: dict[str, dict[str, list]], names: list[str]) -> dict[str, dict[str, list]]:
    """Each order's outcomes per task, averaged over its training seeds (runs ``<order>.seedN``): the seeds of
    an order share what the order does, so the order is the unit of the run term."""
    grouped: dict[str, list[dict]] = {}
    for name in names:
        grouped.setdefault(name.split(".seed")[0], []).append(runs[name])
    return {order: {task: np.mean([run[task] for run in group], axis=0).tolist() for task in group[0]}
            for order, group in grouped.items()}
