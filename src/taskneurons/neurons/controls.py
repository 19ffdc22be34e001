"""Importance-matched controls (beyond the paper, issue 27): random neurons as important, in general, as a task's.

A uniformly random control is the weakest baseline: the top-attribution neurons of any task include generic,
important units (super weights, "keystone" neurons), so "deactivating the task's set hurts more than a random
set" shows importance, not task specificity. A matched control draws, per (layer, kind), as many neurons as the
set holds, from outside it, with the same distribution of *general importance* (for example the neuron's mean
score rank over the run's other tasks): the row's neurons are cut into ``bins`` quantile bins of importance, and
each selected neuron is matched by a random outside neuron of its own bin (of the nearest bin with any left, when
its own has run out). Seeded: the same seed gives the same set.
"""
from __future__ import annotations

import torch

from .. import __version__
from ..errors import TaskNeuronsError
from ..models.ffn import KINDS
from .neuron_set import NeuronSet
from .scores import Scores


def general_importance(scores: list[Scores]) -> dict[str, torch.Tensor]:
    """kind -> [layers, width]: each neuron's mean, over ``scores`` (e.g. the other tasks'), of its rank within its
    (layer, kind) row as a fraction in [0, 1] (ranks, so that tasks whose scores differ in scale weigh alike)."""
    if not scores:
        raise TaskNeuronsError("general importance needs the scores of at least one other task")
    importance = {}
    for kind in KINDS:
        ranks = [s.values[kind].float().argsort(dim=1).argsort(dim=1).float() / max(1, s.values[kind].shape[1] - 1)
                 for s in scores]
        importance[kind] = torch.stack(ranks).mean(0)
    return importance


def matched_like(neurons: NeuronSet, importance: dict[str, torch.Tensor], seed: int, bins: int = 10) -> NeuronSet:
    """An importance-matched control of ``neurons`` (see the module docstring): per (layer, kind) its count, drawn
    from outside it, bin for bin of ``importance`` (kind -> [layers, width])."""
    g = torch.Generator().manual_seed(seed)
    masks = {}
    for kind in KINDS:
        chosen = neurons.masks[kind]
        if importance[kind].shape != chosen.shape:
            raise TaskNeuronsError(f"importance of {kind} neurons has shape {list(importance[kind].shape)}, the set "
                                   f"{list(chosen.shape)}")
        mask = torch.zeros_like(chosen)
        for layer in range(chosen.shape[0]):
            row = chosen[layer]
            width = len(row)
            rank = importance[kind][layer].argsort(stable=True).argsort()
            bin_of = (rank * bins) // width  # quantile bins of equal size
            pools = [(~row & (bin_of == b)).nonzero().flatten() for b in range(bins)]
            pools = [p[torch.randperm(len(p), generator=g)].tolist() for p in pools]
            for b in bin_of[row].tolist():
                nearest = sorted((abs(o - b), o) for o in range(bins) if pools[o])
                if not nearest:
                    raise TaskNeuronsError(f"cannot match {int(row.sum())} {kind} neurons of layer {layer}: only "
                                           f"{width - int(row.sum())} lie outside the set")
                mask[layer, pools[nearest[0][1]].pop()] = True
        masks[kind] = mask
    provenance = {**NeuronSet._model_keys(neurons.provenance), "control": "matched", "seed": seed, "bins": bins,
                  "matched_to": neurons.provenance, "version": __version__}
    return NeuronSet(masks, provenance)
