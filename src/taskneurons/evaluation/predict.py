"""Batched predictions: label ranking by log-likelihood (one prompt pass + one pass over the options, sharing
the prompt's KV cache) and greedy generation with the KV cache and left padding.

A label's tokens are ``encode_target(label)``, the very ids training puts the loss on; with ``eos`` they are
followed by the tokenizer's EOS, as in training, so a label that the model would go on continuing is penalised."""
from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence

import torch

from .. import processes
from ..models import LoadedModel, memory
from ..models.inputs import position_kwargs
from ..tasks.batching import encode_target, prompt_batch


def rank_labels(lm: LoadedModel, prompts: Sequence[str], labels: Sequence[str], max_length: int = 256,
                length_normalize: bool = False, eos: bool = False) -> list[str]:
    """For each prompt, the label whose tokens (followed by EOS when ``eos``) have the highest log-probability
    after the prompt; with ``length_normalize`` the highest mean log-probability per token (EOS counted)."""
    scores = label_logprobs(lm, prompts, labels, max_length, eos)
    if length_normalize:
        scores = scores / torch.tensor([len(label_tokens(lm.tokenizer, label, eos)) for label in labels])
    return [labels[i] for i in scores.argmax(-1).tolist()]


def label_tokens(tokenizer, label: str, eos: bool = False) -> list[int]:
    """The token ids a label is scored on: its target tokens, then EOS when ``eos``."""
    return encode_target(tokenizer, label) + ([tokenizer.eos_token_id] if eos else [])


@torch.no_grad()
def label_logprobs(lm: LoadedModel, prompts: Sequence[str], labels: Sequence[str], max_length: int = 256,
                   eos: bool = False) -> torch.Tensor:
    """[prompts, labels]: total log-probability of each label's target tokens (then EOS when ``eos``) after
    each prompt."""
    model, device = lm.model, lm.device
    batch = {k: v.to(device) for k, v in prompt_batch(lm.tokenizer, prompts, max_length).items()}
    keep = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    out = model(**batch, **position_kwargs(model, batch["attention_mask"]), use_cache=True, **keep)  # last position's
    first_logp = out.logits[:, -1].float().log_softmax(-1)  # [B, V]: the first label token's distribution
    label_ids = [label_tokens(lm.tokenizer, label, eos) for label in labels]
    n_l = len(labels)
    scores = torch.stack([first_logp[:, ids[0]] for ids in label_ids], dim=1)  # [B, L]
    width = max(len(ids) for ids in label_ids)
    if width > 1:  # the later label tokens: all labels of all prompts over the shared prompt cache, by chunks
        chunk = processes.smallest(memory.labels_per_chunk(n_l, _cache_bytes(out.cache)))  # as many passes everywhere
        later = [_later_tokens(lm, model, batch, out.cache if chunk == n_l else copy.deepcopy(out.cache),
                               label_ids[start:start + chunk], width) for start in range(0, n_l, chunk)]
        scores = scores + torch.cat(later, dim=1)
    return scores.cpu()


def _cache_bytes(cache) -> int:
    """The size of a KV cache's tensors (0 for a cache type without per-layer keys and values: one chunk)."""
    try:
        return sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    except (AttributeError, TypeError):
        return 0


def _later_tokens(lm: LoadedModel, model, batch: dict, cache, label_ids: list[list[int]], width: int) -> torch.Tensor:
    """[prompts, labels]: the log-probability of each label's tokens after its first, in one pass of every
    (prompt, label) pair over ``cache`` (the prompts' cache, repeated here once per label: it is consumed)."""
    n_b, n_l, device = batch["input_ids"].shape[0], len(label_ids), lm.device
    cont = torch.full((n_l, width), lm.tokenizer.pad_token_id, dtype=torch.long)
    cont_mask = torch.zeros((n_l, width), dtype=torch.long)
    for j, ids in enumerate(label_ids):
        cont[j, : len(ids)] = torch.tensor(ids)
        cont_mask[j, : len(ids)] = 1
    cont, cont_mask = cont.to(device).repeat(n_b, 1), cont_mask.to(device).repeat(n_b, 1)
    cache.batch_repeat_interleave(n_l)
    mask = torch.cat([batch["attention_mask"].repeat_interleave(n_l, 0), torch.ones_like(cont_mask)], dim=1)
    positions = {k: v[:, -width:] for k, v in position_kwargs(model, mask).items()}
    logits = model(input_ids=cont, attention_mask=mask, cache=cache, use_cache=True, **positions).logits
    logp = logits[:, :-1].float().log_softmax(-1)  # position k predicts label token k + 1
    step = logp.gather(-1, cont[:, 1:].unsqueeze(-1)).squeeze(-1) * cont_mask[:, 1:]
    return step.sum(-1).view(n_b, n_l)


@torch.no_grad()
def generate(lm: LoadedModel, prompts: Sequence[str], max_new_tokens: int, max_length: int = 256) -> list[str]:
    """Greedy continuations of the prompts (decoded, special tokens dropped)."""
    batch = {k: v.to(lm.device) for k, v in prompt_batch(lm.tokenizer, prompts, max_length).items()}
    out = lm.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                            pad_token_id=lm.tokenizer.pad_token_id, eos_token_id=lm.tokenizer.eos_token_id,
                            temperature=None, top_p=None, top_k=None,
                            synced_gpus=processes.sharded() and processes.world() > 1)  # sharded: every process steps until all are done
    new = out[:, batch["input_ids"].shape[1]:]
    return [t.strip() for t in lm.tokenizer.batch_decode(new, skip_special_tokens=True)]
