"""The schema of a generalize run's results.json (version 1), as TypedDicts: what the views and the benchmarks
read. Proportions p are keys written as percent strings (``groups.pct``: "0.5", "10")."""
from __future__ import annotations

from typing import NotRequired, TypedDict

VERSION = 1


class Overlap(TypedDict):
    groups: dict[str, dict[str, dict[str, float]]]  # group -> "ID-OOD" row -> p -> overlap (%) (Table 8)
    pairwise: dict[str, dict]  # p -> {"tasks", "jaccard": matrix} of every task's top-p% set


class SweepPoint(TypedDict):
    """One group trained through the union of its tasks' top-p% neurons (Figure 2)."""
    id: dict[str, float]  # trained task -> score
    ood: dict[str, float]  # held-out task -> score
    intervals: dict[str, dict]  # task -> interval of its score (examples, and trainings when several)
    lines: dict[str, dict]  # "ID", "OOD-CLS", "OOD-GEN" -> mean over those tasks with its interval
    runs: int  # trainings (sweep_seeds)
    neurons: int
    fraction: float
    final_loss: float
    steps: int


class AblationCell(TypedDict):
    """One group and OOD kind: mean OOD score by preset overlap rate and p (Tables 9-11)."""
    label: str
    group: str
    kind: str
    tests: list[str]
    grid: dict[str, dict[str, float | None]]  # rate -> p -> score (None: no such set exists)
    intervals: dict[str, dict[str, dict]]
    realized: dict[str, dict[str, dict]]  # rate -> p -> the share and Jaccard the sets reached
    original: dict[str, dict]  # p -> the group's own set: its overlap and score
    impossible: list


class Similarity(TypedDict):
    """Per-layer similarity of train- and test-task neuron parameters and its correlation with transfer (Table 4)."""
    variant: str
    pairing: str
    neurons: str
    layers: list | None
    models: dict[str, dict]  # fine-tuned model -> its scores, curves (per test task), base curves
    correlation: dict  # similarity against score, by the chosen variant
    by_variant: dict[str, dict]  # every variant's correlation


class Results(TypedDict):
    version: int
    config: dict
    tasks: dict[str, dict]
    groups: dict[str, dict]  # group -> train and OOD tasks, the paper's group it stands for
    overlap: Overlap
    zero_shot: NotRequired[dict[str, float]]
    sweep: NotRequired[dict[str, dict[str, SweepPoint]]]  # group -> p -> point
    single: NotRequired[dict[str, dict[str, dict[str, float]]]]  # group -> task -> p -> score (Figure 6)
    ablation: NotRequired[dict[str, AblationCell]]  # "group:kind" -> cell
    similarity: NotRequired[Similarity]
    examples: dict[str, dict]
