"""Line plots of per-stage curves (FG_j, mean accuracy of the seen tasks), one line per method."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
