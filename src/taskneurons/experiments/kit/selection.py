"""Selection: how a task's neurons are chosen (scorer and its options, tokens, scored examples, k, scope).

One place for identify, generalize and NCFT: ``scores`` runs the scorer on examples, ``neurons`` keeps the top
k% as a NeuronSet whose provenance says how it was made.
"""
from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace

from ...errors import TaskNeuronsError
from ...models import LoadedModel
from ...neurons import SCORERS, NeuronSet, Scores, make_scorer, score_neurons
from ...neurons.attribution import TOKENS
from ...neurons.neuron_set import SCOPES
from ...tasks import Example
from . import checks
from .settings import Settings


@dataclass
class Selection:
    scorer: str = "grad_x_act"
    scorer_options: dict = field(default_factory=dict)  # e.g. {aggregation: abs_sum}
    tokens: str = "target"  # which positions' activations count: "target" | "all"
    n_score: int = 64  # pool examples scored per task
    k: float = 10.0  # percent of neurons kept, per (layer, kind) with scope "layer"
    scope: str = "layer"  # "layer" | "global" (per kind) | "all"

    def __post_init__(self):
        checks.mapping("scorer_options", self.scorer_options)
        checks.choice("tokens", self.tokens, TOKENS)
        checks.integer("n_score", self.n_score)
        checks.number("k", self.k, 0, 100)
        checks.choice("scope", self.scope, SCOPES)
        one_neuron = SimpleNamespace(n_layers=1, widths={"inner": 1, "outer": 1})
        try:  # the scorer's name and options, checked on a one-neuron layout
            make_scorer(self.scorer, one_neuron, **self.scorer_options)
        except TypeError:
            allowed = [p for p in inspect.signature(SCORERS.get(self.scorer)).parameters if p != "ffn"]
            raise TaskNeuronsError(f"option scorer_options={self.scorer_options!r}: scorer {self.scorer!r} takes "
                                   f"{allowed or 'no options'}") from None

    def scores(self, lm: LoadedModel, examples: list[Example], settings: Settings, task: str, checkpoint=None,
               progress: bool = True) -> Scores:
        return score_neurons(lm, examples, scorer=self.scorer, tokens=self.tokens, batch_size=settings.batch_size,
                             max_length=settings.max_length, task=task, progress=progress, checkpoint=checkpoint,
                             **self.scorer_options)

    def neurons(self, scores: Scores, k: float | None = None, provenance: dict | None = None) -> NeuronSet:
        """The top ``k`` percent (default: this selection's k) of ``scores``."""
        return NeuronSet.from_scores(scores, self.k if k is None else k, self.scope,
                                     provenance={"selection": asdict(self), **(provenance or {})})
