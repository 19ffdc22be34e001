"""Selection: how a task's neurons are chosen (scorer and its options, tokens, scored examples, k, scope).

One place for identify, generalize and NCFT: ``scores`` runs the scorer on examples, ``neurons`` keeps the top
k% as a NeuronSet whose provenance says how it was made.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

from ... import processes
from ...errors import TaskNeuronsError
from ...models import LoadedModel
from ...neurons import SCORERS, SPECIFICITY_METHODS, NeuronSet, Scores, make_scorer, score_neurons, specific_scores
from ...neurons.attribution import DEFAULT_SCORER, DEFAULT_TOKENS, TOKENS
from ...neurons.neuron_set import SCOPES
from ...tasks.general import general_examples
from ...configs import checks
from ...tasks.plans import ExamplePlan
from .settings import Settings
from ...configs.options import option


@dataclass
class Selection:
    scorer: str = option(DEFAULT_SCORER, "grad_x_act (Eq. 3) | (beyond the paper) mean_abs_act | act_prob | fisher")
    scorer_options: dict = option(factory=dict, help="e.g. {aggregation: abs_sum} (grad_x_act's default)")
    tokens: str = option(DEFAULT_TOKENS,
        'which positions\' activations count: "all" (Eq. 2 zeroes every position) | "target"')
    n_score: int = option(64, "pool examples scored per task")
    k: float | str = option(10.0, 'percent of neurons kept (the paper: 10; other values and "auto" beyond the paper)')
    scope: str = option("layer", '"layer" | "global" (per kind) | "all"')
    specificity: str = option("none",
        '"none": top k% by score (the paper) | (beyond the paper) relative | entropy | exclude_common')
    specificity_options: dict = option(factory=dict, help="e.g. {eps: 0.1} (relative), {min_score: 1.0} (entropy)")

    def __post_init__(self):
        checks.mapping("scorer_options", self.scorer_options)
        checks.choice("tokens", self.tokens, TOKENS)
        checks.integer("n_score", self.n_score)
        if self.k != "auto":  # "auto": chosen by the model (kit/auto_k.py), in identify
            checks.number("k", self.k, 0, 100)
        checks.choice("scope", self.scope, SCOPES)
        checks.choice("specificity", self.specificity, SPECIFICITY_METHODS)
        checks.mapping("specificity_options", self.specificity_options)
        one_neuron = SimpleNamespace(n_layers=1, widths={"inner": 1, "outer": 1})
        try:  # the scorer's name and options, checked on a one-neuron layout
            make_scorer(self.scorer, one_neuron, **self.scorer_options)
        except TypeError:
            allowed = [p for p in inspect.signature(SCORERS.get(self.scorer)).parameters if p != "ffn"]
            raise TaskNeuronsError(f"option scorer_options={self.scorer_options!r}: scorer {self.scorer!r} takes "
                                   f"{allowed or 'no options'}") from None

    def fixed_k(self, where: str) -> None:
        """Refuse ``k: auto`` in one line where the experiment does not choose k (``where`` names it)."""
        if self.k == "auto":
            raise TaskNeuronsError(f"option {where}selection.k='auto' is chosen by identify and continual's NCFT "
                                   f"only (not yet here); give a percentage")

    def scores(self, lm: LoadedModel, plan: ExamplePlan, settings: Settings, checkpoint=None,
               progress: bool = True) -> Scores:
        """The scorer on the plan's scored examples (its ``score`` draw of ``n_score``)."""
        return score_neurons(lm, plan.draw("score", self.n_score), scorer=self.scorer, tokens=self.tokens,
                             batch_size=settings.batch_size, max_length=settings.max_length, task=plan.task.name,
                             progress=progress, checkpoint=checkpoint,
                             max_target_length=settings.target_length([plan], lm.tokenizer), **self.scorer_options)

    def scores_in(self, run, tag: str, lm: LoadedModel | Callable[[], LoadedModel], plan: ExamplePlan,
                  settings: Settings, progress: bool = True) -> Scores:
        """``scores`` as an artifact of the run folder (``artifacts/<tag>.<task>.scores``): computed once, with a
        checkpoint to resume from, then read back. ``lm`` may be a function that loads the model: it is called
        only when the scores must be computed."""
        name = f"{tag}.{plan.task.name}"
        path = run.path("artifacts", f"{name}.scores")
        if processes.broadcast(Path(f"{path}.json").is_file()):  # as the main process sees it
            scores = Scores.load(path)
            expected = {"scorer": self.scorer, "tokens": self.tokens, "n_examples": len(plan.draw("score", self.n_score)),
                        "task": plan.task.name}
            found = {key: scores.meta.get(key) for key in expected}
            if found != expected:
                raise TaskNeuronsError(f"{path}.json was scored with {found}, this run scores with {expected}; "
                                       f"delete it (and its neuron sets) to score again, or choose another --out")
            return scores
        lm = lm() if callable(lm) else lm
        scores = self.scores(lm, plan, settings, run.path("checkpoints", name), progress)
        scores.save(path)
        return scores

    def general_scores_in(self, run, tag: str, lm: LoadedModel, settings: Settings, progress: bool = True) -> Scores:
        """(Beyond the paper) the scorer on ``n_score`` general-text passages (``tasks/general.py``: in no task), as
        the artifact ``artifacts/<tag>.general.scores``: what every task's neurons are compared with."""
        path = run.path("artifacts", f"{tag}.general.scores")
        if processes.broadcast(Path(f"{path}.json").is_file()):
            return Scores.load(path)
        scores = score_neurons(lm, general_examples(self.n_score, settings.seed), scorer=self.scorer,
                               tokens=self.tokens, batch_size=settings.batch_size, max_length=settings.max_length,
                               task="general", progress=progress, checkpoint=run.path("checkpoints", f"{tag}.general"),
                               max_target_length=settings.max_length // 2, **self.scorer_options)
        scores.save(path)
        return scores

    def specific(self, scores: dict[str, Scores]) -> dict[str, Scores]:
        """Every task's scores re-ranked by ``specificity`` among the tasks of ``scores`` (unchanged for "none")."""
        if self.specificity == "none":
            return scores
        options = {"k": self.k, "scope": self.scope} if self.specificity == "exclude_common" else {}
        return specific_scores(scores, self.specificity, **{**options, **self.specificity_options})

    def neurons(self, scores: Scores, k: float | None = None, provenance: dict | None = None) -> NeuronSet:
        """The top ``k`` percent (default: this selection's k) of ``scores``."""
        if k is None and self.k == "auto":
            raise TaskNeuronsError("selection.k 'auto' is chosen by the experiment before any set is selected "
                                   "(kit/auto_k.py)")
        how = {key: value for key, value in asdict(self).items() if key not in ("k", "scope")}  # the set's own
        return NeuronSet.from_scores(scores, self.k if k is None else k, self.scope,
                                     provenance={"selection": how, **(provenance or {})})

    @staticmethod
    def recorded(provenance: dict) -> dict | None:
        """The selection a neuron set says it was made with (None: not by a Selection); its k and scope are
        recorded once, as the set's own."""
        if "selection" not in provenance:
            return None
        return {**provenance["selection"], "k": provenance.get("k"), "scope": provenance.get("scope")}
