"""Continual-learning metrics (paper section 2.13), as pure functions of the accuracy matrix.

``a[i][j]`` is the score of task i after training stage j (both 0-based here; the paper counts from 1), in
percent; ``None`` where it was not evaluated. ``zero_shot[i]`` is the base model's score on task i and
``reference[i]`` is A_i, the score of a model fine-tuned on task i alone (Per-Task FT).

- average accuracy (Eq. 4): mean over all tasks of a[i][N-1];
- FG_j (Eq. 5): (1/(j-1)) sum_{i<j} a[i][j] / A_i x 100, defined from the second stage on: a retention ratio,
  higher is less forgetting (stage 1 has no earlier task: None);
- backward transfer (Lopez-Paz & Ranzato 2017): mean over i < N of a[i][N-1] - a[i][i] (0 = no forgetting);
- forward transfer (same paper): mean over i >= 1 of a[i][i-1] - zero_shot[i] (the help earlier tasks give to
  a task not yet trained on, against the base model);
- the average over the tasks seen so far after each stage, mean_{i<=j} a[i][j] (an accuracy curve).

Across runs (orders x seeds), ``interval_over_runs`` gives a metric's mean with a t-interval; ``stage_matrix``
builds a method's matrix, the n behind each cell and the final per-example outcomes from its per-stage records.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from scipy import stats

from ...analysis.stats import task_means_interval
from ...errors import TaskNeuronsError

Matrix = Sequence[Sequence[float | None]]


def size(a: Matrix) -> int:
    """N for an N x N matrix (raises TaskNeuronsError otherwise)."""
    n = len(a)
    if n == 0 or any(len(row) != n for row in a):
        raise TaskNeuronsError(f"an accuracy matrix must be square and non-empty, got rows of {[len(r) for r in a]}")
    return n


def _need(value: float | None, what: str) -> float:
    if value is None:
        raise TaskNeuronsError(f"{what} was not evaluated")
    return float(value)


def average_accuracy(a: Matrix) -> float:
    """Eq. 4: the mean score of all N tasks after the last stage."""
    n = size(a)
    return statistics.fmean(_need(a[i][n - 1], f"task {i} after the last stage") for i in range(n))


def seen_average(a: Matrix) -> list[float]:
    """After each stage j, the mean score of the tasks trained so far (i <= j)."""
    n = size(a)
    return [statistics.fmean(_need(a[i][j], f"task {i} after stage {j}") for i in range(j + 1)) for j in range(n)]


def forgetting_rate(a: Matrix, reference: Sequence[float], stage: int) -> float | None:
    """Eq. 5, FG at 0-based ``stage`` j: mean over i < j of a[i][j] / A_i x 100; None for the first stage, and
    where some A_i (i < j) is 0 (the ratio is undefined)."""
    n = size(a)
    if len(reference) != n:
        raise TaskNeuronsError(f"reference A_i has {len(reference)} values for {n} tasks")
    if stage == 0:
        return None
    ratios = []
    for i in range(stage):
        ref = _need(reference[i], f"reference A_{i}")
        if ref == 0:
            return None  # the ratio is undefined
        ratios.append(_need(a[i][stage], f"task {i} after stage {stage}") / ref * 100.0)
    return statistics.fmean(ratios)


def forgetting_rates(a: Matrix, reference: Sequence[float]) -> list[float | None]:
    """FG_j for every stage (None for the first)."""
    return [forgetting_rate(a, reference, j) for j in range(size(a))]


def backward_transfer(a: Matrix) -> float | None:
    """Mean over i < N-1 of a[i][N-1] - a[i][i]; None for a single task."""
    n = size(a)
    if n < 2:
        return None
    return statistics.fmean(_need(a[i][n - 1], f"task {i} after the last stage") - _need(a[i][i], f"task {i} after stage {i}")
                            for i in range(n - 1))


def forward_transfer(a: Matrix, zero_shot: Sequence[float | None] | None) -> float | None:
    """Mean over i >= 1 of a[i][i-1] - zero_shot[i]; None for a single task or when a value is missing."""
    n = size(a)
    if n < 2 or zero_shot is None:
        return None
    values = [(a[i][i - 1], zero_shot[i]) for i in range(1, n)]
    if any(x is None or z is None for x, z in values):
        return None
    return statistics.fmean(x - z for x, z in values)


def summarize(a: Matrix, zero_shot: Sequence[float | None] | None = None,
              reference: Sequence[float] | None = None) -> dict:
    """Every metric above in one dict (missing inputs give None)."""
    fg = forgetting_rates(a, reference) if reference is not None else None
    return {
        "average_accuracy": average_accuracy(a),
        "backward_transfer": backward_transfer(a),
        "forward_transfer": forward_transfer(a, zero_shot),
        "forgetting_rates": fg,
        "final_forgetting_rate": fg[-1] if fg else None,
        "seen_average": seen_average(a),
        "final": [a[i][-1] for i in range(size(a))],
    }


def diagonal(a: Matrix) -> list[float | None]:
    """a[i][i]: each task's score right after its own stage."""
    return [a[i][i] for i in range(size(a))]


def of_view(kind: str, view: Mapping, zero_shot: Sequence[float | None] | None, reference: Sequence[float] | None,
            against_diagonal: bool, n_boot: int, confidence: float, seed: int) -> dict:
    """A method's ``{"metrics", "intervals"}`` from its result by one evaluation method (``view``: its matrix, or
    for a joint method its final scores); FG against ``reference`` (A_i), or against a[i][i] when
    ``against_diagonal``; AA's interval is over the test examples."""
    if kind == "joint":
        found = {"average_accuracy": sum(view["final"]) / len(view["final"]), "final": view["final"]}
    else:
        a = view["matrix"]
        found = summarize(a, zero_shot, diagonal(a) if against_diagonal else reference)
    return {"metrics": found, "intervals": {"average_accuracy": task_means_interval(
        [view["final_outcomes"]], n_boot, confidence, seed)}}


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and population std of the values that exist (over orders); (None, None) if none do."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None, None
    return statistics.fmean(present), statistics.pstdev(present)


MIN_RUNS = 3  # an interval over runs needs at least this many
RUNS_TEST = "t-interval over runs (mean ± t·s/√n)"


def interval_over_runs(values: Sequence[float | None], confidence: float = 0.95) -> dict:
    """``{"mean", "low", "high", "n", "test"}`` over the runs' values that exist: mean ± t_{n-1} s / sqrt(n)
    (Student t, s the sample std). With fewer than ``MIN_RUNS`` values low and high are None (and "test" says
    why); with none, the mean too."""
    present = [float(v) for v in values if v is not None]
    n = len(present)
    mean = statistics.fmean(present) if present else None
    if n < MIN_RUNS:
        return {"mean": mean, "low": None, "high": None, "n": n, "confidence": confidence,
                "test": f"no interval: {n} run(s), fewer than {MIN_RUNS}"}
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * statistics.stdev(present) / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n, "confidence": confidence,
            "test": RUNS_TEST}


def stage_matrix(stages: Sequence[Mapping], tasks: Sequence[str]) -> dict:
    """From per-stage records (stage j: ``{"scores": {task: score | None}, "outcomes": {task: list | None}}``):
    the matrix a[i][j], n[i][j] (examples behind each cell; None where not evaluated), the last stage's per-example
    outcomes of each task and those of task i right after stage i (``learnt_outcomes``: BWT's a[i][i])."""
    if len(stages) != len(tasks):
        raise TaskNeuronsError(f"{len(stages)} stage records for {len(tasks)} tasks")
    matrix = [[stage["scores"][t] for stage in stages] for t in tasks]
    counts = [[None if stage["outcomes"][t] is None else len(stage["outcomes"][t]) for stage in stages] for t in tasks]
    return {"matrix": matrix, "n": counts, "final_outcomes": {t: stages[-1]["outcomes"][t] for t in tasks},
            "learnt_outcomes": {t: stage["outcomes"][t] for t, stage in zip(tasks, stages)}}


def forgetting_outcomes(result: Mapping) -> dict[str, list[float]]:
    """Per task but the last, each test example's change from right after its task's stage to the end
    (a[i][N] - a[i][i] example by example: BWT's terms, to pair between methods)."""
    learnt = result["learnt_outcomes"]
    return {t: [end - start for end, start in zip(result["final_outcomes"][t], learnt[t])] for t in list(learnt)[:-1]}


def differences(a: Mapping, b: Mapping, keys: Sequence[str]) -> dict:
    """``{key: a[key] - b[key]}`` (None where either is None): e.g. AA by ranking minus AA by exact match."""
    return {k: None if a.get(k) is None or b.get(k) is None else a[k] - b[k] for k in keys}
