"""GeneralizeConfig: every option of the generalization experiment, with the recommended defaults."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import train_config
from ...tuning import TrainConfig


@dataclass
class GeneralizeConfig:
    model: str = "smollm2-135m"
    device: str = "cpu"
    dtype: str = "float32"
    data_dir: str = "../shared/data"  # where the built-in tasks' folders are
    groups: list = field(default_factory=lambda: ["a", "b"])  # "a", "b", or {name, train: [...], ood: [...]}
    proportions: list[float] = field(default_factory=lambda: [10, 30, 50, 70, 100])  # percent
    scope: str = "layer"  # top-p% per (layer, kind) | "global" per kind | "all"
    scorer: str = "grad_x_act"
    scorer_options: dict = field(default_factory=dict)
    tokens: str = "target"
    n_score: int = 64  # examples per task for scoring (train split; else dev; else the test split's tail)
    n_eval: int = 100  # test examples per task
    n_eval_generation: int | None = None  # test examples per generation task (default: n_eval)
    eval_method: str = "rank"
    batch_size: int = 8
    max_length: int = 192
    max_new_tokens: int = 32
    training: dict = field(default_factory=lambda: {"n_train": 200, "lr": 5e-4, "epochs": 1})  # neuron-only, per task
    zero_shot: bool = True
    sweep: bool = True
    single_task: bool = True  # Figure 6
    single_proportions: list[float] | None = None  # default: proportions
    ablation: bool = True  # Tables 9-11
    ablation_pairs: list = field(default_factory=lambda: [["a", "classification"], ["b", "generation"],
                                                          ["b", "classification"]])
    ablation_proportions: list[float] = field(default_factory=lambda: [10, 30, 50])
    ablation_rates: list[float] = field(default_factory=lambda: [10, 30, 50, 70, 100])  # percent
    ablation_total: str = "proportion"  # "proportion": p% of every (layer, kind) | "train_union": |union of top-p%|
    ablation_rate: str = "share"  # "share" of the trained neurons from the test set | "jaccard" with it
    ablation_pool: str = "complement"  # the rest from outside the test set | from the training union outside it
    ablation_seeds: list[int] = field(default_factory=lambda: [0])
    similarity: bool = True  # Figure 3 and Table 4
    similarity_models: list[str] | None = None  # tasks to fully fine-tune one model on (default: the groups' training tasks)
    similarity_tests: list[str] | None = None  # test tasks (default: the groups' OOD tasks)
    similarity_k: float = 10.0
    similarity_matrices: str = "both"  # "inner" (up/gate rows) | "outer" (down rows) | "both"
    similarity_vector: str = "flatten"  # "flatten" (needs scope "layer") | "mean"
    similarity_pairing: str = "index"  # flatten: rows in index order | "shared_first"
    similarity_neurons: str = "base"  # which model scores the neurons: "base" | "finetuned" (M_i)
    similarity_layers: list[int] | None = None  # layers averaged into one similarity for Table 4 (default: all)
    full_training: dict = field(default_factory=lambda: {"n_train": 200, "lr": 2e-5, "epochs": 1})
    n_boot: int = 2000
    confidence: float = 0.95
    seed: int = 0

    def train_config(self, spec: dict, what: str) -> TrainConfig:
        return train_config(spec, what, batch_size=self.batch_size, max_length=self.max_length, seed=self.seed)
