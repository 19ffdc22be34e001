"""Export: a plain Hugging Face checkpoint or a PEFT LoRA adapter gives the logits taskneurons gives inside."""
import pytest
import torch
from transformers import AutoModelForCausalLM

from taskneurons.cli import main
from taskneurons.export import export_checkpoint, export_lora
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet, deactivate
from taskneurons.tuning import NeuronTuner

from .conftest import TINY_NAMES

INPUT = torch.tensor([[5, 9, 13, 2, 7, 11]])


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=INPUT).logits.float()


def some_neurons(lm, seed=0) -> NeuronSet:
    """About 20% of every layer's neurons of each kind, seeded."""
    g = torch.Generator().manual_seed(seed)
    masks = {kind: torch.rand(mask.shape, generator=g) < 0.2 for kind, mask in NeuronSet.full(lm.ffn).masks.items()}
    return NeuronSet(masks, {"task": "planted", "k": 20})


def trained_tuner(lm, tmp_path, seed=3) -> NeuronTuner:
    """A tuner with random (non-zero) deltas, saved: as if trained."""
    tuner = NeuronTuner(lm, some_neurons(lm, seed=seed))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tuner.parameters():
            p.copy_(0.05 * torch.randn(p.shape, generator=g))
    tuner.save(tmp_path / "deltas")
    return tuner


@pytest.mark.parametrize("name", TINY_NAMES)
def test_a_checkpoint_with_neurons_switched_off_loads_as_the_hooks_deactivate(name, tmp_path):
    lm = load_model(name)
    neurons = some_neurons(lm)
    before = logits(lm.model)
    with deactivate(lm, neurons, mode="activation"):
        hooked = logits(lm.model)
    export_checkpoint(lm, tmp_path / "out", neurons=neurons)
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    torch.testing.assert_close(logits(plain), hooked, rtol=1e-4, atol=1e-4)
    assert torch.equal(logits(lm.model), before)  # the model in memory is as it was
    assert "planted" in (tmp_path / "out" / "README.md").read_text()


@pytest.mark.parametrize("name", TINY_NAMES)
def test_merged_deltas_and_the_lora_adapter_reproduce_the_tuner(name, tmp_path):
    from peft import PeftModel

    lm = load_model(name)
    tuner = trained_tuner(lm, tmp_path)
    tuned = logits(lm.model)
    tuner.remove()
    base = logits(lm.model)
    assert not torch.allclose(tuned, base)
    export_checkpoint(lm, tmp_path / "merged", deltas=tmp_path / "deltas")
    torch.testing.assert_close(logits(AutoModelForCausalLM.from_pretrained(tmp_path / "merged")), tuned,
                               rtol=1e-4, atol=1e-4)
    export_lora(lm, tmp_path / "deltas", tmp_path / "adapter")
    lm.model.save_pretrained(tmp_path / "base")
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tmp_path / "base"), tmp_path / "adapter")
    torch.testing.assert_close(logits(adapted), tuned, rtol=1e-4, atol=1e-4)
    assert torch.equal(logits(lm.model), base)


def test_export_command_and_its_one_line_errors(tmp_path, capsys):
    lm = load_model("tiny-llama")
    some_neurons(lm).save(tmp_path / "set")
    assert main(["export", "--model", "tiny-llama", "--neurons", str(tmp_path / "set"), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "config.json").is_file() and (tmp_path / "o" / "model.safetensors").is_file()
    assert main(["export", "--model", "tiny-llama", "--out", str(tmp_path / "p")]) == 2
    assert "give a neuron set to switch off" in capsys.readouterr().err and not (tmp_path / "p").exists()
    assert main(["export", "--model", "tiny-gpt2", "--neurons", str(tmp_path / "set"), "--out", str(tmp_path / "q")]) == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "q").exists()  # another model's shape


def test_the_adapters_of_two_stages_load_side_by_side(tmp_path):
    from peft import PeftModel

    lm = load_model("tiny-llama")
    expected = {}
    for seed, stage in enumerate(("stage1", "stage2")):
        (tmp_path / stage).mkdir()
        tuner = trained_tuner(lm, tmp_path / stage, seed=seed)
        expected[stage] = logits(lm.model)
        tuner.remove()
        export_lora(lm, tmp_path / stage / "deltas", tmp_path / f"{stage}_adapter")
    assert not torch.allclose(expected["stage1"], expected["stage2"])
    lm.model.save_pretrained(tmp_path / "base")
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tmp_path / "base"),
                                      tmp_path / "stage1_adapter", adapter_name="stage1")
    model.load_adapter(tmp_path / "stage2_adapter", adapter_name="stage2")
    for stage in ("stage1", "stage2"):
        model.set_adapter(stage)
        torch.testing.assert_close(logits(model), expected[stage], rtol=1e-4, atol=1e-4)


# --- export never deletes what it did not write ------------------------------------------------------------

def export_args(tmp_path, out) -> list[str]:
    """The export command switching off a saved neuron set of tiny-llama, into ``out``."""
    if not (tmp_path / "set.json").is_file():
        some_neurons(load_model("tiny-llama")).save(tmp_path / "set")
    return ["export", "--model", "tiny-llama", "--neurons", str(tmp_path / "set"), "--out", str(out)]


def refused(args, capsys) -> str:
    """The one line of a refused command (exit 2)."""
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: ")
    return err[len("error: "):]


def test_export_refuses_a_folder_holding_files_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert refused(export_args(tmp_path, out), capsys) == (
        f"export: {out} holds files taskneurons did not write (notes.txt); it replaces its folder as a whole: "
        f"give a new or empty folder, or move those files away")
    assert (out / "notes.txt").read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == [
        "mine", "set.json", "set.safetensors"]


def test_export_refuses_a_run_folder_and_a_folder_above_one(tmp_path, capsys):
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    for name in ("config.yaml", "results.json", "run.json", "summary.md"):
        (run / name).write_text("{}")
    assert refused(export_args(tmp_path, run), capsys).startswith(
        f"export: {run} holds files taskneurons did not write (config.yaml, results.json, run.json, ...)")
    assert refused(export_args(tmp_path, tmp_path / "runs"), capsys).startswith(
        f"export: {tmp_path / 'runs'} holds files taskneurons did not write (r1, r1/config.yaml, r1/results.json, ...)")
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "results.json", "run.json", "summary.md"]


def test_export_replaces_its_own_earlier_export_as_a_whole(tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(export_args(tmp_path, out)) == 0
    first = sorted(p.name for p in out.iterdir())
    assert "taskneurons-export.json" in first and "model.safetensors" in first
    (out / "model.safetensors").write_bytes(b"stale")
    assert main(export_args(tmp_path, out)) == 0
    assert sorted(p.name for p in out.iterdir()) == first and (out / "model.safetensors").read_bytes() != b"stale"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exported", "set.json", "set.safetensors"]  # no temporary


def test_export_refuses_its_own_export_once_something_was_added(tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(export_args(tmp_path, out)) == 0
    (out / "eval").mkdir()
    (out / "eval" / "scores.txt").write_text("mine")
    assert refused(export_args(tmp_path, out), capsys).startswith(
        f"export: {out} holds files taskneurons did not write (eval, eval/scores.txt)")
    assert (out / "eval" / "scores.txt").read_text() == "mine"


def test_export_to_the_current_folder_or_above_it_is_one_line(tmp_path, capsys, monkeypatch):
    here = tmp_path / "work"
    here.mkdir()
    monkeypatch.chdir(here)
    args = export_args(tmp_path, ".")
    assert refused(args, capsys) == "export: . is the current folder or one above it; give the path of a new folder"
    assert refused(args[:-1] + [".."], capsys) == (
        "export: .. is the current folder or one above it; give the path of a new folder")
    assert list(here.iterdir()) == []


def test_export_to_a_file_or_a_link_is_one_line(tmp_path, capsys):
    (tmp_path / "f.txt").write_text("x")
    assert refused(export_args(tmp_path, tmp_path / "f.txt"), capsys) == (
        f"export: {tmp_path / 'f.txt'} is a file; give a folder for the checkpoint or adapter")
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    assert refused(export_args(tmp_path, tmp_path / "link"), capsys) == (
        f"export: {tmp_path / 'link'} is a symbolic link; give the folder it points to, or a new path")
    assert (tmp_path / "f.txt").read_text() == "x" and (tmp_path / "link").is_symlink()


def test_the_api_refuses_a_foreign_folder_too(tmp_path):
    from taskneurons.errors import TaskNeuronsError

    lm = load_model("tiny-llama")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "data.csv").write_text("a,b\n")
    with pytest.raises(TaskNeuronsError, match="holds files taskneurons did not write \\(data.csv\\)"):
        export_checkpoint(lm, tmp_path / "out", neurons=some_neurons(lm))
    trained_tuner(lm, tmp_path).remove()
    with pytest.raises(TaskNeuronsError, match="holds files taskneurons did not write \\(data.csv\\)"):
        export_lora(lm, tmp_path / "deltas", tmp_path / "out")
    assert (tmp_path / "out" / "data.csv").is_file()
