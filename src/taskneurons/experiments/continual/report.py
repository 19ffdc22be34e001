"""What a continual-learning run shows and writes: console tables, results.json, plots and summary.md.

Every interval is written with what it is over, its n and its test: AA over test examples (percentile bootstrap,
per order and pooled over orders), and AA, BWT, FWT, FG_N over the runs (orders x seeds; a t-interval from 3 runs
on). With ``also_evaluate``, a table per extra method gives AA and BWT by both methods and their difference.
"""
from __future__ import annotations

from ...io import write_json, write_text
from ...report.console import console, print_table
from ...report.markdown import markdown_table
from ..kit.auto_k import describe as describe_k
from ...runs import Run
from .claims import claims
from .metrics import MIN_RUNS, mean_std
from .records import main_across
from .plots import plot
from .stages import runs_text

COLUMNS = [("average_accuracy", "AA"), ("backward_transfer", "BWT"), ("forward_transfer", "FWT"),
           ("final_forgetting_rate", "FG_N")]
SIGNED = ("backward_transfer", "forward_transfer")
# the paper's Table 5 (Llama-2-7b): AA after the last task, orders 1-6 (1-3: Standard CL benchmark, 4 tasks)
PAPER_TABLE5 = {"seqft": ("SeqFT", [46.4, 47.3, 47.5, 35.6, 34.8, 33.5]),
                "seqlora": ("SeqLoRA", [53.6, 54.8, 53.1, 47.9, 49.5, 45.7]),
                "epi": ("EPI", [48.1, 48.0, 49.0, 42.3, 41.8, 43.6]),
                "olora": ("O-LoRA", [76.8, 75.7, 75.7, 73.7, 69.2, 72.0]),
                "ncft": ("NCFT", [71.3, 70.9, 71.6, 70.5, 68.3, 71.2]),
                "wncft": ("W-NCFT", [73.7, 72.3, 73.8, 73.4, 70.1, 72.6]),
                "per_task_ft": ("Per-Task FT", [77.2, 77.2, 77.2, 84.5, 84.5, 84.5])}


def fmt(value, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def fmt_mean_std(values, signed: bool = False) -> str:
    mean, std = mean_std(values)
    return "-" if mean is None else f"{fmt(mean, signed)} ± {std:.1f}"


def fmt_interval(interval: dict | None, signed: bool = False) -> str:
    """"[low, high]", or "-" when there is none."""
    if not interval or interval.get("low") is None:
        return "-"
    return f"[{fmt(interval['low'], signed)}, {fmt(interval['high'], signed)}]"


def mean_ci(text_or_value, interval: dict | None, signed: bool = False) -> str:
    """A value (or its text), then "[low, high]" when there is an interval."""
    text = text_or_value if isinstance(text_or_value, str) else fmt(text_or_value, signed)
    return text if not interval or interval.get("low") is None else f"{text} {fmt_interval(interval, signed)}"


def task_sizes(order: dict) -> dict[str, int]:
    """task -> the n behind its final score (the same test examples for every method)."""
    result = next(iter(order["methods"].values()))["by_evaluation"][order["evaluation"]]
    return {t: len(outcomes) for t, outcomes in result["final_outcomes"].items()}


def matrix_rows(order: dict, label: str, method: str | None = None) -> list[list[str]]:
    method = method or order["evaluation"]
    result, zero = order["methods"][label]["by_evaluation"][method], order["by_evaluation"][method]["zero_shot"]
    rows = []
    for i, task in enumerate(order["tasks"]):
        counts = {c for c in (result["n"][i] if "matrix" in result else [result["n"][i]]) if c is not None}
        row = [task, "/".join(str(c) for c in sorted(counts))] + ([fmt(zero[i])] if zero else [])
        row += [fmt(v) for v in result["matrix"][i]] if "matrix" in result else [fmt(result["final"][i])]
        rows.append(row)
    return rows


def matrix_header(order: dict, label: str) -> list[str]:
    ev = order["evaluation"]
    stages = [f"after {j + 1}" for j in range(len(order["tasks"]))] if "matrix" in order["methods"][label][
        "by_evaluation"][ev] else ["joint"]
    return ["task", "n"] + (["zero-shot"] if order["by_evaluation"][ev]["zero_shot"] else []) + stages


def metric_rows(order: dict, method: str | None = None) -> list[list[str]]:
    rows = []
    for label, result in order["methods"].items():
        view = result["by_evaluation"][method or order["evaluation"]]
        m = view["metrics"]
        rows.append([label, fmt(m["average_accuracy"]), fmt_interval(view["intervals"]["average_accuracy"])]
                    + [fmt(m.get(key), signed=key in SIGNED) for key, _ in COLUMNS[1:]]
                    + [" / ".join(fmt(v) for v in m["final"])])
    return rows


def metric_header(confidence: float) -> list[str]:
    return ["method", "AA", f"AA {confidence:.0%} CI (examples)", *(short for _, short in COLUMNS[1:]), "final per task"]


def examples_note(sizes: dict[str, int], config: dict, pooled: bool = False) -> str:
    n = ", ".join(f"{t} {k}" for t, k in sizes.items())
    if pooled:
        return (f"CI (examples): {config['confidence']:.0%} two-level t interval over the test examples and the runs "
                f"(analysis.stats: an example's outcomes in every run, the runs' spread counted); n per task: {n}")
    return (f"CI (examples): {config['confidence']:.0%} percentile bootstrap over test examples, each task's resampled, "
            f"{config['n_boot']} resamples: for this run; n per task: {n}")


def runs_note(results: dict) -> str:
    n, c = len(results["orders"]), results["config"]
    runs = runs_text(results["orders"])
    if n < MIN_RUNS:
        return f"CI (runs): none, {runs}: an interval needs at least {MIN_RUNS}; mean ± std (population) shown"
    return f"CI (runs): {c['confidence']:.0%} t-interval over {runs}, mean ± t·s/√n; cells: mean ± std [CI]"


def gap_rows(views_main: dict, views_other: dict, gap_of=None) -> list[list[str]]:
    """method | AA main | AA other | Δ | BWT main | BWT other | Δ (``gap_of(label, key)`` formats Δ if given)."""
    rows = []
    for label, main in views_main.items():
        other, row = views_other[label], [label]
        for key in ("average_accuracy", "backward_transfer"):
            a, b = main.get(key), other.get(key)
            delta = gap_of(label, key) if gap_of else fmt(None if a is None or b is None else b - a, True)
            row += [fmt(a, key in SIGNED), fmt(b, key in SIGNED), delta]
        rows.append(row)
    return rows


def gap_header(main: str, other: str) -> list[str]:
    return ["method", f"AA {main}", f"AA {other}", f"Δ AA ({other} − {main})",
            f"BWT {main}", f"BWT {other}", f"Δ BWT ({other} − {main})"]


def order_gap_rows(order: dict, method: str) -> list[list[str]]:
    metrics_of = lambda m: {label: r["by_evaluation"][m]["metrics"] for label, r in order["methods"].items()}  # noqa: E731
    return gap_rows(metrics_of(order["evaluation"]), metrics_of(method))


def show_order(name: str, order: dict, config: dict) -> None:
    ev = order["evaluation"]
    for label in order["methods"]:
        print_table(f"{name} · {label}: score of each task (rows) after each stage (columns), by {ev}",
                    matrix_header(order, label), matrix_rows(order, label))
    print_table(f"{name}: continual-learning metrics by {ev} (FG_N against {'A_i' if order['by_evaluation'][ev]['reference'] else 'a_ii'})",
                metric_header(config["confidence"]), metric_rows(order))
    console.print(examples_note(task_sizes(order), config))
    for method in config.get("also_evaluate") or []:
        print_table(f"{name}: {ev} against {method} (format forgetting: {method} − {ev})", gap_header(ev, method),
                    order_gap_rows(order, method))


def summary_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    orders, conf = list(results["orders"]), results["config"]["confidence"]
    header = ["method", *[f"AA {o}" for o in orders], "AA mean ± std", f"AA {conf:.0%} CI (runs)",
              f"AA {conf:.0%} CI (examples)", "BWT", "FWT", "FG_N"]
    rows = []
    across = main_across(results)
    for label, entry in across["summary"].items():
        ci = across["intervals"][label]
        rows.append([label, *[fmt(v) for v in entry["average_accuracy"]], fmt_mean_std(entry["average_accuracy"]),
                     fmt_interval(ci["average_accuracy"]), fmt_interval(ci["average_accuracy_examples"])]
                    + [mean_ci(fmt_mean_std(entry[key], key in SIGNED), ci[key], key in SIGNED) for key, _ in COLUMNS[1:]])
    return header, rows


def summary_gap_rows(results: dict, method: str) -> list[list[str]]:
    gaps = results["by_evaluation"][method]["gaps"]
    means = lambda summary: {label: {k: mean_std(v)[0] for k, v in e.items()} for label, e in summary.items()}  # noqa: E731
    gap_of = lambda label, key: mean_ci(gaps[label][key]["mean"], gaps[label][key], True)  # noqa: E731
    return gap_rows(means(main_across(results)["summary"]), means(results["by_evaluation"][method]["summary"]), gap_of)


def summary_notes(results: dict) -> list[str]:
    sizes = {t: n for order in results["orders"].values() for t, n in task_sizes(order).items()}
    chosen = [describe_k(results["auto_k"]) + " (beyond the paper)."] if results.get("auto_k") else []
    return [runs_note(results), examples_note(sizes, results["config"], pooled=len(results["orders"]) > 1), *chosen]


def claim_lines(results: dict) -> list[str]:
    """The budget check and the paper's claims the run can test, each with its verdict and evidence."""
    return [str(claim) for claim in claims(results)]


def show_summary(results: dict) -> None:
    header, rows = summary_rows(results)
    ev = results["config"]["eval_method"]
    print_table(f"methods across {len(results['orders'])} order(s), by {ev}", header, rows)
    for note in summary_notes(results) + claim_lines(results):
        console.print(note)
    for method in results["config"].get("also_evaluate") or []:
        print_table(f"across orders: {ev} against {method} (mean over orders; Δ with its CI over orders)",
                    gap_header(ev, method), summary_gap_rows(results, method))


def paper_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """Our AA beside the paper's, for this run's numbered orders and the methods of Table 5 it ran."""
    orders = [name for name in results["orders"] if name.startswith("order") and name[5:].isdigit()]
    header = ["method", *[f"{o} ours" for o in orders], *[f"{o} paper" for o in orders]]
    rows = []
    for label, info in results.get("methods", {}).items():
        if info["method"] in PAPER_TABLE5 and orders:
            name, paper = PAPER_TABLE5[info["method"]]
            ev = results["config"]["eval_method"]
            ours = [results["orders"][o]["methods"][label]["by_evaluation"][ev]["metrics"]["average_accuracy"]
                    if label in results["orders"][o]["methods"] else None for o in orders]
            rows.append([f"{label} ({name})", *[fmt(v) for v in ours], *[f"{paper[int(o[5:]) - 1]:.1f}" for o in orders]])
    return header, rows


def summary_markdown(results: dict, plots: list[str]) -> str:
    c = results["config"]
    ev = c["eval_method"]
    also = c.get("also_evaluate") or []
    ref = "A_i = " + str(c["reference"]) if c["reference"] not in (None, "diagonal") else "a_ii"
    out = [f"# Continual learning on {c['model']}",
           f"{c['training']['n_train']} training and {c['n_eval']} test examples per task (disjoint; see results.json "
           f"`examples`), evaluation by {ev}" + (f" (also by {', '.join(also)})" if also else "")
           + f", {c['training']['epochs']} epoch(s) per stage, seed {c['seed']}. AA: average accuracy after the "
           f"last task (Eq. 4); BWT: backward transfer; FWT: forward transfer against the base model's zero-shot "
           f"score; FG_N: the forgetting rate (Eq. 5, retention relative to {ref}) after the last task.", ""]
    header, rows = summary_rows(results)
    out += [markdown_table(header, rows), ""] + [f"- {note}" for note in summary_notes(results)] + [""]
    found = claim_lines(results)
    if found:
        out += ["Claims, each decided by its paired interval over the test examples and the orders "
                "(docs/statistics.md; first the budget check: can a stage teach each task? forgetting is measurable "
                "only for what was learnt):", ""]
        out += [f"- {line}" for line in found] + [""]
    paper = paper_rows(results)
    if paper[1]:
        out += ["The paper's Table 5 beside ours: AA after the last task; the paper's on Llama-2-7b, exact match, "
                "its own sizes (not this run's).", "", markdown_table(*paper), ""]
    for method in also:
        out += [f"### {ev} against {method}: format forgetting ({method} − {ev}), mean over orders", "",
                markdown_table(gap_header(ev, method), summary_gap_rows(results, method)), ""]
    for name, order in results["orders"].items():
        out += [f"## {name}: {' → '.join(order['tasks'])}", "",
                markdown_table(metric_header(c["confidence"]), metric_rows(order)), "",
                f"- {examples_note(task_sizes(order), c)}", ""]
        for method in also:
            out += [markdown_table(gap_header(ev, method), order_gap_rows(order, method)), ""]
        out += [f"![{p}]({p})" for p in plots if p.startswith(f"plots/{name}/")] + [""]
        out += general_rows(order)
    return "\n".join(out)


def general_rows(order: dict) -> list[str]:
    """(Beyond the paper) the loss on held-out general text after each stage, per sequential method."""
    losses = {label: [stage.get("general_loss") for stage in m.get("train", [])]
              for label, m in order["methods"].items() if any("general_loss" in s for s in m.get("train", []))}
    if not losses:
        return []
    rows = [[label] + [fmt(v) if v is None else f"{v:.3f}" for v in values] for label, values in losses.items()]
    return ["General ability (beyond the paper): loss on held-out general text (nats/token) after each stage", "",
            markdown_table(["method", *[f"after {t}" for t in order["tasks"]]], rows), ""]


def write(results: dict, run: Run) -> None:
    write_json(run.path("results.json"), results)
    plots = plot(results, run)
    write_text(run.path("summary.md"), summary_markdown(results, plots))
