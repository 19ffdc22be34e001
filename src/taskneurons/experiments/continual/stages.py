"""Names and places of a continual run: a run's name (its sequence, with its training seed), folder names, and
where a sequential method's stages keep their state and step results."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path


def run_name(sequence: str, training_seed: int) -> str:
    """A run's name: its sequence's, with ``.seedN`` for a training seed N other than 0 (0: the run as it was)."""
    return sequence + (f".seed{training_seed}" if training_seed else "")


def runs_text(names) -> str:
    """How many runs the run names make, by order and training seed: "6 run(s) (3 order(s) x 2 training seed(s))",
    or, when the orders have different numbers of seeds (combined runs), "3 run(s) (2 order(s), 1-2 training seeds
    each)"."""
    per_order: dict[str, int] = {}
    for name in names:
        order = name.split(".seed")[0]
        per_order[order] = per_order.get(order, 0) + 1
    counts = sorted(set(per_order.values()))
    seeds = f"x {counts[0]} training seed(s)" if len(counts) == 1 else f"{counts[0]}-{counts[-1]} training seeds each"
    return f"{sum(per_order.values())} run(s) ({len(per_order)} order(s){',' if len(counts) > 1 else ''} {seeds})"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text)


@dataclass(frozen=True)
class Stages:
    """Where a sequential method's stages of one run live: their state folders and step keys."""

    name: str  # the run's
    label: str  # the method's
    folder: Path
    n: int

    def state(self, j: int) -> Path:
        return self.folder / f"stage{j + 1}"

    def key(self, j: int, what: str) -> str:
        return f"{self.name}/{self.label}/stage{j + 1}/{what}"

    def keys(self, what: str) -> list[str]:
        return [self.key(j, what) for j in range(self.n)]

    def sibling(self, label: str) -> Stages:
        """Another method's stages of the same run."""
        return replace(self, label=label, folder=self.folder.parent / slug(label))

    @property
    def describe(self) -> str:
        return f"{self.name}/{self.label}/describe"
