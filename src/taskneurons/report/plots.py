"""Pictures: heatmaps of task x task matrices and grouped bars of result tables (matplotlib, written as PNG)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_path  # noqa: E402


def heatmap(matrix: Sequence[Sequence[float]], rows: Sequence[str], cols: Sequence[str], title: str, path: Path,
            xlabel: str = "", ylabel: str = "", fmt: str = "{:+.1f}", cmap: str = "RdBu", center: float | None = 0.0) -> Path:
    """One coloured cell per value, annotated while there are few columns (many: narrow cells, the colour bar)."""
    values = [[float(v) for v in row] for row in matrix]
    few = len(cols) <= 12
    fig, ax = plt.subplots(figsize=((1.1 if few else 0.32) * len(cols) + 3, (0.8 if few else 0.4) * len(rows) + 2))
    flat = [abs(v - (center or 0.0)) for row in values for v in row] or [1.0]
    limit = max(flat) or 1.0
    if center is None:  # a sequential scale from 0 (or below): small differences are not painted as large
        kwargs = {"vmin": min(0.0, *[v for row in values for v in row]), "vmax": max(v for row in values for v in row)}
    else:
        kwargs = {"vmin": center - limit, "vmax": center + limit}
    image = ax.imshow(values, cmap=cmap, aspect="equal" if few else "auto", **kwargs)
    ax.set_xticks(range(len(cols)), cols, rotation=30 if few else 0, ha="right" if few else "center",
                  fontsize=None if few else 7)
    ax.set_yticks(range(len(rows)), rows)
    for i, row in enumerate(values if few else []):
        for j, v in enumerate(row):
            r, g, b, _ = image.cmap(image.norm(v))
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=9,
                    color="black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def grouped_bars(table: dict[str, dict[str, float]], title: str, ylabel: str, path: Path,
                 errors: dict[str, dict[str, tuple[float, float]]] | None = None) -> Path:
    """``table[condition][task]`` as bars grouped by task; ``errors[condition][task]`` = (low, high) of an
    interval around the bar's value, drawn as its error bar."""
    conditions = list(table)
    tasks = list(next(iter(table.values())))
    width = 0.8 / len(conditions)
    fig, ax = plt.subplots(figsize=(1.4 * len(tasks) + 3, 4))
    for c, condition in enumerate(conditions):
        xs = [t + c * width for t in range(len(tasks))]
        values = [table[condition][task] for task in tasks]
        err = None
        if errors and condition in errors:
            bounds = [errors[condition].get(task, (v, v)) for task, v in zip(tasks, values)]
            err = [[max(0.0, v - lo) for v, (lo, _) in zip(values, bounds)],
                   [max(0.0, hi - v) for v, (_, hi) in zip(values, bounds)]]
        ax.bar(xs, values, width, yerr=err, capsize=3, label=condition)
    ax.set_xticks([t + width * (len(conditions) - 1) / 2 for t in range(len(tasks))], tasks, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # beside the bars, never over them
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path
