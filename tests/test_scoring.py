"""Scorers: grad_x_act against Captum, against real zeroing (Eq. 2 vs Eq. 3), invariances, resume, data parallel."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from taskneurons.errors import TaskNeuronsError
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet, deactivate
from taskneurons.neurons.attribution import counted_positions, score_neurons
from taskneurons.tasks import Example
from taskneurons.tasks.batching import IGNORE, training_batch

EXAMPLES = [Example(f"Review number {i}: {'good' if i % 2 else 'bad'} film, {'x' * i}", ["negative", "positive"][i % 2])
            for i in range(10)]


def _summed_loss_per_example(lm, batch):
    def forward(embeds):
        logits = lm.model(inputs_embeds=embeds, attention_mask=batch["attention_mask"],
                          position_ids=(batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)).logits
        per_token = F.cross_entropy(logits[:, :-1].transpose(1, 2), batch["labels"][:, 1:], ignore_index=IGNORE,
                                    reduction="none")
        return per_token.sum(-1)
    return forward


AGGREGATE = {  # Captum's per-position attributions [B, T, W] at the counted positions -> the expected score
    "mean_abs": lambda a, where: a[where].abs().sum(0) / where.sum(),
    "abs_sum": lambda a, where: a[where].sum(0).abs() / where.sum(),
    "example_abs_sum": lambda a, where: (a * where.unsqueeze(-1)).sum(1).abs().mean(0),
}


@pytest.mark.parametrize("aggregation", sorted(AGGREGATE))
@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_grad_x_act_equals_captum(name, aggregation):
    from captum.attr import LayerGradientXActivation

    lm = load_model(name)
    ours = score_neurons(lm, EXAMPLES, batch_size=4, aggregation=aggregation, tokens="target", progress=False)
    batch = training_batch(lm.tokenizer, EXAMPLES, padding_side="left")
    embeds = lm.model.get_input_embeddings()(batch["input_ids"]).detach()
    where = counted_positions(batch, "target")
    for kind, to_input in (("inner", True), ("outer", False)):
        captum = LayerGradientXActivation(_summed_loss_per_example(lm, batch), list(lm.ffn.downs))
        attributions = captum.attribute(embeds, attribute_to_layer_input=to_input)
        expected = torch.stack([AGGREGATE[aggregation](a.double(), where) for a in attributions]).float()
        torch.testing.assert_close(ours.values[kind], expected, rtol=1e-4, atol=1e-8)


def test_gradients_are_observed_a_layer_at_a_time_as_the_backward_pass_reaches_them():
    """Each layer's gradient is used when it arrives (top layer first) rather than all layers' held at once."""
    from taskneurons.neurons.attribution import score_batch
    from taskneurons.neurons.scorers import make_scorer

    lm = load_model("tiny-llama")
    scorer = make_scorer("grad_x_act", lm.ffn)
    seen = []
    observe = scorer.observe
    scorer.observe = lambda layer, kind, *rest: seen.append((layer, kind)) or observe(layer, kind, *rest)
    score_batch(lm, scorer, training_batch(lm.tokenizer, EXAMPLES[:4], padding_side="left"))
    layers = [layer for layer, _ in seen]
    assert sorted(seen) == sorted((layer, kind) for layer in range(lm.ffn.n_layers) for kind in ("inner", "outer"))
    assert layers == sorted(layers, reverse=True)


def test_scoring_a_batch_frees_its_activations_and_their_graph():
    """The gradient hooks must not keep the batch's activations (and so its whole autograd graph) alive."""
    import gc
    import weakref

    from taskneurons.neurons.attribution import score_batch
    from taskneurons.neurons.scorers import make_scorer

    lm = load_model("tiny-llama")
    refs = []
    handle = lm.ffn.downs[0].register_forward_pre_hook(lambda module, args: refs.append(weakref.ref(args[0])))
    score_batch(lm, make_scorer("grad_x_act", lm.ffn), training_batch(lm.tokenizer, EXAMPLES[:4], padding_side="left"))
    handle.remove()
    gc.collect()
    assert len(refs) == 1 and refs[0]() is None


def test_first_order_score_matches_real_zeroing_for_small_activations():
    """Eq. 3 (|g a|, summed over the tokens of one example) against Eq. 2 (the loss change from zeroing)."""
    lm = load_model("tiny-llama")
    lm.model.double()  # the loss changes are small: measure them in float64
    with torch.no_grad():
        lm.ffn.downs[1].weight.mul_(0.1)  # small outputs of the last FFN: the Taylor expansion is accurate
    example = [EXAMPLES[3]]
    scores = score_neurons(lm, example, aggregation="abs_sum", tokens="all", progress=False)
    batch = training_batch(lm.tokenizer, example)
    n_tokens = int(batch["attention_mask"].sum())

    def loss():
        with torch.no_grad():
            logits = lm.model(input_ids=batch["input_ids"]).logits
        return F.cross_entropy(logits[0, :-1], batch["labels"][0, 1:], ignore_index=IGNORE, reduction="sum").item()

    base = loss()
    real = []
    for m in range(lm.ffn.widths["outer"]):
        one = NeuronSet.empty(lm.ffn)
        one.masks["outer"][1, m] = True
        with deactivate(lm, one):
            real.append(abs(loss() - base))
    predicted = scores.values["outer"][1].double() * n_tokens
    real = torch.tensor(real, dtype=torch.float64)
    torch.testing.assert_close(predicted, real, rtol=0.05, atol=1e-3 * real.max().item())
    assert torch.corrcoef(torch.stack([predicted, real]))[0, 1] > 0.99


def test_scores_do_not_depend_on_batching_and_tokens_option_matters():
    lm = load_model("tiny-llama")
    one = score_neurons(lm, EXAMPLES, batch_size=1, tokens="target", progress=False)
    four = score_neurons(lm, EXAMPLES, batch_size=4, tokens="target", progress=False)
    for kind in one.values:
        torch.testing.assert_close(one.values[kind], four.values[kind], rtol=1e-5, atol=1e-10)
    every = score_neurons(lm, EXAMPLES, tokens="all", progress=False)
    assert every.meta["n_tokens"] > four.meta["n_tokens"] == 10 * 10  # byte tokens: " negative" (9) + EOS
    assert not torch.allclose(every.values["inner"], four.values["inner"])


def test_activation_probability_and_fisher_by_hand():
    lm = load_model("tiny-llama")
    batch = training_batch(lm.tokenizer, EXAMPLES, padding_side="left")
    where = counted_positions(batch, "target")
    seen = {}
    hook = lm.ffn.downs[0].register_forward_pre_hook(lambda m, a: seen.setdefault("a", a[0].detach()))
    with torch.no_grad():
        lm.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                 position_ids=(batch["attention_mask"].cumsum(-1) - 1).clamp(min=0))
    hook.remove()
    prob = score_neurons(lm, EXAMPLES, scorer="act_prob", batch_size=len(EXAMPLES), tokens="target", progress=False)
    torch.testing.assert_close(prob.values["inner"][0], (seen["a"][where] > 0).float().mean(0))
    act = score_neurons(lm, EXAMPLES, scorer="mean_abs_act", batch_size=len(EXAMPLES), tokens="target",
                      progress=False)
    torch.testing.assert_close(act.values["inner"][0], seen["a"][where].abs().mean(0))



@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_fisher_is_the_mean_squared_activation_gradient_by_captum(name):
    from captum.attr import LayerGradientXActivation

    lm = load_model(name)
    fisher = score_neurons(lm, EXAMPLES, scorer="fisher", batch_size=4, tokens="target", progress=False)
    batch = training_batch(lm.tokenizer, EXAMPLES, padding_side="left")
    embeds = lm.model.get_input_embeddings()(batch["input_ids"]).detach()
    where = counted_positions(batch, "target")
    for kind, to_input in (("inner", True), ("outer", False)):
        gradients = LayerGradientXActivation(_summed_loss_per_example(lm, batch), list(lm.ffn.downs),
                                             multiply_by_inputs=False).attribute(embeds, attribute_to_layer_input=to_input)
        expected = torch.stack([g[where].square().sum(0) / where.sum() for g in gradients])
        torch.testing.assert_close(fisher.values[kind], expected, rtol=1e-5, atol=1e-12)


def test_score_neurons_defaults_are_the_experiments_selection():
    """One scoring default: the function's scorer, tokens and aggregation are Selection()'s (grad_x_act, abs_sum,
    every position: the literal Eq. 3 the fidelity study chose)."""
    import inspect

    from taskneurons.experiments.kit import Selection
    from taskneurons.neurons.attribution import score_batch
    from taskneurons.neurons.scorers import make_scorer

    params, selection = inspect.signature(score_neurons).parameters, Selection()
    assert (params["scorer"].default, params["tokens"].default) == (selection.scorer, selection.tokens)
    assert inspect.signature(score_batch).parameters["tokens"].default == selection.tokens
    assert (selection.scorer, selection.tokens, selection.scorer_options) == ("grad_x_act", "all", {})
    assert make_scorer(selection.scorer, load_model("tiny-llama").ffn).options == {"aggregation": "abs_sum"}


def test_the_readme_call_scores_as_the_experiments_do():
    """score_neurons(lm, plan.draw("score", 64)) with its defaults gives the experiments' scores, bit for bit."""
    from taskneurons.experiments.kit import ExamplePlan, Selection, Settings
    from taskneurons.tasks import Task

    lm = load_model("tiny-llama")
    task = Task("reviews", "classification", {"train": EXAMPLES}, labels=("negative", "positive"))
    plan = ExamplePlan.make(task, 2, 8, seed=0)
    ours = score_neurons(lm, plan.draw("score", 8), task=task.name, progress=False)
    theirs = Selection(n_score=8).scores(lm, plan, Settings(model="tiny-llama"), progress=False)
    assert all(torch.equal(ours.values[kind], theirs.values[kind]) for kind in ours.values)
    assert ours.meta["tokens"] == "all" and ours.meta["n_tokens"] == theirs.meta["n_tokens"]


def test_bad_scorer_options():
    lm = load_model("tiny-llama")
    with pytest.raises(TaskNeuronsError, match="unknown scorer 'grad_x_ac' \\(did you mean 'grad_x_act'\\?\\)"):
        score_neurons(lm, EXAMPLES, scorer="grad_x_ac")
    with pytest.raises(TaskNeuronsError, match="aggregation 'max'"):
        score_neurons(lm, EXAMPLES, aggregation="max")
    with pytest.raises(TaskNeuronsError, match="no examples to score"):
        score_neurons(lm, [])


def test_interrupted_scoring_resumes_to_the_same_scores(tmp_path, monkeypatch):
    lm = load_model("tiny-llama")
    full = score_neurons(lm, EXAMPLES, batch_size=2, progress=False)
    from taskneurons.neurons import attribution

    calls = {"n": 0}
    real = attribution.score_batch

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(attribution, "score_batch", dying)
    with pytest.raises(KeyboardInterrupt):
        score_neurons(lm, EXAMPLES, batch_size=2, progress=False, checkpoint=tmp_path / "ck", checkpoint_every=1)
    monkeypatch.setattr(attribution, "score_batch", real)
    resumed = score_neurons(lm, EXAMPLES, batch_size=2, progress=False, checkpoint=tmp_path / "ck", checkpoint_every=1)
    for kind in full.values:
        torch.testing.assert_close(resumed.values[kind], full.values[kind], rtol=1e-6, atol=1e-12)
    with pytest.raises(TaskNeuronsError, match="made with other settings"):
        score_neurons(lm, EXAMPLES, batch_size=3, progress=False, checkpoint=tmp_path / "ck")


def test_any_checkpoint_file_is_its_own_consistent_pair_of_sums_and_count(tmp_path, monkeypatch):
    """The sums and their batch count live in one file: an older copy (a replacement that never happened) resumes
    to the same scores, never counting a batch twice."""
    import shutil

    lm = load_model("tiny-llama")
    full = score_neurons(lm, EXAMPLES, batch_size=2, progress=False)
    from taskneurons.neurons import attribution

    real, calls = attribution._save_checkpoint, {"n": 0}

    def keep_the_first(checkpoint, *args):
        real(checkpoint, *args)
        calls["n"] += 1
        if calls["n"] == 1:
            shutil.copy(f"{checkpoint}.safetensors", tmp_path / "first.safetensors")

    monkeypatch.setattr(attribution, "_save_checkpoint", keep_the_first)
    score_neurons(lm, EXAMPLES, batch_size=2, progress=False, checkpoint=tmp_path / "ck", checkpoint_every=1)
    assert calls["n"] > 1 and not (tmp_path / "ck.json").exists()
    shutil.copy(tmp_path / "first.safetensors", tmp_path / "ck.safetensors")  # back to after batch 1
    resumed = score_neurons(lm, EXAMPLES, batch_size=2, progress=False, checkpoint=tmp_path / "ck", checkpoint_every=1)
    for kind in full.values:
        torch.testing.assert_close(resumed.values[kind], full.values[kind], rtol=1e-6, atol=1e-12)


KILLED_SCRIPT = """
import sys, time
from taskneurons.models import load_model
from taskneurons.neurons import attribution
from tests.test_scoring import EXAMPLES
real = attribution.score_batch
def slow(*args):
    time.sleep(0.5)  # room for the parent's kill -9 between two checkpoints
    return real(*args)
attribution.score_batch = slow
attribution.score_neurons(load_model("tiny-llama"), EXAMPLES, batch_size=2, progress=False, checkpoint=sys.argv[1],
                          checkpoint_every=1)
"""


def test_scoring_killed_with_sigkill_resumes_to_the_uninterrupted_scores(tmp_path):
    import signal
    import time

    root = Path(__file__).resolve().parents[1]
    child = subprocess.Popen([sys.executable, "-c", KILLED_SCRIPT, str(tmp_path / "ck")], cwd=root)
    deadline = time.monotonic() + 120
    while not (tmp_path / "ck.safetensors").exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL  # killed mid-run, after at least one checkpoint
    from safetensors import safe_open

    with safe_open(str(tmp_path / "ck.safetensors"), "pt") as f:
        assert 1 <= int(f.metadata()["batches_done"]) < 5  # of the 5 batches: the resume starts in the middle
    lm = load_model("tiny-llama")
    resumed = score_neurons(lm, EXAMPLES, batch_size=2, progress=False, checkpoint=tmp_path / "ck", checkpoint_every=1)
    full = score_neurons(lm, EXAMPLES, batch_size=2, progress=False)
    assert resumed.meta["n_tokens"] == full.meta["n_tokens"]
    for kind in full.values:
        torch.testing.assert_close(resumed.values[kind], full.values[kind], rtol=1e-6, atol=1e-12)


DP_SCRIPT = """
import sys, torch
from taskneurons.models import load_model
from taskneurons.neurons.attribution import score_neurons
from tests.test_scoring import EXAMPLES
scores = score_neurons(load_model("tiny-llama"), EXAMPLES, batch_size=2, progress=False, checkpoint=sys.argv[1] + ".ck",
                       checkpoint_every=1)
scores.save(sys.argv[1])  # the main process writes, the others' writes are dropped
from taskneurons import processes
processes.end(0)  # as the command line ends (processes.end)
"""


def test_two_process_data_parallel_scores_equal_single_process(tmp_path):
    script = tmp_path / "dp.py"
    script.write_text(DP_SCRIPT)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           str(script), str(tmp_path / "dp")]
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    from taskneurons.neurons import Scores

    parallel = Scores.load(tmp_path / "dp")
    single = score_neurons(load_model("tiny-llama"), EXAMPLES, batch_size=2, progress=False)
    assert parallel.meta["n_tokens"] == single.meta["n_tokens"]
    for kind in single.values:
        torch.testing.assert_close(parallel.values[kind], single.values[kind], rtol=1e-5, atol=1e-10)
    assert not list(tmp_path.glob("*.rank*"))  # one checkpoint, of every process's sums, by the main process
    with pytest.raises(TaskNeuronsError, match=r"dp.ck.safetensors was made by 2 processes, this run has 1"):
        score_neurons(load_model("tiny-llama"), EXAMPLES, batch_size=2, progress=False, checkpoint=tmp_path / "dp.ck")
