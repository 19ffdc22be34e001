"""Random-neuron NCFT (beyond the paper, issue 27): NCFT's control, which says whether NCFT's *choice* of neurons
matters, or only training a few of them (sparse training of random FFN channels rivals LoRA: S2FT).

Each stage trains a uniformly random set of neurons with exactly NCFT's count per (layer, kind), drawn afresh for
every task, stage, order and training seed (``kit.seeds.control_seed``); everything else (the neuron tuner, merging
through float32 masters, resuming, ``exclude_claimed``) is NCFT's. With NCFT's default scope "layer" the count is
k% of every (layer, kind) and nothing is scored; with scope "global" or "all" the counts follow NCFT's selection,
so the task is scored as NCFT scores it. Random W-NCFT (``random_wncft``) applies W-NCFT's reweighting at
inference to such random sets.
"""
from __future__ import annotations

from ....models import LoadedModel
from ....neurons import NeuronSet
from ....tasks import Task
from ...kit.seeds import control_seed
from .base import register
from .ncft import NCFT
from .wncft import WNCFT


@register
class RandomNCFT(NCFT):
    name = "random_ncft"
    title = "Random NCFT"

    @classmethod
    def draws(cls, options) -> list[tuple]:
        drawn = super().draws(options)
        return [d for d in drawn if d[0] != "score"] if options.selection.scope == "layer" else drawn

    def select(self, lm: LoadedModel, stage: int, task: Task) -> NeuronSet:
        order = ">".join(t.name for t in self.tasks)  # each order draws its own sets
        seed = control_seed(self.ctx.config.seed, task.name, stage, f"random_ncft:{order}:{self.ctx.training_seed}")
        selection = self.options.selection
        claimed = self.claimed(lm) if self.options.exclude_claimed and self.sets else None
        if selection.scope == "layer":  # k% of every (layer, kind), whatever the scores: no scoring needed
            counts = NeuronSet.random(lm.ffn, selection.k, seed, "layer")
        else:
            counts = super().select(lm, stage, task)
        chosen = counts.random_like(seed, exclude=claimed)
        provenance = {"task": task.name, "stage": stage + 1, "method": self.name, "k": selection.k,
                      "scope": selection.scope}
        return NeuronSet(chosen.masks, {**chosen.provenance, **provenance})


@register
class RandomWNCFT(RandomNCFT, WNCFT):
    name = "random_wncft"
    title = "Random W-NCFT"
    Options = WNCFT.Options
    trains_as = "random_ncft"
