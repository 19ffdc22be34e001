"""Statistics from per-example outcomes: paired gaps against brute force, verdicts, the specificity interval."""
import itertools

import numpy as np
import pytest

from .test_bench_scripts import _script

from taskneurons.errors import TaskNeuronsError
from taskneurons.analysis.stats import (Gap, adjust, holm, mean_interval, order_gap, paired_gap,
                                              specificity_interval)
from taskneurons.analysis.variance import example_term, run_term
from taskneurons.neurons import specificity_index_from_outcomes


def test_one_run_each_gives_the_exact_sign_flip_p_value_for_this_draw():
    a = [100, 0, 100, 100, 0, 100]
    b = [0, 0, 50, 50, 0, 0]
    gap = paired_gap([a], [b], n_perm=40000, seed=1)
    diffs = np.array(a) - np.array(b)
    assert gap.mean == pytest.approx(diffs.mean()) and gap.n == 6 and gap.runs == (1, 1)
    flips = [abs((np.array(s) * diffs).mean()) >= abs(diffs.mean()) - 1e-12
             for s in itertools.product([-1, 1], repeat=6)]
    assert gap.p == pytest.approx(np.mean(flips), abs=0.01)
    assert gap.low <= gap.mean <= gap.high and "for this draw" in gap.basis


def test_the_two_level_variance_is_unbiased_for_the_variance_of_the_mean():
    # brute force: draw many datasets from x[r, i] = example_i + run_r + noise_ri and compare the spread of their
    # means with the mean of the estimated variances (example term + run term).
    rng = np.random.default_rng(0)
    runs, n, means, estimates = 3, 40, [], []
    for _ in range(4000):
        x = rng.normal(0, 2.0, n)[None] + rng.normal(0, 1.0, (runs, 1)) + rng.normal(0, 1.5, (runs, n))
        means.append(x.mean())
        estimates.append(example_term([x.mean(axis=0)]).variance + run_term([x]).variance)
    truth = 4.0 / n + 1.0 / runs + 2.25 / (n * runs)
    assert np.var(means) == pytest.approx(truth, rel=0.08)
    assert np.mean(estimates) == pytest.approx(truth, rel=0.08)


def test_run_shifts_widen_the_interval_by_hand():
    # a's runs are b's outcomes shifted by 2, 4 and 6 (no residual noise): every example differs by 4 on average
    # (example term 0), the run means 27, 29, 31 have variance 4, so the gap is 4 +- t(0.975, df 2) * sqrt(4 / 3).
    b = [10.0, 20.0, 30.0, 40.0]
    a = [[x + shift for x in b] for shift in (2.0, 4.0, 6.0)]
    gap = paired_gap([a], [b])
    half = 4.302652729911275 * (4 / 3) ** 0.5
    assert gap.runs == (3, 1) and gap.df == pytest.approx(2.0) and gap.mean == pytest.approx(4.0)
    assert (gap.low, gap.high) == (pytest.approx(4.0 - half), pytest.approx(4.0 + half))
    assert "two-level" in gap.test and "a single run of one side" in gap.basis


def test_orders_are_paired_runs_whose_gaps_spread():
    # two orders with task a's outcomes reversed in b: each order's gap is +50 or -50, so nothing is decided
    # over orders, though every example's mean over orders differs by 0.
    a = [{"a": [100.0, 100.0, 0.0, 0.0]}, {"a": [100.0, 100.0, 0.0, 0.0]}]
    b = [{"a": [0.0, 0.0, 0.0, 0.0]}, {"a": [100.0, 100.0, 100.0, 100.0]}]
    gap = order_gap(a, b)
    assert gap.mean == 0.0 and gap.low < -50 and gap.high > 50 and gap.runs == (2, 2)
    with pytest.raises(TaskNeuronsError, match="order 1 has tasks"):
        order_gap(a, [{"b": [0.0] * 4}, b[1]])


def test_an_order_gap_with_tasks_missing_from_some_orders_by_hand():
    # BWT lacks each order's last task. Differences constant within a (task, order) cell: no example term and no
    # noise, so the gap is the mean of the per-order gaps 3, 6 and 0.5, +- t(0.975, df 2) * sd / sqrt(3).
    cells = [{"x": 2.0, "y": 4.0}, {"x": 6.0}, {"y": 0.0, "x": 1.0}]
    a = [{t: [v, v, v] for t, v in order.items()} for order in cells]
    b = [{t: [0.0, 0.0, 0.0] for t in order} for order in cells]
    gap = order_gap(a, b)
    values = np.array([3.0, 6.0, 0.5])
    half = 4.302652729911275 * values.std(ddof=1) / np.sqrt(3)
    assert gap.mean == pytest.approx(values.mean()) and gap.df == pytest.approx(2.0) and gap.tasks == 2
    assert (gap.low, gap.high) == (pytest.approx(values.mean() - half), pytest.approx(values.mean() + half))


def test_a_claim_needs_its_p_as_well_as_its_interval():
    # the percentile interval of a few examples can exclude 0 when the sign-flip p cannot be small
    assert Gap(100.0, 100.0, 100.0, 0.5, 2, 1, (1, 1), 0.95).verdict("greater") == "undecided at this n"


def test_a_non_finite_outcome_is_refused():
    with pytest.raises(TaskNeuronsError, match="an outcome is not a finite number"):
        paired_gap([[1.0, float("nan")]], [[0.0, 0.0]])


def test_holm_by_hand():
    # sorted p 0.01, 0.02, 0.03, 0.5 times 4, 3, 2, 1 -> 0.04, 0.06, 0.06 (running max), 0.5
    assert holm([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_a_claim_whose_adjusted_p_is_too_large_is_undecided():
    gap = Gap(5.0, 1.0, 9.0, 0.02, 100, 1, (1, 1), 0.95)
    assert gap.verdict("greater") == "holds"
    adjust([gap, Gap(5.0, 1.0, 9.0, 0.03, 100, 1, (1, 1), 0.95), Gap(1.0, -1.0, 3.0, 0.5, 100, 1, (1, 1), 0.95)])
    assert gap.p_adjusted == pytest.approx(0.06) and gap.verdict("greater") == "undecided at this n"


def test_the_calibration_benchmark_keeps_false_verdicts_near_five_percent_with_three_runs():
    bench = _script("bench_verdicts")
    found = bench.verdicts(0.0, spread=5.0, design="3o", tasks=1, replicates=150, n_boot=200)
    assert sum(found["two_level"].values()) <= 0.12  # 5% target; 150 replicates: Monte Carlo slack
    assert sum(found["examples_only"].values()) >= 0.3  # the old interval, blind to the runs


def test_averaging_over_tasks_is_the_mean_of_the_task_means():
    gap = paired_gap([[10, 20], [0, 0, 0, 30]], [[0, 0], [0, 0, 0, 0]])
    assert gap.mean == pytest.approx((15 + 7.5) / 2) and gap.tasks == 2 and gap.n == 6


@pytest.mark.parametrize("low, high, direction, verdict", [
    (-5.0, -1.0, "less", "holds"), (-5.0, 1.0, "less", "undecided at this n"), (1.0, 5.0, "less", "does not hold"),
    (1.0, 5.0, "greater", "holds"), (-5.0, -1.0, "greater", "does not hold"),
])
def test_a_claim_holds_only_when_its_interval_excludes_zero(low, high, direction, verdict):
    assert Gap(0.0, low, high, 0.01, 10, 1, (1, 1), 0.95).verdict(direction) == verdict


def test_identical_conditions_have_a_zero_gap_and_p_one():
    gap = paired_gap([[50, 0, 100]], [[50, 0, 100]])
    assert (gap.mean, gap.low, gap.high, gap.p) == (0.0, 0.0, 0.0, 1.0)


def test_the_mean_interval_covers_the_mean():
    low, high = mean_interval([0, 100, 100, 0, 100, 100, 100, 0])
    assert low < 62.5 < high and 0 <= low and high <= 100


def test_the_specificity_interval_agrees_with_the_index_from_outcomes():
    original = {"a": [100, 100, 0, 100], "b": [100, 0, 100, 100]}
    deactivated = {"a": {"a": [0, 0, 0, 100], "b": [100, 0, 100, 0]}, "b": {"a": [100, 100, 0, 0], "b": [0, 0, 0, 100]}}
    result = specificity_interval(original, deactivated, n_boot=500)
    assert result["index"] == pytest.approx(specificity_index_from_outcomes(original, deactivated))
    assert result["low"] <= result["index"] <= result["high"]
