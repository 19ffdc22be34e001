"""The causal-LM loss on target tokens, computing the LM head (and its softmax) only where targets are.

Batches are left-padded (``training_batch(..., padding_side="left")``), so every target sits at the end of its
row and only the last columns need logits: for a classification batch that is a few columns out of hundreds,
which saves the largest activation of the model ([batch, length, vocabulary]) in training and scoring alike.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

from ..models.inputs import position_kwargs
from .batching import IGNORE


def target_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], reduction: str = "sum", forward=None,
                **inputs) -> torch.Tensor:
    """Cross-entropy of the target tokens of ``batch`` ("sum" or "mean" over target tokens).

    ``inputs`` replaces ``input_ids`` (e.g. ``inputs_embeds=...``); ``forward`` is the callable to run, default
    ``model`` (pass a DDP wrapper of it when training data-parallel)."""
    labels = batch["labels"]
    has_target = (labels != IGNORE).any(0).nonzero()
    first = int(has_target[0]) if len(has_target) else labels.shape[1] - 1
    keep = labels.shape[1] - first + 1
    inputs = inputs or {"input_ids": batch["input_ids"]}
    inputs.update(attention_mask=batch["attention_mask"], **position_kwargs(model, batch["attention_mask"]))
    forward = forward or model
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        logits = forward(**inputs, logits_to_keep=keep).logits
    else:
        logits = forward(**inputs).logits[:, -keep:]
    tail = labels[:, -keep + 1:]
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), tail.flatten(), ignore_index=IGNORE, reduction=reduction)
