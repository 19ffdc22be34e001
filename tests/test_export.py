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
