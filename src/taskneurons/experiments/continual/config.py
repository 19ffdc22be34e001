"""ContinualConfig: what a continual-learning run does (model, sequences, methods, sizes, training, evaluation).

Every choice the paper leaves open is an option here or in a method's options (``methods/``); the defaults
are the recommended values (PAPER.md 2.11-2.13, 3.6). Shared settings (model, sizes, seed, data root) come from
the kit's ``Settings``; every value is checked here, before the run folder exists.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import TaskNeuronsError
from ...evaluation import CLASSIFICATION_METHODS
from ...configs import checks
from ...configs.checks import nested
from ..kit import Settings, TrainingSpec
from ..kit.seeds import training_seed
from ..kit.auto_k import AutoKOptions
from ...configs.options import option

ALL_METHODS = ["seqft", "seqlora", "olora", "epi", "replay", "ewc", "ncft", "wncft", "per_task_ft", "multitask_ft"]
KEEP_STATES = ("last", "all")
EVALUATE_ON = ("test", "dev")


@dataclass
class ContinualConfig(AutoKOptions, Settings):
    eval_method: str = option("generate",
        "classification by greedy generation + exact match, the paper's: label ranking hides forgetting of the format")
    also_evaluate: list = option(factory=list, help=
        "more classification methods each stage is also scored by (e.g. [rank]): the report compares them")
    orders: list = option(factory=lambda: [1], help=
        'sequences: paper orders (1-6, "order1"), lists of task names or specs, or {name: ..., tasks: [...]}')
    methods: list = option(factory=lambda: list(ALL_METHODS), help=
        "methods: registered names, or {method: name, label: ..., <option>: value}; see `methods/`")
    method_options: dict = option(factory=dict, help="method name -> options for every entry of that method")
    training: TrainingSpec = option(factory=lambda: TrainingSpec(n_train=500), help="per stage; lr is the method's")
    n_eval: int = option(200, "test examples per task")
    training_seeds: list = option(factory=lambda: [0], help=
        "each order runs once per training seed: the seed changes the training's data order and initialisations only "
        "(the same examples are trained and tested, so the runs are paired); intervals over runs count (order, seed)")
    evaluate_on: str = option("test",
        '"dev": evaluate on each task\'s dev split instead (a learning-rate sweep; test unread)')
    evaluate_unseen: bool = option(True,
        "also score tasks not trained yet, and the base model (forward transfer needs it)")
    reference: str | None = option("per_task_ft", 'A_i for FG: a method (name or label), "diagonal" (a[i][i]) or null')
    eval_batch_size: int | None = option(None, "default: batch_size")
    keep_states: str = option("last",
        '"last": keep only the latest stage\'s state of a method (what resuming needs) | "all"')
    general_passages: int = option(0,
        "(beyond the paper) general-text passages whose loss is measured after each stage")
    learn_margin: float = option(5.0,
        "points Per-Task FT's A_i must beat zero-shot by on every task (the budget check)")

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.training, dict) and "lr" in self.training:
            raise TaskNeuronsError("option training.lr is not used here: each method has its own lr "
                                   "(method_options: {seqft: {lr: 1.0e-4}})")
        self.training = nested(TrainingSpec, self.training, "training")
        checks.integer("n_eval", self.n_eval)
        checks.integer("eval_batch_size", self.eval_batch_size, optional=True)
        checks.choice("keep_states", self.keep_states, KEEP_STATES)
        checks.choice("evaluate_on", self.evaluate_on, EVALUATE_ON)
        if (not isinstance(self.training_seeds, list) or not self.training_seeds
                or len(set(map(str, self.training_seeds))) != len(self.training_seeds)):
            raise TaskNeuronsError(f"option training_seeds={self.training_seeds!r} is not a non-empty list of distinct "
                                   f"integers >= 0, e.g. [0, 1, 2]")
        for seed in self.training_seeds:
            checks.integer("training_seeds", seed, minimum=0)
        checks.number("learn_margin", self.learn_margin, 0.0, 100.0, low_open=False)
        checks.boolean("evaluate_unseen", self.evaluate_unseen)
        checks.integer("general_passages", self.general_passages, minimum=0)
        checks.string_list("also_evaluate", self.also_evaluate, allow_empty=True)
        for name in self.also_evaluate:
            checks.choice("also_evaluate", name, CLASSIFICATION_METHODS)
        if len(set(self.also_evaluate)) != len(self.also_evaluate) or self.eval_method in self.also_evaluate:
            raise TaskNeuronsError(f"option also_evaluate={self.also_evaluate!r} repeats a method or eval_method "
                                   f"({self.eval_method!r}); list each other method once")
        if not isinstance(self.methods, list) or not self.methods:
            raise TaskNeuronsError(f"option methods={self.methods!r} is not a non-empty list of method names")
        checks.mapping("method_options", self.method_options)
        self.check_auto_k()

    def seed_for(self, run: int) -> int:
        """The base seed of a run's training (``run``: its training seed): the run's ``seed`` for training seed 0
        (so one seed is the run as it always was), ``kit.training_seed`` otherwise."""
        return self.seed if run == 0 else training_seed(self.seed, run)

    def stage_spec(self, lr: float, overrides: dict | None = None, stages: int = 1) -> TrainingSpec:
        """The training spec of one method: the run's with the method's lr and its ``train`` overrides, merged once,
        for ``stages`` stages' optimizer steps: the same budget for every method (Replay's extra examples share a
        stage's steps; Multi-Task FT trains all N tasks in N stages' steps); a method's own ``train.max_steps``
        changes its budget on purpose."""
        shared = self.training
        per_epoch = math.ceil(math.ceil(shared.n_train / self.batch_size) / shared.grad_accum)
        steps = stages * (shared.max_steps or shared.epochs * per_epoch)
        return shared.overridden({"lr": lr, "max_steps": steps, **(overrides or {})}, "train")
