"""A run's metrics across its orders (split from ``report``): per evaluation method and method, each metric's
value per order, its t-interval over the runs (orders x seeds; ``metrics.interval_over_runs``), AA's interval
over test examples (``analysis.stats.task_means_interval``) and, for every ``also_evaluate`` method, its AA and
BWT minus the main method's (format forgetting, when the main one is exact match): ``records.Across``."""
from __future__ import annotations

from ...analysis.stats import task_means_interval
from .metrics import differences, interval_over_runs
from .records import evaluations

KEYS = ["average_accuracy", "backward_transfer", "forward_transfer", "final_forgetting_rate"]
GAP_KEYS = ["average_accuracy", "backward_transfer"]


def views(results: dict, method: str):
    """(order name, method label, the method's result by evaluation ``method``) for every order and method."""
    for name, order in results["orders"].items():
        for label, result in order["methods"].items():
            yield name, label, result["by_evaluation"][method]


def across_orders(results: dict, method: str) -> dict:
    """``{"summary": {label: {metric: [value per order]}}, "intervals": {label: {metric: interval over runs,
    "average_accuracy_examples": interval over test examples}}}`` by evaluation ``method``."""
    c = results["config"]
    summary: dict[str, dict] = {}
    finals: dict[str, list] = {}
    for _, label, view in views(results, method):
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
        main_view = results["orders"][name]["methods"][label]["by_evaluation"][main]
        gap = differences(view["metrics"], main_view["metrics"], GAP_KEYS)
        entry = per_order.setdefault(label, {key: [] for key in GAP_KEYS})
        for key in GAP_KEYS:
            entry[key].append(gap[key])
    return {label: {key: {"per_order": values, **interval_over_runs(values, results["config"]["confidence"])}
                    for key, values in entry.items()} for label, entry in per_order.items()}


def aggregate(results: dict) -> dict:
    """What ``results`` gains across orders: ``by_evaluation[m] = {"summary", "intervals"}`` per evaluation
    method, with ``"gaps"`` for each ``also_evaluate`` one."""
    main, *also = evaluations(results["config"])
    return {"by_evaluation": {main: across_orders(results, main),
                              **{m: {**across_orders(results, m), "gaps": format_gaps(results, m)} for m in also}}}
