"""Combining continual runs: two run folders of one setting read as the one run of all their orders, and runs
that cannot be read together refused with the reason."""
import copy

import pytest

from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.continual import claims, metrics, summary
from taskneurons.experiments.continual.combine import combine


def _method(k: int, shift: float) -> dict:
    a = [[100.0 - shift, 50.0 - 10 * k], [0.0, 50.0 + shift]]
    final = {"x": [100.0 - 20 * k, 0.0, 100.0], "y": [0.0, 100.0, 100.0 - 50 * (k % 2)]}
    return {"kind": "sequential", "by_evaluation": {"generate": {
        "matrix": a, "n": [[3, 3], [3, 3]], "final_outcomes": final, "learnt_outcomes": {"x": [100.0] * 3, "y": final["y"]},
        "metrics": metrics.summarize(a, None, None)}}}


def _run(orders: list[int]) -> dict:
    """A finished run of NCFT and SeqFT on ``orders`` (two tasks, three test examples each)."""
    config = {"eval_method": "generate", "also_evaluate": [], "confidence": 0.95, "n_boot": 300, "seed": 0,
              "model": "tiny", "n_eval": 3, "orders": orders, "methods": ["ncft", "seqft"],
              "method_options": {"ncft": {"lr": 0.003}}}
    return {"version": 2, "config": config,
            "methods": {"NCFT": {"method": "ncft", "options": {"lr": 0.003}},
                        "SeqFT": {"method": "seqft", "options": {"lr": 2e-5}}},
            "examples": {"x": {"eval": [4, 1, 7], "train:4": [0, 2, 3, 5]}, "y": {"eval": [9, 3, 2]}},
            "orders": {f"order{k}": {"tasks": ["x", "y"], "methods": {"NCFT": _method(k, 0.0),
                                                                      "SeqFT": _method(k, 30.0)}}
                       for k in orders}}


def test_two_runs_combine_into_the_run_of_all_their_orders():
    one = _run([1, 2, 3])
    one.update(summary.aggregate(one))
    got = combine([_run([1]), _run([2, 3])])
    assert got["config"]["orders"] == [1, 2, 3] and list(got["orders"]) == ["order1", "order2", "order3"]
    assert got["by_evaluation"] == one["by_evaluation"]
    assert [(c.text, c.verdict, c.evidence) for c in claims.claims(got)] == \
        [(c.text, c.verdict, c.evidence) for c in claims.claims(one)]


def test_runs_of_other_training_seeds_combine_into_the_runs_of_every_order_and_seed():
    seeds = _run([1, 2])
    seeds["config"]["training_seeds"] = [1]
    seeds["orders"] = {f"{name}.seed1": order for name, order in seeds["orders"].items()}
    got = combine([_run([1, 2]), seeds])
    assert got["config"]["orders"] == [1, 2] and got["config"]["training_seeds"] == [0, 1]
    assert list(got["orders"]) == ["order1", "order2", "order1.seed1", "order2.seed1"]
    (aa, *_) = [c for c in claims.claims(got) if "AA" in c.text]
    assert "in 4 run(s) (2 order(s) x 2 training seed(s))" in aa.evidence
    uneven = combine([_run([1, 2]), {**seeds, "orders": {"order1.seed1": seeds["orders"]["order1.seed1"]}}])
    (aa, *_) = [c for c in claims.claims(uneven) if "AA" in c.text]
    assert "in 3 run(s) (2 order(s), 1-2 training seeds each)" in aa.evidence


def test_a_run_of_other_methods_adds_them_and_keeps_each_runs_draws():
    other = _run([2])
    other["config"]["methods"] = ["seqft", "olora"]
    other["methods"]["O-LoRA"] = {"method": "olora", "options": {"lr": 0.0081}}
    other["orders"]["order2"]["methods"]["O-LoRA"] = _method(2, 10.0)
    other["examples"]["x"]["replay:2"] = [0, 5]
    got = combine([_run([1]), other])
    assert got["config"]["methods"] == ["ncft", "seqft", "olora"]
    a = _method(2, 10.0)["by_evaluation"]["generate"]["matrix"]
    assert got["by_evaluation"]["generate"]["summary"]["O-LoRA"]["average_accuracy"] == [
        metrics.summarize(a, None, None)["average_accuracy"]]
    assert got["examples"]["x"] == {"eval": [4, 1, 7], "train:4": [0, 2, 3, 5], "replay:2": [0, 5]}


def test_a_run_made_before_an_option_existed_combines_with_one_at_its_default():
    from taskneurons.experiments.continual import ContinualConfig

    old, new = _run([1]), _run([2])
    old["config"]["training"] = {"n_train": 4, "options": {}}  # before the flat spec and k_budget
    new["config"].update(training={"n_train": 4, "weight_decay": 0.0}, k_budget=ContinualConfig().k_budget)
    assert list(combine([old, new])["orders"]) == ["order1", "order2"]
    new["config"]["k_budget"] = 7.0  # set otherwise than the old run computed: another setting
    with pytest.raises(TaskNeuronsError, match="run 2 differs from run 1 in k_budget"):
        combine([old, new])


@pytest.mark.parametrize("change, message", [
    (lambda r: r["config"].update(n_eval=5), "run 2 differs from run 1 in n_eval: only runs of one setting combine"),
    (lambda r: r["methods"]["NCFT"]["options"].update(lr=0.001), "run 2's 'NCFT' is not run 1's"),
    (lambda r: r["examples"]["y"].update(eval=[9, 3, 1]), "run 2 drew other examples of y (eval)"),
    (lambda r: r["orders"].update(order1=r["orders"]["order2"]), "run 2 repeats order1"),
])
def test_runs_that_cannot_be_read_together_are_refused(change, message):
    first, second = _run([1]), _run([2])
    change(second)
    before = copy.deepcopy(first)
    with pytest.raises(TaskNeuronsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        combine([first, second])
    assert first == before  # the runs read are not changed
