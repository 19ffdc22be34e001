"""SeqLoRA (paper 3.5): one LoRA adapter (``peft``, on the attention projections by default) trained through
the whole sequence; the base weights stay frozen. State: the adapter's weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ....errors import TaskNeuronsError
from ....models import LoadedModel, sharding
from ....tasks import Task
from ....tuning import add_lora, train
from ....configs.options import option
from ..state import load_tensors, save_tensors
from .base import Method, MethodOptions, register, train_info


@dataclass
class LoRAOptions(MethodOptions):
    lr: float = option(3e-4, "learning rate of the adapters")
    r: int = option(8, "LoRA rank")
    alpha: int = option(16, "LoRA alpha (scaling alpha / r)")
    dropout: float = option(0.0, "LoRA dropout")
    target_modules: list | None = option(None, "default: the family's attention query and value projections")

    def __post_init__(self):
        super().__post_init__()
        if self.r < 1 or self.alpha <= 0 or not 0 <= self.dropout < 1:
            raise TaskNeuronsError(f"LoRA needs r >= 1, alpha > 0 and 0 <= dropout < 1; got {self.r}, {self.alpha}, "
                                   f"{self.dropout}")


def lora_state(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """The LoRA parameters by name (the parameters themselves: a saver gathers them whole, ``state.save_tensors``)."""
    return {n: p for n, p in model.named_parameters() if ".lora_" in n}


def load_lora_state(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    params = lora_state(model)
    if sorted(params) != sorted(tensors):
        raise TaskNeuronsError(f"{source}: holds LoRA weights {sorted(tensors)[:2]}..., the model has {sorted(params)[:2]}...")
    copy_into(params, tensors)


def copy_into(params: dict[str, torch.nn.Parameter], tensors: dict[str, torch.Tensor]) -> None:
    """Each whole tensor into its parameter (through ``sharding.editing``: a sharded one keeps its own shard)."""
    for name, value in tensors.items():
        with sharding.editing(params[name]) as whole:
            whole.copy_(value)


@register
class SeqLoRA(Method):
    name = "seqlora"
    title = "SeqLoRA"
    Options = LoRAOptions

    def setup(self, lm: LoadedModel, tasks: list[Task]) -> None:
        super().setup(lm, tasks)
        o = self.options
        self.peft = add_lora(lm, r=o.r, alpha=o.alpha, dropout=o.dropout, target_modules=o.target_modules)

    def train_stage(self, lm: LoadedModel, stage: int, task: Task) -> dict:
        params = [p for n, p in lm.model.named_parameters() if ".lora_" in n]
        result = train(lm, self.ctx.train_examples(task), params, self.ctx.train_config(self.options, lm),
                       progress=self.ctx.progress)
        return train_info(result, sum(sharding.numel(p) for p in params))

    def save(self, lm: LoadedModel, folder: Path) -> None:
        save_tensors(lora_state(lm.model), folder / "lora.safetensors")

    def restore(self, lm: LoadedModel, folders: list[Path]) -> None:
        path = folders[-1] / "lora.safetensors"
        load_lora_state(lm.model, load_tensors(path, lm.device), path)
