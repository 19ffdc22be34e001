"""A run's metrics across its orders (split from ``report``): per method and evaluation method, each metric's
value per order, its t-interval over the runs (orders x seeds; ``metrics.interval_over_runs``), AA's percentile
bootstrap interval over test examples (``kit.stats.task_means_interval``) and, for every ``also_evaluate``
method, its AA and BWT minus the main method's (format forgetting, when the main one is exact match)."""
from __future__ import annotations

import numpy as np

from ...report.html import Claim
from ..kit.stats import order_gap, paired_gap, task_means_interval
from .metrics import differences, evaluation_view, forgetting_outcomes, interval_over_runs

KEYS = ["average_accuracy", "backward_transfer", "forward_transfer", "final_forgetting_rate"]
GAP_KEYS = ["average_accuracy", "backward_transfer"]


def views(results: dict, method: str):
    """(order name, method label, the method's result by evaluation ``method``) for every order and method."""
    main = results["config"]["eval_method"]
    for name, order in results["orders"].items():
        for label, result in order["methods"].items():
            yield name, label, evaluation_view(result, method, main)


def across_orders(results: dict, method: str | None = None) -> dict:
    """``{"summary": {label: {metric: [value per order]}}, "intervals": {label: {metric: interval over runs,
    "average_accuracy_examples": interval over test examples}}}`` by evaluation ``method`` (default: the main)."""
    c = results["config"]
    summary: dict[str, dict] = {}
    finals: dict[str, list] = {}
    for _, label, view in views(results, method or c["eval_method"]):
        entry = summary.setdefault(label, {key: [] for key in KEYS})
        for key in KEYS:
            entry[key].append(view["metrics"].get(key))
        finals.setdefault(label, []).append(view["final_outcomes"])
    intervals = {}
    for label, entry in summary.items():
        intervals[label] = {key: interval_over_runs(values, c["confidence"]) for key, values in entry.items()}
        intervals[label]["average_accuracy_examples"] = task_means_interval(finals[label], c["n_boot"],
                                                                            c["confidence"], c["seed"])
    return {"summary": summary, "intervals": intervals}


def format_gaps(results: dict, method: str) -> dict:
    """label -> {metric: {"per_order": [method's value - the main method's], **interval over runs}} for AA, BWT."""
    main = results["config"]["eval_method"]
    per_order: dict[str, dict] = {}
    for name, label, view in views(results, method):
        main_view = evaluation_view(results["orders"][name]["methods"][label], main, main)
        gap = differences(view["metrics"], main_view["metrics"], GAP_KEYS)
        entry = per_order.setdefault(label, {key: [] for key in GAP_KEYS})
        for key in GAP_KEYS:
            entry[key].append(gap[key])
    return {label: {key: {"per_order": values, **interval_over_runs(values, results["config"]["confidence"])}
                    for key, values in entry.items()} for label, entry in per_order.items()}


def aggregate(results: dict) -> dict:
    """What ``results`` gains across orders: ``summary`` and ``intervals`` (main evaluation method), and per
    ``also_evaluate`` method ``also[m] = {"summary", "intervals", "gaps"}``."""
    out = across_orders(results)
    also = results["config"].get("also_evaluate") or []
    if also:
        out["also"] = {m: {**across_orders(results, m), "gaps": format_gaps(results, m)} for m in also}
    return out


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
            view = evaluation_view(order["methods"][label], c["eval_method"], c["eval_method"])
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
    the same test examples, so the orders are paired runs (``kit.stats.order_gap``: the spread of the per-order
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
                    seeds = f" x {len(shared) // len(orders_a)} training seeds" if len(shared) > len(orders_a) else ""
                    beyond = " (a control beyond the paper)" if pairs is CONTROLS else ""
                    found.append(Claim(f"{a}'s {what} above {b}'s{beyond}", gap.verdict("greater"),
                                       f"{gap} over {gap.n} test examples of {gap.tasks} task(s) in {len(orders_a)} "
                                       f"order(s){seeds}{': for this order' if len(orders_a) == 1 else ''} "
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


def headline(results: dict) -> str:
    aa = {label: entry["average_accuracy"] for label, entry in results["summary"].items()}
    return ", ".join(f"{label} AA {sum(v) / len(v):.1f}" for label, v in aa.items() if v and None not in v)


def task_cells(results: dict) -> dict[str, str]:
    """Per task: each method's final score in the first order, for the comparison page."""
    order = next(iter(results["orders"].values()))
    cells: dict[str, list[str]] = {}
    for label, result in order["methods"].items():
        for task, outcomes in result["final_outcomes"].items():
            cells.setdefault(task, []).append(f"{label} {sum(outcomes) / max(len(outcomes), 1):.1f}")
    return {task: ", ".join(values) for task, values in cells.items()}
