"""EPI on tiny-llama: a frozen backbone, one private LoRA adapter per task (only the current one trained and
active), task identification by the backbone's statistics of each task's training prompts, bit-exact resume."""
import pytest
import torch

from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.continual import ContinualConfig
from taskneurons.experiments.continual.methods import Context, get_method
from taskneurons.experiments.continual.methods.base import make_options
from taskneurons.experiments.continual.methods.epi import distances, task_statistics, vote
from taskneurons.experiments.continual.state import weights_digest
from taskneurons.models import load_model
from taskneurons.tasks import Example, Task
from taskneurons.tasks.batching import prompt_batch

TINY = dict(model="tiny-llama", training={"n_train": 4, "max_steps": 2}, n_eval=4, batch_size=2, max_length=48)
OPTIONS = {"r": 2, "lr": 1e-2}
WORDS = ["wonderful", "dreadful", "moving", "boring", "brilliant", "dull", "charming", "awful"]


def synthetic_tasks() -> list[Task]:
    """Two tasks whose prompts share nothing: film reviews, and sums of numbers."""
    def review(i):
        return Example(f"Review: the film was {WORDS[i % 8]} and the acting {WORDS[(i + 3) % 8]}. Sentiment:",
                       "positive" if i % 2 else "negative")

    def sums(i):
        return Example(f"{i} + {2 * i + 1} = {3 * i + 1} ; {i + 7} + {i} =", "yes" if i % 2 else "no")

    def make(name, render, labels):
        return Task(name, "classification", {"train": [render(i) for i in range(12)],
                                              "test": [render(i) for i in range(12, 20)]}, labels)
    return [make("reviews", review, ("negative", "positive")), make("sums", sums, ("no", "yes"))]


def setup(tmp_path, **options):
    ctx = Context(ContinualConfig(**TINY), tmp_path / "shared", progress=False)
    cls = get_method("epi")
    method = cls(make_options(cls, {**OPTIONS, **options}), ctx)
    lm, tasks = load_model("tiny-llama"), synthetic_tasks()
    torch.manual_seed(0)
    method.setup(lm, tasks)
    return lm, tasks, method


def snapshot(lm, lora: bool) -> dict[str, torch.Tensor]:
    """The LoRA parameters, or the backbone's (named as without peft's ``base_layer`` wrapper)."""
    return {n.replace(".base_layer.", "."): p.detach().clone() for n, p in lm.model.named_parameters()
            if (".lora_" in n) == lora}


@torch.no_grad()
def logits(lm) -> torch.Tensor:
    batch = prompt_batch(lm.tokenizer, [ex.prompt for task in synthetic_tasks() for ex in task.splits["test"][:2]], 48)
    lm.model.eval()
    return lm.model(**batch).logits


def evaluated(method, lm, stage, index):
    """[(positions, active adapters, logits of the test prompts)] of each pass ``evaluate_task`` makes, and its
    merged record (outcome of an example: its position x 10 + the index of the adapter it ran with)."""
    passes = []

    def score(positions):
        active = list(method.peft.active_adapters)
        passes.append((positions, active, logits(lm)))
        used = range(8) if positions is None else positions
        return {"rank": {"score": 0.0, "n": len(used), "outcomes": [10 * p + method.adapters.index(active[0]) for p in used]}}
    return passes, method.evaluate_task(lm, stage, index, score)["rank"]


def test_backbone_frozen_only_the_current_adapter_trained_and_active(tmp_path):
    lm, tasks, method = setup(tmp_path)
    backbone = snapshot(lm, lora=False)
    assert len(backbone) == len(list(lm.model.parameters()))
    for stage, task in enumerate(tasks):
        before = snapshot(lm, lora=True)
        info = method.train_stage(lm, stage, task)
        assert method.peft.active_adapters == [method.adapters[stage]]  # earlier adapters not active
        new = f".{method.adapters[stage]}."
        after = snapshot(lm, lora=True)
        now = snapshot(lm, lora=False)
        assert sorted(now) == sorted(backbone) and all(torch.equal(p, backbone[n]) for n, p in now.items())
        assert all(torch.equal(p, before[n]) for n, p in after.items() if new not in n and n in before)
        assert any(not torch.equal(p, torch.zeros_like(p)) for n, p in after.items() if new in n and "lora_B" in n)
        assert info["trainable"] == sum(p.numel() for n, p in after.items() if new in n) and info["adapters"] == stage + 1
    assert method.adapters == ["default", "task2"] and method.counts == [4, 4]


def test_identification_and_routing_to_the_identified_tasks_adapter(tmp_path):
    lm, tasks, method = setup(tmp_path)
    for stage, task in enumerate(tasks):
        method.train_stage(lm, stage, task)
    for identify in ("mahalanobis", "cosine"):
        method.options.identify = identify
        for index in range(2):
            route = method.route(lm, 1, index)
            assert route["task"] == index and route["example_accuracy"] == 1.0, (identify, index, route)
    method.options.identify = "mahalanobis"
    expected = []
    for name in method.adapters:  # the model with only that task's adapter active
        method.activate(name)
        expected.append(logits(lm))
    method.activate(method.adapters[-1])
    assert not torch.equal(expected[0], expected[1])
    for index in range(2):  # every example identified: one pass, with that task's adapter alone
        [(positions, active, seen)], record = evaluated(method, lm, 1, index)
        assert positions is None and active == [method.adapters[index]] and torch.equal(seen, expected[index])
        assert method.peft.active_adapters == ["task2"]  # back to the latest adapter
    [(_, _, seen)], _ = evaluated(method, lm, 0, 1)  # after stage 0 only task 0 is learnt: everything goes to it
    assert torch.equal(seen, expected[0])
    described = method.describe()
    assert described["task_accuracy"] == 1.0 and described["example_accuracy"] == 1.0
    assert [r["task"] for r in described["routes"][0]] == [0, 0] and described["routes"][0][1]["example_accuracy"] is None
    assert described["routes"][1][0]["votes"] == [4, 0]


def test_save_and_restore_are_bit_exact(tmp_path):
    lm, tasks, method = setup(tmp_path)
    folders = []
    for stage, task in enumerate(tasks):
        method.train_stage(lm, stage, task)
        folders.append(tmp_path / f"stage{stage + 1}")
        folders[-1].mkdir()
        method.save(lm, folders[-1])
    lm2, _, restored = setup(tmp_path)
    torch.manual_seed(123)  # the restored adapters are initialised differently, then overwritten
    restored.restore(lm2, folders)
    assert weights_digest(lm2.model) == weights_digest(lm.model)
    assert restored.adapters == method.adapters and restored.counts == method.counts
    assert restored.peft.active_adapters == method.peft.active_adapters
    for a, b in zip(restored.stats, method.stats):
        assert all(torch.equal(a[k], b[k]) for k in ("mean", "scatter"))
    assert torch.equal(logits(lm2), logits(lm))
    for index in range(2):
        ours, theirs = evaluated(method, lm, 1, index), evaluated(restored, lm2, 1, index)
        assert ours[1] == theirs[1] and all(torch.equal(a[2], b[2]) for a, b in zip(ours[0], theirs[0]))
    assert restored.describe() == method.describe()


@pytest.mark.parametrize("routing", ["example", "task"])
def test_each_example_runs_with_the_adapter_of_its_own_identified_task(tmp_path, monkeypatch, routing):
    lm, tasks, method = setup(tmp_path, routing=routing)
    for stage, task in enumerate(tasks):
        method.train_stage(lm, stage, task)
    nearest = [0, 1, 1, 0, 1, 1, 1, 0]  # as if 3 of task 1's 8 prompts looked like task 0's
    monkeypatch.setattr(method, "route", lambda lm, stage, index: {"nearest": nearest, "task": 1})
    passes, record = evaluated(method, lm, 1, 1)
    if routing == "example":
        assert [(positions, active) for positions, active, _ in passes] == [([0, 3, 7], ["default"]),
                                                                            ([1, 2, 4, 5, 6], ["task2"])]
        assert record["outcomes"] == [10 * p + t for p, t in enumerate(nearest)]  # back in their places
    else:  # the majority's adapter for all
        assert [(positions, active) for positions, active, _ in passes] == [(None, ["task2"])]
        assert record["outcomes"] == [10 * p + 1 for p in range(8)]
    assert record["score"] == sum(record["outcomes"]) / 8 and record["n"] == 8
    assert method.peft.active_adapters == ["task2"]


def test_distances_by_hand():
    a = task_statistics(torch.tensor([[1.0, 0.0], [3.0, 0.0]], dtype=torch.float64))  # mean (2, 0)
    b = task_statistics(torch.tensor([[0.0, 5.0], [0.0, 7.0]], dtype=torch.float64))  # mean (0, 6)
    assert torch.equal(a["scatter"], torch.tensor([[2.0, 0.0], [0.0, 0.0]], dtype=torch.float64))
    x = torch.tensor([[2.0, 1.0], [0.0, 6.0]], dtype=torch.float64)
    # pooled covariance diag(0.5, 0.5) (scatters 2 + 2 over 4); shrinkage 1: tr/d = 0.5, so C = 0.5 I
    d = distances([a, b], [2, 2], x, "mahalanobis", shrinkage=1.0)
    assert torch.allclose(d, torch.tensor([[2.0, 2 * (4 + 25)], [2 * (4 + 36), 0.0]], dtype=torch.float64))
    assert vote(d) in (0, 1) and vote(torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])) == 0
    assert vote(torch.tensor([[0.0, 1.0], [5.0, 0.0]])) == 1  # one vote each: the smaller mean distance
    cos = distances([a, b], [2, 2], x, "cosine")
    assert cos.argmin(1).tolist() == [0, 1]


@pytest.mark.parametrize("options, message", [
    ({"identify": "knn"}, "method 'epi': identify 'knn' is not one of ['mahalanobis', 'cosine']"),
    ({"shrinkage": 0.0}, "method 'epi': shrinkage must be in (0, 1], got 0.0"),
    ({"r": 0}, "method 'epi': LoRA needs r >= 1"),
    ({"prefix": 4}, "method 'epi' has no option 'prefix'"),
])
def test_bad_option_is_one_line(options, message):
    with pytest.raises(TaskNeuronsError) as e:
        make_options(get_method("epi"), options)
    assert message in str(e.value) and "\n" not in str(e.value)
