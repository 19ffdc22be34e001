"""The generalize experiment on a tiny model: every part, its files, resuming, the built-in groups, bad input."""
import json
import math

import pytest
import torch

from taskneurons.cli import main
from taskneurons.errors import TaskNeuronsError
from taskneurons.configs.files import load_config
from taskneurons.experiments.generalize import GROUPS, Generalize, GeneralizeConfig, run_generalize_demo
from taskneurons.experiments.generalize import lab as lab_module
from taskneurons.experiments.generalize import similarity as similarity_module
from taskneurons.experiments.kit import evaluation as kit_evaluation
from taskneurons.experiments.kit import selection as kit_selection
from taskneurons.runs import Run
from taskneurons.neurons import NeuronSet

from .conftest import SHARED_DATA


def _config(**changes):
    base = dict(model="tiny-llama", data_root=str(SHARED_DATA),
                groups=[{"name": "a", "train": ["amazon_yang", "mnli_yang"], "ood": ["sst2_yang", "tweetqa"]},
                        {"name": "b", "train": ["e2e"], "ood": ["gptnli", "commongen"]}],
                proportions=[50, 100], selection={"n_score": 4}, n_eval=4, batch_size=4, max_length=64, max_new_tokens=4,
                training={"n_train": 4, "lr": 1e-2}, full_training={"n_train": 4, "lr": 1e-3},
                ablation_pairs=[["a", "classification"]], ablation_proportions=[50], ablation_rates=[0, 50, 100],
                ablation_draws=2, n_boot=100)
    return GeneralizeConfig(**{**base, **changes})


def test_generalize_writes_every_part_and_a_rerun_computes_nothing(tmp_path, monkeypatch):
    results = Generalize(_config(), tmp_path, progress=False)()
    # overlap (Table 8): one row per (group, OOD kind) and one for all OOD tasks; 100% of neurons overlap fully
    assert set(results["overlap"]["groups"]["a"]) == {"CLS-CLS", "CLS-GEN", "CLS-OOD"}
    assert results["overlap"]["groups"]["b"]["GEN-CLS"]["100"] == 100.0
    assert 0 < results["overlap"]["groups"]["a"]["CLS-CLS"]["50"] < 100
    assert results["overlap"]["pairwise"]["50"]["tasks"] == ["amazon_yang", "mnli_yang", "sst2_yang", "tweetqa", "e2e",
                                                                  "gptnli", "commongen"]
    # the sweep (Figure 2) and the single-task variant (Figure 6)
    point = results["sweep"]["a"]["50"]
    line = point["lines"]["ID"]  # Figure 2's ID line at p = 50: the mean over the training tasks, with its interval
    assert line["mean"] == pytest.approx(sum(point["id"].values()) / len(point["id"])) and line["low"] <= line["mean"] <= line["high"]
    assert set(point["lines"]) == {"ID", "OOD-CLS", "OOD-GEN"} and line["n"] == {"amazon_yang": 4, "mnli_yang": 4}
    assert set(point["id"]) == {"amazon_yang", "mnli_yang"} and set(point["ood"]) == {"sst2_yang", "tweetqa"}
    assert point["neurons"] < results["sweep"]["a"]["100"]["neurons"] and results["sweep"]["a"]["100"]["fraction"] == 1.0
    assert set(results["single"]["a"]["mnli_yang"]) == {"50", "100"}
    # the ablation (Tables 9-11): the requested share of the trained neurons is drawn from the test set
    part = results["ablation"]["a:classification"]
    assert part["label"] == "CLS-CLS" and part["tests"] == ["sst2_yang"]
    for rate in ("0", "50", "100"):
        assert part["realized"][rate]["50"]["share"] == pytest.approx(float(rate), abs=100 / part["realized"][rate]["50"]["neurons"])
    # the "orig." row trains the training tasks' own neurons at the cells' total (comparable with them)
    assert part["original"]["50"]["neurons"] == part["realized"]["50"]["50"]["neurons"]
    assert part["original"]["50"]["set"] == "combined top-p%"
    cell = part["intervals"]["50"]["50"]  # the cell's mean over its draws, with its interval over draws and examples
    assert cell["mean"] == pytest.approx(part["grid"]["50"]["50"]) and cell["low"] <= cell["mean"] <= cell["high"]
    assert cell["runs"] == 2 and "two-level" in cell["test"]
    # similarity (Figure 3) and correlation (Table 4): one fully fine-tuned model per training task
    sim = results["similarity"]
    assert set(sim["models"]) == {"amazon_yang", "mnli_yang", "e2e"}
    assert len(sim["models"]["amazon_yang"]["curves"]["gptnli"]) == 2  # one cosine per layer of tiny-llama
    assert set(sim["models"]["amazon_yang"]["all_variants"]["sst2_yang"]) == {
        f"{m}/{v}" for m in ("inner", "outer", "both") for v in ("flatten/index", "flatten/shared_first", "mean")}
    # every variant's correlation is kept; the reported one is the configured variant's
    assert sim["variant"] == "both/flatten/shared_first" and sim["pairing"] == "shared_first"
    assert sim["by_variant"]["both/flatten/shared_first"] == sim["correlation"]
    index = sim["by_variant"]["both/flatten/index"]["sst2_yang"]["points"]
    assert [p["similarity"] for p in index] == [
        pytest.approx(sum(c) / len(c)) for c in (sim["models"][p["model"]]["all_variants"]["sst2_yang"]["both/flatten/index"]
                                                 for p in index)]
    assert sim["correlation"]["sst2_yang"]["n"] == 3 and "pearson_ci" in sim["correlation"]["sst2_yang"]
    for name in ("figure2", "figure3", "figure3_base", "figure6", "ablation", "overlap_p50", "overlap_p100"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000
    text = (tmp_path / "summary.md").read_text()
    assert "Overlap (Table 8)" in text and "paper CLS-CLS" in text and "Spearman" in text
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["sweep"] == results["sweep"] and saved["tasks"]["sst2_yang"]["paper"] == "SST-2"
    for name, plan in saved["examples"].items():  # no evaluated example is scored or trained on
        evaluated = {(plan["eval"]["split"], i) for i in plan["eval"]["indices"]}
        for key in [k for k in plan if k.startswith(("score:", "train:"))]:
            assert not evaluated & {(plan[key]["split"], i) for i in plan[key]["indices"]}, (name, key)
    assert saved["examples"]["sst2_yang"]["pool"]["split"] == "test"  # a test-only task, partitioned

    def no_more_work(*args, **kwargs):
        raise AssertionError("a finished step was computed again")

    for module, name in ((kit_evaluation, "evaluate"), (kit_selection, "score_neurons"), (lab_module, "train"),
                         (Run, "load_model"), (similarity_module, "train")):
        monkeypatch.setattr(module, name, no_more_work)
    again = Generalize(_config(), tmp_path, progress=False)()
    for key in ("overlap", "sweep", "single", "ablation", "zero_shot"):
        assert again[key] == results[key]
    assert json.dumps(again["similarity"]["correlation"]) == json.dumps(results["similarity"]["correlation"])


def test_similarity_options_finetuned_neurons_mean_vectors_and_union_totals(tmp_path):
    config = _config(groups=[{"name": "g", "train": ["amazon_yang", "e2e"], "ood": ["sst2_yang", "commongen"]}],
                     proportions=[30], selection={"n_score": 4, "scope": "global"}, similarity_vector="mean", similarity_neurons="finetuned",
                     similarity_matrices="outer", similarity_layers=[1], zero_shot=False, single_task=False,
                     ablation_pairs=[["g", "generation"]], ablation_proportions=[30], ablation_rates=[50, 100],
                     ablation_total="train_union")
    results = Generalize(config, tmp_path, progress=False)()
    assert results["similarity"]["variant"] == "outer/mean" and results["similarity"]["neurons"] == "finetuned"
    variants = results["similarity"]["models"]["amazon_yang"]["all_variants"]["commongen"]
    assert len(variants["outer/mean"]) == 2
    part = results["ablation"]["g:generation"]
    assert part["realized"]["50"]["30"]["neurons"] == results["sweep"]["g"]["30"]["neurons"]  # train_union total
    assert part["original"]["30"]["neurons"] == results["sweep"]["g"]["30"]["neurons"]  # orig.: the union itself
    assert part["realized"]["50"]["30"]["share"] == pytest.approx(50.0, abs=1.0)
    # all of the training union's count cannot come from the smaller test set: recorded, not run
    assert part["grid"]["100"]["30"] is None and "cannot draw" in part["impossible"]["100"]["30"]
    assert results["similarity"]["correlation"]["sst2_yang"]["error"].startswith("a correlation needs at least 3 points")


def test_a_flattened_variant_of_sets_with_unequal_counts_is_none(tiny):
    lm = tiny("tiny-llama")
    one = NeuronSet.empty(lm.ffn)
    one.masks["outer"][0, :2] = True
    two = NeuronSet.empty(lm.ffn)
    two.masks["outer"][0, :3] = True
    variants = similarity_module.curves(similarity_module.neuron_weights(lm), {"a": one, "b": two}, "a", ["b"])["b"]
    assert variants["outer/flatten/index"] is None and variants["both/flatten/shared_first"] is None
    assert variants["outer/mean"][0] == pytest.approx(
        float(torch.nn.functional.cosine_similarity(lm.ffn.downs[0].weight[:2].detach().double().mean(0),
                                                    lm.ffn.downs[0].weight[:3].detach().double().mean(0), dim=0)))


def test_built_in_groups_map_the_paper_tasks_to_the_shared_data(tmp_path):
    experiment = Generalize(_config(groups=["a", "b"], ablation_pairs=[["a", "classification"], ["b", "generation"]]),
                            tmp_path, progress=False)
    lab = experiment.lab
    assert GROUPS["a"].train == ("amazon_yang", "qqp", "mnli_yang") and GROUPS["b"].train == ("socialqa", "e2e", "xsum")
    assert "xsum" in GROUPS["a"].ood and "cnn_dailymail" in GROUPS["b"].ood and "xsum" not in GROUPS["b"].ood
    assert lab.describe_task("amazon_yang")["paper"] == "Amazon" and lab.describe_task("qqp")["data"] == "qqp"
    assert lab.describe_task("socialqa")["paper"] == "SciQ" and "substitute" in lab.describe_task("socialqa")["note"]
    assert GROUPS["b"].paper == {"socialqa": "SciQ", "xsum": "CNN/DailyMail", "cnn_dailymail": "XSum"}
    assert any("swap" in note for note in GROUPS["b"].notes)
    assert lab.train_kind(GROUPS["a"]) == "CLS" and lab.train_kind(GROUPS["b"]) == "GEN"
    # a test-only task is partitioned: 4 evaluated test examples, the scored ones from the rest of the split
    plan = lab.plans["gptnli"]
    assert plan.eval.split == plan.pool.split == "test" and len(plan.eval.indices) == 4
    assert not set(plan.eval.indices) & set(plan.draws["score:4"].indices)


@pytest.mark.parametrize("changes, match", [
    (dict(groups=["c"]), "unknown group 'c'; built-in groups: a, b"),
    (dict(proportions=[0, 50]), "option proportions=0 is not a number in \\(0, 100\\]"),
    (dict(selection={"scope": "global"}), "similarity_vector 'flatten' needs equal neuron counts per layer"),
    (dict(ablation_pairs=[["z", "classification"]]), "group 'z' is not among the groups"),
    (dict(ablation_pairs=[["b", "generation"]], groups=[{"name": "b", "train": ["e2e"], "ood": ["gptnli"]}]),
     "group 'b' has no OOD tasks of kind 'generation'"),
    (dict(groups=[{"name": "x", "train": ["sciq"], "ood": ["sst2_yang"]}], ablation=False, n_eval=498),
     "task 'sciq' is too small: its 'test' split has 500 examples, the run asks for 498 test examples and 4 "),
    (dict(groups=[{"name": "x", "train": ["amazon_yang"]}]), "a group must be 'a', 'b' or a mapping with exactly name"),
    (dict(data_root="/nonexistent"), "unknown task 'amazon_yang'.*tasks of the data root /nonexistent: none"),
    (dict(ablation_rate="dice"), "option ablation_rate='dice' is not one of"),
    (dict(training={"n_train": 4, "learning_rate": 1}), "option training has no field 'learning_rate'"),
    (dict(similarity_models=["nosuch"]), "unknown task 'nosuch'"),
    (dict(similarity_layers=3), "option similarity_layers=3 is not a list of layer numbers"),
])
def test_bad_options_are_one_line_errors(tmp_path, changes, match):
    with pytest.raises(TaskNeuronsError, match=match) as e:
        Generalize(_config(**changes), tmp_path / "run", progress=False)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()  # nothing was written for a bad config


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["generalize", "--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == f"error: no such config file: {tmp_path / 'none.yaml'}"
    path = tmp_path / "c.yaml"
    path.write_text("proportion: [10]\n")
    assert main(["generalize", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "unknown option 'proportion' (did you mean 'proportions'?)" in capsys.readouterr().err
    config = load_config(GeneralizeConfig, None, ["groups=[a]", "selection.k=5"])
    assert config.groups == ["a"] and config.selection.k == 5


def test_the_demo_step_runs_on_a_tiny_model(tmp_path):
    results = run_generalize_demo("tiny-llama", tmp_path)
    assert set(results["sweep"]["demo"]) == {"10", "100"}
    assert set(results) >= {"overlap", "sweep"} and "similarity" not in results and "zero_shot" not in results
    assert math.isfinite(results["overlap"]["groups"]["demo"]["CLS-CLS"]["10"])
    assert (tmp_path / "plots" / "figure2.png").is_file()


def test_a_similarity_step_of_an_older_version_is_refused_in_one_line(tmp_path):
    config = _config(groups=[{"name": "g", "train": ["amazon_yang"], "ood": ["sst2_yang"]}], sweep=False,
                     zero_shot=False, single_task=False, ablation=False)
    Generalize(config, tmp_path, progress=False)()
    step = tmp_path / "steps" / "similarity_amazon_yang.json"
    old = json.loads(step.read_text())
    for test, variants in old["curves"].items():  # the names before pairing was part of a variant's name
        old["curves"][test] = {name.replace("/index", ""): v for name, v in variants.items() if "shared_first" not in name}
    step.write_text(json.dumps(old))
    with pytest.raises(TaskNeuronsError, match="written by an older version .* delete its steps/similarity_"):
        Generalize(config, tmp_path, progress=False)()
    assert json.loads(step.read_text()) == old  # nothing already written is changed


def test_similarity_layers_are_checked_on_the_models_config_before_the_folder_exists(tmp_path):
    with pytest.raises(TaskNeuronsError, match=r"^option similarity_layers: \[99\] are not layers of the model "
                                               r"tiny-llama \(0..1\)$"):
        Generalize(_config(similarity_layers=[1, 99]), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    Generalize(_config(similarity_layers=[1]), tmp_path / "run", progress=False)  # the corrected command starts


def test_a_sweep_point_with_two_trainings_averages_them_and_counts_them_as_runs(tmp_path):
    from taskneurons.analysis.stats import mean_interval

    groups = [{"name": "g", "train": ["amazon_yang"], "ood": ["sst2_yang"]}]
    one = Generalize(_config(groups=groups, proportions=[50], single_task=False, ablation=False, similarity=False,
                             zero_shot=False), tmp_path / "one", progress=False)()
    two = Generalize(_config(groups=groups, proportions=[50], single_task=False, ablation=False, similarity=False,
                             zero_shot=False, sweep_seeds=2), tmp_path / "two", progress=False)()
    first, second = (json.loads((tmp_path / "two" / "steps" / name).read_text())
                     for name in ("sweep_g_p=50.json", "sweep_g_p=50_seed1.json"))
    alone = json.loads((tmp_path / "one" / "steps" / "sweep_g_p=50.json").read_text())
    assert {**first, "seconds": 0} == {**alone, "seconds": 0}  # the first training: the run's seed, as before
    assert first["final_loss"] != second["final_loss"]  # the second: its own training seed
    point = two["sweep"]["g"]["50"]
    assert point["runs"] == 2 and point["ood"]["sst2_yang"] == pytest.approx(
        (first["scores"]["sst2_yang"] + second["scores"]["sst2_yang"]) / 2)
    runs = [first["outcomes"]["sst2_yang"], second["outcomes"]["sst2_yang"]]
    assert point["intervals"]["sst2_yang"] == mean_interval(runs, 100, 0.95, 0)  # over examples and the 2 runs
    assert point["lines"]["ID"]["runs"] == 2 and one["sweep"]["g"]["50"]["lines"]["ID"]["runs"] == 1


def test_figure2_rows_follow_the_runs_lines_and_skip_a_run_that_kept_none():
    from taskneurons.experiments.generalize.report import figure2_rows

    line = {"mean": 70.0, "low": 65.0, "high": 75.5}
    results = {"groups": {"a": {"train": ["t"], "ood": ["o"]}},  # no generation task: no OOD-GEN line
               "tasks": {"t": {"kind": "classification"}, "o": {"kind": "classification"}},
               "zero_shot": {"t": 60.0, "o": 40.0},
               "sweep": {"a": {"50": {"lines": {"ID": line, "OOD-CLS": {**line, "mean": 50.0}}, "runs": 2}}}}
    header, rows = figure2_rows(results, "a")
    assert header == ["p", "ID", "OOD-CLS"]
    assert rows == [["zero-shot", "60.0", "40.0"], ["50% (2 trainings)", "70.0 [65.0, 75.5]", "50.0 [65.0, 75.5]"]]
    del results["sweep"]["a"]["50"]["lines"]
    assert figure2_rows(results, "a") is None
