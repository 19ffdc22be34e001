"""score_neurons(model, examples): one forward (and one activation-only backward) per batch for every layer.

Speed: the parameters are frozen while scoring, so autograd computes no weight gradients and saves no inputs
for them; the LM head (and its softmax) runs only on the columns that carry targets (``tasks.loss``). The loss is the *sum* of the target-token
cross-entropies, so per-token gradients do not depend on how examples are batched or split across processes.

Long runs checkpoint their sums every ``checkpoint_every`` batches and resume from them; under ``accelerate``
each process scores its share of the batches and the sums are all-reduced at the end.
"""
from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm.auto import tqdm

from .. import __version__, processes
from ..errors import TaskNeuronsError
from ..io import atomic_path
from ..models import LoadedModel
from ..models.grads import trainable_only
from ..models.inputs import position_kwargs
from ..models.memory import check_fits, estimate
from ..tasks import Example
from ..tasks.batching import IGNORE, batches_by_length, training_batch
from ..tasks.loss import target_loss
from .fingerprint import model_identity
from .scorers import Scorer, make_scorer
from .scores import Scores

TOKENS = ("target", "all")
# The one scoring default, shared by score_neurons and the experiments' Selection: grad_x_act with its default
# aggregation abs_sum (|sum of g a| / tokens, the literal Eq. 3) over every position (Eq. 2 zeroes the neuron at
# every position): the variant the fidelity study found estimates the loss change of zeroing best.
DEFAULT_SCORER = "grad_x_act"
DEFAULT_TOKENS = "all"


@contextlib.contextmanager
def _embeddings_as_leaf(model: torch.nn.Module):
    """During the forward, the input embeddings' output detached into a leaf that requires grad (collected in the
    yielded list): the backward pass then stops there, and no weight gradient is computed."""
    leaf = []

    def hook(module, args, output):
        leaf.append(output.detach().requires_grad_(True))
        return leaf[-1]

    handle = model.get_input_embeddings().register_forward_hook(hook)
    try:
        yield leaf
    finally:
        handle.remove()


@contextlib.contextmanager
def on_ffn_activations(lm: LoadedModel, fn):
    """Call ``fn(layer, kind, activation)`` with every layer's inner activation (down input) and outer activation
    (the outer module's output: down's, or Gemma-2/3's post-FFN norm's) during a forward."""
    handles = []
    for layer, (down, outer) in enumerate(zip(lm.ffn.downs, lm.ffn.outers)):
        handles.append(down.register_forward_pre_hook(lambda m, args, layer=layer: fn(layer, "inner", args[0])))
        handles.append(outer.register_forward_hook(lambda m, args, out, layer=layer: fn(layer, "outer", out)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def capture_ffn(lm: LoadedModel):
    """Record every layer's inner and outer activation during a forward (:func:`on_ffn_activations`)."""
    acts: dict[tuple[int, str], torch.Tensor] = {}
    with on_ffn_activations(lm, lambda layer, kind, act: acts.__setitem__((layer, kind), act)):
        yield acts


def counted_positions(batch: dict[str, torch.Tensor], tokens: str) -> torch.Tensor:
    """[B, T] bool: the positions whose activations count. "target": the positions that predict a target token."""
    if tokens == "all":
        return batch["attention_mask"].bool()
    mask = torch.zeros_like(batch["labels"], dtype=torch.bool)
    mask[:, :-1] = batch["labels"][:, 1:] != IGNORE
    return mask


@contextlib.contextmanager
def observed(lm: LoadedModel, scorer: Scorer, positions: torch.Tensor, rows: torch.Tensor):
    """Hand each layer's activations at the counted ``positions`` (of the flattened batch; ``rows``: their
    examples) to ``scorer`` during a forward: at once for a forward-only scorer; for a gradient scorer through a
    hook on the activation, when its gradient arrives in the backward pass, so that each layer's gradient is used
    and freed as it comes (never every layer's at once) and the sums stay on the device."""
    def watch(layer: int, kind: str, act: torch.Tensor) -> None:
        index, owners = positions.to(act.device), rows.to(act.device)

        def counted(values: torch.Tensor) -> torch.Tensor:
            return values.detach().flatten(0, 1).index_select(0, index)

        chosen = counted(act)
        if scorer.needs_grad:  # the hook holds the counted copy, never ``act``: a hook on a tensor that refers back
            # to it is a cycle through autograd that Python cannot collect (each batch's whole graph would leak)
            act.register_hook(lambda grad: scorer.observe(layer, kind, chosen, counted(grad), owners))
        else:
            scorer.observe(layer, kind, chosen, None, owners)

    with on_ffn_activations(lm, watch):
        yield


def score_batch(lm: LoadedModel, scorer: Scorer, batch: dict[str, torch.Tensor], tokens: str = DEFAULT_TOKENS) -> float:
    """Add one batch to ``scorer``; returns the batch's summed loss (nan for forward-only scorers). One host sync:
    the loss, for its finiteness check and the progress bar."""
    batch = {k: v.to(lm.device) for k, v in batch.items()}
    where = counted_positions(batch, tokens)
    positions = where.flatten().nonzero().squeeze(1)
    rows = positions // where.shape[1]  # the example (row of the batch) of each counted token
    with trainable_only(lm.model), observed(lm, scorer, positions, rows):  # frozen
        if scorer.needs_grad:
            with _embeddings_as_leaf(lm.model) as leaf:  # inside the forward: sharded embeddings are whole there
                loss = target_loss(lm.model, batch)
            embeds = leaf[0]
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise TaskNeuronsError(f"the scoring loss is {loss_value} on a batch; check the data and the model's dtype")
            torch.autograd.grad(loss, embeds)  # the activations' hooks observe their gradients on the way
        else:
            with torch.no_grad():
                lm.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         **position_kwargs(lm.model, batch["attention_mask"]))
            loss_value = float("nan")
    scorer.count(where.sum(), where.any(1).sum())
    return loss_value


def score_neurons(lm: LoadedModel, examples: Sequence[Example], scorer: str = DEFAULT_SCORER, tokens: str = DEFAULT_TOKENS,
                  batch_size: int = 8, max_length: int = 256, task: str = "", progress: bool = True,
                  checkpoint: str | Path | None = None, checkpoint_every: int = 20,
                  max_target_length: int | None = None, **options) -> Scores:
    """Score every FFN neuron of ``lm`` by its importance for ``examples`` (the paper's Eq. 3: |gradient x
    activation| summed over the examples' tokens).

    Args:
        lm: the model (``load_model``).
        examples: the task data to score on (``Example`` list, e.g. a split of a ``Task``).
        scorer: a registered scorer (``SCORERS``; default ``grad_x_act``).
        tokens: which positions' activations count: "all" (the default: every non-padding position) or
            "target" (those predicting target tokens). The defaults are the experiments' (``Selection()``).
        batch_size, max_length, max_target_length: batching and lengths.
        task: the task's name, recorded in the scores.
        progress: show a progress bar.
        checkpoint, checkpoint_every: a file to save the running sums to every so many batches (a rerun
            resumes from it).
        **options: for the scorer (grad_x_act: ``aggregation``, default "abs_sum").

    Returns:
        ``Scores``: one float tensor [layers, width] per kind ("inner", "outer"). Under several processes each
        scores every ``world``-th batch and the sums are added up (``processes``).

    Example:
        >>> from taskneurons import load_model, load_task, score_neurons
        >>> lm, task = load_model("tiny-llama"), load_task("rotten_tomatoes")
        >>> scores = score_neurons(lm, task.splits["train"][:8], progress=False)
        >>> {kind: tuple(values.shape) for kind, values in scores.values.items()}
        {'inner': (2, 48), 'outer': (2, 32)}
    """
    if tokens not in TOKENS:
        raise TaskNeuronsError(f"tokens {tokens!r} is not one of {TOKENS}")
    if not examples:
        raise TaskNeuronsError(f"no examples to score{f' for task {task!r}' if task else ''}")
    state = make_scorer(scorer, lm.ffn, **options)
    config = {"scorer": scorer, "options": state.options, "tokens": tokens, "batch_size": batch_size,
              "max_length": max_length, "max_target_length": max_target_length, "n_examples": len(examples),
              "task": task}
    check_fits(estimate(lm.model, "score", batch_size, max_length, target_tokens=max_target_length), batch_size,
               lm.device)
    batches = batches_by_length(examples, batch_size)
    rounds = processes.rounds(len(batches))  # in round i, process r scores batch i * world + r
    done = _resume(checkpoint, config, state) if checkpoint else 0
    state.to(lm.device)
    was_training = lm.model.training
    lm.model.eval()
    bar = tqdm(total=rounds, initial=done, desc=f"score {task or scorer}", unit="batch",
               disable=not progress or not processes.is_main(), leave=False)
    for i in range(done, rounds):
        mine = i * processes.world() + processes.rank()
        if mine < len(batches):
            batch = training_batch(lm.tokenizer, [examples[j] for j in batches[mine]], max_length,
                                   max_target_length, padding_side="left")
            loss = score_batch(lm, state, batch, tokens)
            bar.set_postfix(loss=f"{loss / max(1, int((batch['labels'] != IGNORE).sum())):.3f}")
        elif processes.sharded():  # sharded weights: a stand-in pass in step with the others, into a scratch scorer
            batch = training_batch(lm.tokenizer, [examples[j] for j in batches[0]], max_length, max_target_length,
                                   padding_side="left")
            scratch = make_scorer(scorer, lm.ffn, **options)
            scratch.to(lm.device)
            score_batch(lm, scratch, batch, tokens)
        bar.update(1)
        if checkpoint and ((i + 1) % checkpoint_every == 0 or i + 1 == rounds):
            _save_checkpoint(checkpoint, config, processes.sum_over(state.state), i + 1)
    bar.close()
    lm.model.train(was_training)
    state.state = processes.sum_over(state.state)
    meta = {**config, "n_tokens": int(state.state["tokens"]), **model_identity(lm.model, lm.ffn, lm.name),
            "version": __version__}
    return Scores(state.result(), meta)


def _checkpoint_path(checkpoint) -> Path:
    base = Path(checkpoint)
    return base.with_name(base.name + ".safetensors")


def _save_checkpoint(checkpoint, config: dict, sums: dict[str, torch.Tensor], rounds_done: int) -> None:
    """The sums of every process and the number of rounds they cover in one file (its metadata), replaced
    atomically by the main process: a kill at any moment leaves the old pair or the new one, never sums of one and
    a count of the other."""
    with atomic_path(_checkpoint_path(checkpoint)) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in sums.items()}, str(tmp),
                  metadata={"batches_done": str(rounds_done), "processes": str(processes.world()),
                            "config": json.dumps(config, sort_keys=True)})


def _resume(checkpoint, config: dict, scorer: Scorer) -> int:
    """Load a matching checkpoint's sums into ``scorer`` (on the main process: the others add theirs from zero);
    returns the number of rounds it covers (0 if none)."""
    path = _checkpoint_path(checkpoint)
    if not path.is_file():
        return 0
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise TaskNeuronsError(f"checkpoint {path}: not a readable safetensors file ({e}); delete it") from None
    if "batches_done" not in meta:  # an older, two-file checkpoint: start the sums over rather than trust it
        return 0
    if json.loads(meta["config"]) != json.loads(json.dumps(config, sort_keys=True)):
        raise TaskNeuronsError(f"checkpoint {path} was made with other settings ({meta['config']}); "
                               f"delete it or use another output folder")
    if int(meta.get("processes", "1")) != processes.world():
        raise TaskNeuronsError(f"checkpoint {path} was made by {meta.get('processes', '1')} processes, this run has "
                               f"{processes.world()}; resume with as many, or delete it to score again")
    if set(state) != set(scorer.state) or any(state[k].shape != scorer.state[k].shape for k in state):
        raise TaskNeuronsError(f"checkpoint {path} does not fit this model's FFN layout")
    if processes.is_main():
        scorer.state.update(state)
    return int(meta["batches_done"])

