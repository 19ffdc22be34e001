"""A run's plots: per order, each method's accuracy matrix (a heatmap per evaluation method) and line plots of
per-stage curves (FG_j, mean accuracy of the seen tasks), one line per method."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ...io import atomic_path  # noqa: E402
from ...report.plots import heatmap  # noqa: E402
from ...runs import Run  # noqa: E402
from .records import evaluations  # noqa: E402


def curves(series: dict[str, list[float | None]], xlabels: list[str], title: str, ylabel: str, path: Path,
           reference: float | None = None) -> Path:
    fig, ax = plt.subplots(figsize=(1.3 * len(xlabels) + 4, 4))
    xs = list(range(len(xlabels)))
    for label, values in series.items():
        points = [(x, v) for x, v in zip(xs, values) if v is not None]
        if points:
            ax.plot([x for x, _ in points], [v for _, v in points], marker="o", label=label)
    if reference is not None:
        ax.axhline(reference, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(xs, xlabels, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def plot(results: dict, run: Run) -> list[str]:
    """Every plot of the run (paths relative to the run folder), per order: ``<method>.matrix.png``,
    ``fg_curves.png`` and ``seen_accuracy.png`` by the main evaluation method, and the same with ``.<eval>``
    before ``.png`` (``NCFT.rank.matrix.png``, ``fg_curves.rank.png``) by each ``also_evaluate`` method."""
    written = []
    main = results["config"]["eval_method"]
    for name, order in results["orders"].items():
        for method in evaluations(results["config"]):
            views = {label: r["by_evaluation"][method] for label, r in order["methods"].items()}
            paths = order_plots(name, order["tasks"], views, method, "" if method == main else f".{method}", run)
            written += [str(path.relative_to(run.out)) for path in paths]
    return written


def order_plots(name: str, tasks: list[str], views: dict[str, dict], method: str, suffix: str, run: Run) -> list[Path]:
    """One order's plots by one evaluation method (``views``: method label -> its result by that method)."""
    stages = [f"{j + 1}: {t}" for j, t in enumerate(tasks)]
    paths = []
    for label, view in views.items():
        if "matrix" in view:
            values = [[float("nan") if v is None else v for v in row] for row in view["matrix"]]
            paths.append(heatmap(values, tasks, stages, f"{name} · {label}: accuracy a[i][j] by {method}",
                                 run.path("plots", name, f"{_file(label)}{suffix}.matrix.png"), xlabel="after stage",
                                 ylabel="task", fmt="{:.1f}", cmap="viridis", center=None))
    fg = {label: v["metrics"]["forgetting_rates"][1:] for label, v in views.items()
          if any(x is not None for x in (v["metrics"].get("forgetting_rates") or []))}
    if fg and len(tasks) > 1:
        paths.append(curves(fg, stages[1:], f"{name}: forgetting rate FG_j by {method} (higher = less forgetting)",
                            "FG_j (%)", run.path("plots", name, f"fg_curves{suffix}.png"), reference=100.0))
    seen = {label: v["metrics"]["seen_average"] for label, v in views.items() if "seen_average" in v["metrics"]}
    if seen:
        paths.append(curves(seen, stages, f"{name}: mean accuracy of the tasks seen so far, by {method}",
                            "accuracy (%)", run.path("plots", name, f"seen_accuracy{suffix}.png")))
    return paths


def _file(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)
