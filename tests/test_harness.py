"""lm-evaluation-harness in process: it scores the model as it is, hooks included (a task on local JSON files)."""
import json

import torch

from taskneurons.cli import main
from taskneurons.evaluation.harness import harness_evaluate
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet
from taskneurons.tuning import NeuronTuner

CHOICES = [" red", " tan", " jet", " ash"]  # one length: a character-level tiny tokenizer sums per character


def preferred(lm, question: str) -> int:
    """The choice of largest summed log-probability after the question, split as the harness splits it."""
    ctx = lm.tokenizer(question)["input_ids"]
    scores = []
    for choice in CHOICES:
        whole = lm.tokenizer(question + choice)["input_ids"]
        with torch.no_grad():
            logp = lm.model(input_ids=torch.tensor([whole])).logits.float().log_softmax(-1)[0]
        scores.append(sum(logp[len(ctx) - 1 + k, t].item() for k, t in enumerate(whole[len(ctx):])))
    return max(range(len(CHOICES)), key=scores.__getitem__)


def write_task(tmp_path, rows) -> str:
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "colours.yaml").write_text(
        "task: tn_colours\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {tmp_path / 'data.jsonl'}\ntest_split: test\noutput_type: multiple_choice\n"
        "doc_to_text: '{{question}}'\ndoc_to_choice: '{{choices}}'\ndoc_to_target: '{{answer}}'\n"
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n")
    return str(tmp_path / "tasks")


def test_the_harness_scores_the_tuned_model_itself(tmp_path):
    """The task's answers are the tuned model's own picks, so the harness must give it accuracy 1 and the base
    model exactly the share of picks it agrees with (the tuner's deltas are forward hooks, as deactivation's)."""
    lm = load_model("tiny-llama")
    tuner = NeuronTuner(lm, NeuronSet.full(lm.ffn))
    with torch.no_grad():
        for p in tuner.parameters():
            p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    questions = [f"Item {i} of {3 * i + 1} has the colour" for i in range(12)]
    answers = [preferred(lm, q) for q in questions]
    include = write_task(tmp_path, [{"question": q, "choices": CHOICES, "answer": a} for q, a in zip(questions, answers)])
    assert harness_evaluate(lm, ["tn_colours"], include)["tn_colours"]["acc,none"] == 1.0
    tuner.remove()
    agree = sum(preferred(lm, q) == a for q, a in zip(questions, answers)) / len(questions)
    assert harness_evaluate(lm, ["tn_colours"], include)["tn_colours"]["acc,none"] == agree < 1.0


def test_eval_command_runs_harness_tasks_and_names_an_unknown_one(tmp_path, capsys):
    include = write_task(tmp_path, [{"question": "Sky", "choices": CHOICES, "answer": 1}] * 2)
    out = tmp_path / "r.json"
    assert main(["eval", "--model", "tiny-llama", "--harness", "tn_colours", "--harness-include", include,
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["harness"]["tn_colours"]["acc,none"] in (0.0, 1.0)
    assert main(["eval", "--model", "tiny-llama", "--harness", "tn_colour", "--harness-include", include]) == 2
    assert "harness task 'tn_colour' is not known" in capsys.readouterr().err


def test_identify_adds_the_harness_tasks_to_its_deactivation_table(tmp_path):
    from taskneurons.experiments.identify import Identify, IdentifyConfig

    from .conftest import SHARED_DATA

    include = write_task(tmp_path, [{"question": f"Item {i}", "choices": CHOICES, "answer": i % 4} for i in range(4)])
    config = IdentifyConfig(model="tiny-llama", tasks=[str(SHARED_DATA / "sst2"), str(SHARED_DATA / "rte")],
                            selection={"n_score": 2}, n_eval=2, batch_size=2, max_length=48, random_controls=1,
                            deactivate_matrix=False, finetune=False, n_boot=100, top_neurons=0,
                            harness_tasks=["tn_colours"], harness_include=include)
    results = Identify(config, tmp_path / "run", progress=False)()
    harness = results["deactivation"]["harness"]
    assert list(harness) == ["Original", "sst2's neurons off", "sst2's random control off", "rte's neurons off",
                             "rte's random control off"]
    assert all(0.0 <= h["tn_colours"]["acc,none"] <= 1.0 for h in harness.values())
    assert "general abilities (lm-evaluation-harness)" in (tmp_path / "run" / "summary.md").read_text()


def test_identifys_harness_tasks_are_checked_before_the_folder_exists(tmp_path):
    import pytest

    from taskneurons.errors import TaskNeuronsError
    from taskneurons.experiments.identify import Identify, IdentifyConfig

    from .conftest import SHARED_DATA

    def identify(**changes):
        config = IdentifyConfig(model="tiny-llama", tasks=[str(SHARED_DATA / "sst2")], selection={"n_score": 4},
                                n_eval=4, finetune=False, **changes)
        return Identify(config, tmp_path / "run", progress=False)

    with pytest.raises(TaskNeuronsError, match=r"^harness task 'nosuchharness' is not known to lm-evaluation-harness"):
        identify(harness_tasks=["nosuchharness"])
    with pytest.raises(TaskNeuronsError, match=r"^harness include '/no/such/dir': no such folder"):
        identify(harness_tasks=["tn_colours"], harness_include="/no/such/dir")
    assert not (tmp_path / "run").exists()
    identify(harness_tasks=["tn_colours"], harness_include=write_task(tmp_path, []))  # the corrected command starts
