"""Token batches: training batches with the loss on the target tokens only (plus EOS), and left-padded prompts.

The target is tokenized apart from the prompt and joined after ``TARGET_SEPARATOR``, so that training, label
ranking and generation all see the very same target token ids. Prompts longer than ``max_length`` lose their
middle (the instruction at the start and the cue at the end both matter).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from .base import Example

IGNORE = -100
TARGET_SEPARATOR = " "


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str, max_length: int) -> list[int]:
    ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    if len(ids) <= max_length:
        return ids
    head = max_length // 2
    return ids[:head] + ids[len(ids) - (max_length - head):]


def encode_target(tokenizer: PreTrainedTokenizerBase, target: str) -> list[int]:
    return tokenizer(TARGET_SEPARATOR + target, add_special_tokens=False)["input_ids"]


def training_batch(tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int = 256,
                   max_target_length: int | None = None, padding_side: str = "right") -> dict[str, torch.Tensor]:
    """Padded prompt+target+EOS sequences; ``labels`` is IGNORE everywhere but the target and EOS. A target is cut
    to ``max_target_length`` tokens (default: half of ``max_length``; the prompt is cut to fit the rest).

    Left padding puts every target at the end of its row, so the LM head is needed only on the last columns."""
    rows = []
    for ex in examples:
        target = encode_target(tokenizer, ex.target)[:max_target_length or max(1, max_length // 2)]
        target = target + [tokenizer.eos_token_id]
        prompt = encode_prompt(tokenizer, ex.prompt, max(1, max_length - len(target)))
        rows.append((prompt + target, [IGNORE] * len(prompt) + target))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        cols = slice(width - len(ids), width) if padding_side == "left" else slice(0, len(ids))
        input_ids[i, cols] = torch.tensor(ids)
        labels[i, cols] = torch.tensor(lab)
        attention_mask[i, cols] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def prompt_batch(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], max_length: int = 256) -> dict[str, torch.Tensor]:
    """Left-padded prompts, ready for generation or for continuing with a KV cache."""
    encoded = [encode_prompt(tokenizer, p, max_length) for p in prompts]
    return left_pad(encoded, tokenizer.pad_token_id)


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, s in enumerate(sequences):
        if s:
            input_ids[i, width - len(s):] = torch.tensor(s)
            attention_mask[i, width - len(s):] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def batches_by_length(examples: Sequence[Example], batch_size: int) -> list[list[int]]:
    """Index batches of examples of similar prompt length (less padding); callers restore the order."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].prompt))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
