"""The identify experiment on a tiny model: tables, matrices, artifacts, plots, resuming, clean examples."""
import json

import pytest

from taskneurons.cli import main
from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.identify import experiment as identify_module
from taskneurons.configs.files import load_config
from taskneurons.experiments.identify import Identify, IdentifyConfig
from taskneurons.experiments.kit import evaluation as kit_evaluation
from taskneurons.experiments.kit import selection as kit_selection
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet

from .conftest import SHARED_DATA


def _config(**changes):
    base = dict(model="tiny-llama", tasks=[str(SHARED_DATA / "sst2"), str(SHARED_DATA / "commongen")],
                selection={"n_score": 4}, n_eval=4, batch_size=4, max_length=64, max_new_tokens=4, random_controls=2,
                neuron_training={"n_train": 4, "lr": 1e-2}, finetune_matrix=True, finetune_seeds=2,
                finetune_random_controls=2, n_boot=200, multitask={"n_train": 4, "lr": 1e-3})
    return IdentifyConfig(**{**base, **changes})  # the default Original: multi-task fine-tuned (a tiny budget)


def test_identify_writes_tables_artifacts_plots_and_resumes(tmp_path, monkeypatch):
    results = Identify(_config(), tmp_path, progress=False)()
    deact, ft = results["deactivation"], results["finetuning"]
    assert set(deact["table"]) == {"Original", "Deactivate-Random", "Deactivate-Task"}
    assert set(ft["table"]) == {"Zero-shot", "Train-Random", "Train-Task"}
    assert len(deact["random_runs"]["sst2"]) == 2 and set(deact["matrix_change"]["sst2"]) == {"sst2", "commongen"}
    assert set(ft["matrix_change"]["commongen"]) == {"sst2", "commongen"}
    assert len(deact["outcomes"]["Original"]["sst2"]) == deact["n"]["sst2"] == 4
    assert len(ft["outcomes"]["Train-Task"]["sst2"]) == 2 and ft["runs"]["Train-Random"]["sst2"] == 2
    gap = deact["gap"]["average"]
    assert gap["n"] == 8 and gap["tasks"] == 2 and gap["low"] <= gap["mean"] <= gap["high"]
    assert gap["verdict"] in ("holds", "does not hold", "undecided at this n") and "specificity" in deact
    assert results["config"]["original"] == "multitask" and (tmp_path / "original" / "model.safetensors").is_file()
    for tag in ("original", "base"):  # deactivation scores the multi-task Original, neuron-only training the base
        neurons = NeuronSet.load(tmp_path / "artifacts" / f"{tag}.sst2.neurons")
        assert neurons.provenance["task"] == "sst2" and neurons.provenance["model_role"] == tag
    assert neurons.provenance["k"] == 10.0
    assert abs(neurons.fraction() - 0.1) < 0.02
    for name in ("deactivation_table", "deactivation_matrix", "finetuning_table", "finetuning_matrix", "overlap"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000
    text = (tmp_path / "summary.md").read_text()
    assert "Deactivate-Random" in text and "gap [CI], p" in text and "two-level t interval" in text and "Holm p" in text
    assert json.loads((tmp_path / "results.json").read_text())["deactivation"]["table"] == deact["table"]

    def no_more_work(*args, **kwargs):
        raise AssertionError("a finished step was computed again")

    monkeypatch.setattr(kit_evaluation, "evaluate", no_more_work)
    monkeypatch.setattr(kit_selection, "score_neurons", no_more_work)
    monkeypatch.setattr(identify_module, "train", no_more_work)
    again = Identify(_config(), tmp_path, progress=False)()
    assert again["deactivation"] == deact and again["finetuning"] == ft


def test_report_recomputes_the_verdicts_from_the_outcomes_the_folder_keeps(tmp_path):
    Identify(_config(finetune=False), tmp_path, progress=False)()
    path = tmp_path / "results.json"
    results = json.loads(path.read_text())
    kept = results["deactivation"]["gap"]["average"]
    results["deactivation"]["gap"]["average"] = {**kept, "mean": 99.0, "verdict": "stale", "test": "old test"}
    path.write_text(json.dumps(results))
    assert main(["report", str(tmp_path)]) == 0
    text = (tmp_path / "summary.md").read_text()
    assert "old test" not in text and "99.0" not in text and "two-level t interval" in text
    assert f"{kept['mean']:+.1f} [{kept['low']:+.1f}, {kept['high']:+.1f}]" in (tmp_path / "report.html").read_text()


def test_no_evaluated_example_is_scored_or_trained_even_for_a_test_only_task(tmp_path):
    config = _config(tasks=["sst2_yang", str(SHARED_DATA / "commongen")], original="multitask",
                     multitask={"n_train": 6, "lr": 1e-3}, data_root=str(SHARED_DATA), random_controls=1,
                     finetune_matrix=False)
    results = Identify(config, tmp_path, progress=False)()
    plan = results["examples"]["sst2_yang"]
    assert plan["eval"]["split"] == plan["pool"]["split"] == "test"  # the test-only task is partitioned
    for name, plan in results["examples"].items():
        evaluated = {(plan["eval"]["split"], i) for i in plan["eval"]["indices"]}
        draws = [key for key in plan if key.startswith(("score:", "train:"))]
        assert {"score:4", "train:4", "train:6"} <= set(draws)
        for key in draws:
            assert not evaluated & {(plan[key]["split"], i) for i in plan[key]["indices"]}, (name, key)


def test_each_task_gets_its_own_random_controls_and_a_rerun_the_same(tmp_path, monkeypatch):
    drawn = []
    original = NeuronSet.random_like
    monkeypatch.setattr(NeuronSet, "random_like", lambda self, seed, **kw: drawn.append(original(self, seed, **kw)) or drawn[-1])
    config = _config(finetune=False, deactivate_matrix=False)
    Identify(config, tmp_path / "a", progress=False)()
    first, drawn[:] = list(drawn), []
    Identify(config, tmp_path / "b", progress=False)()
    (sst2_0, sst2_1, commongen_0, commongen_1) = first  # task by task, control by control
    assert sst2_0 != commongen_0 and sst2_1 != commongen_1 and sst2_0 != sst2_1
    assert sst2_0.counts_per_layer() == commongen_0.counts_per_layer()  # same counts, other neurons
    assert all(a == b for a, b in zip(first, drawn, strict=True))


def test_matched_controls_are_their_own_claims_drawn_outside_each_set_with_its_general_importance(tmp_path,
                                                                                                   monkeypatch):
    from taskneurons.neurons import controls

    drawn = []
    original = controls.matched_like
    monkeypatch.setattr(identify_module, "matched_like", lambda *a: drawn.append((a, original(*a))) or drawn[-1][1])
    config = _config(deactivate_matrix=False, finetune_matrix=False, finetune_seeds=1, finetune_random_controls=1,
                     matched_controls=2, finetune_matched_controls=1)
    results = Identify(config, tmp_path / "run", progress=False)()
    assert list(results["deactivation_matched"]["table"]) == ["Original", "Deactivate-Matched", "Deactivate-Task"]
    assert list(results["finetuning_matched"]["table"]) == ["Zero-shot", "Train-Matched", "Train-Task"]
    assert results["deactivation_matched"]["runs"]["Deactivate-Matched"] == {"sst2": 2, "commongen": 2}
    assert len(drawn) == 2 * 2 + 2  # deactivation: 2 per task; fine-tuning: 1 per task
    for (neurons, importance, seed, bins), control in drawn:
        assert bins == 10 and not (control & neurons).count() and control.counts_per_layer() == neurons.counts_per_layer()
    (sst2, importance, _, _), _ = drawn[0]
    assert importance["inner"].shape == sst2.masks["inner"].shape  # the other task's score ranks, in [0, 1]
    assert 0 <= float(importance["inner"].min()) and float(importance["inner"].max()) <= 1
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "## deactivation_matched" in summary and "(2 importance-matched)" in summary
    from taskneurons.experiments.identify.claims import claims

    assert any("Deactivate-Matched" in c.text and "beyond the paper" in c.text for c in claims(results))


def test_general_ability_pairs_each_deactivation_with_the_original_passage_by_passage(tmp_path):
    config = _config(finetune=False, deactivate_matrix=False, random_controls=1, matched_controls=1,
                     general_passages=3)
    general = Identify(config, tmp_path / "run", progress=False)()["deactivation"]["general"]
    assert list(general) == ["Original", "sst2's neurons off", "sst2's random control off",
                             "sst2's matched control off", "commongen's neurons off", "commongen's random control off",
                             "commongen's matched control off"]
    base = general["Original"]["passages"]
    for condition, r in list(general.items())[1:]:
        diffs = [a - b for a, b in zip(r["passages"], base)]
        assert r["change"]["mean"] == pytest.approx(sum(diffs) / 3) and r["change"]["n"] == 3
    assert "## general ability" in (tmp_path / "run" / "summary.md").read_text()
    assert (tmp_path / "run" / "plots" / "general_ability.png").stat().st_size > 1000


def test_k_auto_takes_the_largest_k_whose_random_sets_cost_at_most_the_budget(tmp_path):
    config = _config(finetune=False, deactivate_matrix=False, random_controls=1, selection={"n_score": 4, "k": "auto"},
                     k_grid=[1, 50, 10], k_budget=100.0, n_dev=3)
    results = Identify(config, tmp_path / "run", progress=False)()
    chosen = results["auto_k"]
    assert chosen["k"] == 50 and chosen["within_budget"] and [m["k"] for m in chosen["measured"]] == [50]
    assert len(chosen["measured"][0]["costs"]) == 2  # two random draws per k
    assert results["deactivation"]["neurons"]["sst2"]["fraction"] == pytest.approx(0.5, abs=0.02)
    assert results["examples"]["sst2"]["dev:3"]  # dev examples: drawn from the pool, recorded
    assert "k = 50% chosen by `auto`" in (tmp_path / "run" / "summary.md").read_text()


@pytest.mark.parametrize("budget, k, tried", [(10.0, 5, [5]), (3.0, 0.5, [5, 2, 0.5])])
def test_k_auto_goes_down_the_grid_until_a_cost_fits_else_keeps_the_smallest(monkeypatch, budget, k, tried):
    import contextlib

    from taskneurons.experiments.kit import auto_k
    from taskneurons.tasks.plans import ExamplePlan
    from taskneurons.tasks import load_task

    off = []
    monkeypatch.setattr(auto_k, "deactivate", lambda lm, neurons, mode: off.append(neurons) or contextlib.nullcontext())
    monkeypatch.setattr(auto_k, "evaluate", lambda *a, **kw: type("R", (), {"score": 50.0 - 10.0 * bool(off)})())
    lm, task = load_model("tiny-llama"), load_task(str(SHARED_DATA / "sst2"))
    chosen = auto_k.choose_k(lm, [ExamplePlan.make(task, 0, 4, seed=0)], _config(), budget, [2, 0.5, 5], n_dev=2)
    assert chosen["k"] == k and chosen["within_budget"] == (budget >= 10)  # every random set costs 10 points
    assert [m["k"] for m in chosen["measured"]] == tried and chosen["base"] == {"sst2": 50.0}


def test_k_auto_is_refused_where_the_experiment_does_not_choose_k():
    from taskneurons.experiments.generalize import GeneralizeConfig

    with pytest.raises(TaskNeuronsError, match=r"option selection.k='auto' is chosen by identify and continual's NCFT "
                                               r"only \(not yet here\)"):
        GeneralizeConfig(model="tiny-llama", selection={"k": "auto"})


def test_general_neurons_kept_out_of_each_set_make_a_part_of_their_own(tmp_path, monkeypatch):
    from taskneurons.experiments.identify import beyond
    from taskneurons.neurons import Scores

    off = []
    original = beyond.deactivate
    monkeypatch.setattr(beyond, "deactivate", lambda lm, neurons, mode: off.append(neurons) or original(lm, neurons, mode))
    config = _config(finetune=False, deactivate_matrix=False, random_controls=2, exclude_general=20.0)
    results = Identify(config, tmp_path / "run", progress=False)()
    part = results["deactivation_general_excluded"]
    assert list(part["table"]) == ["Original", "Deactivate-Random", "Deactivate-Task (general out)"]
    assert part["table"]["Deactivate-Random"] == results["deactivation"]["table"]["Deactivate-Random"]  # shared
    general = NeuronSet.from_scores(Scores.load(tmp_path / "run" / "artifacts" / "original.general.scores"), 20.0)
    for chosen, name in zip(off, ["sst2", "commongen"], strict=True):
        own = NeuronSet.load(tmp_path / "run" / "artifacts" / f"original.{name}.neurons")
        assert (chosen & general).is_empty() and not (own & general).is_empty()  # the top 20% general neurons: out
        assert chosen.counts_per_layer() == own.counts_per_layer()  # k% still: the next best instead


def test_matched_controls_need_two_tasks():
    with pytest.raises(TaskNeuronsError, match="matched controls need at least two tasks"):
        _config(tasks=[str(SHARED_DATA / "sst2")], matched_controls=1)


def test_a_run_folder_refuses_another_config(tmp_path):
    Identify(_config(finetune=False, deactivate_matrix=False, random_controls=1), tmp_path, progress=False)()
    with pytest.raises(TaskNeuronsError, match="made with another config \\(differs in selection.k\\)"):
        Identify(_config(finetune=False, deactivate_matrix=False, random_controls=1,
                         selection={"n_score": 4, "k": 20.0}), tmp_path, progress=False)


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: tiny-gpt2\nselection: {k: 5, scorer_options: {aggregation: abs_sum}}\n")
    config = load_config(IdentifyConfig, path, ["selection.k=7.5", "tasks=[a, b]"])
    assert (config.model, config.selection.k, config.tasks) == ("tiny-gpt2", 7.5, ["a", "b"])
    assert config.selection.scorer_options == {"aggregation": "abs_sum"}
    path.write_text("modle: x\n")
    with pytest.raises(TaskNeuronsError, match="unknown option 'modle' \\(did you mean 'model'\\?\\)"):
        load_config(IdentifyConfig, path)


@pytest.mark.parametrize("override, message", [
    ("tasks=[sst2, agnewz]", "unknown task 'agnewz' (did you mean 'agnews'?)"),
    ("selection.k=0", "option selection.k=0 is not a number in (0, 100]"),
    ("original=banana", "option original='banana' is not one of ['base', 'multitask']"),
    ("batch_size=abc", "option batch_size='abc' is not an integer >= 1"),
    ("tasks=sst2", "option tasks='sst2' is not a non-empty list of names, e.g. [a, b]"),
    ("model=tiny-lama", "option model='tiny-lama' is not a built-in model (did you mean 'tiny-llama'?)"),
    ("selection.k=abc", "option selection.k='abc' is not a number in (0, 100]"),
    ("tasks=[]", "option tasks=[] is not a non-empty list of names"),
    ("batch_size=0", "option batch_size=0 is not an integer >= 1"),
    ("n_eval=0", "option n_eval=0 is not an integer >= 2"),
    ("n_eval=-3", "option n_eval=-3 is not an integer >= 2"),
    ("selection.n_score=0", "option selection.n_score=0 is not an integer >= 1"),
    ("random_controls=0", "option random_controls=0 is not an integer >= 1"),
    ("device=gpu0", "option device='gpu0' is not one of cpu, cuda, cuda:N, mps, auto"),
])
def test_a_bad_config_is_one_line_writes_nothing_and_the_corrected_run_uses_the_folder(tmp_path, capsys, override, message):
    out = tmp_path / "run"
    common = ["identify", "--set", "model=tiny-llama", "--set", f"data_root={SHARED_DATA}", "--set", "tasks=[sst2]",
              "--set", "n_eval=2", "--set", "selection.n_score=2", "--set", "finetune=false", "--set",
              "random_controls=1", "--set", "max_length=48", "--set", "multitask.n_train=2", "--out", str(out)]
    assert main(common + ["--set", override]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {message}") and "\n" not in err
    assert not out.exists()
    assert main(common) == 0


def test_identify_cli_bad_config_is_one_line(tmp_path, capsys):
    assert main(["identify", "--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == f"error: no such config file: {tmp_path / 'none.yaml'}"


def test_multitask_original_with_tied_embeddings_is_saved_and_reused(tmp_path, monkeypatch):
    config = _config(model="tiny-gemma3", original="multitask", multitask={"n_train": 4, "lr": 1e-3},
                     finetune=False, deactivate_matrix=False, random_controls=1)
    first = Identify(config, tmp_path, progress=False)()
    assert (tmp_path / "original" / "model.safetensors").is_file()
    monkeypatch.setattr(identify_module, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    lm = Identify(config, tmp_path, progress=False).original_model()
    assert lm.model.lm_head.weight is lm.model.get_input_embeddings().weight  # still tied after loading
    assert Identify(config, tmp_path, progress=False)()["deactivation"] == first["deactivation"]


def test_selection_by_specificity_is_recorded_and_changes_the_sets(tmp_path):
    common = dict(finetune=False, deactivate_matrix=False, random_controls=1)
    plain = Identify(_config(**common), tmp_path / "plain", progress=False)
    plain()
    specific = Identify(_config(selection={"n_score": 4, "specificity": "relative"}, **common), tmp_path / "rel",
                        progress=False)
    specific()
    a = NeuronSet.load(tmp_path / "plain" / "artifacts" / "original.sst2.neurons")
    b = NeuronSet.load(tmp_path / "rel" / "artifacts" / "original.sst2.neurons")
    assert b.provenance["specificity"]["method"] == "relative" and a != b and a.count() == b.count()


def test_specificity_needs_several_tasks_and_is_refused_where_one_task_is_scored():
    from taskneurons.experiments.continual.methods.ncft import NCFTOptions

    with pytest.raises(TaskNeuronsError, match="option selection.specificity='rel' is not one of"):
        _config(selection={"specificity": "rel"})
    with pytest.raises(TaskNeuronsError, match="NCFT scores one task at a time"):
        NCFTOptions(selection={"specificity": "entropy"})
