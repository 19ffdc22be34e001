"""Intervals of the continual-learning metrics against hand computations: over runs (t), over test examples
(bootstrap), the matrices with their n, the differences between evaluation methods, and what the report shows."""
import math

import pytest

from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.continual import metrics, records, report, summary
from taskneurons.analysis.stats import task_means_interval

T_2 = 4.302652729911275  # Student t, 2 degrees of freedom, 97.5th percentile


def test_t_interval_over_three_runs_by_hand():
    got = metrics.interval_over_runs([70.0, 72.0, 74.0, None])  # None: a run where the metric is undefined
    half = T_2 * 2.0 / math.sqrt(3)  # sample std of 70, 72, 74 is 2
    assert got["mean"] == 72.0 and got["n"] == 3
    assert got["low"] == pytest.approx(72 - half) and got["high"] == pytest.approx(72 + half)
    assert got["test"] == metrics.RUNS_TEST
    assert metrics.interval_over_runs([5.0, 5.0, 5.0])["low"] == 5.0  # no spread: the point


def test_fewer_than_three_runs_give_no_interval_and_say_so():
    two = metrics.interval_over_runs([70.0, 74.0])
    assert two["mean"] == 72.0 and two["low"] is None and two["high"] is None
    assert two["test"] == "no interval: 2 run(s), fewer than 3"
    assert metrics.interval_over_runs([None])["mean"] is None


def test_examples_bootstrap_of_the_mean_of_task_means_by_hand():
    # task a = [0, 100]: a resample's mean is 0 (p 1/4), 50 (1/2) or 100 (1/4); task b is always 100, so AA is
    # 50, 75 or 100 with those probabilities: the 95% percentile interval is [50, 100], the point 75.
    got = task_means_interval([{"a": [0.0, 100.0], "b": [100.0, 100.0, 100.0]}], n_boot=4000, seed=1)
    assert got["mean"] == 75.0 and (got["low"], got["high"]) == (50.0, 100.0)
    assert got["n"] == {"a": 2, "b": 3} and got["n_boot"] == 4000 and "bootstrap" in got["test"]
    constant = task_means_interval([{"a": [100.0, 100.0], "b": [0.0, 0.0]}])
    assert constant["low"] == constant["high"] == constant["mean"] == 50.0


def test_examples_bootstrap_pools_orders_with_the_same_draw():
    # two orders with task a's outcomes reversed: the same resample gives them means m and 100 - m, so their
    # mean is always 50 (a shared draw); independent draws would spread it.
    got = task_means_interval([{"a": [0.0, 100.0]}, {"a": [100.0, 0.0]}], n_boot=500)
    assert got["mean"] == got["low"] == got["high"] == 50.0
    with pytest.raises(TaskNeuronsError, match="task 'a' has 3 outcomes in one run and 2 in another"):
        task_means_interval([{"a": [0.0, 1.0]}, {"a": [0.0, 1.0, 1.0]}])


def test_stage_matrix_with_the_n_behind_each_cell():
    stages = [{"scores": {"x": 50.0, "y": None}, "outcomes": {"x": [0.0, 100.0], "y": None}},
              {"scores": {"x": 100.0, "y": 0.0}, "outcomes": {"x": [100.0, 100.0], "y": [0.0, 0.0, 0.0]}}]
    got = metrics.stage_matrix(stages, ["x", "y"])
    assert got["matrix"] == [[50.0, 100.0], [None, 0.0]] and got["n"] == [[2, 2], [None, 3]]
    assert got["final_outcomes"] == {"x": [100.0, 100.0], "y": [0.0, 0.0, 0.0]}
    with pytest.raises(TaskNeuronsError, match="1 stage records for 2 tasks"):
        metrics.stage_matrix(stages[:1], ["x", "y"])


def test_differences():
    assert metrics.differences({"a": 5.0, "b": None}, {"a": 2.0, "b": 1.0}, ["a", "b"]) == {"a": 3.0, "b": None}


def _method(a, outcomes):
    """A sequential method's result by one evaluation method, as the runner builds it."""
    return {"matrix": a, "n": [[2] * len(a)] * len(a), "final_outcomes": outcomes,
            "metrics": metrics.summarize(a, None, None),
            "intervals": {"average_accuracy": task_means_interval([outcomes], n_boot=200)}}


CONFIG = {"eval_method": "generate", "also_evaluate": ["rank"], "confidence": 0.95, "n_boot": 500, "seed": 0,
          "model": "tiny", "n_eval": 2, "reference": "diagonal", "training": {"n_train": 4, "epochs": 1}}


def _views(k: int) -> tuple[dict, dict]:
    """Order k's NCFT by exact match, and by ranking (40 more)."""
    return (_method([[100.0, 50.0 - 10 * k], [0.0, 50.0]], {"x": [100.0 - 20 * k, 0.0], "y": [0.0, 100.0]}),
            _method([[100.0, 90.0], [50.0, 90.0]], {"x": [100.0, 80.0], "y": [100.0, 80.0]}))


def _results(orders: int) -> dict:
    """``orders`` orders of two tasks (records.Results, before the statistics across orders)."""
    out = {}
    for k in range(orders):
        gen, rank = _views(k)
        none = {"zero_shot": None, "reference": None}
        out[f"order{k + 1}"] = {"tasks": ["x", "y"], "evaluation": "generate", "by_evaluation": {"generate": none,
                                "rank": none}, "methods": {"NCFT": {"kind": "sequential", "by_evaluation":
                                                                     {"generate": gen, "rank": rank}}}}
    return {"version": 2, "config": CONFIG, "orders": out}


def _results_v1(orders: int) -> dict:
    """The same, as results.json was written before December 2026: the main method's at the top, ranking's under
    "also", the statistics across orders by the main method at the top too."""
    out = {}
    for k in range(orders):
        gen, rank = _views(k)
        out[f"order{k + 1}"] = {"tasks": ["x", "y"], "evaluation": "generate", "zero_shot": None, "reference": None,
                                "also": {"rank": {"zero_shot": None, "reference": None}},
                                "methods": {"NCFT": {"kind": "sequential", **gen, "also": {"rank": rank}}}}
    results = {"config": CONFIG, "orders": out}
    across = summary.aggregate(_results(orders))["by_evaluation"]
    return {**results, **across["generate"], "also": {"rank": across["rank"]}}


def test_across_orders_intervals_and_format_gaps_by_hand():
    results = _results(3)
    results.update(summary.aggregate(results))
    main, rank = results["by_evaluation"]["generate"], results["by_evaluation"]["rank"]
    aa = [(50.0 + 50.0 - 10 * k) / 2 for k in range(3)]  # 50, 45, 40
    assert main["summary"]["NCFT"]["average_accuracy"] == aa
    ci = main["intervals"]["NCFT"]["average_accuracy"]
    assert ci["mean"] == 45.0 and ci["high"] - 45.0 == pytest.approx(T_2 * 5.0 / math.sqrt(3))
    bwt = main["intervals"]["NCFT"]["backward_transfer"]  # -50, -60, -70
    assert bwt["mean"] == -60.0 and bwt["low"] == pytest.approx(-60 - T_2 * 10 / math.sqrt(3))
    examples = main["intervals"]["NCFT"]["average_accuracy_examples"]
    assert examples["mean"] == pytest.approx((50 + 45 + 40) / 3) and examples["n"] == {"x": 2, "y": 2}
    gap = rank["gaps"]["NCFT"]["average_accuracy"]  # rank's AA 90 minus exact match's
    assert gap["per_order"] == [40.0, 45.0, 50.0] and gap["mean"] == 45.0 and gap["low"] is not None
    assert rank["summary"]["NCFT"]["average_accuracy"] == [90.0] * 3 and "gaps" not in main


def test_results_of_the_old_layout_read_as_todays():
    old = _results_v1(3)
    new = _results(3)
    new.update(summary.aggregate(new))
    assert records.upgraded(old) == new
    assert records.upgraded(new) is new
    assert report.summary_markdown(records.upgraded(old), []) == report.summary_markdown(new, [])
    with pytest.raises(TaskNeuronsError, match="^a continual results.json of version 3 cannot be read "
                                               r"\(expected 2\)$"):
        records.upgraded({**new, "version": 3})


def test_cached_steps_of_the_old_layout_read_as_todays():
    record = {"score": 50.0, "n": 2, "outcomes": [0.0, 100.0], "max_new_tokens": None, "train": {"steps": 2},
              "also": {"rank": {"score": 100.0, "n": 2, "outcomes": [100.0, 100.0]}}}
    assert records.upgraded_step(record, "generate") == {
        "max_new_tokens": None, "train": {"steps": 2},
        "by_evaluation": {"generate": {"score": 50.0, "n": 2, "outcomes": [0.0, 100.0]},
                          "rank": {"score": 100.0, "n": 2, "outcomes": [100.0, 100.0]}}}
    stage = {"scores": {"x": 50.0, "y": None}, "outcomes": {"x": [0.0, 100.0], "y": None}}
    assert records.upgraded_step(stage, "rank") == {"by_evaluation": {"rank": stage}}
    assert records.upgraded_step({"by_evaluation": {"rank": stage}}, "rank") == {"by_evaluation": {"rank": stage}}


def test_records_of_parts_merge_back_in_place():
    parts = [([1, 3], {"generate": {"score": 50.0, "n": 2, "outcomes": [100.0, 0.0]},
                       "rank": {"score": 100.0, "n": 2, "outcomes": [100.0, 100.0]}}),
             ([0, 2], {"generate": {"score": 0.0, "n": 2, "outcomes": [0.0, 0.0]},
                       "rank": {"score": 50.0, "n": 2, "outcomes": [0.0, 100.0]}})]
    assert records.merged(parts, 4) == {"generate": {"score": 25.0, "n": 4, "outcomes": [0.0, 100.0, 0.0, 0.0]},
                                        "rank": {"score": 75.0, "n": 4, "outcomes": [0.0, 100.0, 100.0, 100.0]}}
    with pytest.raises(ValueError, match="do not cover every evaluated example"):
        records.merged(parts[:1], 4)


def test_report_writes_intervals_with_their_n_and_test():
    results = _results(3)
    results.update(summary.aggregate(results))
    text = report.summary_markdown(results, [])
    header, rows = report.summary_rows(results)
    assert header[:6] == ["method", "AA order1", "AA order2", "AA order3", "AA mean ± std", "AA 95% CI (runs)"]
    half = T_2 * 5.0 / math.sqrt(3)
    assert rows[0][4] == "45.0 ± 4.1" and rows[0][5] == f"[{45 - half:.1f}, {45 + half:.1f}]"
    assert "CI (runs): 95% t-interval over 3 run(s) (3 order(s) x 1 training seed(s))" in text
    assert "n per task: x 2, y 2" in text and "two-level t interval over the test examples and the runs" in text
    assert "| NCFT | 45.0 | 90.0 | +45.0 [" in text  # AA by exact match, by ranking, and the gap with its CI
    one = _results(1)
    one.update(summary.aggregate(one))
    assert "CI (runs): none, 1 run(s) (1 order(s) x 1 training seed(s)): an interval needs at least 3" in \
        report.summary_markdown(one, [])


def test_the_training_seeds_of_an_order_are_averaged_into_one_run():
    from taskneurons.experiments.continual.claims import by_order

    runs = {"order1": {"a": [100.0, 0.0]}, "order1.seed1": {"a": [0.0, 0.0]}, "order2": {"a": [100.0, 100.0]}}
    assert by_order(runs, list(runs)) == {"order1": {"a": [50.0, 0.0]}, "order2": {"a": [100.0, 100.0]}}
