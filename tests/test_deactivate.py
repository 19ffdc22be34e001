"""deactivate: activation and weight modes agree, change the output, and always restore the model exactly."""
import pytest
import torch

from taskneurons.errors import TaskNeuronsError
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet, Scores, deactivate

IDS = torch.tensor([[5, 17, 99, 3, 42, 7, 120, 64], [9, 8, 7, 6, 5, 4, 3, 2]])
FAMILIES = ["tiny-llama", "tiny-gpt2", "tiny-bloom", "tiny-phi3", "tiny-opt", "tiny-gemma", "tiny-gemma2", "tiny-gemma3"]
MODES = ["activation", "weights"]


def fresh(name):
    """A tiny model with larger weights and non-zero biases, so that every neuron matters."""
    lm = load_model(name)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in lm.model.parameters():
            p.normal_(0, 0.2)
    return lm


def random_set(lm, k=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    values = {kind: torch.rand(lm.ffn.n_layers, w, generator=g) for kind, w in lm.ffn.widths.items()}
    return NeuronSet.from_scores(Scores(values, {"model": lm.name}), k)


def logits(lm):
    with torch.no_grad():
        return lm.model(IDS).logits


def snapshot(lm):
    return {n: p.detach().clone() for n, p in lm.model.named_parameters()}


def assert_restored(lm, before):
    after = dict(lm.model.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in before.items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in lm.model.modules())


@pytest.mark.parametrize("name", FAMILIES)
def test_modes_agree_change_the_output_and_restore(name):
    lm = fresh(name)
    ns, before = random_set(lm), snapshot(lm)
    base = logits(lm)
    out = {}
    for mode in MODES:
        with deactivate(lm, ns, mode=mode):
            out[mode] = logits(lm)
        assert_restored(lm, before)
    torch.testing.assert_close(out["weights"], out["activation"], rtol=1e-5, atol=1e-5)
    assert (out["activation"] - base).abs().max() > 1e-3
    assert torch.equal(logits(lm), base)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("mode", MODES)
def test_empty_set_changes_nothing(name, mode):
    lm = fresh(name)
    base = logits(lm)
    with deactivate(lm, NeuronSet.empty(lm.ffn), mode=mode):
        assert torch.equal(logits(lm), base)


@pytest.mark.parametrize("mode", MODES)
def test_restored_after_an_exception(mode):
    lm = fresh("tiny-bloom")
    ns, before = random_set(lm), snapshot(lm)
    with pytest.raises(RuntimeError, match="boom"):
        with deactivate(lm, ns, mode=mode):
            logits(lm)
            raise RuntimeError("boom")
    assert_restored(lm, before)


def test_nested_use_equals_the_union():
    lm = fresh("tiny-llama")
    a, b = random_set(lm, seed=1), random_set(lm, seed=2)
    before = snapshot(lm)
    with deactivate(lm, a | b):
        union = logits(lm)
    with deactivate(lm, a, mode="activation"):
        with deactivate((lm.model, lm.ffn), b, mode="weights"):
            nested = logits(lm)
        with deactivate(lm.ffn, b, mode="activation"):
            torch.testing.assert_close(logits(lm), nested, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(nested, union, rtol=1e-5, atol=1e-5)
    assert_restored(lm, before)


@pytest.mark.parametrize("mode", MODES)
def test_mismatched_set_raises_and_leaves_the_model_alone(mode):
    lm = fresh("tiny-gpt2")
    other = random_set(fresh("tiny-llama"))
    before = snapshot(lm)
    with pytest.raises(TaskNeuronsError, match=r"neuron set from tiny-llama has 2 layers x \(48 inner, 32 outer\) "
                                               r"but the model has 2 layers x \(128 inner, 32 outer\)"):
        with deactivate(lm, other, mode=mode):
            pass
    assert_restored(lm, before)


def test_bad_mode():
    lm = fresh("tiny-llama")
    with pytest.raises(TaskNeuronsError, match=r"mode 'bias' is not one of \['activation', 'weights'\]"):
        with deactivate(lm, NeuronSet.empty(lm.ffn), mode="bias"):
            pass


def test_activation_mode_zeroes_gradients_of_deactivated_inner_units():
    lm = fresh("tiny-llama")
    ns = random_set(lm)
    seen = []
    handle = lm.ffn.downs[0].register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    try:
        with deactivate(lm, ns):
            lm.model(IDS).logits.sum().backward()
    finally:
        handle.remove()
    grad = lm.ffn.downs[0].weight.grad  # [outer, inner]: columns of deactivated inner units get no gradient
    assert grad[:, ns.indices(0, "inner")].abs().max() == 0
    assert grad.abs().max() > 0


def one_outer_neuron(lm, layer, neuron):
    masks = {kind: torch.zeros(lm.ffn.n_layers, w, dtype=torch.bool) for kind, w in lm.ffn.widths.items()}
    masks["outer"][layer, neuron] = True
    return NeuronSet(masks)


def norm_output(lm, layer):
    """The output of the layer's post_feedforward_layernorm (the FFN output the residual stream gets)."""
    seen = []
    handle = lm.model.model.layers[layer].post_feedforward_layernorm.register_forward_hook(
        lambda m, a, out: seen.append(out.detach().clone()))
    try:
        logits(lm)
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("name", ["tiny-gemma2", "tiny-gemma3"])
@pytest.mark.parametrize("mode", MODES)
def test_gemma_outer_neuron_is_one_channel_after_the_post_ffn_norm(name, mode):
    lm = fresh(name)
    layer, neuron = 1, 5
    before, base = snapshot(lm), norm_output(lm, layer)
    assert base[..., neuron].abs().min() > 0
    with deactivate(lm, one_outer_neuron(lm, layer, neuron), mode=mode):
        off = norm_output(lm, layer)
    assert_restored(lm, before)
    others = torch.arange(base.shape[-1]) != neuron
    assert torch.equal(off[..., neuron], torch.zeros_like(off[..., neuron]))
    assert torch.equal(off[..., others], base[..., others])  # the norm's scale did not move

    with torch.no_grad():  # what zeroing the down row would do instead: rescale every other channel through the norm
        lm.model.model.layers[layer].mlp.down_proj.weight[neuron] = 0
    assert not torch.allclose(norm_output(lm, layer)[..., others], base[..., others])
