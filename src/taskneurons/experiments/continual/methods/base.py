"""What every continual-learning method is: a plug-in with options, trained by the one ``train`` loop.

A method sees a task sequence stage by stage. The runner (``runner.py``) calls, on a freshly loaded base model:
``setup`` once, ``restore`` when resuming, then per stage ``train_stage``, ``save`` (into the stage's state
folder) and, per evaluated task, ``evaluation`` (a context manager around the batched evaluation pass).

Three kinds:

- ``sequential``: one model carried through the sequence (NCFT, W-NCFT, SeqFT, SeqLoRA, O-LoRA, EPI, Replay, EWC);
- ``isolated``: every task from the base model on its own (Per-Task FT: the A_i reference);
- ``joint``: all the sequence's tasks at once (Multi-Task FT).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .... import processes
from ....errors import TaskNeuronsError
from ....models import LoadedModel
from ....registry import Registry, suggest
from ....tasks import Example, Task
from ....tuning import TrainConfig, TrainResult
from ....configs import checks
from ...kit import ExamplePlan, TrainingSpec, make_plans
from ....configs.options import option


@dataclass
class MethodOptions:
    """Options every method has: its learning rate and other TrainConfig overrides."""

    lr: float = option(2e-5, "the method's learning rate (continual's training spec has none)")
    train: dict = option(factory=dict, help="fields of the run's training spec for this method only (e.g. "
                                            "{max_steps: 20, weight_decay: 0.1}); lr is its own option")

    def __post_init__(self):
        checks.number("lr", self.lr, 0, math.inf, low_open=False)


@dataclass
class Context:
    """What the runner gives a method: the config, each task's example plan, a shared cache folder, progress."""

    config: object  # ContinualConfig
    shared: Path  # a folder for artifacts shared by runs of the same config (task vectors...)
    progress: bool = True
    plans: dict = field(default_factory=dict)  # task name -> kit.ExamplePlan (its pool is disjoint from its tests)
    training_seed: int = 0  # the run's training seed (ContinualConfig.training_seeds), set by the runner

    def plan(self, task: Task) -> ExamplePlan:
        if task.name not in self.plans:  # a method used on its own, outside the runner
            self.plans.update(make_plans([task], self.config.seed, lambda t: self.config.n_eval,
                                         lambda t: [("train", self.config.training.n_train)]))
        return self.plans[task.name]

    def train_examples(self, task: Task) -> list[Example]:
        return self.plan(task).draw("train", self.config.training.n_train)

    def draw(self, task: Task, role: str, n: int, at_most: bool = False) -> list[Example]:
        """``n`` examples of the task's pool for ``role`` (see ``ExamplePlan.draw``)."""
        return self.plan(task).draw(role, n, at_most)

    def train_config(self, options: MethodOptions, lm: LoadedModel, stages: int = 1) -> TrainConfig:
        """The method's TrainConfig for ``stages`` stages' steps (``ContinualConfig.stage_spec``), seeded by the
        run's training seed; targets are cut to the run's ``Settings.target_length`` over its tasks."""
        c = self.config
        length = c.target_length(list(self.plans.values()), lm.tokenizer)
        return c.stage_spec(options.lr, options.train, stages).for_settings(c, length, c.seed_for(self.training_seed))


def draws(config, specs: list[MethodSpec]) -> list[tuple]:
    """What a run draws from every task's pool: the training examples, what the methods add (their
    ``draws(options)``: NCFT's scored examples, W-NCFT's task-vector prompts) and, with a k chosen by the run
    (``auto_k_specs``), its dev examples."""
    dev = [("dev", config.n_dev)] if auto_k_specs(specs) else []
    return [("train", config.training.n_train)] + [d for spec in specs for d in spec.cls.draws(spec.options)] + dev


def auto_k_specs(specs: list[MethodSpec]) -> list[MethodSpec]:
    """The methods whose ``selection.k`` is "auto" (NCFT and its kin): the run chooses it once, on the base model."""
    return [s for s in specs if getattr(getattr(s.options, "selection", None), "k", None) == "auto"]


def train_info(result: TrainResult, trainable: int) -> dict:
    """What a stage's training reports: steps, time per step, final loss, trainable parameters."""
    return {"steps": result.steps, "seconds": round(result.seconds, 3),
            "seconds_per_step": round(result.seconds / result.steps, 4) if result.steps else None,
            "first_loss": result.losses[0] if result.losses else None,
            "final_loss": result.losses[-1] if result.losses else None, "trainable": trainable}


class Method:
    """Base class of the registered methods (see the module docstring)."""

    name: ClassVar[str] = ""  # the registry key, e.g. "ncft"
    title: ClassVar[str] = ""  # the default label in tables, e.g. "NCFT"
    kind: ClassVar[str] = "sequential"  # "sequential" | "isolated" | "joint"
    cumulative: ClassVar[bool] = False  # True: restoring needs every stage's state folder, not just the last
    partitioned: ClassVar[bool] = True  # False: reads whole weights in its loss, so cannot run under ZeRO-3
    trains_as: ClassVar[str] = ""  # a method whose training this one's is, stage for stage (``adopted_from``)
    Options: ClassVar[type] = MethodOptions

    def __init__(self, options: MethodOptions, ctx: Context):
        self.options, self.ctx = options, ctx
        self.tasks: list[Task] = []

    @classmethod
    def draws(cls, options: MethodOptions) -> list[tuple]:
        """What the method draws from each task's pool besides the training examples: (role, n[, at_most])."""
        return []

    def setup(self, lm: LoadedModel, tasks: list[Task]) -> None:
        """Once per sequence, on the base model, before any stage (and before ``restore``)."""
        self.tasks = tasks

    def train_stage(self, lm: LoadedModel, stage: int, task: Task) -> dict:
        """Train on ``task`` (0-based ``stage`` of the sequence); returns what to report (``train_info``)."""
        raise NotImplementedError

    def adopt(self, lm: LoadedModel, folder: Path) -> None:
        """Instead of ``train_stage``: take the stage a method that trains as this one saved in ``folder``."""
        raise NotImplementedError

    def save(self, lm: LoadedModel, folder: Path) -> None:
        """Write what ``restore`` needs into ``folder`` (safetensors + JSON), after ``train_stage``."""

    def restore(self, lm: LoadedModel, folders: list[Path]) -> None:
        """Bring the base model ``lm`` to the state after the last of ``folders`` (every finished stage's
        folder when ``cumulative``, else the last one only)."""

    def evaluation(self, lm: LoadedModel, stage: int, index: int):
        """A context manager around evaluating task ``index`` after ``stage`` (both 0-based)."""
        return contextlib.nullcontext()

    def evaluate_task(self, lm: LoadedModel, stage: int, index: int, score) -> dict:
        """Task ``index``'s records by evaluation method after ``stage``: ``score(None)`` evaluates all its test
        examples inside :meth:`evaluation`. A method that treats examples differently (EPI's per-example routing)
        calls ``score(positions)`` on subsets instead and merges them (``records.merged``)."""
        with self.evaluation(lm, stage, index):
            return score(None)

    def describe(self) -> dict:
        """Anything worth reporting about the finished run (e.g. W-NCFT's task similarities)."""
        return {}


METHODS: Registry[type[Method]] = Registry("continual-learning method")
register = METHODS.register  # class decorator: add a method to the registry, once
get_method = METHODS.get
SHARED_TRAINING = {"lr", "n_train"}  # lr: each method's own option; n_train: the run's draws, for every method


def make_options(cls: type[Method], values: dict) -> MethodOptions:
    """``cls.Options`` from a dict, with an error naming the options that exist."""
    known = [f.name for f in dataclasses.fields(cls.Options)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise TaskNeuronsError(f"method {cls.name!r} has no option {unknown[0]!r}{suggest(unknown[0], known)}; "
                               f"its options: {', '.join(known)}")
    try:
        checks.field_types(cls.Options, values)  # types first: the options' own checks compare values
        options = cls.Options(**values)
    except TaskNeuronsError as e:
        raise TaskNeuronsError(f"method {cls.name!r}: {e}") from None
    allowed = sorted({f.name for f in dataclasses.fields(TrainingSpec)} - SHARED_TRAINING)
    if set(options.train) - set(allowed):
        raise TaskNeuronsError(f"method {cls.name!r}: train option(s) {sorted(set(options.train) - set(allowed))} "
                               f"cannot be set per method; allowed: {allowed} (lr is the method's own option)")
    TrainingSpec().overridden({"lr": options.lr, **options.train}, f"method_options.{cls.name}.train")  # the values
    return options


@dataclass
class MethodSpec:
    """One entry of the config's method list, resolved: label, class and options."""

    label: str
    cls: type[Method]
    options: MethodOptions

    def build(self, ctx: Context) -> Method:
        return self.cls(self.options, ctx)


def method_specs(entries: list, shared_options: dict | None = None) -> list[MethodSpec]:
    """Entries are names ("ncft") or dicts {method: name, label: ..., <option>: value}; ``shared_options``
    maps a method name to options for each of its entries (an entry's own options win)."""
    shared_options = shared_options or {}
    for name, values in shared_options.items():  # checked even for a method no entry uses
        if not isinstance(values, dict):
            raise TaskNeuronsError(f"option method_options.{name}={values!r} is not a mapping of option: value")
        make_options(get_method(name), values)
    specs = []
    for entry in entries:
        if isinstance(entry, str):
            name, label, values = entry, None, {}
        elif isinstance(entry, dict) and "method" in entry:
            values = dict(entry)
            name, label = values.pop("method"), values.pop("label", None)
        else:
            raise TaskNeuronsError(f"a methods entry must be a method name or {{method: name, ...}}, got {entry!r}; "
                                   f"methods: {', '.join(METHODS)}")
        cls = get_method(name)
        specs.append(MethodSpec(str(label or cls.title), cls, make_options(cls, {**shared_options.get(name, {}), **values})))
    whole = [s.label for s in specs if not s.cls.partitioned]
    if whole and processes.sharding() == "zero3":
        raise TaskNeuronsError(f"{whole[0]} cannot run under DeepSpeed ZeRO-3 yet (its loss reads whole weights "
                               f"outside the forward pass): shard with FSDP2 or ZeRO-2, or leave it out")
    labels = [s.label for s in specs]
    repeated = sorted({l for l in labels if labels.count(l) > 1})
    if repeated:
        raise TaskNeuronsError(f"two methods entries have the label {repeated[0]!r}; give each a distinct label")
    return specs


def adopted_from(spec: MethodSpec, earlier: list[MethodSpec]) -> MethodSpec | None:
    """The method of ``earlier`` whose stages ``spec`` would train again exactly: one that trains as ``spec`` does
    (W-NCFT after NCFT, or after another W-NCFT) with the same options of that training (NCFT's). ``spec`` adopts
    its saved stages instead: the run's training seed and examples are shared, so with deterministic training the
    weights are the same bit for bit (the runner checks their digest)."""
    if not spec.cls.trains_as:
        return None
    training = [f.name for f in dataclasses.fields(get_method(spec.cls.trains_as).Options)]
    for other in earlier:
        if spec.cls.trains_as in (other.cls.name, other.cls.trains_as) and all(
                getattr(spec.options, name) == getattr(other.options, name) for name in training):
            return other
    return None


def reference_spec(config, specs: list[MethodSpec]) -> MethodSpec | None:
    """The method whose diagonal is A_i for FG (``config.reference``; "diagonal" and null need none), appended to
    ``specs`` when the run does not list it."""
    ref = config.reference
    if ref in (None, "diagonal"):
        return None
    for spec in specs:
        if ref in (spec.label, spec.cls.name):
            break
    else:
        cls = get_method(ref)
        spec = MethodSpec(cls.title, cls, make_options(cls, config.method_options.get(ref, {})))
        specs.append(spec)
    if spec.cls.kind == "joint":
        raise TaskNeuronsError(f"reference {ref!r} trains all tasks jointly: it has no per-task score A_i; "
                               f"use per_task_ft, 'diagonal' or null")
    return spec
