"""Scorers: plug-ins that turn one batch's FFN activations (and their loss gradients) into running sums.

Each scorer sees, per (layer, kind), the activations ``a`` of the counted tokens as a [tokens, width] tensor and,
if it needs them, the gradients ``g = dL/da`` of the summed target-token loss. It keeps float64 sums in a state
dict (so a run can be checkpointed and resumed, and data-parallel processes can all-reduce it) and turns them
into one score per neuron at the end.

- ``grad_x_act`` (the paper, Eq. 3): R = |g * a|. ``aggregation="mean_abs"`` (default, as in Xie et al. 2021,
  whose method the paper follows) averages per-token |g a| over tokens; ``"abs_sum"`` is the literal Eq. 3 on
  the dataset loss, |sum of g a| / tokens.
- ``mean_abs_act``: mean |a| (no gradient).
- ``act_prob``: the fraction of tokens where a > 0 (language-specific-neuron style; no gradient).
- ``fisher``: mean g^2 (the diagonal empirical Fisher of the activations).
"""
from __future__ import annotations

import torch

from ..errors import TaskNeuronsError
from ..models.ffn import KINDS, FFN
from ..registry import Registry

SCORERS: Registry[type[Scorer]] = Registry("scorer")


def make_scorer(name: str, ffn: FFN, **options) -> Scorer:
    """The registered scorer ``name``; a wrong name gets an error listing the right ones."""
    return SCORERS.get(name)(ffn, **options)


class Scorer:
    """Accumulates per-neuron sums over batches. Subclasses set ``name``, ``needs_grad`` and ``update``."""

    name = ""
    needs_grad = False

    def __init__(self, ffn: FFN):
        self.state = {"tokens": torch.zeros((), dtype=torch.float64)}
        for kind in KINDS:
            self.state[f"sum.{kind}"] = torch.zeros(ffn.n_layers, ffn.widths[kind], dtype=torch.float64)

    @property
    def options(self) -> dict:
        return {}

    def observe(self, layer: int, kind: str, act: torch.Tensor, grad: torch.Tensor | None) -> None:
        """Add one layer's [tokens, width] activations (and gradients) to the sums."""
        self.state[f"sum.{kind}"][layer] += self.update(act.float(), None if grad is None else grad.float()).double().cpu()

    def update(self, act: torch.Tensor, grad: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def count_tokens(self, n: int) -> None:
        self.state["tokens"] += n

    def result(self) -> dict[str, torch.Tensor]:
        tokens = self.state["tokens"].clamp(min=1)
        return {kind: self.finish(self.state[f"sum.{kind}"] / tokens).float() for kind in KINDS}

    def finish(self, mean: torch.Tensor) -> torch.Tensor:
        return mean


@SCORERS.register
class GradXAct(Scorer):
    """|dL/da * a|, the first-order estimate of the loss change when the neuron's output is set to 0."""

    name = "grad_x_act"
    needs_grad = True
    AGGREGATIONS = ("mean_abs", "abs_sum")

    def __init__(self, ffn: FFN, aggregation: str = "mean_abs"):
        if aggregation not in self.AGGREGATIONS:
            raise TaskNeuronsError(f"grad_x_act aggregation {aggregation!r} is not one of {self.AGGREGATIONS}")
        super().__init__(ffn)
        self.aggregation = aggregation

    @property
    def options(self) -> dict:
        return {"aggregation": self.aggregation}

    def update(self, act, grad):
        product = grad * act
        return product.abs().sum(0) if self.aggregation == "mean_abs" else product.sum(0)

    def finish(self, mean):
        return mean.abs()


@SCORERS.register
class MeanAbsActivation(Scorer):
    name = "mean_abs_act"

    def update(self, act, grad):
        return act.abs().sum(0)


@SCORERS.register
class ActivationProbability(Scorer):
    name = "act_prob"

    def update(self, act, grad):
        return (act > 0).sum(0)


@SCORERS.register
class Fisher(Scorer):
    name = "fisher"
    needs_grad = True

    def update(self, act, grad):
        return grad.square().sum(0)
