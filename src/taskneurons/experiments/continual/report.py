"""What a continual-learning run shows and writes: console tables, results.json, plots and summary.md."""
from __future__ import annotations

from ...report.console import print_table
from ...io import write_json, write_text
from ...report.plots import heatmap
from ..run import Run
from .metrics import mean_std
from .plots import curves

COLUMNS = [("average_accuracy", "AA"), ("backward_transfer", "BWT"), ("forward_transfer", "FWT"),
           ("final_forgetting_rate", "FG_N")]


def fmt(value, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def fmt_mean_std(values, signed: bool = False) -> str:
    mean, std = mean_std(values)
    return "-" if mean is None else f"{fmt(mean, signed)} ± {std:.1f}"


def matrix_rows(order: dict, label: str) -> list[list[str]]:
    result = order["methods"][label]
    zero = order["zero_shot"]
    rows = []
    for i, task in enumerate(order["tasks"]):
        row = [task] + ([fmt(zero[i])] if zero else [])
        row += [fmt(v) for v in result["matrix"][i]] if "matrix" in result else [fmt(result["final"][i])]
        rows.append(row)
    return rows


def matrix_header(order: dict, label: str) -> list[str]:
    result = order["methods"][label]
    stages = [f"after {j + 1}" for j in range(len(order["tasks"]))] if "matrix" in result else ["joint"]
    return ["task"] + (["zero-shot"] if order["zero_shot"] else []) + stages


def metric_rows(order: dict) -> list[list[str]]:
    rows = []
    for label, result in order["methods"].items():
        m = result["metrics"]
        rows.append([label] + [fmt(m.get(key), signed=key in ("backward_transfer", "forward_transfer")) for key, _ in COLUMNS]
                    + [" / ".join(fmt(v) for v in m["final"])])
    return rows


def show_order(name: str, order: dict) -> None:
    for label in order["methods"]:
        print_table(f"{name} · {label}: score of each task (rows) after each stage (columns)",
                    matrix_header(order, label), matrix_rows(order, label))
    print_table(f"{name}: continual-learning metrics (FG_N against {'A_i' if order['reference'] else 'a_ii'})",
                ["method", *(short for _, short in COLUMNS), "final per task"], metric_rows(order))


def across_orders(results: dict) -> dict:
    """label -> {metric: [value per order]} (the table compares methods across orders)."""
    table = {}
    for order in results["orders"].values():
        for label, result in order["methods"].items():
            entry = table.setdefault(label, {key: [] for key, _ in COLUMNS})
            for key, _ in COLUMNS:
                entry[key].append(result["metrics"].get(key))
    return table


def summary_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    orders = list(results["orders"])
    header = ["method", *[f"AA {o}" for o in orders], "AA mean ± std", "BWT", "FWT", "FG_N"]
    rows = []
    for label, entry in results["summary"].items():
        rows.append([label, *[fmt(v) for v in entry["average_accuracy"]], fmt_mean_std(entry["average_accuracy"]),
                     fmt_mean_std(entry["backward_transfer"], True), fmt_mean_std(entry["forward_transfer"], True),
                     fmt_mean_std(entry["final_forgetting_rate"])])
    return header, rows


def show_summary(results: dict) -> None:
    header, rows = summary_rows(results)
    print_table(f"methods across {len(results['orders'])} order(s): mean ± std over orders", header, rows)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def plot(results: dict, run: Run) -> list[str]:
    written = []
    for name, order in results["orders"].items():
        tasks = order["tasks"]
        stages = [f"{j + 1}: {t}" for j, t in enumerate(tasks)]
        for label, result in order["methods"].items():
            if "matrix" not in result:
                continue
            values = [[float("nan") if v is None else v for v in row] for row in result["matrix"]]
            path = run.path("plots", name, f"{_file(label)}.matrix.png")
            heatmap(values, tasks, stages, f"{name} · {label}: accuracy a[i][j]", path, xlabel="after stage",
                    ylabel="task", fmt="{:.1f}", cmap="viridis", center=None)
            written.append(str(path.relative_to(run.out)))
        fg = {label: r["metrics"]["forgetting_rates"][1:] for label, r in order["methods"].items()
              if any(v is not None for v in (r["metrics"].get("forgetting_rates") or []))}
        if fg and len(tasks) > 1:
            path = run.path("plots", name, "fg_curves.png")
            curves(fg, stages[1:], f"{name}: forgetting rate FG_j (higher = less forgetting)", "FG_j (%)", path,
                   reference=100.0)
            written.append(str(path.relative_to(run.out)))
        seen = {label: r["metrics"]["seen_average"] for label, r in order["methods"].items() if "seen_average" in r["metrics"]}
        if seen:
            path = run.path("plots", name, "seen_accuracy.png")
            curves(seen, stages, f"{name}: mean accuracy of the tasks seen so far", "accuracy (%)", path)
            written.append(str(path.relative_to(run.out)))
    return written


def _file(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)


def summary_markdown(results: dict, plots: list[str]) -> str:
    c = results["config"]
    out = [f"# Continual learning on {c['model']}",
           f"{c['training']['n_train']} training and {c['n_eval']} test examples per task (disjoint; see results.json "
           f"`examples`), evaluation by {c['eval_method']}, {c['training']['epochs']} epoch(s) per stage, seed {c['seed']}. AA: average accuracy after the last task (Eq. 4); "
           f"BWT: backward transfer; FWT: forward transfer against the base model's zero-shot score; FG_N: the "
           f"forgetting rate (Eq. 5, retention relative to {'A_i = ' + str(c['reference']) if c['reference'] not in (None, 'diagonal') else 'a_ii'}) "
           f"after the last task. Mean ± std (population) over orders.", ""]
    header, rows = summary_rows(results)
    out += [markdown_table(header, rows), ""]
    for name, order in results["orders"].items():
        out += [f"## {name}: {' → '.join(order['tasks'])}", "",
                markdown_table(["method", *(short for _, short in COLUMNS), "final per task"], metric_rows(order)), ""]
        out += [f"![{p}]({p})" for p in plots if p.startswith(f"plots/{name}/")] + [""]
    return "\n".join(out)


def write(results: dict, run: Run) -> None:
    write_json(run.path("results.json"), results)
    plots = plot(results, run)
    write_text(run.path("summary.md"), summary_markdown(results, plots))
