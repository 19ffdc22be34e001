"""The learning-rate sweep on the dev split: each rate's own short run, test examples never read, the best rate
chosen by dev accuracy, W-NCFT following NCFT."""
import json

import pytest

from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.continual import Continual, ContinualConfig
from taskneurons.experiments.continual.sweep import sweep_learning_rates, with_rates
from taskneurons.tasks.plans import ExamplePlan
from taskneurons.tasks import Example, Task, load_task

from .test_continual import SEQ, TINY


def test_a_plan_on_the_dev_split_never_reads_test_and_trains_elsewhere():
    task = load_task(SEQ[0])
    plan = ExamplePlan.make(task, 4, 8, seed=0, evaluate_on="dev")
    assert plan.eval.split == "dev" and plan.pool.split == "train"
    dev_prompts = {ex.prompt for ex in plan.evaluated()}
    assert not dev_prompts & {ex.prompt for ex in plan.draw("train", 8)}
    examples = [Example(f"text {i}", "ab"[i % 2]) for i in range(20)]
    no_dev = Task("no_dev", "classification", {"train": examples[:10], "test": examples[10:]}, labels=("a", "b"))
    with pytest.raises(TaskNeuronsError, match=r"task 'no_dev' has no 'dev' split to evaluate on; it has \['train', 'test'\]"):
        ExamplePlan.make(no_dev, 4, 4, seed=0, evaluate_on="dev")


def test_the_sweep_runs_every_rate_on_dev_and_picks_the_best(tmp_path):
    trained_as_ncft = ["wncft", "random_ncft", "random_wncft"]  # W-NCFT trains as NCFT; the controls differ in neurons only
    options = {**TINY, "orders": [SEQ], "methods": ["seqft", "ncft", *trained_as_ncft], "eval_method": "rank"}
    found = sweep_learning_rates(options, tmp_path, factors=(1.0, 10.0), n_tasks=1, n_dev=4, progress=False, extend=0)
    assert found["tasks"] == [SEQ[0]] and set(found["methods"]) == {"seqft", "ncft", *trained_as_ncft}
    for name, default in (("seqft", 1e-3), ("ncft", 1e-2)):
        entry = found["methods"][name]
        dev_aa = {trial["lr"]: trial["dev_aa"] for trial in entry["grid"]}
        assert sorted(dev_aa) == [default, 10 * default]
        assert entry["best"] == default if len(set(dev_aa.values())) == 1 else dev_aa[entry["best"]] == max(dev_aa.values())
        trial = json.loads((tmp_path / name / f"lr={default:g}" / "results.json").read_text())
        assert trial["config"]["evaluate_on"] == "dev" and trial["examples"][load_task(SEQ[0]).name]["eval"]["split"] == "dev"
    for name in trained_as_ncft:
        assert found["methods"][name]["best"] == found["methods"]["ncft"]["best"] and not (tmp_path / name).exists()
    chosen = with_rates(options, found)
    assert chosen["method_options"]["seqft"]["lr"] == found["methods"]["seqft"]["best"]
    assert chosen["method_options"]["ncft"]["selection"] == {"n_score": 2}  # other options kept
    again = sweep_learning_rates(options, tmp_path, factors=(1.0, 10.0), n_tasks=1, n_dev=4, progress=False, extend=0)
    assert again == found == json.loads((tmp_path / "sweep.json").read_text())  # resumed from the trials' folders


def test_evaluate_on_is_checked_before_the_run_folder_exists(tmp_path):
    with pytest.raises(TaskNeuronsError, match=r"option evaluate_on='val' is not one of"):
        Continual(ContinualConfig(**{**TINY, "orders": [SEQ], "evaluate_on": "val"}), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def fake_runs(monkeypatch, dev_aa):
    """Trials that return ``dev_aa(lr)`` without training."""
    from taskneurons.experiments.continual import experiment as runner

    class Fake:
        def __init__(self, config, out, progress=True):
            self.lr = config.method_options["seqft"]["lr"]

        def __call__(self):
            return {"config": {"eval_method": "rank"},
                    "by_evaluation": {"rank": {"summary": {"SeqFT": {"average_accuracy": [dev_aa(self.lr)]}}}}}

    monkeypatch.setattr(runner, "Continual", Fake)


def test_the_rate_with_the_highest_dev_accuracy_wins(tmp_path, monkeypatch):
    dev_aa = {2e-5 / 3: 40.0, 2e-5: 55.0, 6e-5: 48.0}
    fake_runs(monkeypatch, lambda lr: dev_aa[min(dev_aa, key=lambda known: abs(known - lr))])
    found = sweep_learning_rates({**TINY, "orders": [SEQ], "methods": ["seqft"], "method_options": {}}, tmp_path)
    assert found["methods"]["seqft"]["best"] == 2e-5 and len(found["methods"]["seqft"]["grid"]) == 3
    assert not found["methods"]["seqft"]["edge"]


@pytest.mark.parametrize("peak, tried, best, edge", [
    (1.0, [2e-5 / 3, 2e-5, 6e-5, 1.8e-4, 5.4e-4], 5.4e-4, True),  # rising past the grid: two extensions, still rising
    (1.8e-4, [2e-5 / 3, 2e-5, 6e-5, 1.8e-4, 5.4e-4], 1.8e-4, False),  # the first extension finds the peak
    (1e-9, [7.41e-7, 2.22e-6, 2e-5 / 3, 2e-5, 6e-5], 7.41e-7, True),  # falling: extended downwards
])
def test_a_best_rate_at_the_edge_of_the_grid_extends_it(tmp_path, monkeypatch, peak, tried, best, edge):
    import math

    fake_runs(monkeypatch, lambda lr: 100 - abs(math.log(lr / peak)))  # dev accuracy peaks at ``peak``
    found = sweep_learning_rates({**TINY, "orders": [SEQ], "methods": ["seqft"], "method_options": {}}, tmp_path)
    entry = found["methods"]["seqft"]
    assert [t["lr"] for t in entry["grid"]] == pytest.approx(tried, rel=1e-2)
    assert entry["best"] == pytest.approx(best, rel=1e-2) and entry["edge"] is edge


def test_on_a_first_task_the_followers_train_exactly_as_the_method_they_follow(tmp_path):
    from taskneurons.experiments.continual.sweep import SAME_ON_A_FIRST_TASK

    same = {"lr": 1e-3, "r": 2}
    options = {**TINY, "orders": [SEQ[:1]], "reference": None, "eval_method": "rank",
               "methods": ["seqft", "seqlora", *SAME_ON_A_FIRST_TASK],
               "method_options": {name: {key: value for key, value in same.items()
                                         if key != "r" or name in ("seqlora", "olora", "epi")}
                                  for name in ["seqft", "seqlora", *SAME_ON_A_FIRST_TASK]}}
    results = Continual(ContinualConfig(**options), tmp_path, progress=False)()
    methods = next(iter(results["orders"].values()))["methods"]
    labels = {entry["method"]: label for label, entry in results["methods"].items()}
    for follower, followed in SAME_ON_A_FIRST_TASK.items():
        ours, theirs = methods[labels[follower]], methods[labels[followed]]
        assert ours["by_evaluation"]["rank"]["final_outcomes"] == theirs["by_evaluation"]["rank"]["final_outcomes"], follower
        for key in ("first_loss", "final_loss", "weights"):  # isolated / joint methods record no weight digest
            assert ours["train"][0].get(key, theirs["train"][0][key]) == theirs["train"][0][key], (follower, key)
