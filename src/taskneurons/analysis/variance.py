"""Two-level variance of a mean outcome: test examples and runs (random draws, training seeds, orders) both vary.

An arm's outcomes on one task are a matrix ``x[run, example]`` (the same examples in every run). Its mean
``x.mean()`` moves when other examples are drawn and when other runs are drawn; under the random-effects model
``x[r, i] = mu + example_i + run_r + noise_ri`` its variance is ``var(example)/n + var(run)/R + var(noise)/(nR)``.
Two estimates cover it without counting any part twice (docs/statistics.md):

- the **example term**: the variance over examples of each example's mean over runs, over n (it holds the
  example part and the noise's share);
- the **run term**: the variance over runs of each run's mean over examples, less the noise's share of it (the
  two-way residual mean square over n), over R; 0 with a single run (the interval is then for this draw).

Averaged over tasks, a run index means the same run in every task (an order of continual learning; independent
draws per task are a special case), so the run term is taken on each run's mean over tasks. The total is read
with a t of Welch-Satterthwaite degrees of freedom: with few runs the run term's n - 1 dominates, and the interval
widens as it should.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Term:
    """One variance component of a mean: a sum of mean squares times coefficients, ``parts`` = ((value, df), ...),
    floored at 0. Each part keeps its own degrees of freedom, so an estimate that is small by chance (a run term
    less its noise share) still counts its uncertainty in the Welch-Satterthwaite df."""

    parts: tuple[tuple[float, float], ...] = ()

    @property
    def variance(self) -> float:
        return max(0.0, float(sum(value for value, _ in self.parts)))

    @property
    def uncertainty(self) -> float:
        """sum of value^2 / df over the parts (the Welch-Satterthwaite denominator)."""
        return float(sum(value ** 2 / df for value, df in self.parts if value and np.isfinite(df) and df > 0))

    def scaled(self, factor: float) -> "Term":
        return Term(tuple((value * factor, df) for value, df in self.parts))


def residual_mean_square(x: np.ndarray) -> float:
    """Two-way (run x example) residual mean square of ``x[run, example]``: the noise no run or example explains."""
    runs, examples = x.shape
    if runs < 2 or examples < 2:
        return 0.0
    residual = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
    return float((residual ** 2).sum() / ((runs - 1) * (examples - 1)))


def residual_df(x: np.ndarray) -> float:
    return float((x.shape[0] - 1) * (x.shape[1] - 1))


def example_term(per_example: list[np.ndarray], weights: list[float] | None = None) -> Term:
    """Variance of ``sum_t weights[t] * mean(per_example[t])`` over draws of examples (default weights 1/T)."""
    weights = weights or [1 / len(per_example)] * len(per_example)
    variance = sum(w ** 2 * float(np.var(d, ddof=1)) / d.size for w, d in zip(weights, per_example))
    return Term(((variance, float(sum(d.size - 1 for d in per_example))),))


def spread_term(run_values: np.ndarray, noise: float, noise_df: float) -> Term:
    """Variance of the mean of ``run_values`` over draws of runs: their variance less the noise's share of it
    (``noise``), over their count."""
    runs = len(run_values)
    if runs < 2:
        return Term()
    return Term(((float(np.var(run_values, ddof=1)) / runs, float(runs - 1)), (-noise / runs, noise_df)))


def run_term(tasks: list[np.ndarray]) -> Term:
    """Variance contributed by drawing the runs, for the mean over tasks of ``tasks[t][run, example]``: runs are
    aligned across tasks when every task has the same number (one estimate on the runs' task means), otherwise
    independent per task (a sum of per-task estimates). Empty with a single run."""
    counts = {x.shape[0] for x in tasks}
    if counts == {1}:
        return Term()
    t = len(tasks)
    if len(counts) == 1:
        run_means = np.mean([x.mean(axis=1) for x in tasks], axis=0)
        noise = sum(residual_mean_square(x) / x.shape[1] for x in tasks) / t ** 2
        return spread_term(run_means, noise, sum(residual_df(x) for x in tasks))
    return Term(tuple(part for x in tasks for part in run_term([x]).scaled(1 / t ** 2).parts))


def combined_df(terms: list[Term]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance components (each part with its own df)."""
    total = sum(term.variance for term in terms)
    denominator = sum(term.uncertainty for term in terms)
    return float(total ** 2 / denominator) if denominator > 0 and total > 0 else np.inf
