"""Statistics from per-example outcomes: is a difference between two conditions larger than its noise?

A comparison is paired: both conditions are evaluated on the same test examples, so the unit is an example's
difference. Where a condition has several runs (random draws, training seeds), an example's outcome is the mean
over them. ``paired_gap`` gives the mean difference with a percentile bootstrap interval over examples
(``scipy.stats.bootstrap``, each task's examples resampled on their own when several tasks are averaged) and a
two-sided sign-flip permutation p-value (under "no difference", each example's difference is as likely negative
as positive; signs are flipped within each task). A claim **holds** when the whole interval is on its side of 0.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ...errors import TaskNeuronsError


@dataclass
class Gap:
    """Mean difference (a - b) over examples, its interval, p-value and sizes; ``verdict`` for the claim a < b
    (``direction`` "less") or a > b ("greater")."""

    mean: float
    low: float
    high: float
    p: float
    n: int  # examples (summed over tasks)
    tasks: int
    runs: tuple[int, int]  # runs averaged per example in a and b (draws, seeds)
    confidence: float
    test: str = "paired bootstrap over examples (percentile), sign-flip permutation p"

    def verdict(self, direction: str) -> str:
        """"holds", "does not hold" (the interval is on the other side) or "undecided at this n"."""
        if direction not in ("less", "greater"):
            raise ValueError(direction)
        below, above = self.high < 0, self.low > 0
        if (below and direction == "less") or (above and direction == "greater"):
            return "holds"
        return "does not hold" if below or above else "undecided at this n"

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.mean:+.1f} [{self.low:+.1f}, {self.high:+.1f}], p={self.p:.3g}"


def per_example(runs: Sequence[Sequence[float]] | Sequence[float]) -> np.ndarray:
    """[examples]: an outcome list as is, or the mean over several runs' outcome lists (same examples)."""
    array = np.asarray(runs, dtype=float)
    return array.mean(axis=0) if array.ndim == 2 else array


def paired_gap(tasks_a: Sequence, tasks_b: Sequence, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0,
               n_perm: int = 10000) -> Gap:
    """The gap a - b (module doc), for one task or averaged over several: ``tasks_a[t]`` is task t's outcomes in
    condition a (a list, or a list of runs' lists on the same examples), ``tasks_b[t]`` the same in b. The gap is
    the mean over tasks of each task's mean difference."""
    if len(tasks_a) != len(tasks_b) or not tasks_a:
        raise TaskNeuronsError(f"paired_gap: {len(tasks_a)} tasks against {len(tasks_b)}")
    diffs = []
    for x, y in zip(tasks_a, tasks_b):
        dx, dy = per_example(x), per_example(y)
        if dx.shape != dy.shape or dx.size < 2:
            raise TaskNeuronsError(f"paired_gap needs the same >= 2 examples in both conditions, got {dx.size} and "
                                   f"{dy.size}")
        diffs.append(dx - dy)
    mean = float(np.mean([d.mean() for d in diffs]))
    rng = np.random.default_rng(seed)
    if all(np.ptp(d) == 0 for d in diffs):  # no variation at all: the interval is the point
        low = high = mean
    else:
        result = stats.bootstrap(tuple(diffs), lambda *ds, axis=-1: np.mean([d.mean(axis=axis) for d in ds], axis=0),
                                 n_resamples=n_boot, confidence_level=confidence, method="percentile", paired=False,
                                 vectorized=True, random_state=rng)
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return Gap(mean, low, high, sign_flip_p(diffs, n_perm, rng), int(sum(d.size for d in diffs)), len(diffs),
               (_runs(tasks_a[0]), _runs(tasks_b[0])), confidence)


def sign_flip_p(diffs: list[np.ndarray], n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided Monte Carlo p of the mean of task means under random sign flips (with the +1 correction)."""
    observed = abs(np.mean([d.mean() for d in diffs]))
    if observed == 0:
        return 1.0
    flipped = np.mean([(rng.choice([-1.0, 1.0], size=(n_perm, d.size)) * d).mean(axis=1) for d in diffs], axis=0)
    return float((1 + np.sum(np.abs(flipped) >= observed - 1e-12)) / (n_perm + 1))


def mean_interval(outcomes: Sequence, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> list[float]:
    """[low, high]: percentile bootstrap interval of one condition's mean score over examples (error bars)."""
    x = per_example(outcomes)
    if x.size < 2 or np.ptp(x) == 0:
        return [float(x.mean()), float(x.mean())] if x.size else [math.nan, math.nan]
    result = stats.bootstrap((x,), np.mean, n_resamples=n_boot, confidence_level=confidence, method="percentile",
                             random_state=np.random.default_rng(seed))
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


def percentile_interval(boots, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` share of bootstrap replicates."""
    alpha = (1 - confidence) / 2
    low, high = np.quantile(np.asarray(boots, dtype=float), [alpha, 1 - alpha])
    return float(low), float(high)


def _runs(task) -> int:
    return len(task) if np.asarray(task, dtype=float).ndim == 2 else 1


def specificity_interval(original: dict[str, list[float]], deactivated: dict[str, dict[str, list[float]]],
                         n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> dict:
    """The cross-task matrix's specificity index (``neurons.specificity_index_from_outcomes``: mean diagonal drop
    minus mean off-diagonal drop) with a percentile bootstrap interval: each task's test examples resampled."""
    names = list(original)
    base = {j: np.asarray(original[j], dtype=float) for j in names}
    cells = {(i, j): np.asarray(deactivated[i][j], dtype=float) for i in names for j in names}
    rng = np.random.default_rng(seed)

    def index(pick: dict[str, np.ndarray]) -> float:
        drop = {(i, j): base[j][pick[j]].mean() - cells[i, j][pick[j]].mean() for i, j in cells}
        diagonal = [drop[i, i] for i in names]
        off = [drop[i, j] for i, j in cells if i != j]
        return float(np.mean(diagonal) - np.mean(off))

    point = index({j: np.arange(base[j].size) for j in names})
    boots = [index({j: rng.integers(0, base[j].size, base[j].size) for j in names}) for _ in range(n_boot)]
    low, high = percentile_interval(boots, confidence)
    return {"index": point, "low": low, "high": high, "n_boot": n_boot, "confidence": confidence,
            "n": {j: int(base[j].size) for j in names}}


EXAMPLES_TEST = "percentile bootstrap over test examples (each task's resampled)"


def task_means_interval(runs: Sequence[dict[str, Sequence[float]]], n_boot: int = 2000, confidence: float = 0.95,
                        seed: int = 0) -> dict:
    """The mean over runs of the mean over tasks of each task's mean outcome (a continual run's average accuracy
    when ``runs`` holds one run's final outcomes per task; its mean over orders with several), with a percentile
    bootstrap interval over test examples: each task's examples are resampled on their own, with the same draw in
    every run that has the task (the runs share a task's test examples, so they are paired). Returns
    ``{"mean", "low", "high", "n": {task: examples}, "n_boot", "confidence", "test"}``."""
    if not runs or not all(runs):
        raise TaskNeuronsError("task_means_interval needs at least one run with at least one task")
    sizes: dict[str, int] = {}
    for run in runs:
        for task, outcomes in run.items():
            if sizes.setdefault(task, len(outcomes)) != len(outcomes) or not len(outcomes):
                raise TaskNeuronsError(f"task_means_interval: task {task!r} has {len(outcomes)} outcomes in one run "
                                       f"and {sizes[task]} in another (need the same >= 1 examples)")
    rng = np.random.default_rng(seed)
    draws = {task: rng.integers(0, size, (n_boot, size)) for task, size in sizes.items()}
    point, boots = [], []
    for run in runs:
        x = {task: np.asarray(outcomes, dtype=float) for task, outcomes in run.items()}
        point.append(np.mean([v.mean() for v in x.values()]))
        boots.append(np.mean([x[task][draws[task]].mean(axis=1) for task in x], axis=0))  # [n_boot]
    low, high = percentile_interval(np.mean(boots, axis=0), confidence)
    return {"mean": float(np.mean(point)), "low": low, "high": high, "n": dict(sizes),
            "n_boot": n_boot, "confidence": confidence, "test": EXAMPLES_TEST}
