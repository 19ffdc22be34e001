"""Prompt features: what W-NCFT's task vectors and EPI's task statistics are made of."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ....errors import TaskNeuronsError
from ....models import LoadedModel
from ....models.inputs import position_kwargs
from ....tasks import Example
from ....tasks.batching import prompt_batch


@torch.no_grad()
def prompt_features(lm: LoadedModel, examples: Sequence[Example], batch_size: int = 8,
                    max_length: int = 256) -> torch.Tensor:
    """Each prompt's last hidden state averaged over its tokens: float64 [n, d_model], on the CPU."""
    rows = []
    was_training = lm.model.training
    lm.model.eval()
    try:
        for start in range(0, len(examples), batch_size):
            prompts = [ex.prompt for ex in examples[start:start + batch_size]]
            batch = {k: v.to(lm.device) for k, v in prompt_batch(lm.tokenizer, prompts, max_length).items()}
            out = lm.model(**batch, **position_kwargs(lm.model, batch["attention_mask"]), output_hidden_states=True)
            mask = batch["attention_mask"].unsqueeze(-1).double()
            rows.append(((out.hidden_states[-1].double() * mask).sum(1) / mask.sum(1).clamp(min=1)).cpu())
    finally:
        lm.model.train(was_training)
    if not rows:
        raise TaskNeuronsError("no examples to compute representations of")
    return torch.cat(rows)
