"""W-NCFT's weights reach each neuron's activation once (every gated family and GPT-2, both readings), the
activation scaling it is built on (``scaled``, of which deactivation is the 0/1 case), and NCFT's float32
master rows in bfloat16 (one rounding from the exact sum, rebuilt bit for bit on restore)."""
import pytest
import torch

from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.continual.methods.wncft import activation_factors, neuron_rows, reweighted
from taskneurons.experiments.continual.state import weights_digest
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet, Scores, deactivate
from taskneurons.neurons.deactivate import scaled
from taskneurons.tasks import load_task

from .test_continual import SEQ, build, context, hand_sets, params

FAMILIES = ["tiny-llama", "tiny-mistral", "tiny-qwen2", "tiny-qwen3", "tiny-gemma", "tiny-gemma2", "tiny-gemma3",
            "tiny-phi3", "tiny-gpt2"]
IDS = torch.randint(0, 256, (2, 12), generator=torch.Generator().manual_seed(0))
C = 0.25


def random_set(lm, k=25, seed=0) -> NeuronSet:
    g = torch.Generator().manual_seed(seed)
    return NeuronSet.from_scores(Scores({kind: torch.rand(lm.ffn.n_layers, w, generator=g)
                                         for kind, w in lm.ffn.widths.items()}, {}), k)


def capture(lm) -> tuple[dict, list]:
    """Hooks that record, per layer, the FFN's input ("x"), the inner activations (the down projection's input)
    and the outer ones (the outer module's output); registered last, so they see what earlier hooks made."""
    seen, hooks = {}, []
    for layer, (block, down, outer) in enumerate(zip(lm.ffn.blocks, lm.ffn.downs, lm.ffn.outers)):
        def keep(key, value):
            seen[key] = value.detach().clone()
        hooks += [block.mlp.register_forward_pre_hook(lambda m, a, l=layer: keep(("x", l), a[0])),
                  down.register_forward_pre_hook(lambda m, a, l=layer: keep(("inner", l), a[0])),
                  outer.register_forward_hook(lambda m, a, o, l=layer: keep(("outer", l), o))]
    return seen, hooks


@torch.no_grad()
def activations(lm, context_manager) -> dict:
    """(kind, layer) -> (activation inside the context, the same neurons' unweighted activation on the same input).

    Unweighted, after the context: inner neurons from the layer's FFN input, outer neurons from the down
    projection's (weighted) input; so each neuron is compared with itself, whatever the other neurons did."""
    with context_manager:
        seen, hooks = capture(lm)
        lm.model(IDS)
        for h in hooks:
            h.remove()
    out = {}
    for layer in range(lm.ffn.n_layers):
        again, hooks = capture(lm)
        lm.ffn.blocks[layer].mlp(seen[("x", layer)])
        for h in hooks:
            h.remove()
        outer = lm.ffn.downs[layer](seen[("inner", layer)])
        if lm.ffn.outers[layer] is not lm.ffn.downs[layer]:
            outer = lm.ffn.outers[layer](outer)  # Gemma-2/3: the post-FFN norm
        out[("inner", layer)] = (seen[("inner", layer)], again[("inner", layer)])
        out[("outer", layer)] = (seen[("outer", layer)], outer)
    return out


def ratios(acts: dict, neurons: NeuronSet) -> tuple[torch.Tensor, list]:
    """The realised ratios of the set's neurons (nonzero unweighted activations only), and the other neurons'
    (weighted, unweighted) activation pairs."""
    found, others = [], []
    for (kind, layer), (weighted, plain) in acts.items():
        inside = neurons.masks[kind][layer]
        nonzero = plain[..., inside].abs() > 1e-6
        found.append((weighted[..., inside] / plain[..., inside])[nonzero])
        others.append((weighted[..., ~inside], plain[..., ~inside]))
    return torch.cat(found), others


def assert_restored(lm, before):
    assert all(torch.equal(p, before[n]) for n, p in lm.model.named_parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in lm.model.modules())


# --- W-NCFT: the realised ratio is the weight ------------------------------------------------------------

@pytest.mark.parametrize("name", FAMILIES)
def test_one_tasks_weight_reaches_each_neurons_activation_once(name):
    lm = load_model(name)
    neurons, before = random_set(lm), params(lm)
    snapshots = [neuron_rows(lm.ffn, neurons)]  # the current weights: the snapshot reading sums to c as well
    for reading in ("scale", "snapshot"):
        for shared in ("sum", "mean"):
            acts = activations(lm, reweighted(lm.ffn, [neurons], torch.tensor([C]), reading, shared, snapshots))
            found, others = ratios(acts, neurons)
            want = 1.0 if (reading, shared) == ("snapshot", "mean") else C  # a weighted mean of equal snapshots
            assert len(found) > 100 and float((found - want).abs().max()) < 1e-5, (reading, shared, found.median())
            assert all(torch.equal(w, p) for w, p in others), (reading, shared)
            assert_restored(lm, before)


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2", "tiny-gemma2"])
@pytest.mark.parametrize("reading, shared, expect", [
    # activation factor per neuron (inner 0, 1, 2 of layer 0; outer 3, 4 of layer 1) for weights A=0.2, B=0.5
    ("scale", "sum", {0: 0.2, 1: 0.7, 2: 0.5, 3: 0.7, 4: 0.5}),
    ("scale", "mean", {0: 0.2, 1: 0.35, 2: 0.5, 3: 0.35, 4: 0.5}),
    ("snapshot", "sum", {0: 0.2, 1: 0.7, 2: 0.5, 3: 0.7, 4: 0.5}),
    ("snapshot", "mean", {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}),
])
def test_two_tasks_by_hand(name, reading, shared, expect):
    lm = load_model(name)
    a, b = hand_sets(lm)
    weights, where = torch.tensor([0.2, 0.5]), {0: (0, "inner"), 1: (0, "inner"), 2: (0, "inner"), 3: (1, "outer"), 4: (1, "outer")}
    factors = activation_factors(lm.ffn, [a, b], weights, reading, shared)
    assert {n: pytest.approx(float(factors[where[n][1]][where[n][0], n]), rel=1e-6) for n in expect} == expect
    assert int((factors["inner"] != 1).sum() + (factors["outer"] != 1).sum()) == sum(v != 1 for v in expect.values())
    # snapshots equal to the current weights: each neuron's realised ratio is its factor
    acts = activations(lm, reweighted(lm.ffn, [a, b], weights, reading, shared, [neuron_rows(lm.ffn, s) for s in (a, b)]))
    for n, coef in expect.items():
        weighted, plain = (t[..., n] for t in acts[(where[n][1], where[n][0])])
        nonzero = plain.abs() > 1e-6
        assert float((weighted[nonzero] / plain[nonzero] - coef).abs().max()) < 1e-5, n
    # snapshots A = 0.01 and B = 0.02 everywhere: a neuron's tuned slices become its owners' weighted mean
    snaps = [{k: torch.full_like(v, value) for k, v in neuron_rows(lm.ffn, s).items()} for s, value in ((a, 0.01), (b, 0.02))]
    shared_mean = (0.2 * 0.01 + 0.5 * 0.02) / 0.7
    mean = {0: 0.01, 1: shared_mean, 2: 0.02, 3: shared_mean, 4: 0.02}
    before = params(lm)
    slices = {n: [(s, s.param[s.index(torch.tensor([n]))].clone()) for s in lm.ffn.slices(*where[n])] for n in expect}
    with reweighted(lm.ffn, [a, b], weights, reading, shared, snaps):
        for n, pairs in slices.items():
            for s, old in pairs:
                value = s.param[s.index(torch.tensor([n]))]
                if reading == "scale" or not s.tuned:  # the scale reading never touches weights; a norm gain stays
                    assert torch.equal(value, old)
                else:
                    assert torch.allclose(value, torch.full_like(value, mean[n]), rtol=1e-6, atol=0)
    assert_restored(lm, before)


@pytest.mark.parametrize("reading", ["scale", "snapshot"])
def test_reweighting_restores_even_on_error(reading):
    lm = load_model("tiny-gemma2")
    a, b = hand_sets(lm)
    before, base = params(lm), lm.model(IDS).logits.detach()
    snaps = [{k: v * 2 for k, v in neuron_rows(lm.ffn, s).items()} for s in (a, b)]
    with pytest.raises(RuntimeError, match="boom"):
        with reweighted(lm.ffn, [a, b], torch.tensor([0.3, 0.4]), reading, "sum", snaps):
            assert not torch.allclose(lm.model(IDS).logits, base)
            raise RuntimeError("boom")
    assert_restored(lm, before)
    assert torch.equal(lm.model(IDS).logits.detach(), base)


def test_the_default_reading_is_the_snapshot_with_its_weighted_mean(tmp_path):
    """The default is the reading that learns (snapshot, shared mean); the literal scale keeps its shared sum."""
    default, scale = (build("wncft", context(tmp_path), **options).options for options in ({}, {"reading": "scale"}))
    assert (default.reading, default.shared, scale.reading, scale.shared) == ("snapshot", "mean", "scale", "sum")


def test_the_method_reweights_only_learnt_tasks(tmp_path):
    lm = load_model("tiny-llama")
    tasks = [load_task(s) for s in SEQ]
    method = build("wncft", context(tmp_path), reading="scale")
    method.setup(lm, tasks)
    assert method.vectors.shape == (2, lm.model.config.hidden_size)
    method.train_stage(lm, 0, tasks[0])
    base = lm.model(IDS).logits.detach()
    for index in (1, 0):  # task 2 not learnt yet: as trained; one learnt task: softmax weight 1, nothing changes
        with method.evaluation(lm, 0, index):
            assert torch.equal(lm.model(IDS).logits, base)
    method.train_stage(lm, 1, tasks[1])
    digest, base = weights_digest(lm.model), lm.model(IDS).logits.detach()
    weights = method.weights(1, 0)
    assert weights.shape == (2,) and float(weights.sum()) == pytest.approx(1.0)
    with method.evaluation(lm, 1, 0):  # weights about 1/2 each
        assert not torch.allclose(lm.model(IDS).logits, base)
        assert weights_digest(lm.model) == digest  # the scale reading works on activations only
    assert weights_digest(lm.model) == digest and torch.equal(lm.model(IDS).logits.detach(), base)


# --- scaled: deactivation is its 0/1 case --------------------------------------------------------------

@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gemma2", "tiny-gpt2"])
def test_scaled_by_zero_is_deactivation_and_by_one_is_nothing(name):
    lm = load_model(name)
    neurons, base = random_set(lm, 20), lm.model(IDS).logits.detach()
    with deactivate(lm, neurons):
        off = lm.model(IDS).logits.detach()
    with scaled(lm, {kind: (~m).float() for kind, m in neurons.masks.items()}):
        assert torch.equal(lm.model(IDS).logits, off)
    with scaled(lm, {kind: torch.ones(lm.ffn.n_layers, w) for kind, w in lm.ffn.widths.items()}):
        assert torch.equal(lm.model(IDS).logits, base)
        assert not any(m._forward_hooks or m._forward_pre_hooks for m in lm.model.modules())


def test_scaled_rejects_wrong_factors():
    lm = load_model("tiny-llama")
    for factors, message in [({"inner": torch.ones(2, 5)}, "inner factors must be a float tensor [2, 48]"),
                             ({"middle": torch.ones(2, 48)}, "neuron kind 'middle' is not one of"),
                             ({"outer": torch.ones(2, 32, dtype=torch.long)}, "outer factors must be a float tensor")]:
        with pytest.raises(TaskNeuronsError, match=message.replace("[", r"\[").replace("]", r"\]")):
            with scaled(lm, factors):
                pass


# --- NCFT in bfloat16: float32 master rows ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])  # GPT-2: Conv1D [in, out] storage, biases
def test_ncft_merges_bf16_weights_from_float32_masters_and_restores_them(tmp_path, name):
    lm = load_model(name, dtype="bfloat16")
    tasks = [load_task(s) for s in SEQ]
    options = dict(lr=1e-5, selection={"k": 50, "n_score": 2})  # deltas of a fraction of a bf16 step
    method = build("ncft", context(tmp_path), **options)
    method.setup(lm, tasks)
    named = dict(lm.model.named_parameters())
    base = {n: p.detach().clone() for n, p in named.items()}
    old = {n: p.clone() for n, p in base.items()}  # the old way: each stage's delta rounded into bf16
    exact, modules, folders = {}, {}, []  # module -> feature -> (row, bias) base + deltas in float64; module -> (projection, param)
    for stage, task in enumerate(tasks):
        method.train_stage(lm, stage, task)
        for module, (proj, delta) in method._tuner.deltas.items():
            param = next(n for n, p in named.items() if p is proj.module.weight)
            modules[module] = (proj, param)
            rows = lambda w: w.t() if proj.transposed else w  # noqa: E731  ([out, in] rows, as Projection.rows)
            rows(old[param]).index_add_(0, delta.index, delta.weight.detach().to(torch.bfloat16))
            sums = exact.setdefault(module, {})
            bias = (torch.zeros(len(delta.index)) if delta.bias is None else delta.bias.detach()).double()
            base_bias = None if proj.bias is None else base[param.replace("weight", "bias")]
            for f, d, b in zip(delta.index.tolist(), delta.weight.detach().double(), bias):
                row, entry = sums.get(f, (rows(base[param])[f].double(), 0.0 if base_bias is None else base_bias[f].double()))
                sums[f] = (row + d, entry + b)
        folders.append(tmp_path / f"stage{stage + 1}")
        method.save(lm, folders[-1])
    assert (method.sets[0].masks["inner"] & method.sets[1].masks["inner"]).any()  # some rows merged twice
    differs = 0
    for module, sums in exact.items():
        proj, param = modules[module]
        master = method.masters[module]
        assert master["index"].tolist() == sorted(sums)
        for i, f in enumerate(master["index"].tolist()):
            assert torch.allclose(master["weight"][i].double(), sums[f][0], rtol=1e-6, atol=1e-9)  # base + d1 + d2
            assert torch.equal(proj.rows[f], master["weight"][i].to(torch.bfloat16))  # rounded once
            if proj.bias is not None:
                assert float(master["bias"][i]) == pytest.approx(float(sums[f][1]), rel=1e-6, abs=1e-9)
                assert torch.equal(proj.bias[f], master["bias"][i].to(torch.bfloat16))
        differs += int((old[param] != named[param].detach()).sum())
    assert differs > 0  # rounding at every stage loses part of the updates
    fresh = load_model(name, dtype="bfloat16")
    again = build("ncft", context(tmp_path), **options)
    again.setup(fresh, tasks)
    again.restore(fresh, folders)
    assert weights_digest(fresh.model) == weights_digest(lm.model)
    assert again.masters.keys() == method.masters.keys()
    for n, master in method.masters.items():
        assert all(torch.equal(again.masters[n][k], v) if v is not None else again.masters[n][k] is None
                   for k, v in master.items())
