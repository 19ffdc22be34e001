"""Names and places of a continual run: a run's name (its sequence, with its training seed), folder names, and
where a sequential method's stages keep their state and step results."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


def run_name(sequence: str, training_seed: int) -> str:
    """A run's name: its sequence's, with ``.seedN`` for a training seed N other than 0 (0: the run as it was)."""
    return sequence + (f".seed{training_seed}" if training_seed else "")


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

    @property
    def describe(self) -> str:
        return f"{self.name}/{self.label}/describe"
