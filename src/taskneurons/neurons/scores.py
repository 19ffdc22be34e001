"""Scores: how much each FFN neuron matters for a task, one float tensor [n_layers, width] per kind."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import TaskNeuronsError
from ..models.ffn import FFN
from . import artifact

FORMAT = "taskneurons.scores"


@dataclass(eq=False)
class Scores:
    """A scorer's result.

    ``values``: kind ("inner", "outer") -> float tensor [n_layers, width].
    ``meta``: where the scores came from; scorers fill ``scorer``, ``options``, ``task``, ``n_examples``,
    ``n_tokens`` and ``model`` (plus ``weight_hash`` and ``ffn_family`` where they know them). Neuron sets
    selected from these scores copy it into their provenance.
    """

    values: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        artifact.check_layout(self.values, "scores")
        for kind, v in self.values.items():
            if not v.is_floating_point():
                raise TaskNeuronsError(f"scores for {kind!r} must be a float tensor, got {v.dtype}")

    @property
    def n_layers(self) -> int:
        return next(iter(self.values.values())).shape[0]

    def demoted(self, masks: dict[str, torch.Tensor]) -> Scores:
        """These scores with every neuron of ``masks`` (kind -> bool [n_layers, width]) ranked below every other one
        (finite values, the same order otherwise): a top k% of them takes the others first."""
        values = {}
        for kind, v in self.values.items():
            v = v.float()
            values[kind] = torch.where(masks[kind], v - (v.max() - v.min()) - 1.0, v)
        return Scores(values, dict(self.meta))

    def layer_shares(self) -> dict[str, list[float]]:
        """kind -> percent of the kind's total |score| in each layer: where a task's scores sit (all 0 for a kind
        that scores 0 everywhere)."""
        shares = {}
        for kind, v in self.values.items():
            per_layer = v.detach().double().abs().sum(dim=1)
            total = float(per_layer.sum())
            shares[kind] = (100 * per_layer / total).tolist() if total > 0 else [0.0] * len(per_layer)
        return shares

    def validate(self, ffn: FFN) -> None:
        """Raise a TaskNeuronsError unless these scores have the model's layer count and widths."""
        artifact.check_fits(self.values, ffn, f"scores from {self.meta.get('model', 'an unknown model')}", "cover")

    def save(self, path) -> Path:
        """Write ``X.safetensors`` + ``X.json`` (``path`` is ``X`` or ``X.safetensors``); returns the first."""
        return artifact.save(path, self.values, {"format": FORMAT, "meta": self.meta})

    @classmethod
    def load(cls, path) -> Scores:
        values, header = artifact.load(path, FORMAT, "scores")
        try:
            return cls(values, header.get("meta", {}))
        except TaskNeuronsError as e:
            raise TaskNeuronsError(f"{artifact.paths(path)[0]}: {e}") from None

    def __repr__(self) -> str:
        return f"Scores({artifact.describe(self.values)}, {self.meta.get('scorer', '?')} on {self.meta.get('task', '?')})"
