"""The parts of identify that go beyond the paper (issue 27), as a mixin of ``Identify``: k chosen by the model,
general importance for matched controls, the loss on general text, and sets with the general neurons kept out."""
from __future__ import annotations

from dataclasses import replace

from ...evaluation.general import general_loss
from ...models import LoadedModel
from ...neurons import NeuronSet, deactivate
from ...neurons.controls import general_importance
from ...tasks.general import general_text
from ..kit.auto_k import chosen_in
from ...analysis.stats import paired_gap
from .report import controlled


class BeyondPaper:
    def choose_k(self, lm: LoadedModel) -> None:
        """With ``selection.k: auto``, the k this run selects with: the largest of ``k_grid`` whose random sets cost
        ``lm`` at most ``k_budget`` points on dev examples of the tasks (``kit/auto_k.py``)."""
        c = self.config
        if c.selection.k != "auto":
            return
        self.auto_k = chosen_in(self.run, lambda: lm, [self.plans[t.name] for t in self.tasks], c, c.deactivation_mode)
        self.selection = replace(c.selection, k=self.auto_k["k"])

    def scores(self, lm: LoadedModel, tag: str) -> dict:
        c = self.config
        return {t.name: c.selection.scores_in(self.run, tag, lm, self.plans[t.name], c, self.progress)
                for t in self.tasks}

    def importance(self, lm: LoadedModel, tag: str) -> dict[str, dict]:
        """Per task: every neuron's general importance, its mean score rank over the other tasks (what a matched
        control follows, ``neurons/controls.py``)."""
        scores = self.scores(lm, tag)
        return {name: general_importance([s for other, s in scores.items() if other != name]) for name in scores}

    def general_excluded(self, lm: LoadedModel, tag: str, original: dict, randoms: dict) -> dict:
        """With ``exclude_general``: each task's top k% once the top ``exclude_general``% neurons of general text
        (scored as the tasks are, ``Selection.general_scores_in``) are kept out (MathNeuro's and RSN-Tune's idea),
        deactivated on its own task against the same random controls (equal counts): a part of its own ({} off)."""
        c = self.config
        if not c.exclude_general:
            return {}
        general = NeuronSet.from_scores(self.selection.general_scores_in(self.run, tag, lm, c, self.progress),
                                        c.exclude_general, self.selection.scope)
        ranked = self.selection.specific(self.scores(lm, tag))
        runs = {}
        for task in self.tasks:
            chosen = self.selection.neurons(ranked[task.name].demoted(general.masks),
                                            provenance={"excluded_general": c.exclude_general})
            chosen = NeuronSet({k: m & ~general.masks[k] for k, m in chosen.masks.items()}, chosen.provenance)

            def compute(task=task, chosen=chosen):
                with deactivate(lm, chosen, mode=c.deactivation_mode):
                    return self.evaluate(lm, task)
            runs[task.name] = {task.name: [self.run.step(f"deact/task-general={task.name}/{task.name}", compute)]}
        return controlled("Original", original, "Deactivate-Random", randoms, "Deactivate-Task (general out)", runs,
                          list(ranked), c, "less")

    def general_ability(self, lm: LoadedModel, sets: dict[str, NeuronSet], importance: dict) -> dict:
        """The loss on ``general_passages`` held-out general-text passages (``tasks/general.py``) of the Original and
        with each task's neurons, its first random control and its first matched control off, each condition's
        change paired passage by passage ({} without ``general_passages``)."""
        c = self.config
        if not c.general_passages:
            return {}
        texts = general_text("eval", c.general_passages, c.seed)
        found = self.switched_off(lm, sets, importance, "general",
                                  lambda: general_loss(lm, texts, c.batch_size, c.max_length))
        stat = {"n_boot": c.n_boot, "confidence": c.confidence, "seed": c.seed}
        base = found["Original"]["passages"]
        return {condition: {"loss": r["loss"], "passages": r["passages"], "tokens": r["tokens"],
                            **({} if condition == "Original" else
                               {"change": paired_gap([r["passages"]], [base], **stat).to_dict()})}
                for condition, r in found.items()}
