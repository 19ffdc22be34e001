"""Statistics from per-example outcomes: is a difference between two conditions larger than its noise?

A comparison is paired: both conditions are evaluated on the same test examples, so the unit is an example's
difference. A condition may have several runs (random draws, training seeds, orders), each a list of outcomes on
the same examples. ``paired_gap`` gives the mean difference with an interval and p-value that account for both
levels of chance (docs/statistics.md):

- **one run in each condition**: a percentile bootstrap over examples (``scipy.stats.bootstrap``, each task's
  examples resampled on their own) and a two-sided sign-flip permutation p; the result holds *for these runs*;
- **several runs in a condition**: a t interval whose variance adds the example term and each condition's run
  term (``variance``; Welch-Satterthwaite degrees of freedom), so that a verdict holds for other draws too.

``order_gap`` is the same for two methods that ran the same orders (continual learning): the orders are paired
runs, and the gap is the mean over orders of each order's gap.

A claim **holds** when the whole interval is on its side of 0 and its p (per-task claims of one table: its
Holm-adjusted p, ``holm``) is below 1 - confidence.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ..errors import TaskNeuronsError
from .variance import Term, combined_df, example_term, residual_df, residual_mean_square, run_term, spread_term

UNDECIDED = "undecided at this n"
EXAMPLES_ONLY = "paired bootstrap over examples (percentile), sign-flip permutation p"
TWO_LEVEL = "two-level t interval over examples and runs"


@dataclass
class Gap:
    """Mean difference (a - b) over examples, its interval, p-value and sizes; ``verdict`` for the claim a < b
    (``direction`` "less") or a > b ("greater"). ``p_adjusted``: the Holm-adjusted p when the gap is one of a
    table's per-task claims (then the claim is decided only when it is below 1 - confidence)."""

    mean: float
    low: float
    high: float
    p: float
    n: int  # examples (summed over tasks)
    tasks: int
    runs: tuple[int, int]  # runs per example in a and b (draws, seeds, orders)
    confidence: float
    test: str = EXAMPLES_ONLY
    df: float | None = None  # the t's degrees of freedom (two-level intervals)
    p_adjusted: float | None = None

    def verdict(self, direction: str) -> str:
        """"holds", "does not hold" (the interval is on the other side) or "undecided at this n"."""
        if direction not in ("less", "greater"):
            raise ValueError(direction)
        if (self.p if self.p_adjusted is None else self.p_adjusted) >= 1 - self.confidence:
            return UNDECIDED  # a percentile interval and its p can disagree at small n: both must decide
        below, above = self.high < 0, self.low > 0
        if (below and direction == "less") or (above and direction == "greater"):
            return "holds"
        return "does not hold" if below or above else UNDECIDED

    @property
    def basis(self) -> str:
        """What the verdict rests on: examples and runs, and for which runs it holds."""
        a, b = self.runs
        if a == b == 1:
            return f"n={self.n} examples, one run each: for this draw"
        single = " (a single run of one side: for that draw)" if 1 in (a, b) else ""
        return f"n={self.n} examples, {a} vs {b} runs{single}"

    def to_dict(self) -> dict:
        return {**asdict(self), "basis": self.basis}

    def __str__(self) -> str:
        adjusted = f", Holm p={self.p_adjusted:.3g}" if self.p_adjusted is not None else ""
        return f"{self.mean:+.1f} [{self.low:+.1f}, {self.high:+.1f}], p={self.p:.3g}{adjusted}"


def interval_verdict(low: float, high: float) -> str:
    """The claim "the value is above 0" from its interval."""
    return "holds" if low > 0 else "does not hold" if high < 0 else "undecided at this n"


def per_example(runs: Sequence[Sequence[float]] | Sequence[float]) -> np.ndarray:
    """[examples]: an outcome list as is, or the mean over several runs' outcome lists (same examples)."""
    array = np.asarray(runs, dtype=float)
    return array.mean(axis=0) if array.ndim == 2 else array


def as_runs(outcomes) -> np.ndarray:
    """[runs, examples]: one outcome list is one run; a non-finite outcome is refused."""
    array = np.asarray(outcomes, dtype=float)
    if not np.isfinite(array).all():
        raise TaskNeuronsError("an outcome is not a finite number (NaN or inf): every example needs a score")
    return array[None] if array.ndim == 1 else array


def paired_gap(tasks_a: Sequence, tasks_b: Sequence, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0,
               n_perm: int = 10000) -> Gap:
    """The gap a - b (module doc), for one task or averaged over several: ``tasks_a[t]`` is task t's outcomes in
    condition a (a list, or a list of runs' lists on the same examples), ``tasks_b[t]`` the same in b. The gap is
    the mean over tasks of each task's mean difference; the runs of a and of b are independent draws."""
    if len(tasks_a) != len(tasks_b) or not tasks_a:
        raise TaskNeuronsError(f"paired_gap: {len(tasks_a)} tasks against {len(tasks_b)}")
    a, b = [as_runs(x) for x in tasks_a], [as_runs(y) for y in tasks_b]
    for x, y in zip(a, b):
        if x.shape[1] != y.shape[1] or x.shape[1] < 2:
            raise TaskNeuronsError(f"paired_gap needs the same >= 2 examples in both conditions, got {x.shape[1]} "
                                   f"and {y.shape[1]}")
    diffs = [x.mean(axis=0) - y.mean(axis=0) for x, y in zip(a, b)]
    runs = (max(x.shape[0] for x in a), max(y.shape[0] for y in b))
    if runs == (1, 1):
        return examples_only_gap(diffs, n_boot, confidence, seed, n_perm)
    mean = float(np.mean([d.mean() for d in diffs]))
    low, high, p, df = t_interval(mean, [example_term(diffs), run_term(a), run_term(b)], confidence, n_of(diffs))
    return Gap(mean, low, high, p, n_of(diffs), len(diffs), runs, confidence, f"{TWO_LEVEL} (df={df:.1f})", df)


def order_gap(orders_a: Sequence[dict[str, Sequence[float]]], orders_b: Sequence[dict[str, Sequence[float]]],
              n_boot: int = 2000, confidence: float = 0.95, seed: int = 0, n_perm: int = 10000) -> Gap:
    """The gap a - b of two methods that ran the same orders: ``orders_a[r][task]`` is the task's outcomes in
    order r (the same test examples of a task in every order; an order may lack a task, as BWT lacks each order's
    last). The gap is the mean over orders of each order's gap (the mean over its tasks of the mean difference),
    for AA and BWT the mean over orders of the metric's difference. The orders are paired runs: the run term is
    the spread of the per-order gaps, the example term each example's weighted difference over its orders."""
    if len(orders_a) != len(orders_b) or not orders_a:
        raise TaskNeuronsError(f"order_gap: {len(orders_a)} orders against {len(orders_b)}")
    cells: dict[str, dict[int, np.ndarray]] = {}
    for r, (x, y) in enumerate(zip(orders_a, orders_b)):
        if set(x) != set(y) or not x:
            raise TaskNeuronsError(f"order_gap: order {r + 1} has tasks {sorted(x)} in a and {sorted(y)} in b")
        for task in x:
            a, b = as_runs(x[task])[0], as_runs(y[task])[0]
            if a.size != b.size or a.size < 2 or any(v.size != a.size for v in cells.get(task, {}).values()):
                raise TaskNeuronsError(f"order_gap needs the same >= 2 examples of task {task!r} in every order "
                                       f"and both methods")
            cells.setdefault(task, {})[r] = a - b
    count = len(orders_a)
    if count == 1:
        return examples_only_gap([d[0] for d in cells.values()], n_boot, confidence, seed, n_perm)
    weight = {r: 1 / (count * len(x)) for r, x in enumerate(orders_a)}  # each order's tasks share 1 / count
    combined = [sum(weight[r] * d for r, d in by_order.items()) for by_order in cells.values()]
    per_order = np.array([np.mean([cells[t][r].mean() for t in x]) for r, x in enumerate(orders_a)])
    noise = np.mean([sum(residual_mean_square(np.stack(list(cells[t].values()))) / cells[t][r].size for t in x)
                     / len(x) ** 2 for r, x in enumerate(orders_a)])
    noise_df = sum(residual_df(np.stack(list(by_order.values()))) for by_order in cells.values())
    terms = [Term(((sum(float(np.var(e, ddof=1)) / e.size for e in combined), float(n_of(combined) - len(combined))),)),
             spread_term(per_order, float(noise), noise_df)]
    mean = float(per_order.mean())
    low, high, p, df = t_interval(mean, terms, confidence, n_of(combined))
    return Gap(mean, low, high, p, n_of(combined), len(combined), (count, count), confidence,
               f"{TWO_LEVEL} ({count} paired orders, df={df:.1f})", df)


def n_of(per_task: list[np.ndarray]) -> int:
    return int(sum(d.size for d in per_task))


def t_interval(mean: float, terms: list[Term], confidence: float, n: int) -> tuple[float, float, float, float]:
    """(low, high, two-sided p of 0, df) of ``mean`` with the summed variance of ``terms``. With no variance at
    all, the point, and the smallest sign-flip p of ``n`` equal differences (2^(1 - n))."""
    variance = sum(term.variance for term in terms)
    df = combined_df(terms)
    if variance <= 0:
        return mean, mean, 1.0 if mean == 0 else min(1.0, 2.0 ** (1 - n)), df
    se = math.sqrt(variance)
    half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
    return mean - half, mean + half, float(2 * stats.t.sf(abs(mean) / se, df)), df


def examples_only_gap(diffs: list[np.ndarray], n_boot: int, confidence: float, seed: int, n_perm: int) -> Gap:
    """One run per condition: a percentile bootstrap over examples and the sign-flip p (holds for these runs)."""
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
               (1, 1), confidence)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error at most alpha when each is compared with alpha)."""
    order = np.argsort(p_values, kind="stable")
    m, adjusted, running = len(p_values), [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[index])))
        adjusted[index] = running
    return adjusted


def adjust(gaps: Sequence[Gap]) -> None:
    """Set ``p_adjusted`` of a table's per-task gaps, adjusted together (Holm)."""
    for gap, p in zip(gaps, holm([g.p for g in gaps])):
        gap.p_adjusted = p


def sign_flip_p(diffs: list[np.ndarray], n_perm: int, rng: np.random.Generator) -> float:
    """Two-sided Monte Carlo p of the mean of task means under random sign flips (with the +1 correction)."""
    observed = abs(np.mean([d.mean() for d in diffs]))
    if observed == 0:
        return 1.0
    flipped = np.mean([(rng.choice([-1.0, 1.0], size=(n_perm, d.size)) * d).mean(axis=1) for d in diffs], axis=0)
    return float((1 + np.sum(np.abs(flipped) >= observed - 1e-12)) / (n_perm + 1))


def mean_interval(outcomes: Sequence, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0) -> list[float]:
    """[low, high] of one condition's mean score (error bars): a percentile bootstrap over examples for one run,
    the two-level t interval (examples and runs) for several runs' outcome lists."""
    runs = as_runs(outcomes)
    if runs.shape[0] > 1:
        return list(two_level_mean([runs], confidence)[1:])
    x = runs[0]
    if x.size < 2 or np.ptp(x) == 0:
        return [float(x.mean()), float(x.mean())] if x.size else [math.nan, math.nan]
    result = stats.bootstrap((x,), np.mean, n_resamples=n_boot, confidence_level=confidence, method="percentile",
                             random_state=np.random.default_rng(seed))
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)]


def two_level_mean(tasks: list[np.ndarray], confidence: float) -> tuple[float, float, float]:
    """(mean, low, high): the mean over tasks of ``tasks[t][run, example]``'s mean, with the two-level interval."""
    mean = float(np.mean([x.mean() for x in tasks]))
    per_example = [x.mean(axis=0) for x in tasks]
    low, high, _, _ = t_interval(mean, [example_term(per_example), run_term(tasks)], confidence, n_of(per_example))
    return mean, low, high


def percentile_interval(boots, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` share of bootstrap replicates."""
    alpha = (1 - confidence) / 2
    low, high = np.quantile(np.asarray(boots, dtype=float), [alpha, 1 - alpha])
    return float(low), float(high)


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


EXAMPLES_TEST = "percentile bootstrap over test examples (each task's resampled): for these runs"


def task_means_interval(runs: Sequence[dict[str, Sequence[float]]], n_boot: int = 2000, confidence: float = 0.95,
                        seed: int = 0) -> dict:
    """The mean over runs of the mean over tasks of each task's mean outcome (a continual run's average accuracy
    when ``runs`` holds one run's final outcomes per task; its mean over orders with several). One run: a
    percentile bootstrap over test examples (each task's resampled on its own). Several runs with the same tasks
    (a task's test examples the same in every run): the two-level t interval over examples and runs. Returns
    ``{"mean", "low", "high", "n": {task: examples}, "runs", "n_boot", "confidence", "test"}``."""
    if not runs or not all(runs):
        raise TaskNeuronsError("task_means_interval needs at least one run with at least one task")
    sizes: dict[str, int] = {}
    for run in runs:
        for task, outcomes in run.items():
            if sizes.setdefault(task, len(outcomes)) != len(outcomes) or not len(outcomes):
                raise TaskNeuronsError(f"task_means_interval: task {task!r} has {len(outcomes)} outcomes in one run "
                                       f"and {sizes[task]} in another (need the same >= 1 examples)")
    out = {"n": dict(sizes), "runs": len(runs), "n_boot": n_boot, "confidence": confidence}
    if len(runs) > 1 and all(set(run) == set(sizes) for run in runs) and min(sizes.values()) > 1:
        tasks = [np.asarray([run[task] for run in runs], dtype=float) for task in sizes]
        mean, low, high = two_level_mean(tasks, confidence)
        return {"mean": mean, "low": low, "high": high, **out, "test": TWO_LEVEL}
    rng = np.random.default_rng(seed)
    draws = {task: rng.integers(0, size, (n_boot, size)) for task, size in sizes.items()}
    point, boots = [], []
    for run in runs:
        x = {task: np.asarray(outcomes, dtype=float) for task, outcomes in run.items()}
        point.append(np.mean([v.mean() for v in x.values()]))
        boots.append(np.mean([x[task][draws[task]].mean(axis=1) for task in x], axis=0))  # [n_boot]
    low, high = percentile_interval(np.mean(boots, axis=0), confidence)
    return {"mean": float(np.mean(point)), "low": low, "high": high, **out, "test": EXAMPLES_TEST}
