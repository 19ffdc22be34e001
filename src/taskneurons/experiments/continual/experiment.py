"""The continual-learning experiment: every method on every task sequence, stage by stage, resumable.

For a sequence of N tasks and a sequential method, stage j trains on task j (``method.train_stage``), saves the
method's state into ``<out>/<order>/<method>/stage<j>`` (written to a temporary folder, then renamed), records
the training step, then scores every task of the sequence on its test split: one batched evaluation pass per
task and evaluation method (``eval_method``, then each of ``also_evaluate``): column j of each method's
accuracy matrix a[i][j]. Every step is cached in the run
folder (``Run.step``): a rerun restores the last finished stage's state and goes on, as if uninterrupted.

Isolated methods (Per-Task FT) train each task once per run, shared by every order; joint ones (Multi-Task
FT) once per set of tasks. The base model's zero-shot scores are computed once per task. Records:
``records.py``.
"""
from __future__ import annotations

import gc
import shutil
from dataclasses import asdict, replace
from pathlib import Path

from accelerate.utils import set_seed
from rich.markup import escape

from ... import processes
from ...errors import TaskNeuronsError
from ...evaluation.general import general_record
from ...io import atomic_folder
from ...models import LoadedModel
from ...report.console import console
from ...tasks import Task
from ..kit import keep_lengths, make_plans
from ..kit.auto_k import chosen_in
from ..kit.evaluation import evaluate_plan
from ..experiment import Experiment
from ...runs import Run, option_defaults
from . import metrics, report, summary
from .records import VERSION, Record, evaluations, stage_record, upgraded_step
from .config import ContinualConfig
from .methods import Context, Method, MethodSpec, draws, method_specs
from .methods.base import adopted_from, auto_k_specs, reference_spec
from ...tasks.orders import TaskSequence, resolve_orders
from .stages import Stages, run_name, slug
from .state import weights_digest


class Continual(Experiment):
    """Continual learning (the paper's section 6): every method (NCFT, W-NCFT and the baselines) on every task
    sequence, stage by stage, with the accuracy matrix, AA, BWT, FWT and forgetting, and the claims across runs.

    ``Continual(config, out)()`` as every ``Experiment`` (its Args and Returns), with a ``ContinualConfig``
    (``taskneurons continual --help``) and results of ``continual/records.Results``.

    Example:
        >>> from taskneurons import Continual, ContinualConfig
        >>> config = ContinualConfig(model="tiny-llama", orders=[{"name": "mine", "tasks": ["rotten_tomatoes",
        ...                          "bbc_news"]}], methods=["seqft", "ncft"], n_eval=8, training={"n_train": 8})
        >>> results = Continual(config, "runs/continual")()  # doctest: +SKIP
        >>> results["orders"]["mine"]["methods"]["NCFT"]["by_evaluation"]["generate"]["matrix"]  # doctest: +SKIP
    """

    Config = ContinualConfig
    version = VERSION
    views = "taskneurons.experiments.continual.views"

    def __init__(self, config: ContinualConfig, out: Path, progress: bool = True):
        self.config, self.progress = config, progress
        self.sequences: list[TaskSequence] = resolve_orders(config.orders, config.data_root)
        self.specs: list[MethodSpec] = method_specs(config.methods, config.method_options)
        self.reference = reference_spec(config, self.specs)  # added to the specs when missing
        self.tasks = {seq.name: seq.load() for seq in self.sequences}  # bad task specs fail before the run folder exists
        tasks = [t for sequence in self.tasks.values() for t in sequence]
        self.plans = make_plans(tasks, config.seed, lambda t: config.n_eval, lambda t: draws(config, self.specs),
                                config.evaluate_on)
        ks = [max(config.k_grid) if s.options.selection.k == "auto" else s.options.selection.k  # NCFT and its kin
              for s in self.specs if hasattr(s.options, "selection")]
        self.run = Run(Path(out), asdict(config), "continual", tasks, option_defaults(ContinualConfig),
                       tuned_k=max(ks, default=None))
        keep_lengths(self.plans, self.run)
        self.ctx = Context(config, self.run.out / "shared", progress, self.plans)
        self.auto_k = None  # with selection.k auto: chosen when the run starts (choose_k)
        self.evaluations = evaluations(config)  # the main evaluation method first

    # --- building blocks -------------------------------------------------------------------------------
    def base_model(self) -> LoadedModel:
        return self.run.load_model()

    def score(self, lm: LoadedModel, task: Task, positions: list[int] | None = None) -> dict[str, Record]:
        """The task's evaluated examples (tasks.plans; only those at ``positions`` when given) scored by each
        evaluation method (a generation task is generated once: every method's record is the same)."""
        c, plan = self.config, self.plans[task.name]
        plan = plan if positions is None else plan.subset(positions)
        records: dict[str, Record] = {}
        for m in self.evaluations:
            if task.kind == "generation" and records:
                records[m] = next(iter(records.values()))
            else:
                r = evaluate_plan(lm, plan, c, self.progress, c.eval_batch_size, m)
                records[m] = Record(score=r["score"], n=r["n"], outcomes=r["outcomes"])
        return records

    def step(self, key: str, compute) -> dict:
        """``run.step``, a step cached by an older version read in today's layout (records.upgraded_step)."""
        return upgraded_step(self.run.step(key, compute), self.config.eval_method)

    def zero_shot(self, tasks: list[Task]) -> list[dict]:
        lm, records = None, []
        for task in tasks:
            def compute(task=task):
                nonlocal lm
                lm = lm or self.base_model()
                console.print(f"zero-shot: {task.name}")
                return {"by_evaluation": self.score(lm, task)}
            records.append(self.step(f"zero_shot/{task.name}", compute))
        return records

    def evaluate_stage(self, method: Method, lm: LoadedModel, tasks: list[Task], stage: int) -> dict:
        """The step result after ``stage``: every task's score and per-example outcomes (None when not evaluated)."""
        records = {}
        for i, task in enumerate(tasks):
            seen = i <= stage or self.config.evaluate_unseen
            records[task.name] = method.evaluate_task(lm, stage, i, lambda positions, task=task: self.score(
                lm, task, positions)) if seen else None
        return stage_record(records, self.evaluations)

    # --- the three kinds of method ----------------------------------------------------------------------
    def prepared(self, spec: MethodSpec, tasks: list[Task]) -> tuple[LoadedModel, Method]:
        """A fresh base model and ``spec``'s method, seeded by the run's training seed (any random initialisation
        depends on the seed only, not on what ran before) and set up for ``tasks``."""
        lm, method = self.base_model(), spec.build(self.ctx)
        set_seed(self.config.seed_for(self.ctx.training_seed))
        method.setup(lm, tasks)
        return lm, method

    def sequential(self, spec: MethodSpec, name: str, tasks: list[Task]) -> dict:
        """``name``: the run's (its sequence's, with the training seed when not 0)."""
        stages = Stages(name, spec.label, self.run.out / slug(name) / slug(spec.label), len(tasks))
        twin = adopted_from(spec, self.specs[:self.specs.index(spec)])
        if not all(self.run.has(key) for key in [*stages.keys("eval"), stages.describe]):  # killed before its last
            self._continue(spec, tasks, stages, twin and stages.sibling(twin.label))  # step: resume there
        trains = [self.run.load(key) for key in stages.keys("train")]
        evals = [upgraded_step(self.run.load(key), self.config.eval_method) for key in stages.keys("eval")]
        names = [task.name for task in tasks]
        return {"kind": "sequential", "train": trains, "describe": self.run.load(stages.describe),
                "by_evaluation": {m: metrics.stage_matrix([e["by_evaluation"][m] for e in evals], names)
                                  for m in self.evaluations}}

    def _continue(self, spec: MethodSpec, tasks: list[Task], stages: Stages, twin: Stages | None) -> None:
        """Train (or adopt from ``twin``, an earlier method that trains the same: ``adopted_from``) and evaluate."""
        n, name = stages.n, stages.name
        trained = 0
        while trained < n and self.run.has(stages.key(trained, "train")):
            trained += 1
        done = [stages.state(j) for j in range(trained)]
        needed = done if spec.cls.cumulative else done[-1:]
        missing = [str(d) for d in needed if not d.is_dir()]
        if missing:
            raise TaskNeuronsError(f"run folder {self.run.out}: the state {missing[0]} of a finished stage is missing; "
                                   f"delete {stages.folder} and the matching steps, or choose another --out")
        if twin and trained and self.run.load(stages.key(trained - 1, "train"))["weights"] != \
                self.run.load(twin.key(trained - 1, "train"))["weights"]:  # trained, not adopted, to other weights
            twin = None  # (non-deterministic kernels): it goes on training
        lm, method = self.prepared(spec, tasks)
        base_seed = self.config.seed_for(self.ctx.training_seed)
        if trained:
            console.print(escape(f"[{name} · {spec.label}] resuming after stage {trained}/{n}"))
            method.restore(lm, needed)
        for j, task in enumerate(tasks):
            where = escape(f"[{name} · {spec.label}] stage {j + 1}/{n}: {task.name}")  # not rich markup
            if j >= trained:
                console.print(f"{where}: " + (escape(f"{twin.label}'s stage, the same training") if twin else "training"))
                set_seed((base_seed + j) % 2 ** 32)  # e.g. O-LoRA's new adapter: as without a break
                if twin:
                    method.adopt(lm, twin.state(j))
                    info = {**self.run.load(twin.key(j, "train")), "adopted_from": twin.label}
                    if info["weights"] != weights_digest(lm.model):
                        raise TaskNeuronsError(f"{spec.label} adopted {twin.label}'s stage {j + 1} and its weights "
                                               f"differ from those {twin.label} recorded (a bug: please report it; "
                                               f"to go on, choose another --out)")
                else:
                    info = method.train_stage(lm, j, task)
                    info.update(weights=weights_digest(lm.model), **general_record(lm, self.config))  # after the stage
                with atomic_folder(stages.state(j)) as tmp:  # written as a whole, by the main process only
                    method.save(lm, tmp)
                self.run.step(stages.key(j, "train"), lambda: info)
                if j and not spec.cls.cumulative and self.config.keep_states == "last" and processes.is_main():
                    shutil.rmtree(stages.state(j - 1), ignore_errors=True)
            elif j < trained - 1:
                if not self.run.has(stages.key(j, "eval")):
                    raise TaskNeuronsError(f"run folder {self.run.out}: stage {j + 1} of {spec.label} on {name} was "
                                           f"trained but never evaluated, and later stages exist; choose another --out")
                continue
            if not self.run.has(stages.key(j, "eval")):
                console.print(f"{where}: evaluating {n if self.config.evaluate_unseen else j + 1} task(s)")
            self.run.step(stages.key(j, "eval"), lambda: self.evaluate_stage(method, lm, tasks, j))
        self.run.step(stages.describe, method.describe)
        del lm, method
        gc.collect()

    def isolated(self, spec: MethodSpec, tasks: list[Task], zero: list[dict] | None) -> dict:
        """A_i per task (trained once per run, shared by every order); the matrix of a bank of task models."""
        results = []
        for task in tasks:
            def compute(task=task):
                console.print(f"[{spec.label}] {task.name}: training from the base model")
                lm, method = self.prepared(spec, [task])
                info = method.train_stage(lm, 0, task)
                return {"by_evaluation": self.score(lm, task), "train": info}
            results.append(self.step(f"{spec.label}/task={task.name}{self._seed_suffix()}", compute))
        n = len(tasks)

        def bank(m: str) -> dict:
            def cell(i: int, j: int) -> dict | None:  # after stage j: task i <= j by its own model, a later one by the base
                record = results[i] if i <= j else (zero[i] if zero else None)
                return record and record["by_evaluation"][m]
            cells = [[cell(i, j) for j in range(n)] for i in range(n)]
            return {"matrix": [[c and c["score"] for c in row] for row in cells],
                    "n": [[c and len(c["outcomes"]) for c in row] for row in cells],
                    "final_outcomes": {t.name: r["by_evaluation"][m]["outcomes"] for t, r in zip(tasks, results)}}
        return {"kind": "isolated", "train": [r["train"] for r in results],
                "by_evaluation": {m: bank(m) for m in self.evaluations}}

    def joint(self, spec: MethodSpec, tasks: list[Task]) -> dict:
        def compute():
            console.print(f"[{spec.label}] training on {len(tasks)} tasks together")
            lm, method = self.prepared(spec, tasks)
            info = method.train_joint(lm, tasks)
            return {**stage_record({t.name: self.score(lm, t) for t in tasks}, self.evaluations), "train": info}
        result = self.step(f"{spec.label}/tasks={'+'.join(sorted(t.name for t in tasks))}{self._seed_suffix()}",
                           compute)

        def final(m: str) -> dict:
            view = result["by_evaluation"][m]
            outcomes = {t.name: view["outcomes"][t.name] for t in tasks}
            return {"final": [view["scores"][t.name] for t in tasks], "n": [len(o) for o in outcomes.values()],
                    "final_outcomes": outcomes}
        return {"kind": "joint", "train": [result["train"]], "by_evaluation": {m: final(m) for m in self.evaluations}}

    # --- one run: a sequence with a training seed ---------------------------------------------------------
    def _seed_suffix(self) -> str:
        """What a step key of a run with a training seed other than 0 ends with (none for 0: the run as it was)."""
        return run_name("", self.ctx.training_seed)

    def run_sequence(self, seq: TaskSequence, training_seed: int = 0) -> dict:
        """One run: ``seq`` trained with ``training_seed`` (its name gains ``.seedN`` unless N is 0)."""
        self.ctx = replace(self.ctx, training_seed=training_seed)  # the methods built from now on: this run's
        name = run_name(seq.name, training_seed)
        tasks = self.tasks[seq.name]
        zero = self.zero_shot(tasks) if self.config.evaluate_unseen else None
        build = {"sequential": lambda spec: self.sequential(spec, name, tasks),
                 "isolated": lambda spec: self.isolated(spec, tasks, zero), "joint": lambda spec: self.joint(spec, tasks)}
        trained = {spec.label: build[spec.cls.kind](spec) for spec in self.specs}
        c, main = self.config, self.config.eval_method
        scores = {m: {"zero_shot": [r["by_evaluation"][m]["score"] for r in zero] if zero else None,
                      "reference": self.reference and metrics.diagonal(  # A_i: Per-Task FT's score per task
                          trained[self.reference.label]["by_evaluation"][m]["matrix"])} for m in self.evaluations}

        def measured(result: dict) -> dict:  # each view with its metrics and AA's interval
            return {**result, "by_evaluation": {m: {**view, **metrics.of_view(
                result["kind"], view, scores[m]["zero_shot"], scores[m]["reference"], c.reference == "diagonal",
                c.n_boot, c.confidence, c.seed)} for m, view in result["by_evaluation"].items()}}
        return {"tasks": [t.name for t in tasks], "sources": [t.source for t in tasks], "evaluation": main,
                "zero_shot_outcomes": {t.name: r["by_evaluation"][main]["outcomes"] for t, r in zip(tasks, zero)}
                if zero else None, "by_evaluation": scores,
                "methods": {label: measured(result) for label, result in trained.items()}}

    # --- the whole experiment ---------------------------------------------------------------------------
    def header(self) -> dict:
        self.choose_k()  # first: the methods' options then say which k they select with
        methods = {s.label: dict(method=s.cls.name, kind=s.cls.kind, options=asdict(s.options)) for s in self.specs}
        return {"methods": methods, "orders": {}}

    def choose_k(self) -> None:
        """With NCFT's (or its kin's) ``selection.k: auto``, the k they select with, chosen once per run on the base
        model (``kit/auto_k.py``: the largest of ``k_grid`` whose random sets cost at most ``k_budget`` points on
        ``n_dev`` dev examples of every task of the run; beyond the paper)."""
        auto = auto_k_specs(self.specs)
        if not auto:
            return
        self.auto_k = chosen_in(self.run, self.base_model, list(self.plans.values()), self.config)
        for spec in auto:
            spec.options = replace(spec.options, selection=replace(spec.options.selection, k=self.auto_k["k"]))

    def parts(self):
        """One part per run: each sequence once per training seed."""
        for seq in self.sequences:
            for training_seed in self.config.training_seeds:
                name, tasks = run_name(seq.name, training_seed), self.tasks[seq.name]
                yield name, f"{name}: {' -> '.join(t.name for t in tasks)}", \
                    lambda seq=seq, training_seed=training_seed: self.run_sequence(seq, training_seed)

    def record(self, results: dict, key: str, title: str, value: dict) -> None:
        results["orders"][key] = value
        report.show_order(key, value, results["config"])

    def conclude(self, results: dict) -> None:
        if self.auto_k:
            results["auto_k"] = self.auto_k
        results.update(summary.aggregate(results))  # summary, intervals (and also) across orders
        report.show_summary(results)

