"""Peak memory of a piece of work, estimated before it starts: weights, saved activations, training state, KV cache.

The estimate is arithmetic on the model's geometry (layers, widths, vocabulary, KV heads; read from the module, so it
also works on a model built on the meta device), the dtype, the batch and the lengths:

- weights: every parameter at its size;
- saved activations in training and scoring: per token and layer about ``8 d + 4 d_ff`` values (norm outputs,
  q/k/v/attention output, residual, gate/up/activation/product of a gated FFN; attention itself by SDPA, no T x T
  matrix), or with gradient checkpointing the layer inputs plus one layer's; the logits at the target positions
  in float32, twice (the values and their gradient);
- training state: the trained parameters' gradients, AdamW's two float32 moments and, for 16-bit ones, float32
  master copies (``train``: the given parameters, by default all: full fine-tuning); ``train_neurons`` plans the
  neuron tuner at k% before it exists: its float32 deltas, their gradients and moments;
- scoring: the saved activations (the neurons' are among them) and one layer's neuron gradients in float32;
- label ranking: the prompt's KV cache, repeated once per label of a chunk (``LABEL_CACHE_BYTES`` of repeated
  cache at most) for the label pass, and that pass's logits;
  generation: the KV cache of prompt and new tokens.

Lengths are taken at ``max_length`` (a batch of shorter prompts needs less), so the estimate is an upper bound for
ranking and generation; ``bench_memory.py`` compares it with measured peaks (docs/scale.md). A device without room
for it gets one line that says which batch size fits (:func:`check_fits`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import processes
from ..errors import TaskNeuronsError
from . import sharding
from .ffn import FFN

WORKS = ("rank", "generate", "score", "train", "train_neurons")
SHARDED_PARTS = ("gradients", "optimizer", "deltas, gradients, optimizer")  # FSDP2 and ZeRO shard them
GiB = 2 ** 30
LABEL_CACHE_BYTES = GiB  # label ranking repeats the prompts' KV cache once per label, in chunks of at most this


def labels_per_chunk(n_labels: int, cache_bytes: int) -> int:
    """How many labels' repeats of a ``cache_bytes`` KV cache fit in ``LABEL_CACHE_BYTES`` (at least one)."""
    return max(1, min(n_labels, LABEL_CACHE_BYTES // max(1, cache_bytes)))


@dataclass
class MemoryPlan:
    """Bytes by part; ``total`` is the estimated peak. ``per_example``: how much of it one more example adds."""

    work: str
    parts: dict[str, int]
    per_example: int
    shards: int = 1  # processes the training state (and the weights, but under ZeRO-2) is sharded over
    sharded: int = 0  # bytes of the training state (weights aside) over all processes: what more processes divide

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        shown = " + ".join(f"{name} {value / GiB:.2f}" for name, value in self.parts.items() if value)
        return f"{self.work}: {shown} = {self.total / GiB:.2f} GiB"


def estimate(model: torch.nn.Module, work: str, batch_size: int, max_length: int, k: float = 10.0,
             n_labels: int = 2, label_tokens: int = 1, new_tokens: int = 32, target_tokens: int | None = None,
             gradient_checkpointing: bool = False, trained: list[torch.nn.Parameter] | None = None,
             shards: int | None = None, whole_weights: bool | None = None) -> MemoryPlan:
    """The plan of ``work`` (one of ``WORKS``) on ``model`` for one process's batches of ``batch_size`` x
    ``max_length`` tokens; ``target_tokens`` per example are trained or scored (default an eighth of
    ``max_length``). ``shards``: the processes the model is sharded over (default: this launch's, 1 unsharded);
    gradients and optimizer state are divided by it, and so are the weights unless ``whole_weights`` (ZeRO-2; the
    default: this launch's), with two whole blocks added (the one computing and the next one, gathered ahead)."""
    if work not in WORKS:
        raise TaskNeuronsError(f"work {work!r} is not one of {list(WORKS)}")
    shards = shards or (processes.world() if processes.sharding() else 1)
    whole_weights = processes.sharding() == "zero2" if whole_weights is None else whole_weights

    def at(batch: int) -> dict[str, int]:
        return _parts(model, work, batch, max_length, k, n_labels, label_tokens, new_tokens,
                      target_tokens or max(1, max_length // 8), gradient_checkpointing, trained)

    parts = at(batch_size)
    per_example = sum(at(batch_size + 1).values()) - sum(parts.values())
    state = sum(parts.get(name, 0) for name in SHARDED_PARTS)
    for name in SHARDED_PARTS if whole_weights else ("weights", *SHARDED_PARTS):
        if name in parts:
            parts[name] = -(-parts[name] // shards)
    if shards > 1 and not whole_weights:
        parts["gathered blocks"] = 2 * max(sum(sharding.numel(p) * p.element_size() for p in block.parameters())
                                           for block in FFN(model).blocks)
    return MemoryPlan(work, parts, per_example, shards, state)


def _parts(model, work, batch, length, k, n_labels, label_tokens, new_tokens, targets, checkpointing,
           trained) -> dict[str, int]:
    ffn, config = FFN(model), model.config
    size = next(model.parameters()).element_size()  # activations and cache in the weights' dtype
    layers, d, d_ff = ffn.n_layers, ffn.widths["outer"], ffn.widths["inner"]
    vocab = sharding.shape(model.get_output_embeddings().weight)[0]
    heads = config.num_attention_heads
    kv_width = getattr(config, "num_key_value_heads", None) or heads
    kv_width *= getattr(config, "head_dim", None) or d // heads
    tokens = batch * length
    parts = {"weights": sum(sharding.numel(p) * p.element_size() for p in model.parameters())}
    if work in ("rank", "generate"):
        cached = length + (new_tokens if work == "generate" else 0)
        cache = 2 * layers * batch * cached * kv_width * size
        if work == "rank":  # the label pass repeats the prompt's cache once per label of a chunk
            parts["kv cache"] = cache * (1 + labels_per_chunk(n_labels, cache))
            parts["logits"] = 4 * batch * vocab * (1 + 2 * n_labels * label_tokens)
        else:
            parts["kv cache"] = cache
            parts["logits"] = 8 * batch * vocab
        parts["activations"] = tokens * (d + d_ff) * size  # one layer's, transient
        return parts
    per_layer = (8 * d + 4 * d_ff) * size
    saved = tokens * (layers * d * size + per_layer) if checkpointing else tokens * layers * per_layer
    parts["activations"] = saved + 8 * batch * targets * vocab
    if work == "score":  # the neurons' activations are among the saved ones; their gradients come a layer at a time
        parts["neuron gradients"] = 8 * tokens * (d + d_ff)
    elif work == "train":
        trained = list(model.parameters()) if trained is None else trained
        parts["gradients"] = sum(sharding.numel(p) * p.element_size() for p in trained)
        parts["optimizer"] = sum((8 + (4 if p.element_size() < 4 else 0)) * sharding.numel(p) for p in trained)
    else:
        ups = len(ffn.projections(0, "inner"))
        deltas = layers * (math.ceil(d_ff * k / 100) * ups * d + math.ceil(d * k / 100) * d_ff)
        parts["deltas, gradients, optimizer"] = 16 * deltas
    return parts


def available(device: torch.device | str) -> int | None:
    """Bytes free on ``device`` now (a GPU's free memory; the host's available memory for the CPU); None if unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_fits(plan: MemoryPlan, batch_size: int, device: torch.device | str, free: int | None = None) -> None:
    """One line, before the work, when ``plan`` needs more than a GPU ``device`` has free (the weights are already
    there, so only the rest must fit): how much is missing, and the largest batch size that fits. The host's
    memory is not checked (``free`` overrides what the device reports)."""
    if torch.device(device).type != "cuda" and free is None:  # the host: the OS swaps rather than fails outright
        return
    free = available(device) if free is None else free
    needed = plan.total - plan.parts["weights"]
    if free is None or needed <= free:
        return
    fixed = needed - plan.per_example * batch_size
    fits = max(0, (free - fixed) // plan.per_example) if plan.per_example > 0 else 0
    advice = f"batch_size {fits} fits" if fits else "no batch size fits: use gradient_checkpointing, a shorter max_length or more devices"
    rest = needed - sum(plan.parts.get(name, 0) for name in SHARDED_PARTS)  # what more processes do not divide
    if plan.sharded and rest < free:
        advice += f"; or shard over {max(plan.shards + 1, -(-plan.sharded // (free - rest)))} processes (FSDP2, ZeRO-3)"
    raise TaskNeuronsError(f"{plan.work} needs about {needed / GiB:.1f} GiB beyond the weights at batch_size "
                           f"{batch_size} ({plan.describe()}), {device} has {free / GiB:.1f} GiB free; {advice}")


def summary(model: torch.nn.Module, batch_size: int, max_length: int, k: float | None = 10.0) -> str:
    """One line of estimated peaks for the usual works at this batch, for the start of a run (``k``: the percent
    of neurons the run trains through the neuron tuner; None: no such training)."""
    plans = {"ranking": estimate(model, "rank", batch_size, max_length),
             "scoring": estimate(model, "score", batch_size, max_length),
             "full fine-tuning": estimate(model, "train", batch_size, max_length)}
    if k is not None:
        plans[f"neuron tuner at {k:g}%"] = estimate(model, "train_neurons", batch_size, max_length, k=k)
    shown = ", ".join(f"{name} {plan.total / GiB:.2f}" for name, plan in plans.items())
    return f"memory, estimated peaks at batch {batch_size} x {max_length} tokens (GiB): {shown}"
