"""The schema of an identify run's results.json (version 1), as TypedDicts: what the views, the evidence tables
and the benchmarks read. A part is one comparison (deactivation, or neuron-only fine-tuning) of a condition
(Deactivate-Task, Train-Task) against a control (random, importance-matched) from a reference (the Original,
zero-shot), task by task, with its per-example outcomes, so its statistics can be recomputed (``report.restat``).
"""
from __future__ import annotations

from typing import NotRequired, TypedDict

VERSION = 1


class Gap(TypedDict):
    """``analysis.stats.Gap.to_dict()`` with its verdict: condition minus control, paired by test example."""
    mean: float
    low: float
    high: float
    p: float
    n: int  # test examples (summed over tasks)
    tasks: int
    runs: list[int]  # runs per example of the condition and of the control (draws, seeds)
    confidence: float
    test: str
    df: float | None
    p_adjusted: float | None  # Holm-adjusted among the part's per-task gaps
    verdict: str  # holds | does not hold | undecided at this n


class Part(TypedDict):
    table: dict[str, dict[str, float]]  # row (reference, control, condition) -> task -> mean score
    outcomes: dict[str, dict[str, list]]  # row -> task -> per-example outcomes (the reference's), per run (the others')
    n: dict[str, int]  # task -> test examples
    runs: dict[str, dict[str, int]]  # control, condition -> task -> runs
    random_runs: dict[str, list[float]]  # task -> each control run's score
    intervals: dict[str, dict[str, dict]]  # row -> task -> interval of the mean score
    gap: dict[str, Gap]  # task, and "average" over tasks
    claim: str
    matrix_change: NotRequired[dict[str, dict[str, float]]]  # task i's set -> task j -> score change
    specificity: NotRequired[dict]  # the index of the cross-task matrix with its interval (the full matrix only)


class Deactivation(Part):
    neurons: NotRequired[dict]  # task -> its set's counts by layer and kind
    overlap: NotRequired[dict]  # task -> task -> Jaccard of the sets
    top_neurons: NotRequired[dict]  # task -> its highest-scoring neurons
    harness: NotRequired[dict]  # lm-evaluation-harness tasks, each set off (beyond the paper)
    general: NotRequired[dict]  # loss on general text, each set off (beyond the paper)


class Results(TypedDict):
    version: int
    config: dict
    tasks: dict[str, dict]  # task -> kind, metric, source
    deactivation: Deactivation
    deactivation_matched: NotRequired[Part]  # against importance-matched sets (beyond the paper)
    deactivation_general_excluded: NotRequired[Part]  # the sets without the general neurons (beyond the paper)
    finetuning: NotRequired[Part]  # with finetune: Train-Task against Train-Random from zero-shot
    finetuning_matched: NotRequired[Part]
    auto_k: NotRequired[dict]  # with selection.k auto: the k chosen, and why
    examples: dict[str, dict]  # task -> the examples drawn (tasks.plans)
