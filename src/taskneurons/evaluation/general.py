"""The model's loss on general text (beyond the paper, issue 27): what an intervention costs the model beyond its
task. Each passage's mean next-token loss (nats per token), so that two conditions pair passage by passage."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


@torch.no_grad()
def general_loss(lm, texts: list[str], batch_size: int = 8, max_length: int = 256, progress: bool = False) -> dict:
    """``{"loss": mean over passages, "passages": each passage's mean loss, "tokens": tokens predicted}`` of
    ``lm`` on ``texts`` (each cut to ``max_length`` tokens; every token after the first is predicted). Every
    process computes every passage (under sharded weights the forward passes are collective, so all run alike)."""
    model, tokenizer = lm.model, lm.tokenizer
    was_training = model.training
    model.eval()
    losses, tokens = [], 0
    try:
        for start in tqdm(range(0, len(texts), batch_size), desc="general text", unit="batch", disable=not progress):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True, truncation=True,
                              max_length=max_length).to(next(model.parameters()).device)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
            seen = batch["attention_mask"].bool()
            predicted = seen[:, 1:] & seen[:, :-1]  # a real token predicted from a real one (either padding side)
            nll = F.cross_entropy(logits.float().transpose(1, 2), batch["input_ids"][:, 1:], reduction="none")
            losses += ((nll * predicted).sum(1) / predicted.sum(1).clamp(min=1)).tolist()
            tokens += int(predicted.sum())
    finally:
        model.train(was_training)
    return {"loss": sum(losses) / len(losses), "passages": losses, "tokens": tokens}


def general_record(lm, settings) -> dict:
    """``{"general_loss": ...}`` on the ``settings.general_passages`` held-out passages (``tasks/general.py``, drawn
    at the run's seed), for a step record; ``{}`` when it is 0."""
    if not getattr(settings, "general_passages", 0):
        return {}
    from ..tasks.general import general_text

    texts = general_text("eval", settings.general_passages, settings.seed)
    return {"general_loss": general_loss(lm, texts, settings.batch_size, settings.max_length)["loss"]}
