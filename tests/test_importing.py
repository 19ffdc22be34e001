"""Importing another tool's neuron masks or index lists, checked against the model's shape."""
import json

import pytest
import torch
from safetensors.torch import save_file

from taskneurons.cli import main
from taskneurons.errors import TaskNeuronsError
from taskneurons.neurons import NeuronSet
from taskneurons.neurons.importing import import_neurons


def test_masks_single_tensors_and_index_lists_give_the_same_set(tiny, tmp_path):
    ffn = tiny("tiny-llama").ffn
    inner = torch.rand(ffn.n_layers, ffn.widths["inner"], generator=torch.Generator().manual_seed(0)) < 0.1
    outer = torch.zeros(ffn.n_layers, ffn.widths["outer"], dtype=torch.bool)
    outer[1, 3] = True
    save_file({"inner": inner.to(torch.uint8), "outer": outer}, str(tmp_path / "m.safetensors"))
    torch.save(inner.float(), tmp_path / "one.pt")
    (tmp_path / "i.json").write_text(json.dumps({"inner": [row.nonzero().flatten().tolist() for row in inner],
                                                 "outer": [[3] if layer == 1 else [] for layer in range(ffn.n_layers)]}))
    both = import_neurons(tmp_path / "m.safetensors", ffn)
    assert torch.equal(both.masks["inner"], inner) and both.count("outer") == 1
    assert import_neurons(tmp_path / "i.json", ffn) == both
    single = import_neurons(tmp_path / "one.pt", ffn)
    assert torch.equal(single.masks["inner"], inner) and single.count("outer") == 0


def test_bad_masks_are_one_line_naming_what_was_expected(tiny, tmp_path):
    ffn = tiny("tiny-llama").ffn
    layers, width = ffn.n_layers, ffn.widths["inner"]
    cases = [({"inner": torch.zeros(1, 3, dtype=torch.bool)}, f"mask of shape [1, 3], the model has [{layers}, {width}]"),
             ({"inner": torch.full((layers, width), 2.0)}, "a mask holds only 0/1"),
             ({"inner": torch.zeros(layers, width), "gates": torch.zeros(layers, width)},
              "unknown neuron kind(s) ['gates']")]
    for content, message in cases:
        save_file(content, str(tmp_path / "m.safetensors"))
        with pytest.raises(TaskNeuronsError) as error:
            import_neurons(tmp_path / "m.safetensors", ffn)
        assert message in str(error.value)


def test_index_out_of_range_and_the_command(tiny, tmp_path, capsys):
    ffn = tiny("tiny-llama").ffn
    (tmp_path / "i.json").write_text(json.dumps({"outer": [[ffn.widths["outer"]]] * ffn.n_layers}))
    with pytest.raises(TaskNeuronsError, match="layer 0 has indices"):
        import_neurons(tmp_path / "i.json", ffn)
    (tmp_path / "ok.json").write_text(json.dumps({"outer": [[0, 1]] * ffn.n_layers}))
    assert main(["neurons", "import", str(tmp_path / "ok.json"), "--model", "tiny-llama", "--out", str(tmp_path / "s")]) == 0
    assert NeuronSet.load(tmp_path / "s").count("outer") == 2 * ffn.n_layers
    assert main(["neurons", "import", str(tmp_path / "none.json"), "--model", "tiny-llama", "--out", "x"]) == 2
    assert "no such file" in capsys.readouterr().err
