"""Scorers: plug-ins that turn one batch's FFN activations (and their loss gradients) into running sums.

Each scorer sees, per (layer, kind), the activations ``a`` of the counted tokens as a [tokens, width] tensor,
the row of the batch (the example) each token belongs to and, if it needs them, the gradients ``g = dL/da`` of
the summed target-token loss. It keeps float64 sums in a state dict (so a run can be checkpointed and resumed,
and data-parallel processes can all-reduce it), on the GPU when the model is on one (moved to the host only at
checkpoints and at the end), and turns them into one score per neuron at the end.

- ``grad_x_act`` (the paper's Eq. 3, the first-order estimate of Eq. 2, the loss change when the neuron's output
  is set to 0), with three ``aggregation``s: ``"abs_sum"``, the literal Eq. 3 on the dataset loss,
  |sum over tokens and examples of g a| / tokens; ``"example_abs_sum"``, Eq. 3 per example, |sum over its tokens
  of g a|, averaged over examples; ``"mean_abs"`` (as in Xie et al. 2021), per-token |g a| averaged over tokens.
  ``benchmarks/bench_attribution_fidelity.py`` measures which one estimates Eq. 2 best.
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

    per = "tokens"  # what the sums are averaged over: "tokens" or "examples"

    def __init__(self, ffn: FFN):
        self.state = {"tokens": torch.zeros((), dtype=torch.float64), "examples": torch.zeros((), dtype=torch.float64)}
        for kind in KINDS:
            self.state[f"sum.{kind}"] = torch.zeros(ffn.n_layers, ffn.widths[kind], dtype=torch.float64)

    @property
    def options(self) -> dict:
        return {}

    def to(self, device) -> None:
        """Keep the sums on ``device`` if it is a GPU (float64 sums there; elsewhere they stay on the host)."""
        device = torch.device(device)
        if device.type == "cuda":
            self.state = {key: value.to(device) for key, value in self.state.items()}

    def observe(self, layer: int, kind: str, act: torch.Tensor, grad: torch.Tensor | None, rows: torch.Tensor) -> None:
        """Add one layer's [tokens, width] activations (and gradients; ``rows``: each token's example in the
        batch) to the sums."""
        grad = None if grad is None else grad.float()
        sums = self.state[f"sum.{kind}"]
        sums[layer] += self.update(act.float(), grad, rows).to(sums.device, torch.float64)

    def update(self, act: torch.Tensor, grad: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def count(self, tokens, examples) -> None:
        """Add a batch's counted tokens and examples (numbers or tensors on any device: no host sync)."""
        for key, value in (("tokens", tokens), ("examples", examples)):
            self.state[key] += torch.as_tensor(value).to(self.state[key].device)

    def result(self) -> dict[str, torch.Tensor]:
        total = self.state[self.per].clamp(min=1)
        return {kind: self.finish(self.state[f"sum.{kind}"] / total).float().cpu() for kind in KINDS}

    def finish(self, mean: torch.Tensor) -> torch.Tensor:
        return mean


@SCORERS.register
class GradXAct(Scorer):
    """|dL/da * a|, the first-order estimate of the loss change when the neuron's output is set to 0."""

    name = "grad_x_act"
    needs_grad = True
    AGGREGATIONS = ("abs_sum", "example_abs_sum", "mean_abs")

    def __init__(self, ffn: FFN, aggregation: str = "abs_sum"):
        if aggregation not in self.AGGREGATIONS:
            raise TaskNeuronsError(f"grad_x_act aggregation {aggregation!r} is not one of {self.AGGREGATIONS}")
        super().__init__(ffn)
        self.aggregation = aggregation
        self.per = "examples" if aggregation == "example_abs_sum" else "tokens"

    @property
    def options(self) -> dict:
        return {"aggregation": self.aggregation}

    def update(self, act, grad, rows):
        product = grad * act
        if self.aggregation == "mean_abs":
            return product.abs().sum(0)
        if self.aggregation == "example_abs_sum":  # |sum over each example's tokens|, summed over examples
            per_example = product.new_zeros(int(rows.max()) + 1 if len(rows) else 0, product.shape[1])
            return per_example.index_add_(0, rows, product).abs().sum(0)
        return product.sum(0)

    def finish(self, mean):
        return mean.abs()


@SCORERS.register
class MeanAbsActivation(Scorer):
    name = "mean_abs_act"

    def update(self, act, grad, rows):
        return act.abs().sum(0)


@SCORERS.register
class ActivationProbability(Scorer):
    name = "act_prob"

    def update(self, act, grad, rows):
        return (act > 0).sum(0)


@SCORERS.register
class Fisher(Scorer):
    name = "fisher"
    needs_grad = True

    def update(self, act, grad, rows):
        return grad.square().sum(0)
