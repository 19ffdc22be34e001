"""GeneralizeConfig: every option of the generalization experiment, with the recommended defaults, all checked
before the run folder exists (the groups' tasks are checked by ``Generalize``)."""
from __future__ import annotations

from dataclasses import dataclass

from ...analysis.similarity import DEFAULT_PAIRING, MATRICES, PAIRINGS, VECTORS
from ...errors import TaskNeuronsError
from ...configs import checks
from ...configs.checks import nested
from ..kit import Selection, Settings, TrainingSpec
from .groups import POOLS, RATE_DEFINITIONS, SIMILARITY_NEURONS, TOTALS
from ...configs.options import option

PARTS = ("zero_shot", "sweep", "single_task", "ablation", "similarity")


def percentages(name: str, values, low_open: bool = True) -> None:
    if not isinstance(values, list) or not values:
        raise TaskNeuronsError(f"option {name}={values!r} is not a non-empty list of percentages")
    for v in values:
        checks.number(name, v, 0, 100, low_open)


@dataclass
class GeneralizeConfig(Settings):
    groups: list = option(factory=lambda: ["a", "b"], help='"a", "b", or {name, train: [...], ood: [...]}')
    proportions: list[float] = option(factory=lambda: [10, 30, 50, 70, 100],
                                      help="p of the sweep: the union of the training tasks' top-p% neurons (percent)")
    selection: Selection = option(factory=Selection, help="scorer, tokens, n_score, scope; k: the similarity sets")
    n_eval: int = option(100, "test examples per task")
    n_eval_generation: int | None = option(None, "test examples per generation task (default: n_eval)")
    training: TrainingSpec = option(factory=lambda: TrainingSpec(n_train=200, lr=5e-4), help="neuron-only, per task")
    zero_shot: bool = option(True, "the base model's score on every task")
    sweep: bool = option(True, "Figure 2: joint training through the union of the top-p% neurons, ID and OOD")
    sweep_seeds: int = option(1, "(beyond the paper) trainings per sweep point, each with its own training seed (the "
                                 "first: the run's seed); with 2 or more the intervals count them as runs")
    single_task: bool = option(True, "Figure 6: each training task alone through its own top-p% neurons")
    single_proportions: list[float] | None = option(None, "p of the single-task sweep (default: proportions)")
    ablation: bool = option(True, "Tables 9-11: training through random sets with a preset overlap")
    ablation_pairs: list = option(factory=lambda: [["a", "classification"], ["b", "generation"],
                                                   ["b", "classification"]],
                                  help="(group, OOD kind) pairs the overlap-controlled ablation trains")
    ablation_proportions: list[float] = option(factory=lambda: [10, 30, 50],
                                               help="p of the ablation's trained sets (percent)")
    ablation_rates: list[float] = option(factory=lambda: [10, 30, 50, 70, 100],
                                         help="overlap rates with the OOD set (percent)")
    ablation_total: str = option("proportion",
        '"proportion": p% of every (layer, kind) | "train_union": |union of top-p%|')
    ablation_rate: str = option("share", '"share" of the trained neurons from the test set | "jaccard" with it')
    ablation_pool: str = option("complement", "the rest from outside the test set | from the training union outside it")
    ablation_draws: int = option(1, "random sets per cell, each from its own derived seed")
    similarity: bool = option(True, "Figure 3 and Table 4: parameter similarity and its correlation with transfer")
    similarity_models: list[str] | None = option(None,
        "tasks to fully fine-tune one model on (default: the groups' training tasks)")
    similarity_tests: list[str] | None = option(None, "test tasks (default: the groups' OOD tasks)")
    similarity_matrices: str = option("both",
        '"both" | (beyond the paper) "inner" (up/gate rows) | "outer" (down rows)')
    similarity_vector: str = option("flatten", '"flatten" (needs scope "layer") | (beyond the paper) "mean"')
    similarity_pairing: str = option(DEFAULT_PAIRING,
        '"shared_first" (beyond the paper: shared rows meet) | "index" (literal)')
    similarity_neurons: str = option("base", 'which model scores the neurons: "base" | "finetuned" (M_i)')
    similarity_layers: list[int] | None = option(None, "layers averaged into one similarity for Table 4 (default: all)")
    full_training: TrainingSpec = option(factory=lambda: TrainingSpec(n_train=200, lr=2e-5),
        help="each full fine-tuning of the similarity part (one model per training task)")

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.groups, list) or not self.groups:
            raise TaskNeuronsError("option groups is empty: give 'a', 'b' or {name, train: [...], ood: [...]}")
        self.selection = nested(Selection, self.selection, "selection")
        self.selection.fixed_k("")
        if self.selection.specificity != "none":
            raise TaskNeuronsError("option selection.specificity: generalize selects each task's top-p% by its score "
                                   "(specificity is an identify option); use 'none'")
        self.training = nested(TrainingSpec, self.training, "training")
        self.full_training = nested(TrainingSpec, self.full_training, "full_training")
        percentages("proportions", self.proportions)
        percentages("ablation_proportions", self.ablation_proportions)
        percentages("ablation_rates", self.ablation_rates, low_open=False)
        if self.single_proportions is not None:
            percentages("single_proportions", self.single_proportions)
        for name in ("n_eval", "ablation_draws", "sweep_seeds"):
            checks.integer(name, getattr(self, name))
        checks.integer("n_eval_generation", self.n_eval_generation, optional=True)
        for name in PARTS:
            checks.boolean(name, getattr(self, name))
        if self.similarity_layers is not None and not (
                isinstance(self.similarity_layers, list)
                and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in self.similarity_layers)):
            raise TaskNeuronsError(f"option similarity_layers={self.similarity_layers!r} is not a list of layer "
                                   f"numbers (0, 1, ...) or null")
        checks.choice("ablation_total", self.ablation_total, TOTALS)
        checks.choice("ablation_rate", self.ablation_rate, RATE_DEFINITIONS)
        checks.choice("ablation_pool", self.ablation_pool, POOLS)
        checks.choice("similarity_matrices", self.similarity_matrices, MATRICES)
        checks.choice("similarity_vector", self.similarity_vector, VECTORS)
        checks.choice("similarity_pairing", self.similarity_pairing, PAIRINGS)
        checks.choice("similarity_neurons", self.similarity_neurons, SIMILARITY_NEURONS)
        for name in ("similarity_models", "similarity_tests"):
            if getattr(self, name) is not None:
                checks.string_list(name, getattr(self, name))
        if self.similarity and self.similarity_vector == "flatten" and self.selection.scope != "layer":
            raise TaskNeuronsError(f"similarity_vector 'flatten' needs equal neuron counts per layer, i.e. selection "
                                   f"scope 'layer' (got {self.selection.scope!r}); set similarity_vector=mean or "
                                   f"selection.scope=layer")

    def n_eval_of(self, kind: str) -> int:
        return (self.n_eval_generation or self.n_eval) if kind == "generation" else self.n_eval
