"""The experiment kit: example plans (disjoint, seeded, stratified), allocation by hand, derived seeds, settings."""
from collections import Counter

import pytest

from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.kit import ExamplePlan, Settings, TrainingSpec, control_seed, derive_seed
from taskneurons.tasks.sampling import allocate
from taskneurons.tasks import Example, Task, load_task

from .conftest import SHARED_DATA


def test_allocation_by_hand():
    assert allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    assert allocate({"a": 50, "b": 30, "c": 20}, 2) == {"a": 1, "b": 1, "c": 0}  # fewer than classes: shares only
    assert allocate({"a": 98, "b": 1, "c": 1}, 3) == {"a": 1, "b": 1, "c": 1}  # every class once n >= classes
    assert allocate({"a": 98, "b": 1, "c": 1}, 10) == {"a": 8, "b": 1, "c": 1}
    assert allocate({"a": 3, "b": 1}, 9) == {"a": 3, "b": 1}  # never more than a class has
    assert allocate({"A": 9, "B": 28, "C": 33}, 7) == {"A": 1, "B": 3, "C": 3}  # the raised class gets no more


def test_a_label_sorted_file_gives_stratified_subsets_with_every_class():
    yahoo = load_task("yahoo", data_root=str(SHARED_DATA))
    assert len({ex.target for ex in yahoo.split("train")[:48]}) == 3  # the file is sorted by label
    plan = ExamplePlan.make(yahoo, 32, 48, seed=0)
    trained, evaluated = plan.draw("train", 48), plan.evaluated()
    for subset, n, split in ((trained, 48, "train"), (evaluated, 32, "test")):
        counts = Counter(ex.target for ex in subset)
        full = Counter(ex.target for ex in yahoo.split(split))
        assert set(counts) == set(yahoo.labels) and sum(counts.values()) == n
        for label in yahoo.labels:  # each class within one example of its share of the split
            assert abs(counts[label] - n * full[label] / sum(full.values())) < 1 + 1e-9, (split, label)
    again = ExamplePlan.make(yahoo, 32, 48, seed=0)
    assert again.eval.indices == plan.eval.indices and again.draw("train", 48) == trained
    assert ExamplePlan.make(yahoo, 32, 48, seed=1).draw("train", 48) != trained


def test_a_test_only_task_is_partitioned_and_generation_is_a_seeded_shuffle():
    cnn = load_task("cnn_dailymail", data_root=str(SHARED_DATA))
    assert set(s for s, e in cnn.splits.items() if e) == {"test"}
    plan = ExamplePlan.make(cnn, 100, 200, seed=0)
    scored = plan.draw("score", 200)
    assert plan.eval.split == plan.pool.split == "test" and len(plan.pool.indices) == len(cnn.split("test")) - 100
    assert not set(plan.eval.indices) & set(plan.draws["score:200"].indices)
    assert len(scored) == 200 and plan.draws["score:200"].indices != sorted(plan.draws["score:200"].indices)


def test_an_example_repeated_across_splits_never_enters_the_pool():
    test = [Example(f"q{i}", "a" if i % 2 else "b") for i in range(6)]
    train = [Example("q1", "a"), Example("other", "b"), Example("q2", "b"), Example("more", "a")]
    plan = ExamplePlan.make(Task("dup", "classification", {"train": train, "test": test}, ("a", "b")), 6, 2, seed=0)
    assert [train[i].prompt for i in plan.pool.indices] == ["other", "more"]


@pytest.mark.parametrize("n_eval, n_pool, message", [
    (499, 2, "task 'cnn_dailymail' is too small: its 'test' split has 382 examples, the run asks for 499 test "
             "examples and 2 examples to score and train on (a single-split task is partitioned, never reused)"),
    (300, 100, "task 'cnn_dailymail' is too small: its 'test' split has 382 examples, the run asks for 300"),
])
def test_a_task_too_small_is_an_error_not_an_overlap(n_eval, n_pool, message):
    with pytest.raises(TaskNeuronsError) as e:
        ExamplePlan.make(load_task("cnn_dailymail", data_root=str(SHARED_DATA)), n_eval, n_pool, seed=0)
    assert str(e.value).startswith(message)


def test_a_draw_larger_than_the_pool_is_an_error():
    plan = ExamplePlan.make(load_task("rte", data_root=str(SHARED_DATA)), 10, 10, seed=0)
    with pytest.raises(TaskNeuronsError, match="task 'rte': 5000 train examples asked for, its pool has 1799"):
        plan.draw("train", 5000)


def test_a_plan_records_the_file_each_split_was_read_from(tmp_path):
    for split in ("train", "test"):
        rows = [{"text": f"{split} {i}", "label": "ab"[i % 2]} for i in range(6)]
        (tmp_path / f"{split}.jsonl").write_text("".join(f'{{"text": "{r["text"]}", "label": "{r["label"]}"}}\n' for r in rows))
    plan = ExamplePlan.make(load_task(str(tmp_path)), n_eval=2, n_pool=2, seed=0)
    assert plan.to_dict()["files"] == {"train": str(tmp_path / "train.jsonl"), "test": str(tmp_path / "test.jsonl")}


def test_derived_seeds_differ_by_every_part_and_are_stable():
    seeds = {control_seed(0, "a", 0), control_seed(0, "b", 0), control_seed(0, "a", 1), control_seed(1, "a", 0),
             control_seed(0, "a", 0, "train")}
    assert len(seeds) == 5 and all(0 <= s < 2 ** 63 for s in seeds)
    assert derive_seed(0, "a", "eval") == derive_seed(0, "a", "eval") != derive_seed(0, "a", "train")


@pytest.mark.parametrize("changes, message", [
    (dict(device="gpu0"), "option device='gpu0' is not one of cpu, cuda, cuda:N, mps, auto"),
    (dict(dtype="fp8"), "option dtype='fp8' is not one of ['float32', 'bfloat16', 'float16']"),
    (dict(max_length=0), "option max_length=0 is not an integer >= 8"),
    (dict(max_length=1), "option max_length=1 is not an integer >= 8"),
    (dict(max_length=7), "option max_length=7 is not an integer >= 8"),
    (dict(max_length=16, max_target_tokens=16), "option max_target_tokens=16 leaves no prompt token in max_length=16; "
                                                "give a smaller one (or null)"),
    (dict(batch_size=True), "option batch_size=True is not an integer >= 1"),
    (dict(model="./no/such/folder"), "option model='./no/such/folder': no such model folder"),
    (dict(model="missing.gguf"), "option model='missing.gguf': no such GGUF file"),
])
def test_settings_refuse_bad_values_in_one_line(changes, message):
    with pytest.raises(TaskNeuronsError) as e:
        Settings(**{"model": "tiny-llama", **changes})
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_training_spec_takes_sizes_and_seed_from_the_settings():
    spec = TrainingSpec(n_train=4, lr=1e-3, weight_decay=0.1)
    config = spec.for_settings(Settings(model="tiny-llama", batch_size=3, max_length=40, seed=7))
    assert (config.lr, config.batch_size, config.max_length, config.seed, config.weight_decay) == (1e-3, 3, 40, 7, 0.1)
    assert spec.for_settings(Settings(model="tiny-llama"), seed=11).seed == 11


def test_a_training_spec_holds_every_train_config_field_the_settings_do_not_own():
    import dataclasses

    from taskneurons.experiments.kit.training import FROM_SETTINGS
    from taskneurons.tuning import TrainConfig

    spec, config = dataclasses.fields(TrainingSpec), dataclasses.fields(TrainConfig)
    assert {f.name for f in spec} == {f.name for f in config} - set(FROM_SETTINGS) | {"n_train"}
    assert all(f.default == c.default for f in spec for c in config if f.name == c.name)  # the same defaults


def test_a_training_spec_written_with_options_reads_as_the_flat_spec():
    from taskneurons.configs.checks import nested

    old = nested(TrainingSpec, {"n_train": 8, "lr": 1e-3, "options": {"weight_decay": 0.1}}, "multitask")
    assert old == TrainingSpec(n_train=8, lr=1e-3, weight_decay=0.1)


@pytest.mark.parametrize("values, message", [
    ({"schedule": "bogus"}, "option schedule 'bogus' is not one of"),
    ({"lr": -1.0}, "option lr must be a finite number >= 0, got -1.0"),
    ({"weight_decay": "x"}, "option weight_decay='x' is not a number"),
])
def test_a_training_spec_refuses_bad_values_in_one_line(values, message):
    with pytest.raises(TaskNeuronsError, match=message.replace("(", r"\(")):
        TrainingSpec(**values)


def test_yaml_reads_exponent_numbers_as_numbers(tmp_path):
    from taskneurons.configs.files import load_config
    from taskneurons.experiments.identify import IdentifyConfig

    path = tmp_path / "c.yaml"
    path.write_text("model: tiny-llama\nneuron_training: {n_train: 4, lr: 5e-4}\n")
    assert load_config(IdentifyConfig, path, ["multitask.lr=1e-3"]).neuron_training.lr == 5e-4
    path.write_bytes(b"model: \xff\n")
    with pytest.raises(TaskNeuronsError, match="not a UTF-8 text file"):
        load_config(IdentifyConfig, path)


def test_the_data_root_comes_from_the_environment_when_not_set(tmp_path, monkeypatch):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "test.jsonl").write_text('{"input": "a", "output": "b"}\n')
    monkeypatch.setenv("TASKNEURONS_DATA", str(tmp_path))
    assert Settings(model="tiny-llama").data_root is None
    assert load_task("mine").source.startswith(str(tmp_path))


def test_a_rare_long_label_is_never_cut(tiny):
    lm = tiny("tiny-llama")
    examples = [Example(f"q{i}", "yes") for i in range(40)] + [Example("q-rare", "a much longer label")]
    task = Task("rare", "classification", {"train": examples, "test": examples[:2]}, ("yes", "a much longer label"))
    plan = ExamplePlan.make(task, 2, 4, seed=0)
    settings = Settings(model="tiny-llama", max_length=256)
    from taskneurons.tasks.batching import encode_target
    assert settings.target_length([plan], lm.tokenizer) == len(encode_target(lm.tokenizer, "a much longer label"))


def test_a_neuron_set_records_the_k_it_was_selected_with_once():
    import torch

    from taskneurons.experiments.kit import Selection
    from taskneurons.neurons import Scores

    scores = Scores({"inner": torch.arange(20.0).reshape(2, 10), "outer": torch.arange(8.0).reshape(2, 4)})
    neurons = Selection(k=10.0).neurons(scores, k=50)  # generalize's top-50% set
    assert neurons.provenance["k"] == 50 and "k" not in neurons.provenance["selection"]
    assert neurons.count("inner") == 10 and Selection.recorded(neurons.provenance)["k"] == 50
    assert Selection.recorded({"k": 5}) is None  # not made by a Selection
