"""SeqFT: fine-tune all the model's weights on each task in turn (the forgetting baseline, paper 3.5).

State: the model's weights after the stage (only the latest stage's are needed to resume).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ....models import LoadedModel, sharding
from ....tasks import Example, Task
from ....tuning import train
from ....models.weights import load_weights, save_weights
from .base import Method, MethodOptions, register, train_info


def train_all_weights(method: Method, lm: LoadedModel, examples: list[Example],
                      extra_loss: Callable[[torch.nn.Module], torch.Tensor] | None = None, stages: int = 1) -> dict:
    """Full fine-tuning of ``lm`` on ``examples`` with the method's options for ``stages`` stages' steps, through
    the one ``train`` loop."""
    params = list(lm.model.parameters())
    result = train(lm, examples, params, method.ctx.train_config(method.options, lm, stages),
                   progress=method.ctx.progress, extra_loss=extra_loss)
    return train_info(result, sum(sharding.numel(p) for p in params))


@register
class SeqFT(Method):
    name = "seqft"
    title = "SeqFT"
    Options = MethodOptions

    def train_stage(self, lm: LoadedModel, stage: int, task: Task) -> dict:
        return train_all_weights(self, lm, self.ctx.train_examples(task))

    def save(self, lm: LoadedModel, folder: Path) -> None:
        save_weights(lm.model, folder / "model.safetensors")

    def restore(self, lm: LoadedModel, folders: list[Path]) -> None:
        load_weights(lm.model, folders[-1] / "model.safetensors")
