"""EWC (Kirkpatrick et al. 2017): SeqFT plus a quadratic penalty that keeps the weights important for earlier
tasks near their values after those tasks, with the diagonal Fisher information as importance.

After stage k the Fisher of task k is estimated as the mean over ``n_fisher`` training examples (in batches)
of the squared gradients of the batch loss (the empirical Fisher on mini-batches), and accumulated online
(Schwarz et al. 2018): F = gamma * F + F_k, anchored at the weights after stage k. During later stages the loss
gets ``lam / 2 * sum F * (w - w*)^2`` (through ``train(extra_loss=...)``). With ``normalize`` (default) F is
divided by its mean first, so ``lam`` does not depend on the model's gradient scale. ``lam`` is not tuned.

State: the weights and the accumulated Fisher (the anchor is the saved weights).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ....errors import TaskNeuronsError
from ....models import LoadedModel, sharding
from ....models.grads import trainable_only
from ....tasks import Example, Task
from ....tasks.batching import training_batch
from ....configs.options import option
from ..state import load_tensors, save_tensors
from .base import MethodOptions, register
from .seqft import SeqFT, train_all_weights


@dataclass
class EWCOptions(MethodOptions):
    lam: float = option(100.0, "penalty strength")
    n_fisher: int = option(64, "training examples per Fisher estimate")
    gamma: float = option(1.0, "decay of earlier tasks' Fisher (online EWC); 1: plain sum")
    normalize: bool = option(True, "divide F by its mean before applying lam")

    def __post_init__(self):
        super().__post_init__()
        if self.lam < 0 or self.n_fisher < 1 or not 0 <= self.gamma <= 1:
            raise TaskNeuronsError(f"EWC needs lam >= 0, n_fisher >= 1 and 0 <= gamma <= 1; got {self.lam}, "
                                   f"{self.n_fisher}, {self.gamma}")


def fisher_diagonal(lm: LoadedModel, examples: list[Example], batch_size: int, max_length: int,
                    max_target_length: int | None = None) -> dict[str, torch.Tensor]:
    """name -> mean over batches of the squared gradient of the batch's loss (float32, on the model's device)."""
    model = lm.model
    params = dict(model.named_parameters())
    fisher = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in params.items()}
    was_training = model.training
    model.eval()
    batches = 0
    try:
        with trainable_only(model, params.values()):
            for start in range(0, len(examples), batch_size):
                batch = training_batch(lm.tokenizer, examples[start:start + batch_size], max_length, max_target_length)
                batch = {k: v.to(lm.device) for k, v in batch.items()}
                model.zero_grad(set_to_none=True)
                model(**batch).loss.backward()  # into .grad: sharded weights (FSDP2) get their gradient only there
                for n, p in params.items():
                    if p.grad is not None:
                        fisher[n] += p.grad.detach().float() ** 2
                batches += 1
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return {n: f / max(1, batches) for n, f in fisher.items()}


def ewc_penalty(terms: list[tuple[torch.nn.Parameter, torch.Tensor, torch.Tensor]], lam: float) -> torch.Tensor:
    """lam / 2 * sum F * (w - w*)^2 over (parameter, F, anchor) triples (computed in float32)."""
    total = sum(((p.float() - anchor.float()) ** 2 * f).sum() for p, f, anchor in terms)
    return 0.5 * lam * total


@register
class EWC(SeqFT):
    name = "ewc"
    title = "EWC"
    Options = EWCOptions
    partitioned = False  # its penalty reads every weight outside the forward pass

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.fisher: dict[str, torch.Tensor] | None = None

    def _scale(self) -> float:
        """1 / mean(F) with ``normalize`` (folded into lam: no scaled copy of F), else 1."""
        if not self.options.normalize:
            return 1.0
        total = sum(float(sharding.plain(f.sum())) for f in self.fisher.values())
        count = sum(f.numel() for f in self.fisher.values())
        return count / total if total > 0 else 1.0

    def _terms(self, lm: LoadedModel) -> list:
        """(parameter, F, anchor): the anchor in the weights' own dtype, so that with F the method holds one float32
        and one model-sized copy beside the model, not three float32 ones."""
        return [(p, sharding.like(self.fisher[n], p), p.detach().clone()) for n, p in lm.model.named_parameters()
                if n in self.fisher]

    def train_stage(self, lm: LoadedModel, stage: int, task: Task) -> dict:
        extra = None
        if self.fisher is not None and self.options.lam > 0:
            terms, lam = self._terms(lm), self.options.lam * self._scale()
            extra = lambda model: ewc_penalty(terms, lam)  # noqa: E731
        examples = self.ctx.train_examples(task)
        info = train_all_weights(self, lm, examples, extra_loss=extra)
        c = self.ctx.config
        config = self.ctx.train_config(self.options, lm)  # the same target cut as the training
        new = fisher_diagonal(lm, examples[:self.options.n_fisher], c.batch_size, c.max_length, config.max_target_length)
        if self.fisher is None:
            self.fisher = new
        else:
            self.fisher = {n: self.options.gamma * self.fisher[n] + new[n] for n in new}
        return info

    def save(self, lm: LoadedModel, folder: Path) -> None:
        super().save(lm, folder)
        save_tensors(self.fisher, folder / "fisher.safetensors")

    def restore(self, lm: LoadedModel, folders: list[Path]) -> None:
        super().restore(lm, folders)
        params = dict(lm.model.named_parameters())  # sharded weights: each process keeps its shard of F
        self.fisher = {n: sharding.like(f, params[n]) for n, f in
                       load_tensors(folders[-1] / "fisher.safetensors", lm.device).items()}
