"""O-LoRA (Wang et al. 2023, paper 3.5): a new LoRA adapter per task, trained in a subspace orthogonal to the
earlier tasks' adapters; the earlier adapters are frozen and stay active, so the model is the base weights
plus every task's low-rank update.

While task t trains, its loss gets (through ``train(extra_loss=...)``)::

    lambda_orth * sum over adapted modules, over earlier tasks k, of |A_k A_t^T| summed over entries
  + lambda_l2 * sum over task t's A and B matrices of their Frobenius norm

(O-LoRA's code: an absolute-value sum; ``orth_norm: squared`` takes the squared entries, the O-LoRA paper's
formula). Defaults follow O-LoRA's scripts: lambda_orth 0.5, lambda_l2 0. State: every adapter's weights.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from peft.tuners.lora import LoraLayer

from ....errors import TaskNeuronsError
from ....io import write_json
from ....models import LoadedModel, sharding
from ....tasks import Task
from ....tuning import add_lora, train
from ....configs.options import option
from ..state import load_tensors, save_tensors
from .base import register, train_info
from .seqlora import LoRAOptions, SeqLoRA, load_lora_state, lora_state

NORMS = ("abs", "squared")


@dataclass
class OLoRAOptions(LoRAOptions):
    lambda_orth: float = option(0.5, "weight of the orthogonality loss between the new adapter and earlier ones")
    lambda_l2: float = option(0.0, "weight of the L2 penalty on the new adapter")
    orth_norm: str = option("abs", '"abs" (O-LoRA\'s code) | "squared" (the O-LoRA paper\'s formula)')

    def __post_init__(self):
        super().__post_init__()
        if self.orth_norm not in NORMS:
            raise TaskNeuronsError(f"orth_norm {self.orth_norm!r} is not one of {list(NORMS)}")
        if self.lambda_orth < 0 or self.lambda_l2 < 0:
            raise TaskNeuronsError(f"lambda_orth and lambda_l2 must be >= 0, got {self.lambda_orth}, {self.lambda_l2}")


def orthogonality_loss(earlier: Sequence[torch.Tensor], new: torch.Tensor, norm: str = "abs") -> torch.Tensor:
    """sum over earlier A_k [r_k, d] of the entries of A_k @ new^T [r_k, r], as |x| ("abs") or x^2 ("squared")."""
    total = new.new_zeros(())
    for a in earlier:
        product = a @ new.T
        total = total + (product.abs().sum() if norm == "abs" else product.pow(2).sum())
    return total


def adapter_name(stage: int) -> str:
    return "default" if stage == 0 else f"task{stage + 1}"  # add_lora's first adapter is peft's "default"


@register
class OLoRA(SeqLoRA):
    name = "olora"
    title = "O-LoRA"
    Options = OLoRAOptions
    partitioned = False  # its regulariser reads the adapters' weights outside the forward pass

    def setup(self, lm: LoadedModel, tasks: list[Task]) -> None:
        self.tasks = tasks
        self.peft = None
        self.adapters: list[str] = []

    def add_adapter(self, lm: LoadedModel) -> str:
        o = self.options
        name = adapter_name(len(self.adapters))
        if self.peft is None:
            self.peft = add_lora(lm, r=o.r, alpha=o.alpha, dropout=o.dropout, target_modules=o.target_modules)
        else:
            self.peft.add_adapter(name, copy.deepcopy(self.peft.peft_config["default"]))
        self.adapters.append(name)
        self.peft.base_model.set_adapter(list(self.adapters))  # every task's adapter active
        return name

    def layers(self, lm: LoadedModel) -> list[LoraLayer]:
        return [m for m in lm.model.modules() if isinstance(m, LoraLayer)]

    def regularizer(self, lm: LoadedModel, new: str):
        o, earlier, layers = self.options, self.adapters[:-1], self.layers(lm)

        def extra_loss(model: torch.nn.Module) -> torch.Tensor:
            total = torch.zeros((), device=lm.device)
            for m in layers:
                a, b = (sharding.plain(x[new].weight) for x in (m.lora_A, m.lora_B))  # whole, when sharded
                if o.lambda_orth and earlier:  # the earlier adapters are frozen: their whole weights, detached
                    total = total + o.lambda_orth * orthogonality_loss(
                        [sharding.full(m.lora_A[k].weight) for k in earlier], a, o.orth_norm)
                if o.lambda_l2:
                    total = total + o.lambda_l2 * (a.norm() + b.norm())
            return total

        return extra_loss if (o.lambda_orth and earlier) or o.lambda_l2 else None

    def train_stage(self, lm: LoadedModel, stage: int, task: Task) -> dict:
        new = self.add_adapter(lm)
        params = [p for n, p in lm.model.named_parameters() if f".{new}." in n and ".lora_" in n]
        result = train(lm, self.ctx.train_examples(task), params, self.ctx.train_config(self.options, lm),
                       progress=self.ctx.progress, extra_loss=self.regularizer(lm, new))
        return {**train_info(result, sum(sharding.numel(p) for p in params)), "adapters": len(self.adapters)}

    def save(self, lm: LoadedModel, folder: Path) -> None:
        save_tensors(lora_state(lm.model), folder / "lora.safetensors")
        write_json(folder / "adapters.json", {"adapters": self.adapters})

    def restore(self, lm: LoadedModel, folders: list[Path]) -> None:
        names = json.loads((folders[-1] / "adapters.json").read_text())["adapters"]
        for _ in names:
            self.add_adapter(lm)
        path = folders[-1] / "lora.safetensors"
        load_lora_state(lm.model, load_tensors(path, lm.device), path)
