"""Tuning: the neuron tuner changes only its neurons' rows, and one train() loop serves every method."""
import json

import pytest
import torch

from taskneurons.errors import TaskNeuronsError
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet
from taskneurons.tasks import Example, Task
from taskneurons.tasks.batching import training_batch
from taskneurons.tuning import NeuronTuner, TrainConfig, add_lora, lora_parameters, train
from taskneurons.tuning.lora import LORA_TARGETS

FAMILIES = ["tiny-llama", "tiny-gpt2", "tiny-phi3", "tiny-gemma3"]  # gated, Conv1D with biases, fused gate_up, post-FFN norm
EXAMPLES = [Example(f"item {i}: is it even?", "yes" if i % 2 == 0 else "no") for i in range(16)]
IDS = torch.tensor([[5, 17, 99, 3, 42, 7, 120, 64], [9, 8, 7, 6, 5, 4, 3, 2]])
FAST = dict(lr=1e-2, max_steps=8, batch_size=4)


def random_set(lm, fraction=0.25, seed=0) -> NeuronSet:
    g = torch.Generator().manual_seed(seed)
    return NeuronSet({kind: torch.rand(lm.ffn.n_layers, width, generator=g) < fraction
                      for kind, width in lm.ffn.widths.items()})


def base_params(lm) -> dict[str, torch.Tensor]:
    return {n: p for n, p in lm.model.named_parameters() if "neuron_delta" not in n}


def snapshot(lm) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in base_params(lm).items()}


def assert_unchanged(lm, before):
    now = base_params(lm)
    assert now.keys() == before.keys()
    changed = [n for n in before if not torch.equal(now[n], before[n])]
    assert not changed, f"changed: {changed}"


@torch.no_grad()
def loss_on(lm, examples=EXAMPLES) -> float:
    return float(lm.model(**training_batch(lm.tokenizer, examples, 64)).loss)


def selected_rows(lm, neurons: NeuronSet) -> dict[int, torch.Tensor]:
    """id(param) -> bool mask of the entries the tuner trains for the selected neurons (FFN.slices, tuned)."""
    masks = {}
    for layer in range(lm.ffn.n_layers):
        for kind in neurons.masks:
            idx = neurons.indices(layer, kind)
            for s in (s for s in lm.ffn.slices(layer, kind) if s.tuned):
                mask = masks.setdefault(id(s.param), torch.zeros_like(s.param, dtype=torch.bool))
                mask[s.index(idx)] = True
    return masks


@pytest.mark.parametrize("name", FAMILIES)
def test_training_moves_only_the_selected_rows(name):
    lm = load_model(name)
    neurons = random_set(lm)
    before = snapshot(lm)
    start = loss_on(lm)
    with NeuronTuner(lm, neurons) as tuner:
        train(lm, EXAMPLES, tuner.parameters(), TrainConfig(**FAST, weight_decay=0.1), progress=False)
        assert loss_on(lm) < start
        assert_unchanged(lm, before)  # hooks attached, unmerged: the base weights did not move at all
        tuner.merge()
        rows = selected_rows(lm, neurons)
        for n, p in base_params(lm).items():
            mask = rows.get(id(p), torch.zeros_like(p, dtype=torch.bool))
            assert torch.equal(p[~mask], before[n][~mask]), n
            moved = (p != before[n])[mask]
            assert moved.all(), f"{n}: {int((~moved).sum())} selected entries did not move"
        tuner.unmerge()
        assert_unchanged(lm, before)
    assert not any("neuron_delta" in n for n, _ in lm.model.named_parameters())


@pytest.mark.parametrize("name", FAMILIES)
def test_zero_deltas_are_exact_and_merge_matches_hooks(name, tiny):
    lm = tiny(name)
    base = lm.model(IDS).logits
    before = snapshot(lm)
    with NeuronTuner(lm, random_set(lm)) as tuner, torch.no_grad():
        assert torch.equal(lm.model(IDS).logits, base)
        for p in tuner.parameters():
            p.normal_(0, 0.1)
        hooked = lm.model(IDS).logits
        assert (hooked - base).abs().max() > 1e-3
        tuner.merge()
        torch.testing.assert_close(lm.model(IDS).logits, hooked, rtol=1e-5, atol=1e-5)
        tuner.unmerge()
        assert_unchanged(lm, before)
        assert torch.equal(lm.model(IDS).logits, hooked)
    assert torch.equal(lm.model(IDS).logits, base)


def test_optimizer_holds_state_for_the_deltas_only(monkeypatch):
    lm = load_model("tiny-llama")
    inner = torch.zeros(2, 48, dtype=torch.bool)
    outer = torch.zeros(2, 32, dtype=torch.bool)
    inner[0, [1, 5, 7]] = inner[1, [0]] = True
    outer[1, [2, 3]] = True
    tuner = NeuronTuner(lm, NeuronSet({"inner": inner, "outer": outer}))
    # inner: 4 neurons x (gate row + up row) x d=32; outer: 2 neurons x down row of d_ff=48; no biases
    assert tuner.num_trainable() == 4 * 2 * 32 + 2 * 48
    by_slices = sum(int(s.param[s.index(tuner.neurons[key])].numel())
                    for key in tuner.neurons for s in lm.ffn.slices(*key))
    assert tuner.num_trainable() == by_slices
    assert [n for n, _ in tuner.named_parameters()] == [
        "layers.0.mlp.gate_proj.weight", "layers.0.mlp.up_proj.weight", "layers.1.mlp.gate_proj.weight",
        "layers.1.mlp.up_proj.weight", "layers.1.mlp.down_proj.weight"]

    made, grads_of_base = [], []

    class Spy(torch.optim.AdamW):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

        def step(self, *args, **kwargs):
            grads_of_base.extend(p.grad is not None for p in base_params(lm).values())
            return super().step(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", Spy)
    train(lm, EXAMPLES, tuner.parameters(), TrainConfig(**FAST), progress=False)
    assert len(made[0].state) == len(list(tuner.parameters())) == 5
    assert grads_of_base and not any(grads_of_base)  # frozen weights never got a gradient buffer
    tuner.remove()


def test_a_tuner_no_longer_referenced_keeps_the_base_frozen():
    """Only remove() unfreezes the base: a tuner whose parameters were taken and the tuner itself dropped (found by
    benchmarks/bench_memory.py: every base weight got a gradient, and the step's peak doubled) keeps it frozen."""
    import gc

    lm = load_model("tiny-gpt2")
    deltas = {id(p) for p in NeuronTuner(lm, random_set(lm)).parameters()}
    gc.collect()
    assert deltas and not any(p.requires_grad for p in base_params(lm).values())


def test_remove_restores_requires_grad_and_refuses_bad_sets(tiny):
    lm = load_model("tiny-gpt2")
    lm.model.transformer.wte.weight.requires_grad_(False)
    flags = {n: p.requires_grad for n, p in lm.model.named_parameters()}
    tuner = NeuronTuner(lm, random_set(lm))
    assert not any(p.requires_grad for p in base_params(lm).values())
    with pytest.raises(TaskNeuronsError, match="already has a neuron tuner"):
        NeuronTuner(lm, random_set(lm))
    tuner.remove()
    assert {n: p.requires_grad for n, p in lm.model.named_parameters()} == flags

    llama = tiny("tiny-llama")
    with pytest.raises(TaskNeuronsError, match="but the model has"):
        NeuronTuner(llama, random_set(lm))  # a gpt2-shaped set on a llama
    with pytest.raises(TaskNeuronsError, match="selects no neurons"):
        NeuronTuner(llama, NeuronSet.empty(llama.ffn))
    assert all(p.requires_grad for p in llama.model.parameters())


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_save_load_roundtrip(name, tmp_path, tiny):
    lm = tiny(name)
    neurons = random_set(lm)
    with NeuronTuner(lm, neurons) as tuner:
        with torch.no_grad():
            for p in tuner.parameters():
                p.normal_(0, 0.1)
        tuned = lm.model(IDS).logits
        path = tuner.save(tmp_path / "task1")
    header = json.loads((tmp_path / "task1.json").read_text())
    assert header["neurons"]["inner"][1] == neurons.indices(1, "inner").tolist()
    assert path.name == "task1.safetensors" and header["ffn_family"] == lm.ffn.map.family
    with NeuronTuner.load(tmp_path / "task1", lm) as again:
        assert torch.equal(lm.model(IDS).logits, tuned)
        assert again.neurons.keys() == tuner.neurons.keys()

    other = tiny("tiny-phi3" if name == "tiny-llama" else "tiny-llama")
    with pytest.raises(TaskNeuronsError, match=r"task1.json( was made on .* not on a model like|: field 'widths')"):
        NeuronTuner.load(tmp_path / "task1", other)
    with pytest.raises(TaskNeuronsError, match="no neuron tuner at"):
        NeuronTuner.load(tmp_path / "missing", lm)


def test_full_fine_tuning_and_lora_use_the_same_loop():
    lm = load_model("tiny-llama")
    start = loss_on(lm)
    result = train(lm, EXAMPLES, lm.model.parameters(), TrainConfig(**{**FAST, "lr": 1e-3}), progress=False)
    assert loss_on(lm) < start and result.steps == 8 and len(result.losses) == 8 and result.tokens > 0
    assert not lm.model.training  # back in eval mode

    lm = load_model("tiny-llama")
    before = snapshot(lm)
    peft_model = add_lora(lm)
    assert sum(p.numel() for p in lora_parameters(peft_model)) == 2 * 8 * ((32 + 32) + (32 + 16))  # 2 layers x r(in+out) of q, v
    start = loss_on(lm)
    train(lm, EXAMPLES, lora_parameters(peft_model), TrainConfig(**FAST), progress=False)
    assert loss_on(lm) < start
    for n, p in lm.model.named_parameters():
        if "lora_" not in n:
            assert torch.equal(p, before[n.replace(".base_layer", "")]), n


def test_lora_targets_every_family(tiny):
    from taskneurons.models import FFN_MAPS
    assert set(LORA_TARGETS) == set(FFN_MAPS)
    peft_model = add_lora(load_model("tiny-phi3"), target_modules=["o_proj"])
    assert all("o_proj" in n for n, _ in peft_model.named_parameters() if "lora_" in n)
    with pytest.raises(TaskNeuronsError, match="cannot add LoRA"):
        add_lora(load_model("tiny-llama"), target_modules=["no_such_module"])


def test_nan_loss_stops_before_the_bad_step():
    lm = load_model("tiny-llama")
    calls, at_bad_step = [], {}

    def poison(model):
        calls.append(1)
        if len(calls) == 3:
            at_bad_step.update(snapshot(lm))
            return torch.tensor(float("nan"))
        return torch.zeros(())

    with pytest.raises(TaskNeuronsError, match=r"loss became nan at step 3 \(lr=.*\); lower the learning rate"):
        train(lm, EXAMPLES, lm.model.parameters(), TrainConfig(**FAST), progress=False, extra_loss=poison)
    assert_unchanged(lm, at_bad_step)
    assert all(p.grad is None for p in lm.model.parameters()) and not lm.model.training

    with pytest.raises(TaskNeuronsError, match="lr must be a finite number"):
        TrainConfig(lr=float("inf"))


def test_a_non_finite_gradient_with_a_finite_loss_stops_before_the_step():
    lm = load_model("tiny-llama")
    before = snapshot(lm)

    def kink(model):  # sqrt at 0: the loss is finite (0), its gradient is not
        weight = next(model.parameters())
        return (weight.sum() - weight.sum().detach()).abs().sqrt()

    with pytest.raises(TaskNeuronsError, match=r"gradient norm became nan at step 1 \(lr=.*\); lower the learning rate"):
        train(lm, EXAMPLES, lm.model.parameters(), TrainConfig(**FAST), progress=False, extra_loss=kink)
    assert_unchanged(lm, before)


def test_steps_accumulation_mixing_and_determinism(tiny):
    lm = load_model("tiny-llama")
    neurons = random_set(lm)
    tasks = [Task(name, "generation", {"train": EXAMPLES[i::2]}) for i, name in enumerate(["even", "odd"])]
    runs = []
    for _ in range(2):
        with NeuronTuner(lm, neurons) as tuner:
            runs.append(train(lm, tasks, tuner.parameters(), TrainConfig(lr=1e-2, batch_size=4, grad_accum=2,
                                                                           epochs=2), progress=False))
    assert runs[0].steps == 4 and len(runs[0].losses) == 4  # 16 examples / 4 = 4 batches; 2 per step; 2 epochs
    assert runs[0].losses == runs[1].losses  # same seed, same start: the same run
    one_epoch = sum(int(training_batch(lm.tokenizer, [ex], 256)["attention_mask"].sum()) for ex in EXAMPLES)
    assert runs[0].tokens == 2 * one_epoch  # both tasks' examples, every one once per epoch


def test_bf16_autocast_leaves_the_model_as_it_was():
    lm = load_model("tiny-llama")
    dtypes = []
    lm.ffn.downs[0].register_forward_hook(lambda m, a, out: dtypes.append(out.dtype))
    with NeuronTuner(lm, random_set(lm)) as tuner:
        result = train(lm, EXAMPLES, tuner.parameters(),
                       TrainConfig(**{**FAST, "max_steps": 2}, mixed_precision="bf16"), progress=False)
        assert dtypes[0] == torch.bfloat16 and all(p.dtype == torch.float32 for p in tuner.parameters())
        assert torch.isfinite(torch.tensor(result.losses)).all()
    assert not {"forward", "_is_accelerate_prepared"} & set(vars(lm.model))
    dtypes.clear()
    train(lm, EXAMPLES, lm.model.parameters(), TrainConfig(**{**FAST, "max_steps": 1}), progress=False)
    assert dtypes[0] == torch.float32  # a later fp32 run really is fp32


def test_bad_training_input():
    lm = load_model("tiny-llama")
    other = load_model("tiny-llama")
    with pytest.raises(TaskNeuronsError, match="not the model's"):
        train(lm, EXAMPLES, other.model.parameters(), TrainConfig(**FAST), progress=False)
    with pytest.raises(TaskNeuronsError, match="nothing to train"):
        train(lm, EXAMPLES, [], TrainConfig(**FAST), progress=False)
    with pytest.raises(TaskNeuronsError, match="no training examples"):
        train(lm, [], lm.model.parameters(), TrainConfig(**FAST), progress=False)
    with pytest.raises(TaskNeuronsError, match="schedule 'step'"):
        TrainConfig(schedule="step")


def test_bfloat16_weights_learn_through_float32_master_copies():
    """10 steps of 1e-5 on bfloat16 weights: one step alone is below half a bf16 ulp for most weights (so training
    the weights directly would leave them as they were); through the float32 copies they add up and most move."""
    lm = load_model("tiny-llama", dtype="bfloat16")
    weight = lm.model.model.layers[0].mlp.up_proj.weight
    before = weight.detach().clone()
    alone = ((before.float() + 1e-5).to(torch.bfloat16) != before).float().mean()  # what one direct step would move
    train(lm, EXAMPLES, list(lm.model.parameters()), TrainConfig(lr=1e-5, max_steps=10, batch_size=4, schedule="constant"),
          progress=False)
    moved = (weight != before).float().mean()
    assert weight.dtype == torch.bfloat16 and moved > max(0.5, 3 * alone), (float(moved), float(alone))


def test_float16_weights_are_refused_in_one_line():
    lm = load_model("tiny-llama", dtype="float16")
    with pytest.raises(TaskNeuronsError, match="training float16 weights overflows without a loss scaler"):
        train(lm, EXAMPLES, list(lm.model.parameters()), TrainConfig(max_steps=1), progress=False)


@pytest.mark.parametrize("tuned", ["full", "neurons"])
def test_gradient_checkpointing_trains_the_same_steps(tuned):
    results = []
    for checkpointing in (False, True):
        lm = load_model("tiny-llama")
        tuner = NeuronTuner(lm, random_set(lm)) if tuned == "neurons" else None
        params = tuner.parameters() if tuner else list(lm.model.parameters())
        train(lm, EXAMPLES, params, TrainConfig(lr=1e-3, max_steps=3, batch_size=4, gradient_checkpointing=checkpointing),
              progress=False)
        assert not lm.model.is_gradient_checkpointing  # switched off again after training
        results.append([p.detach().clone() for p in params])
    for plain, recomputed in zip(*results):
        torch.testing.assert_close(recomputed, plain, rtol=1e-5, atol=1e-7)


def test_trainable_only_sets_exactly_the_chosen_flags_and_puts_every_flag_back_after_an_error():
    import torch

    from taskneurons.models.grads import trainable_only

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    model[1].bias.requires_grad_(False)
    before = [p.requires_grad for p in model.parameters()]
    with pytest.raises(RuntimeError):
        with trainable_only(model, [model[1].bias]):
            assert [p.requires_grad for p in model.parameters()] == [False, False, False, True]
            raise RuntimeError
    assert [p.requires_grad for p in model.parameters()] == before == [True, True, True, False]
