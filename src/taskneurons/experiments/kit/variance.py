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
    """One variance component of a mean, with its degrees of freedom."""

    variance: float
    df: float


def residual_mean_square(x: np.ndarray) -> float:
    """Two-way (run x example) residual mean square of ``x[run, example]``: the noise no run or example explains."""
    runs, examples = x.shape
    if runs < 2 or examples < 2:
        return 0.0
    residual = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + x.mean()
    return float((residual ** 2).sum() / ((runs - 1) * (examples - 1)))


def example_term(per_example: list[np.ndarray]) -> Term:
    """Variance of the mean over tasks of each task's mean, from each task's per-example (run-averaged) values."""
    tasks = len(per_example)
    variance = sum(float(np.var(d, ddof=1)) / d.size for d in per_example) / tasks ** 2
    return Term(variance, float(sum(d.size - 1 for d in per_example)))


def run_term(tasks: list[np.ndarray]) -> Term:
    """Variance contributed by drawing the runs, for the mean over tasks of ``tasks[t][run, example]``: runs are
    aligned across tasks when every task has the same number (one estimate on the runs' task means), otherwise
    independent per task (a sum of per-task estimates). Zero with a single run."""
    counts = {x.shape[0] for x in tasks}
    if counts == {1}:
        return Term(0.0, np.inf)
    t = len(tasks)
    if len(counts) == 1:
        runs = counts.pop()
        run_means = np.mean([x.mean(axis=1) for x in tasks], axis=0)
        noise = sum(residual_mean_square(x) / x.shape[1] for x in tasks) / t ** 2
        return Term(max(0.0, float(np.var(run_means, ddof=1)) - noise) / runs, float(runs - 1))
    parts = [run_term([x]) for x in tasks]
    return Term(sum(p.variance for p in parts) / t ** 2, float(min(p.df for p in parts)))


def combined_df(terms: list[Term]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance components."""
    total = sum(term.variance for term in terms)
    denominator = sum(term.variance ** 2 / term.df for term in terms if term.variance > 0 and np.isfinite(term.df))
    return float(total ** 2 / denominator) if denominator > 0 else np.inf
