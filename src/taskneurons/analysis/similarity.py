"""Per-layer cosine similarity between two neuron sets' parameters (paper 2.10, Figure 3). Model-free.

The caller extracts the weights (the experiment does it from a model's FFN map) and passes plain tensors::

    weights[layer][kind] = [tensor, ...]      # each [width_of_kind, ...]: row n holds neuron n's parameters

For a Llama-style FFN that is ``{"inner": [gate_proj.weight, up_proj.weight], "outer": [down_proj.weight]}``
(Linear weights are [out, in], so a neuron's slice is a row). A neuron's parameter vector is the
concatenation of its rows in the listed tensors.

Options (the paper says "the cosine similarity between P_i^i and P_j^i" and no more; PAPER.md 2.10). The literal
reading is the cosine of the two flattened submatrices of all the neurons' parameters, rows in index order;
everything else is beyond the paper, including the default pairing:

- ``matrices``: ``"both"`` (default: every task-specific neuron parameter of the layer); beyond the paper:
  ``"inner"`` (the up/gate rows: W_1 columns in the paper's notation) or ``"outer"`` (the down rows: W_2 columns).
- ``vector``: ``"flatten"`` (default): the cosine of the two flattened submatrices P_a, P_b, which needs as
  many neurons in both sets in every (layer, kind), i.e. per-layer selection; beyond the paper: ``"mean"``,
  the cosine of the two mean neuron vectors, for any counts (a (layer, kind) where either set is empty is left
  out).
- ``pairing`` (flatten only): which row of P_a meets which row of P_b. ``"shared_first"`` (default since issue
  23; beyond the paper): the neurons in both sets first (so each meets itself), then the rest in index order, so
  the cosine grows with the overlap (near 1 for near-identical sets, the random level for disjoint ones).
  ``"index"`` (the literal submatrix, the default before): both in neuron-index order; a shared neuron then
  usually meets another neuron, and two sets sharing 49 of 50 neurons can score as low as two disjoint ones.

With ``"both"`` the pieces of every kind are concatenated into one vector before the cosine. A layer with
nothing to compare (or a zero vector) gives NaN. Sums run in float64.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import torch

from ..errors import TaskNeuronsError
from ..models.ffn import KINDS
from ..neurons.neuron_set import NeuronSet

MATRICES = {"inner": ("inner",), "outer": ("outer",), "both": KINDS}
VECTORS = ("flatten", "mean")
PAIRINGS = ("index", "shared_first")
DEFAULT_PAIRING = "shared_first"  # the one default of layer_similarity and generalize's similarity_pairing

Weights = Mapping[int, Mapping[str, Sequence[torch.Tensor]]] | Sequence[Mapping[str, Sequence[torch.Tensor]]]


def _check_option(name: str, value: str, allowed) -> None:
    if value not in allowed:
        raise TaskNeuronsError(f"similarity option {name}={value!r} is not one of {list(allowed)}")


def _masks(s) -> dict[str, torch.Tensor]:
    masks = s.masks if isinstance(s, NeuronSet) else s
    if not isinstance(masks, Mapping):
        raise TaskNeuronsError(f"expected a NeuronSet or kind -> bool mask [layers, width], got {type(s).__name__}")
    return masks


def _aligned(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both index lists reordered: the shared neurons first (in index order), then each list's own ones."""
    shared = a[torch.isin(a, b)]
    return (torch.cat([shared, a[~torch.isin(a, shared)]]), torch.cat([shared, b[~torch.isin(b, shared)]]))


def cosine(u: torch.Tensor, v: torch.Tensor) -> float:
    """cos(u, v) in float64; NaN when either is empty or zero."""
    u, v = u.double().flatten(), v.double().flatten()
    if u.numel() == 0 or u.numel() != v.numel():
        return float("nan")
    denom = float(u.norm() * v.norm())
    return float("nan") if denom == 0 else float(u @ v) / denom


def layer_similarity(weights: Weights, a, b, matrices: str = "both", vector: str = "flatten",
                     pairing: str = DEFAULT_PAIRING, layers: Iterable[int] | None = None) -> list[float]:
    """One cosine per layer between set ``a``'s and set ``b``'s neuron parameters (see the module doc).

    ``a``/``b``: NeuronSets or kind -> bool masks [n_layers, width]. ``layers`` defaults to every layer of
    the sets; ``weights`` must hold the kinds ``matrices`` needs for those layers.
    """
    _check_option("matrices", matrices, MATRICES)
    _check_option("vector", vector, VECTORS)
    _check_option("pairing", pairing, PAIRINGS)
    ma, mb = _masks(a), _masks(b)
    kinds = MATRICES[matrices]
    for kind in kinds:
        if kind not in ma or kind not in mb:
            raise TaskNeuronsError(f"both neuron sets need {kind!r} masks for matrices={matrices!r}")
        if ma[kind].shape != mb[kind].shape:
            raise TaskNeuronsError(f"the two neuron sets differ in shape: {kind} {list(ma[kind].shape)} vs "
                                   f"{list(mb[kind].shape)}")
    n_layers = ma[kinds[0]].shape[0]
    layers = list(range(n_layers)) if layers is None else list(layers)
    out = []
    for layer in layers:
        if not 0 <= layer < n_layers:
            raise TaskNeuronsError(f"layer {layer} is out of range: the neuron sets have {n_layers} layers")
        try:
            tensors = weights[layer]
        except (KeyError, IndexError):
            raise TaskNeuronsError(f"no weights given for layer {layer}") from None
        parts_a, parts_b = [], []
        for kind in kinds:
            if kind not in tensors or not len(tensors[kind]):
                raise TaskNeuronsError(f"no {kind} weights given for layer {layer} (matrices={matrices!r} needs them)")
            ia, ib = ma[kind][layer].nonzero().flatten(), mb[kind][layer].nonzero().flatten()
            if vector == "flatten":
                if len(ia) != len(ib):
                    raise TaskNeuronsError(
                        f"vector='flatten' needs equal neuron counts per (layer, kind), but layer {layer} {kind} has "
                        f"{len(ia)} vs {len(ib)}: select per layer (scope 'layer') or use vector='mean'")
                if pairing == "shared_first":
                    ia, ib = _aligned(ia, ib)
            elif len(ia) == 0 or len(ib) == 0:
                continue
            width = ma[kind].shape[1]
            for w in tensors[kind]:
                if w.shape[0] != width:
                    raise TaskNeuronsError(f"layer {layer} {kind} weight has {w.shape[0]} rows, expected one per "
                                           f"neuron ({width}); pass weights with neurons along dim 0")
                ra, rb = w[ia.to(w.device)].double(), w[ib.to(w.device)].double()
                if vector == "flatten":
                    parts_a.append(ra.flatten())
                    parts_b.append(rb.flatten())
                else:
                    parts_a.append(ra.reshape(len(ia), -1).mean(0))
                    parts_b.append(rb.reshape(len(ib), -1).mean(0))
        if not parts_a:
            out.append(float("nan"))
            continue
        out.append(cosine(torch.cat(parts_a).cpu(), torch.cat(parts_b).cpu()))
    return out


def aggregate(curve: Sequence[float], layers: Iterable[int] | None = None) -> float:
    """The mean of a per-layer curve over ``layers`` (default all), NaNs left out; NaN when nothing is left."""
    values = list(curve) if layers is None else [curve[i] for i in layers]
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def mean_curve(curves: Iterable[Sequence[float]]) -> list[float]:
    """The layer-wise mean of several equally long curves, NaNs left out (e.g. averaged over models)."""
    curves = [list(c) for c in curves]
    if not curves:
        return []
    if len({len(c) for c in curves}) != 1:
        raise TaskNeuronsError(f"curves have different lengths: {sorted({len(c) for c in curves})}")
    return [aggregate([c[i] for c in curves]) for i in range(len(curves[0]))]
