"""NeuronSet: the selected neurons of a model, as one boolean mask [n_layers, width] per kind, with provenance.

Selection (:meth:`NeuronSet.from_scores`) keeps the top k% of scores. k% of n neurons is ``round(n * k / 100)``
rounded half up, at least 1 when k > 0 and at most n. Ties go to the lower index (a stable sort), so the same
scores always give the same set.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import __version__
from ..errors import TaskNeuronsError
from ..models.ffn import KINDS, FFN
from . import artifact
from .scores import Scores

FORMAT = "taskneurons.neuron_set"
SCOPES = ("layer", "global", "all")
MODEL_KEYS = ("model", "model_type", "weight_hash", "ffn_family")  # provenance that derived sets inherit when shared


def n_selected(n: int, k: float) -> int:
    """How many of n neurons k percent is: round half up, at least 1 when k > 0, at most n."""
    return min(n, max(1, math.floor(n * k / 100 + 0.5)))


def _top(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Boolean mask of the ``count`` highest entries of each row; ties go to the lower index."""
    order = torch.argsort(scores, dim=-1, descending=True, stable=True)[..., :count]
    return torch.zeros(scores.shape, dtype=torch.bool).scatter_(-1, order, True)


@dataclass(eq=False)
class NeuronSet:
    """Selected neurons: ``masks[kind][layer, neuron]`` is True when selected; ``provenance`` says from what.

    Provenance keys, where known: model, weight_hash, ffn_family, scorer, options, task, n_examples, k,
    scope, seed, version. Equality (``==``) compares the neurons only.

    Args:
        masks: one boolean tensor [layers, width] per kind ("inner", "outer").
        provenance: where the set came from.

    Example:
        >>> from taskneurons import NeuronSet, load_model, load_task, score_neurons
        >>> lm, task = load_model("tiny-llama"), load_task("rotten_tomatoes")
        >>> neurons = NeuronSet.from_scores(score_neurons(lm, task.splits["train"][:8], progress=False), k=10)
        >>> neurons.count("inner"), neurons.count("outer")  # 10% of each layer: 5 of 48 and 3 of 32, twice
        (10, 6)
    """

    masks: dict[str, torch.Tensor]
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        artifact.check_layout(self.masks, "neuron set masks")
        for kind, m in self.masks.items():
            if m.dtype != torch.bool:
                raise TaskNeuronsError(f"neuron set mask {kind!r} must be a bool tensor, got {m.dtype}")
        self.masks = {k: self.masks[k].detach().cpu() for k in KINDS}

    # construction

    @classmethod
    def from_scores(cls, scores: Scores, k: float, scope: str = "layer", provenance: dict | None = None) -> NeuronSet:
        """The top ``k`` percent (0 < k <= 100) of ``scores``.

        ``scope``: "layer" picks k% of each (layer, kind); "global" k% of each kind over all layers; "all"
        k% of all neurons of both kinds, comparing raw scores across kinds. In the flattened scopes, ties
        go to the earlier neuron in (kind, layer, index) order.
        """
        if not 0 < k <= 100:
            raise TaskNeuronsError(f"k must be a percentage in (0, 100], got {k}")
        if scope not in SCOPES:
            raise TaskNeuronsError(f"selection scope {scope!r} is not one of {list(SCOPES)}")
        values = {kind: scores.values[kind].detach().float().cpu() for kind in KINDS}
        for kind, v in values.items():
            bad = (~torch.isfinite(v)).any(dim=1).nonzero().flatten().tolist()
            if bad:
                raise TaskNeuronsError(f"scores for {kind!r} contain NaN or inf in layers {bad}")
        if scope == "layer":
            masks = {kind: _top(v, n_selected(v.shape[1], k)) for kind, v in values.items()}
        elif scope == "global":
            masks = {kind: _top(v.flatten(), n_selected(v.numel(), k)).view(v.shape) for kind, v in values.items()}
        else:
            flat = torch.cat([values[kind].flatten() for kind in KINDS])
            parts = _top(flat, n_selected(flat.numel(), k)).split([values[kind].numel() for kind in KINDS])
            masks = {kind: part.view(values[kind].shape) for kind, part in zip(KINDS, parts)}
        prov = {**scores.meta, **(provenance or {}), "k": k, "scope": scope, "version": __version__}
        return cls(masks, prov)

    @classmethod
    def random(cls, ffn: FFN, k: float, seed: int = 0, scope: str = "layer") -> NeuronSet:
        """A uniformly random k% of ``ffn``'s neurons (per ``scope``, as :meth:`from_scores`), seeded: the top k%
        of seeded uniform scores."""
        g = torch.Generator().manual_seed(seed)
        values = {kind: torch.rand(ffn.n_layers, ffn.widths[kind], generator=g) for kind in KINDS}
        return cls.from_scores(Scores(values, {"ffn_family": ffn.map.family}), k, scope,
                               {"control": "random", "seed": seed})

    @classmethod
    def empty(cls, ffn: FFN, provenance: dict | None = None) -> NeuronSet:
        """No neurons of the model."""
        return cls(cls._fill(ffn, False), {"ffn_family": ffn.map.family, **(provenance or {}), "version": __version__})

    @classmethod
    def full(cls, ffn: FFN, provenance: dict | None = None) -> NeuronSet:
        """Every neuron of the model."""
        return cls(cls._fill(ffn, True), {"ffn_family": ffn.map.family, **(provenance or {}), "version": __version__})

    @staticmethod
    def _fill(ffn: FFN, value: bool) -> dict[str, torch.Tensor]:
        return {kind: torch.full((ffn.n_layers, ffn.widths[kind]), value, dtype=torch.bool) for kind in KINDS}

    def random_like(self, seed: int, exclude: NeuronSet | None = None) -> NeuronSet:
        """A random control: as many neurons per (layer, kind) as this set, drawn uniformly (from outside
        ``exclude`` when given) with a seeded generator, so the same seed gives the same set."""
        if exclude is not None:
            self._check_same_shape(exclude)
        g = torch.Generator().manual_seed(seed)
        masks = {}
        for kind in KINDS:
            mask = torch.zeros_like(self.masks[kind])
            for layer in range(self.n_layers):
                count = int(self.masks[kind][layer].sum())
                if count == 0:
                    continue
                pool = (torch.arange(mask.shape[1]) if exclude is None
                        else (~exclude.masks[kind][layer]).nonzero().flatten())
                if len(pool) < count:
                    raise TaskNeuronsError(
                        f"cannot draw {count} random {kind} neurons in layer {layer}: only {len(pool)} are "
                        f"outside the excluded set"
                    )
                mask[layer, pool[torch.randperm(len(pool), generator=g)[:count]]] = True
            masks[kind] = mask
        prov = {**self._model_keys(self.provenance), "control": "random", "seed": seed,
                "matched_to": self.provenance, "excluded": None if exclude is None else exclude.provenance,
                "version": __version__}
        return NeuronSet(masks, prov)

    # queries

    @property
    def n_layers(self) -> int:
        return self.masks[KINDS[0]].shape[0]

    @property
    def widths(self) -> dict[str, int]:
        return {kind: m.shape[1] for kind, m in self.masks.items()}

    def indices(self, layer: int, kind: str) -> torch.Tensor:
        """The selected neurons of one (layer, kind), as a sorted LongTensor."""
        return self.masks[kind][layer].nonzero().flatten()

    def count(self, kind: str | None = None) -> int:
        """Selected neurons of one kind, or of both."""
        return sum(int(self.masks[k].sum()) for k in ([kind] if kind else KINDS))

    def counts_per_layer(self) -> dict[str, list[int]]:
        """kind -> selected neurons in each layer."""
        return {kind: m.sum(dim=1).tolist() for kind, m in self.masks.items()}

    def fraction(self) -> float:
        """Selected share of all the model's FFN neurons."""
        return self.count() / sum(m.numel() for m in self.masks.values())

    def is_empty(self) -> bool:
        return self.count() == 0

    def validate(self, ffn: FFN) -> None:
        """Raise a TaskNeuronsError unless this set has the model's layer count and widths."""
        artifact.check_fits(self.masks, ffn, f"neuron set from {self.provenance.get('model', 'an unknown model')}")

    # set algebra

    def __or__(self, other: NeuronSet) -> NeuronSet:
        return self._combine(other, operator.or_, "|")

    def __and__(self, other: NeuronSet) -> NeuronSet:
        return self._combine(other, operator.and_, "&")

    def __sub__(self, other: NeuronSet) -> NeuronSet:
        return self._combine(other, lambda a, b: a & ~b, "-")

    def __eq__(self, other) -> bool:
        if not isinstance(other, NeuronSet):
            return NotImplemented
        return self.widths == other.widths and self.n_layers == other.n_layers and all(
            torch.equal(self.masks[k], other.masks[k]) for k in KINDS)

    __hash__ = None

    def jaccard(self, other: NeuronSet) -> float:
        """|A ∩ B| / |A ∪ B| (the paper's overlap, Eq. 13); 1.0 for two empty sets, which are equal."""
        self._check_same_shape(other)
        inter = sum(int((self.masks[k] & other.masks[k]).sum()) for k in KINDS)
        union = sum(int((self.masks[k] | other.masks[k]).sum()) for k in KINDS)
        return 1.0 if union == 0 else inter / union

    def _combine(self, other: NeuronSet, op, symbol: str) -> NeuronSet:
        self._check_same_shape(other)
        masks = {k: op(self.masks[k], other.masks[k]) for k in KINDS}
        shared = {key: v for key, v in self._model_keys(self.provenance).items() if other.provenance.get(key) == v}
        prov = {**shared, "op": symbol, "operands": [self.provenance, other.provenance], "version": __version__}
        return NeuronSet(masks, prov)

    def _check_same_shape(self, other: NeuronSet) -> None:
        if not isinstance(other, NeuronSet):
            raise TypeError(f"expected a NeuronSet, got {type(other).__name__}")
        if self.n_layers != other.n_layers or self.widths != other.widths:
            raise TaskNeuronsError(f"neuron sets differ in shape: {artifact.describe(self.masks)} and "
                                   f"{artifact.describe(other.masks)}")

    @staticmethod
    def _model_keys(provenance: dict) -> dict:
        return {key: provenance[key] for key in MODEL_KEYS if key in provenance}

    # files

    def save(self, path) -> Path:
        """Write ``X.safetensors`` (masks) + ``X.json`` (provenance, shapes, counts), each atomically.
        ``path`` is ``X`` or ``X.safetensors``; returns the ``.safetensors`` path."""
        header = {"format": FORMAT, "counts": {k: self.count(k) for k in KINDS}, "provenance": self.provenance}
        return artifact.save(path, self.masks, header)

    @classmethod
    def load(cls, path) -> NeuronSet:
        masks, header = artifact.load(path, FORMAT, "neuron set")
        js = artifact.paths(path)[1]
        provenance = header.get("provenance", {})
        if not isinstance(provenance, dict):
            raise TaskNeuronsError(f"{js}: field 'provenance' is a {type(provenance).__name__}, expected a mapping")
        try:
            neurons = cls(masks, provenance)
        except TaskNeuronsError as e:
            raise TaskNeuronsError(f"{artifact.paths(path)[0]}: {e}") from None
        counts = {kind: neurons.count(kind) for kind in KINDS}
        if header.get("counts", counts) != counts:
            raise TaskNeuronsError(f"{js}: field 'counts' is {header['counts']} but the masks hold {counts} (edited by "
                                   f"hand?); the .safetensors masks are the set, write its .json again with save()")
        k = provenance.get("k")
        if provenance.get("scope") == "layer" and isinstance(k, (int, float)) and 0 < k <= 100:
            wrong = [(kind, layer) for kind in KINDS for layer in range(neurons.n_layers)
                     if int(neurons.masks[kind][layer].sum()) != n_selected(neurons.widths[kind], k)]
            if wrong:
                kind, layer = wrong[0]
                raise TaskNeuronsError(f"{js}: provenance says the top k={k}% of each layer, but layer {layer} holds "
                                       f"{int(neurons.masks[kind][layer].sum())} {kind} neurons, not "
                                       f"{n_selected(neurons.widths[kind], k)} (edited by hand?)")
        return neurons

    def __repr__(self) -> str:
        what = ", ".join(f"{k}={self.provenance[k]}" for k in ("task", "k", "scope", "seed") if k in self.provenance)
        return f"NeuronSet({artifact.describe(self.masks)}, {self.count()} selected{', ' + what if what else ''})"


def pairwise_jaccard(sets: dict[str, NeuronSet]) -> tuple[list[str], torch.Tensor]:
    """Names and the symmetric matrix [n, n] (float64) of Jaccard overlaps between every two sets."""
    names = list(sets)
    matrix = torch.ones(len(names), len(names), dtype=torch.float64)
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            matrix[i, j] = matrix[j, i] = sets[a].jaccard(sets[names[j]])
    return names, matrix
