"""Generalization through task-specific neurons (paper 2.7-2.10, Tables 3, 4, 8-11, Figures 2, 3, 6).

For groups of training tasks, each with its out-of-domain (OOD) test tasks:

1. **scores**: every task's neurons scored once on the base model; the top-p% sets for any p come from them;
2. **overlap** (Table 8): Jaccard between the union of the training tasks' top-p% sets and the union of the
   OOD tasks' sets of each kind, at every p; pairwise matrices between all tasks;
3. **proportion sweep** (Figure 2): train jointly on the training tasks through only the union of their top-p%
   neurons (the neuron tuner), evaluate in-domain (ID: the training tasks' test splits) and OOD; and the
   single-task variant (Figure 6): each training task alone through its own top-p% neurons, ID only;
4. **overlap-controlled ablation** (Tables 9-11): the same joint training through a random set with a preset
   overlap with the OOD tasks' neurons (``analysis.overlap.overlap_controlled_set``), per (group, OOD kind);
5. **parameter similarity** (Figure 3): one fully fine-tuned model per training task; in each layer the cosine
   between the training task's and each OOD task's neuron parameters in that model; the model is freed
   as soon as its numbers are taken (also kept: the same curves in the base model, for comparison);
6. **correlation** (Table 4): per OOD task, Pearson and Spearman (p-values, n, bootstrap interval) between
   the layer-averaged similarity and the score of each fine-tuned model.

The parts are functions over a ``Lab`` (lab.py: config, tasks, example plans, run folder, base model, scores).
Every training and evaluation is a cached step of the run folder (a rerun resumes); overlap and correlation
are recomputed from cached values. See docs/generalize.md for the data substitutions and every option."""
from __future__ import annotations

from pathlib import Path

from ..experiment import Experiment
from .ablation import ablation
from .config import GeneralizeConfig
from .lab import Lab
from .overlap import overlap, zero_shot
from .report import show_ablation, show_overlap, show_similarity, show_single, show_sweep
from .similarity import similarity
from .sweep import single, sweep
from .records import VERSION


class Generalize(Experiment):
    """Explain generalization (the paper's section 5): overlap of the tasks' neurons, training only the union of a
    group's top-p% neurons (ID and OOD scores by p), the overlap ablation, and per-layer parameter similarity
    correlated with transfer.

    ``Generalize(config, out)()`` as every ``Experiment`` (its Args and Returns), with a ``GeneralizeConfig``
    (``taskneurons generalize --help``) and results of ``generalize/records.Results``.

    Example:
        >>> from taskneurons import Generalize, GeneralizeConfig
        >>> config = GeneralizeConfig(model="tiny-llama", groups=[{"name": "g", "train": ["rotten_tomatoes"],
        ...                           "ood": ["tweet_sentiment"]}], proportions=[10, 100], n_eval=8,
        ...                           similarity=False, ablation=False)
        >>> results = Generalize(config, "runs/generalize")()  # doctest: +SKIP
        >>> sorted(results["sweep"]["g"])  # doctest: +SKIP
        ['10', '100']
    """

    Config = GeneralizeConfig
    version = VERSION
    views = "taskneurons.experiments.generalize.views"

    def __init__(self, config: GeneralizeConfig, out: Path, progress: bool = True):
        self.config = config
        self.lab = Lab(config, out, progress)  # every task, plan and group checked before the folder exists
        self.run, self.plans = self.lab.run, self.lab.plans  # every draw: made up front

    def header(self) -> dict:
        lab = self.lab
        return {"tasks": {key: lab.describe_task(key) for key in lab.tasks},
                "groups": {g.name: {"train": list(g.train), "ood": list(g.ood), "train_kind": lab.train_kind(g),
                                    "stands_for": g.paper, "notes": list(g.notes)} for g in lab.groups}}

    def parts(self):
        c, lab = self.config, self.lab
        if c.similarity_layers and lab.n_layers is None:  # its config could not tell before the folder
            lab.check_similarity_layers(lab.base.ffn.n_layers)
        for option, key, title, part, _ in PARTS:
            if option is None or getattr(c, option):
                yield key, title, lambda part=part: part(lab)

    def record(self, results: dict, key: str, title: str, value) -> None:
        results[key] = value
        SHOW[key](results)


PARTS = [  # (option that turns it on (None: always), results key, title, part, what prints its table)
    (None, "overlap", "overlap of task-specific neurons (Table 8)", overlap, show_overlap),
    ("zero_shot", "zero_shot", "zero-shot", zero_shot, lambda results: None),
    ("sweep", "sweep", "proportion sweep: joint training through the union of the top-p% neurons (Figure 2)", sweep,
     show_sweep),
    ("single_task", "single", "single-task proportion sweep (Figure 6)", single, show_single),
    ("ablation", "ablation", "overlap-controlled ablation (Tables 9-11)", ablation, show_ablation),
    ("similarity", "similarity", "parameter similarity (Figure 3) and its correlation with transfer (Table 4)",
     similarity, show_similarity),
]
SHOW = {key: show for _, key, _, _, show in PARTS}
