"""Line plots: one or more panels of named curves over a shared x axis (matplotlib, written as PNG)."""
from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_path  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


@dataclass
class Panel:
    """One axes: ``curves[name] = (xs, ys)``; ``styles[name]`` = matplotlib kwargs (color, linestyle...);
    ``bands[name] = (xs, lows, highs)`` shades a curve's interval; ``hlines[name] = (y, style)`` draws reference
    lines (e.g. zero-shot)."""

    title: str
    xlabel: str
    ylabel: str
    curves: dict[str, tuple[Sequence[float], Sequence[float]]] = field(default_factory=dict)
    styles: dict[str, dict] = field(default_factory=dict)
    hlines: dict[str, tuple[float, dict]] = field(default_factory=dict)
    bands: dict[str, tuple[Sequence[float], Sequence[float], Sequence[float]]] = field(default_factory=dict)
    xticks: Sequence[float] | None = None
    integer_x: bool = False  # integer ticks only (e.g. layers)


def line_panels(panels: Sequence[Panel], title: str, path: Path, columns: int | None = None) -> Path:
    n = max(1, len(panels))
    columns = columns or min(n, 3)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.9 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        for name, (xs, ys) in panel.curves.items():
            style = {"marker": "o", "markersize": 3.5, **panel.styles.get(name, {})}
            line, = ax.plot(list(xs), [float("nan") if y is None else y for y in ys], label=name, **style)
            if name in panel.bands:
                bx, lows, highs = panel.bands[name]
                ax.fill_between(list(bx), lows, highs, color=line.get_color(), alpha=0.15, linewidth=0)
        for name, (y, style) in panel.hlines.items():
            if y is not None and math.isfinite(y):
                ax.axhline(y, label=name, **{"linestyle": ":", "linewidth": 1, **style})
        if panel.xticks is not None:
            ax.set_xticks(list(panel.xticks))
        elif panel.integer_x:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(panel.title, fontsize=10)
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3)
        if panel.curves or panel.hlines:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(textwrap.fill(title, width=55 * columns))  # a panel is 5.2 inches wide: about 55 characters
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def mean(values: Mapping[str, float] | Sequence[float]) -> float:
    """Mean of the finite values (NaN when there are none)."""
    vals = list(values.values()) if isinstance(values, Mapping) else list(values)
    finite = [v for v in vals if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")
