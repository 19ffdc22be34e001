"""The identification experiment (paper section 2.5-2.6, Tables 1-2, Figure 5), with random controls over seeds.

For one model and a list of tasks:

1. the "Original" model: as in the paper (the default), the base model after multi-task fine-tuning on the tasks;
   or the base model itself (``original: base``);
2. score every task's neurons on the Original model and keep the top k% (one NeuronSet per task);
3. deactivation: Original vs Deactivate-Random (mean and std over seeds) vs Deactivate-Task, and the matrix of
   score changes of task j when task i's neurons are deactivated;
4. neuron-only fine-tuning from the base model: Zero-shot vs Train-Random vs Train-Task (the neurons scored on
   the base model), and optionally the matrix of task j trained through task i's neurons.

Every step is cached in the run folder, so rerunning the same command resumes.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict
from pathlib import Path

from ... import processes
from ...errors import TaskNeuronsError
from ...evaluation.harness import check_harness_tasks
from ...models import LoadedModel
from ...models.weights import load_weights, save_weights
from ...neurons import NeuronSet, deactivate
from ...neurons.controls import matched_like
from ...neurons.top_examples import most_active, top_scored
from ...report.console import console
from ...tasks import Task, load_task
from ...tuning import NeuronTuner, train
from ..kit import Selection, control_seed, evaluate_plan, keep_lengths, make_plans, training_seed
from ..experiment import Experiment
from ...runs import Run, option_defaults
from .beyond import BeyondPaper
from .config import IdentifyConfig, deactivation_tag
from .report import controlled, show, tables
from .records import VERSION


class Identify(BeyondPaper, Experiment):
    """Identify each task's neurons and prove they are its own (the paper's sections 3-4): switching them off
    costs their task more than random (and importance-matched) sets do; training only them recovers fine-tuning's
    gain (``finetune``). Every comparison carries its two-level interval and verdict.

    ``Identify(config, out)()`` as every ``Experiment`` (its Args and Returns), with a ``IdentifyConfig``
    (``taskneurons identify --help``) and results of ``identify/records.Results``.

    Example:
        >>> from taskneurons import Identify, IdentifyConfig
        >>> config = IdentifyConfig(model="tiny-llama", tasks=["rotten_tomatoes", "bbc_news"], n_eval=16,
        ...                         selection={"k": 1, "n_score": 8}, random_controls=3)
        >>> results = Identify(config, "runs/identify")()  # doctest: +SKIP
        >>> results["deactivation"]["gap"]["average"]["verdict"]  # doctest: +SKIP
        'holds'
    """

    Config = IdentifyConfig
    version = VERSION
    views = "taskneurons.experiments.identify.views"

    def __init__(self, config: IdentifyConfig, out: Path, progress: bool = True):
        self.config, self.progress = config, progress
        self.tasks = [load_task(name, data_root=config.data_root) for name in config.tasks]
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise TaskNeuronsError(f"option tasks: two tasks have the same name in {names}; give each its own")
        if config.harness_tasks:  # a name found wrong after the folder exists would block the corrected command
            check_harness_tasks(config.harness_tasks, config.harness_include)
        self.plans = make_plans(self.tasks, config.seed, config.n_eval_for, lambda t: config.draws())
        k = max(config.k_grid) if config.selection.k == "auto" else config.selection.k  # auto: at most the grid's
        self.run = Run(out, asdict(config), "identify", self.tasks, option_defaults(IdentifyConfig),
                       tuned_k=k if config.finetune else None)  # only now: every value above was valid
        keep_lengths(self.plans, self.run)
        self.selection, self.auto_k = config.selection, None  # with k "auto": chosen on the Original (choose_k)

    # --- building blocks -------------------------------------------------------------------------------
    def evaluate(self, lm: LoadedModel, task: Task) -> dict:
        return evaluate_plan(lm, self.plans[task.name], self.config, self.progress)

    def neuron_sets(self, lm: LoadedModel, tag: str) -> dict[str, NeuronSet]:
        """Every task's top-k% neurons on ``lm`` (by score, or by specificity among the tasks); the scores and
        sets are artifacts of the run folder, reused when present."""
        c = self.config
        paths = {t.name: self.run.path("artifacts", f"{tag}.{t.name}.neurons") for t in self.tasks}
        if processes.broadcast(all(Path(f"{p}.json").is_file() for p in paths.values())):  # as the main one sees it
            sets = {name: NeuronSet.load(p) for name, p in paths.items()}
            for name, neurons in sets.items():
                neurons.validate(lm.ffn)
                recorded = Selection.recorded(neurons.provenance)
                if recorded not in (None, asdict(self.selection)):
                    raise TaskNeuronsError(f"{paths[name]}.json was selected with {recorded}, "
                                           f"this run selects with {asdict(self.selection)}; delete it to select again, "
                                           f"or choose another --out")
            return sets
        scores = self.scores(lm, tag)
        ranked = c.selection.specific(scores)
        sets = {}
        for name, path in paths.items():
            sets[name] = self.selection.neurons(ranked[name], provenance={"model_role": tag, "seed": c.seed})
            sets[name].save(path)
        return sets

    def original_model(self) -> LoadedModel:
        c = self.config
        lm = self.run.load_model()
        if c.original == "base":
            return lm
        weights = self.run.path("original", "model.safetensors")
        if processes.broadcast(weights.is_file()):
            load_weights(lm.model, weights)
            return lm
        mixed = [ex for t in self.tasks for ex in self.plans[t.name].draw("train", c.multitask.n_train)]
        console.print(f"multi-task fine-tuning the Original model on {len(mixed)} examples of {len(self.tasks)} tasks")
        length = c.target_length(list(self.plans.values()), lm.tokenizer)
        train(lm, mixed, list(lm.model.parameters()), c.multitask.for_settings(c, length), progress=self.progress)
        save_weights(lm.model, weights)
        return lm

    # --- the two tables ---------------------------------------------------------------------------------
    def deactivation(self) -> dict:
        c = self.config
        lm = self.original_model()
        self.choose_k(lm)  # on the Original, which the deactivations measure
        tag = deactivation_tag(c.original)
        sets = self.neuron_sets(lm, tag)
        names = [t.name for t in self.tasks]
        original = {t.name: self.run.step(f"deact/original/{t.name}", lambda t=t: self.evaluate(lm, t)) for t in self.tasks}
        matrix, randoms, matched = {}, {}, {}
        importance = self.importance(lm, tag) if c.matched_controls else {}
        for i in self.tasks:
            for j in (self.tasks if c.deactivate_matrix else [i]):
                def deactivated(i=i, j=j):
                    with deactivate(lm, sets[i.name], mode=c.deactivation_mode):
                        return self.evaluate(lm, j)
                matrix.setdefault(i.name, {})[j.name] = [self.run.step(f"deact/task={i.name}/{j.name}", deactivated)]
            for kind, count in (("random", c.random_controls), ("matched", c.matched_controls)):
                for index in range(count):
                    def control(i=i, index=index, kind=kind):
                        with deactivate(lm, self.control(sets[i.name], i.name, kind, index, importance),
                                        mode=c.deactivation_mode):
                            return self.evaluate(lm, i)
                    step = self.run.step(f"deact/{kind}{index}/{i.name}", control)
                    (matched if kind == "matched" else randoms).setdefault(i.name, []).append(step)
        return {**tables("Original", original, "Deactivate-Random", randoms, "Deactivate-Task", matrix, names, c,
                         "less"),
                "matched": matched and controlled("Original", original, "Deactivate-Matched", matched,
                                                  "Deactivate-Task", matrix, names, c, "less"),
                "neurons": {n: {"count": sets[n].count(), "fraction": sets[n].fraction()} for n in names},
                "overlap": {a: {b: sets[a].jaccard(sets[b]) for b in names} for a in names},
                "top_neurons": self.top_neurons(lm, tag), "harness": self.harness(lm, sets),
                "general": self.general_ability(lm, sets, importance),
                "general_excluded": self.general_excluded(lm, tag, original, randoms)}

    def control(self, neurons: NeuronSet, name: str, kind: str, index: int, importance: dict,
                what: str | None = None) -> NeuronSet:
        """Control ``index`` of task ``name``'s ``neurons``: "random" (uniform) or "matched" (importance-matched,
        ``importance[name]``), seeded by (run seed, task, index, ``what``: by default ``kind``)."""
        seed = control_seed(self.config.seed, name, index, what or kind)
        if kind == "matched":
            return matched_like(neurons, importance[name], seed, self.config.matched_bins)
        return neurons.random_like(seed)

    def switched_off(self, lm: LoadedModel, sets: dict[str, NeuronSet], importance: dict, prefix: str,
                     measure) -> dict:
        """``measure()`` on the Original, then with each task's neurons, its first random control and (with
        ``importance``) its first matched control off: condition -> result, each a step ``<prefix>/...``."""
        c = self.config

        def measured(neurons: NeuronSet | None):
            def compute():
                with deactivate(lm, neurons, mode=c.deactivation_mode) if neurons else contextlib.nullcontext():
                    return measure()
            return compute
        found = {"Original": self.run.step(f"{prefix}/original", measured(None))}
        for name, neurons in sets.items():
            found[f"{name}'s neurons off"] = self.run.step(f"{prefix}/task={name}", measured(neurons))
            for kind in ["random"] + ["matched"] * bool(importance):
                control = self.control(neurons, name, kind, 0, importance)
                found[f"{name}'s {kind} control off"] = self.run.step(f"{prefix}/{kind}0/{name}", measured(control))
        return found

    def harness(self, lm: LoadedModel, sets: dict[str, NeuronSet]) -> dict:
        """General abilities: the harness tasks' metrics on the Original, with each task's neurons off, and with
        its first random control off ({} without ``harness_tasks``)."""
        c = self.config
        if not c.harness_tasks:
            return {}
        from ...evaluation.harness import harness_evaluate

        return self.switched_off(lm, sets, {}, "harness", lambda: harness_evaluate(
            lm, c.harness_tasks, c.harness_include, c.harness_limit, c.batch_size, c.seed))

    def top_neurons(self, lm: LoadedModel, tag: str) -> dict:
        """Per task: its ``top_neurons`` highest-ranked neurons (by the selection's ranking) and the test examples
        on which each is most active, with their text (what the report shows: what does this neuron do?)."""
        c = self.config
        scores = self.scores(lm, tag)
        ranked = c.selection.specific(scores)

        def compute(task: Task) -> dict:
            examples = self.plans[task.name].evaluated()
            found = most_active(lm, top_scored(ranked[task.name], c.top_neurons), [ex.prompt for ex in examples],
                                3, c.batch_size, c.max_length)
            for neuron in found:
                for hit in neuron["examples"]:
                    example = examples[hit["example"]]
                    hit.update(prompt=example.prompt[-400:], target=example.target[:200])
            return {"neurons": found}
        return {t.name: self.run.step(f"top_neurons/{t.name}", lambda t=t: compute(t))["neurons"]
                for t in self.tasks if c.top_neurons}

    def finetuning(self) -> dict:
        c = self.config
        lm = self.run.load_model()
        sets = self.neuron_sets(lm, "base")
        names = [t.name for t in self.tasks]
        zero_shot = {t.name: self.run.step(f"ft/zero_shot/{t.name}", lambda t=t: self.evaluate(lm, t)) for t in self.tasks}

        def trained(neurons: NeuronSet, train_task: Task, eval_task: Task, seed_index: int) -> dict:
            examples = self.plans[train_task.name].draw("train", c.neuron_training.n_train)
            config = c.neuron_training.for_settings(c, c.target_length([self.plans[train_task.name]], lm.tokenizer),
                                                    seed=training_seed(c.seed, train_task.name, seed_index))
            with NeuronTuner(lm, neurons) as tuner:
                result = train(lm, examples, tuner.parameters(), config, progress=self.progress)
                outcome = self.evaluate(lm, eval_task)
            return {**outcome, "final_loss": result.losses[-1] if result.losses else None,
                    "trainable": tuner.num_trainable()}

        matrix, randoms, matched = {}, {}, {}
        importance = self.importance(lm, "base") if c.finetune_matched_controls else {}
        for i in self.tasks:
            # row i: task i's neurons trained on task j's data (the diagonal is Train-Task)
            for j in (self.tasks if c.finetune_matrix else [i]):
                seeds = range(c.finetune_seeds) if j is i else [0]  # the diagonal is Train-Task, over its seeds
                matrix.setdefault(i.name, {})[j.name] = [self.run.step(
                    f"ft/task={i.name}/{j.name}/seed{s}", lambda i=i, j=j, s=s: trained(sets[i.name], j, j, s))
                    for s in seeds]
            for kind, count, found in (("random", c.finetune_random_controls, randoms),
                                       ("matched", c.finetune_matched_controls, matched)):
                for index in range(count):
                    def control(i=i, index=index, kind=kind):
                        what = "train" if kind == "random" else "train-matched"
                        return trained(self.control(sets[i.name], i.name, kind, index, importance, what), i, i, index)
                    found.setdefault(i.name, []).append(self.run.step(f"ft/{kind}{index}/{i.name}", control))
        return {**tables("Zero-shot", zero_shot, "Train-Random", randoms, "Train-Task", matrix, names, c, "greater"),
                "matched": matched and controlled("Zero-shot", zero_shot, "Train-Matched", matched, "Train-Task",
                                                  matrix, names, c, "greater")}

    # --- the whole experiment ---------------------------------------------------------------------------
    def header(self) -> dict:
        return {"tasks": {t.name: {"kind": t.kind, "metric": t.metric, "source": t.source} for t in self.tasks}}

    def parts(self):
        yield "deactivation", "deactivation", self.deactivation
        if self.config.finetune:
            yield "finetuning", "neuron-only fine-tuning", self.finetuning

    def record(self, results: dict, key: str, title: str, value: dict) -> None:
        """The part, and beside it what goes beyond the paper: another control, or sets without general neurons."""
        beyond = {extra: value.pop(extra, None) for extra in ("matched", "general_excluded")}
        results[key] = value
        show(value, title, self.tasks)
        for extra, found in beyond.items():
            if found:
                results[f"{key}_{extra}"] = found
                show(found, f"{title}, {extra.replace('_', ' ')}", self.tasks)

    def conclude(self, results: dict) -> None:
        if self.auto_k:
            results["auto_k"] = self.auto_k
