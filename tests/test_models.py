"""FFN maps: every family's neurons are addressed correctly (activation zeroing == weight zeroing)."""
import pytest
import torch

from taskneurons.errors import TaskNeuronsError
from taskneurons.models import KINDS, ffn_map_for, load_model
from taskneurons.models.ffn import FFN

from .conftest import TINY_NAMES

IDS = torch.tensor([[5, 17, 99, 3, 42, 7, 120, 64], [9, 8, 7, 6, 5, 4, 3, 2]])


def _zero_activation(lm, layer, kind, neuron):
    if kind == "inner":
        def pre(module, args):
            x = args[0].clone()
            x[..., neuron] = 0
            return (x,) + args[1:]
        return lm.ffn.downs[layer].register_forward_pre_hook(pre)

    def post(module, args, output):
        output = output.clone()
        output[..., neuron] = 0
        return output
    return lm.ffn.outers[layer].register_forward_hook(post)


@pytest.mark.parametrize("name", TINY_NAMES)
@pytest.mark.parametrize("kind", KINDS)
def test_zeroing_activation_equals_zeroing_weight_slices(name, kind):
    lm = load_model(name)
    with torch.no_grad():
        for p in lm.model.parameters():  # larger weights and non-zero biases, so that every neuron matters
            p.normal_(0, 0.2)
        layer = lm.ffn.n_layers - 1
        seen = []
        hook = (lm.ffn.downs[layer].register_forward_pre_hook(lambda m, a: seen.append(a[0])) if kind == "inner"
                else lm.ffn.outers[layer].register_forward_hook(lambda m, a, o: seen.append(o)))
        base = lm.model(IDS).logits
        hook.remove()
    neuron = int(seen[0].abs().flatten(0, -2).mean(0).argmax())  # a live neuron (relu kills some)
    handle = _zero_activation(lm, layer, kind, neuron)
    with torch.no_grad():
        by_activation = lm.model(IDS).logits
    handle.remove()
    with torch.no_grad():
        for s in lm.ffn.slices(layer, kind):
            if s.off is not None:
                s.param[s.index(torch.tensor([neuron]))] = s.off
        by_weights = lm.model(IDS).logits
    assert (base - by_activation).abs().max() > 1e-3  # the neuron matters, so the test can fail
    torch.testing.assert_close(by_weights, by_activation, rtol=1e-5, atol=1e-5)


def test_slices_cover_gate_and_up_of_gated_ffn(tiny):
    lm = tiny("tiny-llama")
    params = [s.param for s in lm.ffn.slices(0, "inner")]
    block = lm.model.model.layers[0].mlp
    assert params == [block.gate_proj.weight, block.up_proj.weight]
    assert lm.ffn.widths == {"inner": 48, "outer": 32}


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gemma", "tiny-gpt2"])
def test_outer_neurons_are_down_outputs_outside_gemma2_and_3(name, tiny):
    ffn = tiny(name).ffn
    assert ffn.map.outer is None and ffn.outers == ffn.downs
    assert all(s.off == 0.0 and s.tuned for kind in KINDS for s in ffn.slices(0, kind))


@pytest.mark.parametrize("name", ["tiny-gemma2", "tiny-gemma3"])
def test_gemma2_and_3_outer_neurons_are_after_the_post_ffn_norm(name, tiny):
    lm = tiny(name)
    ffn, block = lm.ffn, lm.model.model.layers[1]
    assert ffn.map.family == "gemma2" and ffn.outers[1] is block.post_feedforward_layernorm
    assert ffn.downs[1] is block.mlp.down_proj
    down, gain = ffn.slices(1, "outer")
    assert (down.param, down.off, down.tuned) == (block.mlp.down_proj.weight, None, True)  # left alone when deactivated
    assert (gain.param, gain.off, gain.tuned) == (block.post_feedforward_layernorm.weight, -1.0, False)  # (1 + w) = 0
    assert [s.off for s in ffn.slices(1, "inner")] == [0.0, 0.0]
    assert [p.module for p in ffn.projections(1, "outer")] == [block.mlp.down_proj]  # what the neuron tuner trains
    assert "outer after post_feedforward_layernorm" in ffn.describe()


def test_phi3_fused_gate_up_owns_two_rows_per_neuron(tiny):
    lm = tiny("tiny-phi3")
    offsets = [s.offset for s in lm.ffn.slices(0, "inner")]
    assert offsets == [0, lm.ffn.widths["inner"]]


def test_gpt2_conv1d_slices_along_columns(tiny):
    lm = tiny("tiny-gpt2")
    w = lm.ffn.slices(0, "inner")[0]
    assert w.dim == 1 and w.param.shape == (32, 128)


def test_unknown_family_lists_supported():
    with pytest.raises(TaskNeuronsError, match=r"unsupported model family 'mamba'.*llama.*gpt2"):
        ffn_map_for("mamba")


def test_layout_mismatch_is_a_clear_error(tiny):
    lm = tiny("tiny-gpt2")
    with pytest.raises(TaskNeuronsError, match="does not have the layout of FFN map 'llama'"):
        FFN(lm.model, ffn_map_for("llama"))


def test_bad_model_spec_and_dtype():
    with pytest.raises(TaskNeuronsError, match="model='missing.gguf': no such GGUF file"):
        load_model("missing.gguf")
    with pytest.raises(TaskNeuronsError, match="model='./nowhere': no such model folder"):
        load_model("./nowhere")
    with pytest.raises(TaskNeuronsError, match="dtype 'float8'"):
        load_model("tiny-llama", dtype="float8")


def test_local_folder_roundtrip(tmp_path, tiny):
    lm = tiny("tiny-qwen2")
    lm.model.save_pretrained(tmp_path)
    lm.tokenizer.save_pretrained(tmp_path)
    again = load_model(str(tmp_path), dtype="bfloat16")
    assert again.ffn.map.family == "llama" and next(again.model.parameters()).dtype == torch.bfloat16
    torch.testing.assert_close(again.model(IDS).logits.float(), lm.model(IDS).logits, atol=0.1, rtol=0.05)


def test_a_folder_is_read_straight_into_the_requested_dtype(tmp_path, tiny, monkeypatch):
    """No float32 copy first: from_pretrained gets the dtype (and the device as its map), and the weights are the
    saved ones rounded once."""
    from transformers import AutoModelForCausalLM

    lm = tiny("tiny-llama")
    lm.model.save_pretrained(tmp_path)
    lm.tokenizer.save_pretrained(tmp_path)
    calls, real = [], AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **k: calls.append(k) or real(*a, **k))
    again = load_model(str(tmp_path), dtype="bfloat16")
    assert calls == [{"dtype": torch.bfloat16, "device_map": None}]
    for (name, p), q in zip(again.model.named_parameters(), lm.model.parameters()):
        assert p.dtype == torch.bfloat16 and torch.equal(p, q.to(torch.bfloat16)), name


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2", "tiny-phi3"])  # gated, Conv1D, fused gate_up
@pytest.mark.parametrize("kind", KINDS)
def test_neuron_rows_row_n_is_what_the_slices_of_neuron_n_select(name, kind, tiny):
    ffn = tiny(name).ffn
    weights = [s for s in ffn.slices(1, kind) if s.param.dim() == 2]
    rows = ffn.neuron_rows(1, kind)
    assert len(rows) == len(weights) and all(r.shape[0] == ffn.widths[kind] for r in rows)
    for n in (0, 3, ffn.widths[kind] - 1):
        for r, s in zip(rows, weights):
            assert torch.equal(r[n], s.param[s.index(torch.tensor([n]))].flatten())
    assert all(r.untyped_storage().data_ptr() == s.param.untyped_storage().data_ptr()
               for r, s in zip(rows, weights))  # views, not copies
