"""Overlap between tasks' neuron sets (paper 2.8, Table 8) and the overlap-controlled sampler (2.9, Tables 9-11).

Pure functions on NeuronSets and Scores: nothing here loads or runs a model.

**Overlap** is the Jaccard index |A ∩ B| / |A ∪ B| (Eq. 13) over all neurons of both kinds. Between task
*groups* it is taken between the unions of each group's sets, as in Appendix A.6.

**The overlap-controlled sampler** (:func:`overlap_controlled_set`) draws a set of neurons to train with a
preset overlap with a target set (the test task's neurons). Two readings of the paper's "overlap rate" are
offered (``definition``):

- ``"share"`` (default, PAPER.md 2.9's recommendation): the fraction of the *trained* neurons drawn from the
  target set, ``n_from_target = round(rate * n_total)``; the others come from the pool outside the target.
- ``"jaccard"``: the Jaccard index between the trained set and the target set equals ``rate``:
  ``n_from_target = round(rate * (n_total + |target|) / (1 + rate))``, which needs ``n_from_target <=
  min(n_total, |target|)`` (a Jaccard of 100% means training exactly the target set).

The total count (``counts``) is the caller's choice; the experiment offers two readings: ``"proportion"``
(p% of the model's neurons in every (layer, kind), :func:`proportion_counts`) and ``"train_union"`` (as many
per (layer, kind) as the union of the training tasks' top-p% sets). The neurons from the target are spread
over the (layer, kind) cells in proportion to each cell's total (largest remainder, within what each cell
can give), so the overall numbers are exact. Rounding is half up everywhere.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch

from .. import __version__
from ..errors import TaskNeuronsError
from ..models.ffn import KINDS
from ..neurons.neuron_set import NeuronSet, n_selected, pairwise_jaccard
from ..neurons.scores import Scores

DEFINITIONS = ("share", "jaccard")


def round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def union(sets: Iterable[NeuronSet]) -> NeuronSet:
    """The union of one or more neuron sets."""
    sets = list(sets)
    if not sets:
        raise TaskNeuronsError("the union of no neuron sets is undefined: give at least one set")
    out = sets[0]
    for s in sets[1:]:
        out = out | s
    return out


def group_overlap(train_sets: Iterable[NeuronSet], test_sets: Iterable[NeuronSet]) -> float:
    """Jaccard between the union of the training tasks' sets and the union of the test tasks' sets (A.6)."""
    return union(train_sets).jaccard(union(test_sets))


def share(trained: NeuronSet, target: NeuronSet) -> float:
    """|trained ∩ target| / |trained|: the fraction of the trained neurons that belong to the target set."""
    n = trained.count()
    return float("nan") if n == 0 else (trained & target).count() / n


def overlap_by_proportion(train_scores: Mapping[str, Scores] | Iterable[Scores],
                          test_scores: Mapping[str, Scores] | Iterable[Scores],
                          proportions: Iterable[float], scope: str = "layer") -> dict[float, float]:
    """Table 8: for each proportion p (percent), the Jaccard between the union of the training tasks' top-p%
    sets and the union of the test tasks' top-p% sets."""
    train = list(train_scores.values()) if isinstance(train_scores, Mapping) else list(train_scores)
    test = list(test_scores.values()) if isinstance(test_scores, Mapping) else list(test_scores)
    if not train or not test:
        raise TaskNeuronsError("overlap_by_proportion needs at least one training and one test task's scores")
    return {p: group_overlap([NeuronSet.from_scores(s, p, scope) for s in train],
                             [NeuronSet.from_scores(s, p, scope) for s in test]) for p in proportions}


def overlap_matrix(sets: Mapping[str, NeuronSet]) -> tuple[list[str], torch.Tensor]:
    """Names and the symmetric [n, n] Jaccard matrix between every two tasks' sets."""
    if not sets:
        raise TaskNeuronsError("overlap_matrix needs at least one neuron set")
    return pairwise_jaccard(dict(sets))


def cross_overlap(rows: Mapping[str, NeuronSet], cols: Mapping[str, NeuronSet]) -> torch.Tensor:
    """The [len(rows), len(cols)] Jaccard matrix between two families of sets (e.g. training vs test tasks)."""
    return torch.tensor([[rows[a].jaccard(cols[b]) for b in cols] for a in rows], dtype=torch.float64)


# --- the overlap-controlled sampler (Appendix A.7) ------------------------------------------------------------

def proportion_counts(like: NeuronSet, p: float) -> dict[str, list[int]]:
    """p% of the neurons of every (layer, kind) of ``like``'s model (the same count a top-p% per-layer set has)."""
    if not 0 < p <= 100:
        raise TaskNeuronsError(f"proportion must be a percentage in (0, 100], got {p}")
    return {kind: [n_selected(w, p)] * like.n_layers for kind, w in like.widths.items()}


def apportion(total: int, weights: list[float], low: list[int], high: list[int]) -> list[int]:
    """Integers ``x`` with ``low <= x <= high`` and ``sum(x) == total``, proportional to ``weights`` as far as the
    bounds allow (a water level clipped to the bounds, then the largest remainders; ties to the earlier cell)."""
    if not (sum(low) <= total <= sum(high)):
        raise TaskNeuronsError(f"cannot place {total} neurons: the cells allow between {sum(low)} and {sum(high)}")
    if sum(weights) <= 0:
        weights = [1.0] * len(weights)

    def filled(level: float) -> list[float]:
        return [min(max(level * w, lo), hi) for w, lo, hi in zip(weights, low, high)]

    lo_level, hi_level = 0.0, 1.0
    while sum(filled(hi_level)) < total:
        hi_level *= 2
        if hi_level > 1e18:
            break
    for _ in range(200):
        mid = (lo_level + hi_level) / 2
        if sum(filled(mid)) < total:
            lo_level = mid
        else:
            hi_level = mid
    exact = filled(hi_level)
    x = [min(max(math.floor(v + 1e-9), lo), hi) for v, lo, hi in zip(exact, low, high)]
    left = total - sum(x)
    while left > 0:  # the largest remainders first, among the cells that can still take one
        order = sorted((i for i in range(len(x)) if x[i] < high[i]), key=lambda i: (-(exact[i] - x[i]), i))
        for i in order[:left]:
            x[i] += 1
        left = total - sum(x)
    while left < 0:
        order = sorted((i for i in range(len(x)) if x[i] > low[i]), key=lambda i: (exact[i] - x[i], i))
        for i in order[:-left]:
            x[i] -= 1
        left = total - sum(x)
    return x


def _cell_counts(target: NeuronSet, counts: int | Mapping[str, list[int]]) -> dict[str, list[int]]:
    widths, n_layers = target.widths, target.n_layers
    if isinstance(counts, bool) or not isinstance(counts, (int, Mapping)):
        raise TaskNeuronsError(f"counts must be a total (int) or kind -> per-layer counts, got {type(counts).__name__}")
    if isinstance(counts, int):
        capacity = sum(widths.values()) * n_layers
        if not 0 < counts <= capacity:
            raise TaskNeuronsError(f"total count must be in 1..{capacity} (the model's neurons), got {counts}")
        cells = [(k, layer) for k in KINDS for layer in range(n_layers)]
        spread = apportion(counts, [float(widths[k]) for k, _ in cells], [0] * len(cells), [widths[k] for k, _ in cells])
        out = {k: [0] * n_layers for k in KINDS}
        for (k, layer), c in zip(cells, spread):
            out[k][layer] = c
        return out
    out = {}
    for kind in KINDS:
        per_layer = list(counts.get(kind, [0] * n_layers))
        if len(per_layer) != n_layers:
            raise TaskNeuronsError(f"counts[{kind!r}] has {len(per_layer)} layers, the neuron sets have {n_layers}")
        for layer, c in enumerate(per_layer):
            if not isinstance(c, int) or not 0 <= c <= widths[kind]:
                raise TaskNeuronsError(f"counts[{kind!r}][{layer}] must be an integer in 0..{widths[kind]}, got {c!r}")
        out[kind] = per_layer
    if sum(sum(v) for v in out.values()) == 0:
        raise TaskNeuronsError("counts select no neurons")
    return out


def n_from_target(n_total: int, n_target: int, rate: float, definition: str = "share") -> int:
    """How many of ``n_total`` trained neurons to draw from a target set of ``n_target`` (see the module doc)."""
    if definition not in DEFINITIONS:
        raise TaskNeuronsError(f"overlap definition {definition!r} is not one of {list(DEFINITIONS)}")
    if not 0 <= rate <= 1:
        raise TaskNeuronsError(f"overlap rate must be a fraction in [0, 1], got {rate}")
    if definition == "share":
        return round_half_up(rate * n_total)
    x = round_half_up(rate * (n_total + n_target) / (1 + rate))
    if x > min(n_total, n_target):
        raise TaskNeuronsError(f"a Jaccard overlap of {rate:.0%} is out of reach with {n_total} trained neurons and a "
                               f"target set of {n_target} (at most {min(n_total, n_target) / max(n_total, n_target):.1%})")
    return x


def overlap_controlled_set(target: NeuronSet, counts: int | Mapping[str, list[int]], rate: float, seed: int,
                           definition: str = "share", pool: NeuronSet | None = None) -> NeuronSet:
    """A set of neurons to train with a preset overlap ``rate`` (a fraction) with ``target`` (Appendix A.7).

    ``counts``: the total number of neurons (spread over (layer, kind) in proportion to the widths), or
    kind -> per-layer totals. ``n_from_target`` of them (see :func:`n_from_target`) are drawn uniformly from
    ``target``, spread over the cells in proportion to the cells' totals; the rest uniformly from ``pool``
    minus ``target`` (default: every neuron outside ``target``). Seeded: the same arguments give the same set.
    """
    if not isinstance(target, NeuronSet):
        raise TaskNeuronsError(f"target must be a NeuronSet, got {type(target).__name__}")
    if pool is not None:
        target._check_same_shape(pool)
    cell_totals = _cell_counts(target, counts)
    n_total = sum(sum(v) for v in cell_totals.values())
    x_total = n_from_target(n_total, target.count(), rate, definition)
    cells = [(k, layer) for k in KINDS for layer in range(target.n_layers)]
    in_target = {c: target.masks[c[0]][c[1]] for c in cells}
    others = {c: ~in_target[c] if pool is None else pool.masks[c[0]][c[1]] & ~in_target[c] for c in cells}
    n = [cell_totals[k][layer] for k, layer in cells]
    high = [min(n_c, int(in_target[c].sum())) for n_c, c in zip(n, cells)]
    low = [max(0, n_c - int(others[c].sum())) for n_c, c in zip(n, cells)]
    if any(lo > hi for lo, hi in zip(low, high)):
        k, layer = cells[next(i for i, (lo, hi) in enumerate(zip(low, high)) if lo > hi)]
        raise TaskNeuronsError(f"cannot draw {cell_totals[k][layer]} {k} neurons in layer {layer}: the target and "
                               f"the pool together hold only {high[cells.index((k, layer))] + int(others[(k, layer)].sum())}")
    if not sum(low) <= x_total <= sum(high):
        raise TaskNeuronsError(f"cannot draw {x_total} of {n_total} neurons from the target set at overlap rate "
                               f"{rate:.0%} ({definition}): the target and the pool allow between {sum(low)} and "
                               f"{sum(high)} from the target")
    from_target = apportion(x_total, [float(v) for v in n], low, high)
    g = torch.Generator().manual_seed(seed)
    masks = {k: torch.zeros_like(target.masks[k]) for k in KINDS}
    for (k, layer), n_c, x_c in zip(cells, n, from_target):
        for source, m in ((in_target[(k, layer)], x_c), (others[(k, layer)], n_c - x_c)):
            if m:
                idx = source.nonzero().flatten()
                masks[k][layer, idx[torch.randperm(len(idx), generator=g)[:m]]] = True
    prov = {key: target.provenance[key] for key in ("model", "weight_hash", "ffn_family") if key in target.provenance}
    prov.update({"control": "overlap", "rate": rate, "definition": definition, "n_total": n_total,
                 "n_from_target": x_total, "seed": seed, "target": target.provenance.get("task"),
                 "pool": "complement" if pool is None else "given", "version": __version__})
    return NeuronSet(masks, prov)
