"""What a neuron does: the examples on which it is most active (the first question after finding it).

A neuron's activation on an example is its largest absolute activation over the prompt's positions (inner: the
down projection's input entry; outer: the FFN output channel, as ``attribution.capture_ffn`` records them).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ..models import LoadedModel
from ..models.inputs import position_kwargs
from ..tasks.batching import prompt_batch
from .attribution import capture_ffn
from .scores import Scores

Neuron = tuple[int, str, int]  # (layer, kind, index)


def top_scored(scores: Scores, n: int) -> list[Neuron]:
    """The ``n`` highest-scored neurons over every layer and kind."""
    ranked = []
    for kind, values in scores.values.items():
        best = torch.topk(values.flatten().float(), min(n, values.numel()))
        width = values.shape[1]
        ranked += [(float(v), int(i) // width, kind, int(i) % width) for v, i in zip(best.values, best.indices)]
    ranked.sort(key=lambda r: -r[0])
    return [(layer, kind, index) for _, layer, kind, index in ranked[:n]]


@torch.no_grad()
def activations(lm: LoadedModel, neurons: Sequence[Neuron], prompts: Sequence[str], batch_size: int = 8,
                max_length: int = 256) -> torch.Tensor:
    """[neurons, prompts]: each neuron's largest absolute activation over each prompt's positions."""
    out = torch.zeros(len(neurons), len(prompts))
    for start in range(0, len(prompts), batch_size):
        batch = {k: v.to(lm.device) for k, v in prompt_batch(lm.tokenizer, prompts[start:start + batch_size],
                                                               max_length).items()}
        with capture_ffn(lm) as acts:
            lm.model(**batch, **position_kwargs(lm.model, batch["attention_mask"]))
        mask = batch["attention_mask"].bool().unsqueeze(-1)
        for row, (layer, kind, index) in enumerate(neurons):
            values = acts[(layer, kind)].float().abs().masked_fill(~mask, 0.0)[..., index]  # [B, T]
            out[row, start:start + len(values)] = values.amax(dim=1).cpu()
    return out


def most_active(lm: LoadedModel, neurons: Sequence[Neuron], prompts: Sequence[str], top: int = 3,
                batch_size: int = 8, max_length: int = 256) -> list[dict]:
    """Per neuron: its layer, kind, index and its ``top`` prompts by activation (index into ``prompts``, value)."""
    values = activations(lm, neurons, prompts, batch_size, max_length)
    found = []
    for (layer, kind, index), row in zip(neurons, values):
        best = torch.argsort(row, descending=True)[:top].tolist()
        found.append({"layer": layer, "kind": kind, "index": index, "median": float(row.median()),
                      "examples": [{"example": i, "activation": float(row[i])} for i in best]})
    return found
