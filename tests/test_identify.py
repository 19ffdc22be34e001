"""The identify experiment on a tiny model: tables, matrices, artifacts, plots, and resuming."""
import json

import pytest

from taskneurons.cli import main
from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments import identify as identify_module
from taskneurons.experiments.config import load_config
from taskneurons.experiments.identify import Identify, IdentifyConfig
from taskneurons.neurons import NeuronSet

from .conftest import SHARED_DATA


def _config(**changes):
    base = dict(model="tiny-llama", tasks=[str(SHARED_DATA / "sst2"), str(SHARED_DATA / "commongen")], n_score=4,
                n_eval=4, batch_size=4, max_length=64, max_new_tokens=4, random_seeds=[0, 1],
                neuron_training={"n_train": 4, "lr": 1e-2}, finetune_matrix=True)
    return IdentifyConfig(**{**base, **changes})


def test_identify_writes_tables_artifacts_plots_and_resumes(tmp_path, monkeypatch):
    results = Identify(_config(), tmp_path, progress=False)()
    deact, ft = results["deactivation"], results["finetuning"]
    assert set(deact["table"]) == {"Original", "Deactivate-Random", "Deactivate-Task"}
    assert set(ft["table"]) == {"Zero-shot", "Train-Random", "Train-Task"}
    assert len(deact["random_runs"]["sst2"]) == 2 and set(deact["matrix_change"]["sst2"]) == {"sst2", "commongen"}
    assert set(ft["matrix_change"]["commongen"]) == {"sst2", "commongen"}
    neurons = NeuronSet.load(tmp_path / "artifacts" / "base.sst2.neurons")
    assert neurons.provenance["task"] == "sst2" and neurons.provenance["k"] == 10.0
    assert abs(neurons.fraction() - 0.1) < 0.02
    for name in ("deactivation_table", "deactivation_matrix", "finetuning_table", "finetuning_matrix", "overlap"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000
    assert "Deactivate-Random" in (tmp_path / "summary.md").read_text()
    assert json.loads((tmp_path / "results.json").read_text())["deactivation"]["table"] == deact["table"]

    def no_more_work(*args, **kwargs):
        raise AssertionError("a finished step was computed again")

    monkeypatch.setattr(identify_module, "evaluate", no_more_work)
    monkeypatch.setattr(identify_module, "score_neurons", no_more_work)
    monkeypatch.setattr(identify_module, "train", no_more_work)
    again = Identify(_config(), tmp_path, progress=False)()
    assert again["deactivation"] == deact and again["finetuning"] == ft


def test_a_run_folder_refuses_another_config(tmp_path):
    Identify(_config(finetune=False, deactivate_matrix=False, random_seeds=[0]), tmp_path, progress=False)()
    with pytest.raises(TaskNeuronsError, match="made with another config \\(differs in k\\)"):
        Identify(_config(finetune=False, deactivate_matrix=False, random_seeds=[0], k=20.0), tmp_path, progress=False)


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: tiny-gpt2\nk: 5\nscorer_options: {aggregation: abs_sum}\n")
    config = load_config(IdentifyConfig, path, ["k=7.5", "tasks=[a, b]"])
    assert (config.model, config.k, config.tasks, config.scorer_options) == ("tiny-gpt2", 7.5, ["a", "b"], {"aggregation": "abs_sum"})
    path.write_text("modle: x\n")
    with pytest.raises(TaskNeuronsError, match="unknown option 'modle' \\(did you mean 'model'\\?\\)"):
        load_config(IdentifyConfig, path)


def test_identify_cli_bad_config_is_one_line(tmp_path, capsys):
    assert main(["identify", "--config", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == f"error: no such config file: {tmp_path / 'none.yaml'}"


def test_multitask_original_with_tied_embeddings_is_saved_and_reused(tmp_path, monkeypatch):
    config = _config(model="tiny-gemma3", original="multitask", multitask={"n_train": 4, "lr": 1e-3},
                     finetune=False, deactivate_matrix=False, random_seeds=[0])
    first = Identify(config, tmp_path, progress=False)()
    assert (tmp_path / "original" / "model.safetensors").is_file()
    monkeypatch.setattr(identify_module, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    lm = Identify(config, tmp_path, progress=False).original_model()
    assert lm.model.lm_head.weight is lm.model.get_input_embeddings().weight  # still tied after loading
    assert Identify(config, tmp_path, progress=False)()["deactivation"] == first["deactivation"]
