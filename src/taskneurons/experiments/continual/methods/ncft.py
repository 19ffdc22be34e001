"""NCFT, Neuron-level Continuous Fine-Tuning (paper 2.11): at each stage train only the current task's neurons.

Stage n: score every FFN neuron of the *current* model (after stage n-1) on task n's training data, keep the
top k% (per (layer, kind) by default), train only those neurons' weight slices with the neuron tuner, then
merge the trained deltas into the weights before the next stage. Inference is as usual.

Merging in low precision (bfloat16, float16 weights): NCFT keeps a float32 *master* copy of every row (and bias
entry) it has merged (``masters``: tuned module name -> its features, rows and bias entries). A stage adds its
float32 deltas to the master rows and writes them into the weights rounded once, so a neuron's weights are always
round(base + delta_1 + ... + delta_n) and no small update is lost to rounding at every stage. Float32 (or wider)
weights are added to directly, as ``NeuronTuner.merge`` does. The masters are not saved: replaying the stages'
deltas from the base model on resume rebuilds them, and the weights, bit for bit.

Option ``exclude_claimed`` (default False, as in the paper: overlapping neurons are simply retrained): when
True, neurons trained at an earlier stage are not selected again; the top k% is taken among the others.

State per stage (all kept: restoring replays every stage's merge, bit for bit): ``neurons`` (the stage's
NeuronSet) and ``deltas`` (the trained neuron tuner).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ....errors import TaskNeuronsError
from ....models import LoadedModel, sharding
from ....neurons import NeuronSet
from ....tasks import Task
from ....tuning import NeuronTuner, train
from ....configs.checks import nested
from ...kit import Selection
from ....configs.options import option
from .base import Method, MethodOptions, register, train_info


@dataclass
class NCFTOptions(MethodOptions):
    lr: float = option(1e-3, "far fewer parameters than full fine-tuning: a higher rate (PAPER.md 3.6)")
    selection: Selection = option(factory=lambda: Selection(n_score=128), help="k (or auto: the run's k_budget, "
                                  "k_grid and n_dev choose it on the base model), scope, scorer, tokens, n_score")
    exclude_claimed: bool = option(False, "True: never retrain a neuron an earlier task trained")

    def __post_init__(self):
        super().__post_init__()
        self.selection = nested(Selection, self.selection, "selection")  # k "auto": chosen by the run (choose_k)
        if self.selection.specificity != "none":
            raise TaskNeuronsError("option selection.specificity: NCFT scores one task at a time; use 'none'")


@torch.no_grad()
def merge(tuner: NeuronTuner, masters: dict[str, dict[str, torch.Tensor | None]]) -> None:
    """Fold ``tuner``'s trained deltas into the base weights for good (the tuner is to be removed next).

    A module whose weights are narrower than its delta (bfloat16 under float32 deltas) goes through ``masters``
    (see the module docstring): ``masters[name]`` holds ``index`` (its merged output features, sorted), ``weight``
    [len(index), in] and ``bias`` (or None) in the deltas' dtype; they are created from the current weights the
    first time a feature is merged, the delta is added to them, and the features' rows are overwritten with them.
    """
    for name, (proj, delta) in tuner.deltas.items():
        features = delta.index
        if proj.module.weight.dtype == delta.weight.dtype:  # float32 weights: added to as they are
            proj.add_rows_(features, delta.weight, delta.bias)
            delta.active = False
            continue
        empty = {"dtype": delta.weight.dtype, "device": features.device}  # plain, even where the deltas are sharded
        width = sharding.shape(delta.weight)[1]
        master = masters.get(name) or {"index": features[:0], "weight": torch.empty(0, width, **empty),
                                       "bias": None if delta.bias is None else torch.empty(0, **empty)}
        new = features[~torch.isin(features, master["index"])]
        if len(new):  # first merged here: from the current weights (exact in float32)
            fresh = {"index": new, "weight": proj.weight_rows(new), "bias": proj.bias_entries(new)}
            order = torch.cat([master["index"], new]).argsort()
            master = {k: None if v is None else torch.cat([v, fresh[k].to(v.dtype)])[order] for k, v in master.items()}
        masters[name] = master
        pos = torch.searchsorted(master["index"], features)
        master["weight"][pos] += sharding.full(delta.weight)
        if master["bias"] is not None:
            master["bias"][pos] += sharding.full(delta.bias)
        proj.copy_rows_(features, master["weight"][pos], None if master["bias"] is None else master["bias"][pos])
        delta.active = False


@register
class NCFT(Method):
    name = "ncft"
    title = "NCFT"
    cumulative = True
    Options = NCFTOptions

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.sets: list[NeuronSet] = []  # the neurons trained at each finished stage
        self._tuner: NeuronTuner | None = None
        self.masters: dict[str, dict[str, torch.Tensor | None]] = {}  # float32 rows of low-precision weights (``merge``)

    @classmethod
    def draws(cls, options) -> list[tuple]:
        return [("score", options.selection.n_score)]

    def claimed(self, lm: LoadedModel) -> NeuronSet:
        union = NeuronSet.empty(lm.ffn)
        for s in self.sets:
            union = union | s
        return union

    def select(self, lm: LoadedModel, stage: int, task: Task) -> NeuronSet:
        o, selection = self.options, self.options.selection
        scores = selection.scores(lm, self.ctx.plan(task), self.ctx.config, progress=self.ctx.progress)
        provenance = {"task": task.name, "stage": stage + 1, "method": self.name}
        if o.exclude_claimed and self.sets:
            claimed = self.claimed(lm)
            chosen = selection.neurons(scores.demoted(claimed.masks), provenance=provenance)
            return NeuronSet({k: m & ~claimed.masks[k] for k, m in chosen.masks.items()},
                             {**chosen.provenance, "excluded_claimed": claimed.count()})
        return selection.neurons(scores, provenance=provenance)

    def train_stage(self, lm: LoadedModel, stage: int, task: Task) -> dict:
        neurons = self.select(lm, stage, task)
        with NeuronTuner(lm, neurons) as tuner:
            result = train(lm, self.ctx.train_examples(task), tuner.parameters(), self.ctx.train_config(self.options, lm),
                           progress=self.ctx.progress)
            merge(tuner, self.masters)  # the trained rows stay in the weights when the tuner is removed
        self._tuner = tuner
        self.sets.append(neurons)
        return {**train_info(result, tuner.num_trainable()), "neurons": neurons.count(),
                "neuron_fraction": round(neurons.fraction(), 5)}

    def save(self, lm: LoadedModel, folder: Path) -> None:
        self.sets[-1].save(folder / "neurons")
        self._tuner.save(folder / "deltas")

    def restore(self, lm: LoadedModel, folders: list[Path]) -> None:
        for folder in folders:
            self._replay(lm, folder)

    def adopt(self, lm: LoadedModel, folder: Path) -> None:
        self._tuner = self._replay(lm, folder)  # saved again as this method's own stage

    def _replay(self, lm: LoadedModel, folder: Path) -> NeuronTuner:
        """A saved stage merged into ``lm`` as its training merged it: its deltas, then its neurons recorded."""
        tuner = NeuronTuner.load(folder / "deltas", lm)
        merge(tuner, self.masters)
        tuner.remove()
        self.sets.append(NeuronSet.load(folder / "neurons"))
        return tuner
