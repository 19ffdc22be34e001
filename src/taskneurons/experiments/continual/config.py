"""ContinualConfig: what a continual-learning run does (model, sequences, methods, sizes, training, evaluation).

Every choice the paper leaves open is an option here or in a method's options (``methods/``); the defaults
are the recommended values (PAPER.md 2.11-2.13, 3.6).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ...errors import TaskNeuronsError
from ...evaluation.evaluate import CLASSIFICATION_METHODS
from ...tuning import TrainConfig
from .orders import DEFAULT_DATA_ROOT

ALL_METHODS = ["seqft", "seqlora", "olora", "replay", "ewc", "ncft", "wncft", "per_task_ft", "multitask_ft"]
REFERENCES = ("diagonal", None)  # besides a method name or label


@dataclass
class ContinualConfig:
    model: str = "smollm2-135m"
    device: str = "cpu"
    dtype: str = "float32"
    # sequences: paper orders (1-6, "order1"), lists of task specs, or {name: ..., tasks: [...]}
    orders: list = field(default_factory=lambda: [1])
    data_root: str = DEFAULT_DATA_ROOT  # where the orders' task folders are (relative to the current directory)
    # methods: registered names, or {method: name, label: ..., <option>: value}; see `methods/`
    methods: list = field(default_factory=lambda: list(ALL_METHODS))
    method_options: dict = field(default_factory=dict)  # method name -> options for every entry of that method
    n_train: int = 500  # first N examples of each task's train split
    n_test: int = 200  # first N examples of each task's test split
    eval_method: str = "rank"  # classification: "rank" (label likelihood) | "generate" (greedy + exact match, the paper)
    evaluate_unseen: bool = True  # also score tasks not trained yet, and the base model (forward transfer needs it)
    reference: str | None = "per_task_ft"  # A_i for FG: a method (name or label), "diagonal" (a[i][i]) or null
    batch_size: int = 8
    eval_batch_size: int | None = None  # default: batch_size
    max_length: int = 256
    max_new_tokens: int = 8
    epochs: int = 1
    max_steps: int | None = None  # optimizer steps per stage (overrides epochs)
    train: dict = field(default_factory=dict)  # other TrainConfig fields for every method (e.g. mixed_precision: bf16)
    seed: int = 0
    keep_states: str = "last"  # "last": keep only the latest stage's state of a method (what resuming needs) | "all"

    def __post_init__(self):
        if self.eval_method not in CLASSIFICATION_METHODS:
            raise TaskNeuronsError(f"eval_method {self.eval_method!r} is not one of {list(CLASSIFICATION_METHODS)}")
        if self.keep_states not in ("last", "all"):
            raise TaskNeuronsError(f"keep_states {self.keep_states!r} is not one of ['last', 'all']")
        for name in ("n_train", "n_test", "batch_size", "max_length", "epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise TaskNeuronsError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.methods, list) or not self.methods:
            raise TaskNeuronsError(f"methods must be a non-empty list of method names, got {self.methods!r}")
        if not isinstance(self.method_options, dict):
            raise TaskNeuronsError(f"method_options must map method names to options, got {self.method_options!r}")
        unknown = sorted(set(self.train) & {"lr", "seed", "batch_size", "max_length", "epochs", "max_steps"})
        if unknown:
            raise TaskNeuronsError(f"train: set {', '.join(unknown)} as top-level options (or lr per method), not under train")
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        if not isinstance(self.train, dict) or set(self.train) - fields:
            bad = sorted(set(self.train) - fields) if isinstance(self.train, dict) else self.train
            raise TaskNeuronsError(f"train: unknown training option(s) {bad}; TrainConfig has {sorted(fields)}")
        self.train_config(2e-5)  # bad training values (max_steps, schedule...) fail here, before any work
        if self.eval_batch_size is not None and self.eval_batch_size < 1:
            raise TaskNeuronsError(f"eval_batch_size must be a positive integer (or null), got {self.eval_batch_size!r}")

    def train_config(self, lr: float, overrides: dict | None = None) -> TrainConfig:
        """The TrainConfig of one method: shared sizes and seed, the method's lr and its ``train`` overrides."""
        return TrainConfig(**{"lr": lr, "epochs": self.epochs, "max_steps": self.max_steps,
                              "batch_size": self.batch_size, "max_length": self.max_length, "seed": self.seed,
                              **self.train, **(overrides or {})})
