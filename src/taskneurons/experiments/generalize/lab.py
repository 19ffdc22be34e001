"""Lab: what the parts of the generalization experiment share, built and checked before the run folder exists.

The config, the groups, every task with its example plan (tasks.plans), the run folder, the base model, and
each task's base-model scores and top-p% sets (artifacts of the run folder, computed once)."""
from __future__ import annotations

import gc
from dataclasses import asdict
from pathlib import Path

from ...errors import TaskNeuronsError
from ...models import LoadedModel
from ...models.loading import model_layers
from ...neurons import NeuronSet, Scores
from ...tasks import Task, load_task
from ...tuning import NeuronTuner, train
from ..kit import evaluate_plan, keep_lengths, make_plans
from ...runs import Run, option_defaults
from .config import GeneralizeConfig
from .groups import GROUPS, KIND_OF, PAPER_TASKS, SHORT, Group


class Lab:
    def __init__(self, config: GeneralizeConfig, out: Path, progress: bool = True):
        self.config, self.progress = config, progress
        self.tasks: dict[str, Task] = {}
        self.specs: dict[str, str] = {}
        self.groups = [self._group(g) for g in config.groups]
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise TaskNeuronsError(f"option groups: group names must differ, got {names}")
        self.similarity_models = [self._load(str(t)) for t in config.similarity_models or []]
        self.similarity_tests = [self._load(str(t)) for t in config.similarity_tests or []]
        self._check_ablation_pairs()
        self.n_layers = model_layers(config.model) if config.similarity_layers else None  # None: not read
        self.check_similarity_layers(self.n_layers)
        self.plans = make_plans(list(self.tasks.values()), config.seed, lambda t: config.n_eval_of(t.kind), self.draws)
        self.run = Run(out, asdict(config), "generalize", self.tasks.values(), option_defaults(GeneralizeConfig),
                       tuned_k=tuned_k(config))  # only now: every value above was valid
        keep_lengths(self.plans, self.run)
        self._base: LoadedModel | None = None
        self._scores: dict[str, Scores] = {}
        self._sets: dict[tuple[str, float], NeuronSet] = {}

    def draws(self, task: Task) -> list[tuple[str, int]]:
        """What the enabled parts draw from the task's pool: its scored examples, and training examples for the
        neuron-only trainings (a group's training task) and the fully fine-tuned model (a similarity model)."""
        c, key = self.config, task.name
        draws = [("score", c.selection.n_score)]
        if (c.sweep or c.single_task or c.ablation) and any(key in g.train for g in self.groups):
            draws.append(("train", c.training.n_train))
        if c.similarity and key in self.model_tasks():
            draws.append(("train", c.full_training.n_train))
        return draws

    def model_tasks(self) -> list[str]:
        """The tasks one model each is fully fine-tuned on for the similarity part."""
        return self.similarity_models or list(dict.fromkeys(t for g in self.groups for t in g.train))

    def test_tasks(self) -> list[str]:
        return self.similarity_tests or list(dict.fromkeys(t for g in self.groups for t in g.ood))

    # --- configuration ------------------------------------------------------------------------------------
    def _group(self, spec) -> Group:
        if isinstance(spec, str):
            if spec not in GROUPS:
                raise TaskNeuronsError(f"unknown group {spec!r}; built-in groups: {', '.join(GROUPS)} "
                                       f"(or give {{name, train: [...], ood: [...]}})")
            group = GROUPS[spec]
            for key in group.train + group.ood:
                self._load(key)
            return group
        if not isinstance(spec, dict) or set(spec) != {"name", "train", "ood"}:
            raise TaskNeuronsError(f"a group must be 'a', 'b' or a mapping with exactly name, train and ood; got {spec!r}")
        if not isinstance(spec["train"], list) or not isinstance(spec["ood"], list) or not spec["train"] or not spec["ood"]:
            raise TaskNeuronsError(f"group {spec['name']!r}: train and ood must be non-empty lists of tasks")
        train, ood = tuple(self._load(str(t)) for t in spec["train"]), tuple(self._load(str(t)) for t in spec["ood"])
        if len(set(train + ood)) != len(train + ood):
            raise TaskNeuronsError(f"group {spec['name']!r} lists a task twice: train {list(train)}, ood {list(ood)}")
        return Group(str(spec["name"]), train, ood)

    def check_similarity_layers(self, n_layers: int | None) -> None:
        """Every similarity layer is a layer of the model (``n_layers``: read from its config before the run
        folder exists; None: not known yet, checked again on the loaded model)."""
        c = self.config
        bad = [i for i in c.similarity_layers or [] if i >= n_layers] if c.similarity and n_layers else []
        if bad:
            raise TaskNeuronsError(f"option similarity_layers: {bad} are not layers of the model {c.model} "
                                   f"(0..{n_layers - 1})")

    def _load(self, spec: str) -> str:
        """Load a task (any spec ``load_task`` takes); returns its key (the task's name)."""
        task = load_task(spec, data_root=self.config.data_root)
        if task.name in self.specs and self.specs[task.name] != spec:
            raise TaskNeuronsError(f"two tasks are named {task.name!r} ({self.specs[task.name]} and {spec}); rename one")
        self.tasks[task.name], self.specs[task.name] = task, spec
        return task.name

    def _check_ablation_pairs(self) -> None:
        groups = {g.name: g for g in self.groups}
        for pair in self.config.ablation_pairs if self.config.ablation else []:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise TaskNeuronsError(f"option ablation_pairs: each entry is [group, kind], got {pair!r}")
            g, kind = str(pair[0]), KIND_OF.get(str(pair[1]))
            if g not in groups:
                raise TaskNeuronsError(f"option ablation_pairs: group {g!r} is not among the groups {list(groups)}")
            if kind is None or not self.ood_of_kind(groups[g], kind):
                raise TaskNeuronsError(f"option ablation_pairs: group {g!r} has no OOD tasks of kind {pair[1]!r}")

    def describe_task(self, key: str) -> dict:
        task, paper = self.tasks[key], PAPER_TASKS.get(key)
        return {"data": self.specs[key], "paper": paper.paper if paper else None, "note": paper.note if paper else "",
                "kind": task.kind, "metric": task.metric, "splits": {s: len(e) for s, e in task.splits.items()},
                "n_eval": len(self.plans[key].eval.indices)}

    # --- building blocks ----------------------------------------------------------------------------------
    @property
    def base(self) -> LoadedModel:
        if self._base is None:
            self._base = self.run.load_model()
        return self._base

    def release_base(self) -> None:
        """Free the base model (before another model is loaded); :attr:`base` loads it again when asked."""
        self._base = None
        gc.collect()

    def scores(self, key: str) -> Scores:
        """The task's neuron scores on the base model (an artifact of the run folder, reused when present)."""
        if key not in self._scores:
            c = self.config
            self._scores[key] = c.selection.scores_in(self.run, "base", lambda: self.base, self.plans[key], c,
                                                      self.progress)
        return self._scores[key]

    def neuron_set(self, key: str, p: float) -> NeuronSet:
        if (key, p) not in self._sets:
            self._sets[(key, p)] = self.config.selection.neurons(self.scores(key), p,
                                                                  {"model_role": "base", "seed": self.config.seed})
        return self._sets[(key, p)]

    def ood_of_kind(self, group: Group, kind: str) -> list[str]:
        return [t for t in group.ood if self.tasks[t].kind == kind]

    def train_kind(self, group: Group) -> str:
        kinds = {SHORT[self.tasks[t].kind] for t in group.train}
        return kinds.pop() if len(kinds) == 1 else "MIX"

    def evaluate(self, lm: LoadedModel, key: str) -> dict:
        return evaluate_plan(lm, self.plans[key], self.config, self.progress)

    def training_examples(self, keys, n_train: int) -> list:
        return [ex for key in keys for ex in self.plans[key].draw("train", n_train)]

    def train_and_evaluate(self, neurons: NeuronSet, train_keys, eval_keys, seed: int | None = None) -> dict:
        """Train the base model jointly on ``train_keys`` through ``neurons`` only (``seed``: the training's, default
        the run's); evaluate; the model is left as it was (the tuner is removed)."""
        c, lm = self.config, self.base
        examples = self.training_examples(train_keys, c.training.n_train)
        with NeuronTuner(lm, neurons) as tuner:
            length = c.target_length([self.plans[k] for k in train_keys], lm.tokenizer)
            result = train(lm, examples, tuner.parameters(), c.training.for_settings(c, length, seed),
                           progress=self.progress)
            records = {key: self.evaluate(lm, key) for key in eval_keys}
            trainable = tuner.num_trainable()
        return {"scores": {k: r["score"] for k, r in records.items()},
                "outcomes": {k: r["outcomes"] for k, r in records.items()},
                "neurons": neurons.count(), "fraction": neurons.fraction(), "trainable": trainable,
                "n_train": len(examples), "steps": result.steps,
                "final_loss": result.losses[-1] if result.losses else None, "seconds": result.seconds}


def tuned_k(c) -> float | None:
    """The largest percent of neurons a part trains through the neuron tuner (None: no part does), for the memory
    plan: the sweeps' p, and the ablation's (whose cells train as many as the training union at most)."""
    ks = [*(c.proportions if c.sweep else []), *((c.single_proportions or c.proportions) if c.single_task else []),
          *(c.ablation_proportions if c.ablation else [])]
    return 100.0 if c.ablation and c.ablation_total == "train_union" else max(ks, default=None)
