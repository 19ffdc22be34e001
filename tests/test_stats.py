"""Statistics from per-example outcomes: paired gaps against brute force, verdicts, the specificity interval."""
import itertools

import numpy as np
import pytest

from taskneurons.experiments.kit.stats import Gap, mean_interval, paired_gap, specificity_interval
from taskneurons.neurons import specificity_index_from_outcomes


def test_the_gap_is_the_mean_paired_difference_and_the_p_value_the_exact_sign_flip_one():
    a = [100, 0, 100, 100, 0, 100]
    b = [[0, 0, 100, 0, 0, 0], [0, 0, 0, 100, 0, 0]]  # two runs: per example 0, 0, 50, 50, 0, 0
    gap = paired_gap([a], [b], n_perm=40000, seed=1)
    diffs = np.array(a) - np.array([0, 0, 50, 50, 0, 0])
    assert gap.mean == pytest.approx(diffs.mean()) and gap.n == 6 and gap.runs == (1, 2)
    flips = [abs((np.array(s) * diffs).mean()) >= abs(diffs.mean()) - 1e-12
             for s in itertools.product([-1, 1], repeat=6)]
    assert gap.p == pytest.approx(np.mean(flips), abs=0.01)
    assert gap.low <= gap.mean <= gap.high


def test_averaging_over_tasks_is_the_mean_of_the_task_means():
    gap = paired_gap([[10, 20], [0, 0, 0, 30]], [[0, 0], [0, 0, 0, 0]])
    assert gap.mean == pytest.approx((15 + 7.5) / 2) and gap.tasks == 2 and gap.n == 6


@pytest.mark.parametrize("low, high, direction, verdict", [
    (-5.0, -1.0, "less", "holds"), (-5.0, 1.0, "less", "undecided at this n"), (1.0, 5.0, "less", "does not hold"),
    (1.0, 5.0, "greater", "holds"), (-5.0, -1.0, "greater", "does not hold"),
])
def test_a_claim_holds_only_when_its_interval_excludes_zero(low, high, direction, verdict):
    assert Gap(0.0, low, high, 0.5, 10, 1, (1, 1), 0.95).verdict(direction) == verdict


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
