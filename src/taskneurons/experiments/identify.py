"""The identification experiment (paper section 2.5-2.6, Tables 1-2, Figure 5), with random controls over seeds.

For one model and a list of tasks:

1. the "Original" model: the base model, or (as in the paper) the base model after multi-task fine-tuning;
2. score every task's neurons on the Original model and keep the top k% (one NeuronSet per task);
3. deactivation: Original vs Deactivate-Random (mean and std over seeds) vs Deactivate-Task, and the matrix of
   score changes of task j when task i's neurons are deactivated;
4. neuron-only fine-tuning from the base model: Zero-shot vs Train-Random vs Train-Task (the neurons scored on
   the base model), and optionally the matrix of task j trained through task i's neurons.

Every step is cached in the run folder, so rerunning the same command resumes.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import TaskNeuronsError
from ..models import LoadedModel, load_model
from ..models.weights import load_weights, save_weights
from ..io import write_json, write_text
from ..neurons import NeuronSet, deactivate
from ..neurons.deactivate import MODES
from ..report.console import console, print_table
from ..report.markdown import markdown_table
from ..report.plots import grouped_bars, heatmap
from ..tasks import Task, load_task
from ..tuning import NeuronTuner, train
from .kit import Selection, Settings, TrainingSpec, checks, control_seed, evaluate_plan, make_plans, nested
from .run import Run

ORIGINALS = ("base", "multitask")


@dataclass
class IdentifyConfig(Settings):
    tasks: list[str] = field(default_factory=lambda: ["rotten_tomatoes", "bbc_news", "tweet_sentiment", "bbc_headline"])
    selection: Selection = field(default_factory=Selection)  # scorer, tokens, n_score, k, scope
    n_eval: int = 100  # test examples per task
    random_controls: int = 3  # Deactivate-Random draws per task (each task its own, see kit.seeds)
    deactivation_mode: str = "activation"  # "activation" (hooks) | "weights" (zeroed slices)
    deactivate_matrix: bool = True
    original: str = "base"  # "base" | "multitask" (the paper's Original: after multi-task fine-tuning)
    multitask: TrainingSpec = field(default_factory=lambda: TrainingSpec(n_train=200, lr=2e-5))
    finetune: bool = True  # the Zero-shot / Train-Random / Train-Task table
    finetune_matrix: bool = False
    finetune_random_controls: int = 1  # Train-Random draws per task
    neuron_training: TrainingSpec = field(default_factory=lambda: TrainingSpec(n_train=200, lr=1e-3))

    def __post_init__(self):
        super().__post_init__()
        checks.string_list("tasks", self.tasks)
        self.tasks = [str(t) for t in self.tasks]
        self.selection = nested(Selection, self.selection, "selection")
        self.multitask = nested(TrainingSpec, self.multitask, "multitask")
        self.neuron_training = nested(TrainingSpec, self.neuron_training, "neuron_training")
        checks.integer("n_eval", self.n_eval)
        checks.integer("random_controls", self.random_controls)
        checks.integer("finetune_random_controls", self.finetune_random_controls)
        checks.choice("deactivation_mode", self.deactivation_mode, MODES)
        checks.choice("original", self.original, ORIGINALS)
        for name in ("deactivate_matrix", "finetune", "finetune_matrix"):
            checks.boolean(name, getattr(self, name))

    def draws(self) -> list[tuple[str, int]]:
        """(role, n) of every draw from each task's pool: scoring, and the trainings this config runs."""
        draws = [("score", self.selection.n_score)]
        draws += [("train", self.multitask.n_train)] if self.original == "multitask" else []
        draws += [("train", self.neuron_training.n_train)] if self.finetune else []
        return draws


class Identify:
    def __init__(self, config: IdentifyConfig, out: Path, progress: bool = True):
        self.config, self.progress = config, progress
        self.tasks = [load_task(name, data_root=config.data_root) for name in config.tasks]
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise TaskNeuronsError(f"option tasks: two tasks have the same name in {names}; give each its own")
        self.plans = make_plans(self.tasks, config.seed, lambda t: config.n_eval, lambda t: config.draws())
        self.run = Run(out, asdict(config))  # only now: every value above was valid

    # --- building blocks -------------------------------------------------------------------------------
    def evaluate(self, lm: LoadedModel, task: Task) -> dict:
        return evaluate_plan(lm, self.plans[task.name], self.config, self.progress)

    def neuron_set(self, lm: LoadedModel, task: Task, tag: str) -> NeuronSet:
        """Task's top-k% neurons on ``lm`` (scores and set saved as artifacts, reused when present)."""
        c = self.config
        path = self.run.path("artifacts", f"{tag}.{task.name}.neurons")
        if Path(f"{path}.json").is_file():
            neurons = NeuronSet.load(path)
            neurons.validate(lm.ffn)
            return neurons
        examples = self.plans[task.name].draw("score", c.selection.n_score)
        scores = c.selection.scores(lm, examples, c, task.name, self.run.path("checkpoints", f"{tag}.{task.name}"),
                                    self.progress)
        scores.save(self.run.path("artifacts", f"{tag}.{task.name}.scores"))
        neurons = c.selection.neurons(scores, provenance={"model_role": tag, "seed": c.seed})
        neurons.save(path)
        return neurons

    def original_model(self) -> LoadedModel:
        c = self.config
        lm = load_model(c.model, device=c.device, dtype=c.dtype)
        if c.original == "base":
            return lm
        weights = self.run.path("original", "model.safetensors")
        if weights.is_file():
            load_weights(lm.model, weights)
            return lm
        mixed = [ex for t in self.tasks for ex in self.plans[t.name].draw("train", c.multitask.n_train)]
        console.print(f"multi-task fine-tuning the Original model on {len(mixed)} examples of {len(self.tasks)} tasks")
        train(lm, mixed, list(lm.model.parameters()), c.multitask.for_settings(c), progress=self.progress)
        save_weights(lm.model, weights)
        return lm

    # --- the two tables ---------------------------------------------------------------------------------
    def deactivation(self) -> dict:
        c = self.config
        lm = self.original_model()
        tag = "original" if c.original == "multitask" else "base"  # the base model's sets serve both tables
        sets = {t.name: self.neuron_set(lm, t, tag) for t in self.tasks}
        names = [t.name for t in self.tasks]
        original = {t.name: self.run.step(f"deact/original/{t.name}", lambda t=t: self.evaluate(lm, t)) for t in self.tasks}
        matrix, randoms = {}, {}
        for i in self.tasks:
            for j in (self.tasks if c.deactivate_matrix else [i]):
                def deactivated(i=i, j=j):
                    with deactivate(lm, sets[i.name], mode=c.deactivation_mode):
                        return self.evaluate(lm, j)
                matrix.setdefault(i.name, {})[j.name] = self.run.step(f"deact/task={i.name}/{j.name}", deactivated)
            for index in range(c.random_controls):
                def random_control(i=i, index=index):
                    control = sets[i.name].random_like(control_seed(c.seed, i.name, index))
                    with deactivate(lm, control, mode=c.deactivation_mode):
                        return self.evaluate(lm, i)
                randoms.setdefault(i.name, []).append(self.run.step(f"deact/random{index}/{i.name}", random_control))
        return {**tables("Original", original, "Deactivate-Random", randoms, "Deactivate-Task", matrix, names),
                "neurons": {n: {"count": sets[n].count(), "fraction": sets[n].fraction()} for n in names},
                "overlap": {a: {b: sets[a].jaccard(sets[b]) for b in names} for a in names}}

    def finetuning(self) -> dict:
        c = self.config
        lm = load_model(c.model, device=c.device, dtype=c.dtype)
        sets = {t.name: self.neuron_set(lm, t, "base") for t in self.tasks}
        names = [t.name for t in self.tasks]
        zero_shot = {t.name: self.run.step(f"ft/zero_shot/{t.name}", lambda t=t: self.evaluate(lm, t)) for t in self.tasks}

        def trained(neurons: NeuronSet, train_task: Task, eval_task: Task) -> dict:
            examples = self.plans[train_task.name].draw("train", c.neuron_training.n_train)
            with NeuronTuner(lm, neurons) as tuner:
                result = train(lm, examples, tuner.parameters(), c.neuron_training.for_settings(c), progress=self.progress)
                outcome = self.evaluate(lm, eval_task)
            return {**outcome, "final_loss": result.losses[-1] if result.losses else None,
                    "trainable": tuner.num_trainable()}

        matrix, randoms = {}, {}
        for i in self.tasks:
            # row i: task i's neurons trained on task j's data (the diagonal is Train-Task)
            for j in (self.tasks if c.finetune_matrix else [i]):
                matrix.setdefault(i.name, {})[j.name] = self.run.step(
                    f"ft/task={i.name}/{j.name}", lambda i=i, j=j: trained(sets[i.name], j, j))
            for index in range(c.finetune_random_controls):
                def random_control(i=i, index=index):
                    return trained(sets[i.name].random_like(control_seed(c.seed, i.name, index, "train")), i, i)
                randoms.setdefault(i.name, []).append(self.run.step(f"ft/random{index}/{i.name}", random_control))
        return tables("Zero-shot", zero_shot, "Train-Random", randoms, "Train-Task", matrix, names)

    # --- the whole experiment ---------------------------------------------------------------------------
    def __call__(self) -> dict:
        results = {"config": asdict(self.config),
                   "tasks": {t.name: {"kind": t.kind, "metric": t.metric, "source": t.source} for t in self.tasks}}
        console.rule("deactivation")
        results["deactivation"] = self.deactivation()
        show(results["deactivation"], "deactivation", self.tasks)
        if self.config.finetune:
            console.rule("neuron-only fine-tuning")
            results["finetuning"] = self.finetuning()
            show(results["finetuning"], "fine-tuning", self.tasks)
        results["examples"] = {name: plan.to_dict() for name, plan in self.plans.items()}  # every draw
        write_json(self.run.path("results.json"), results)
        plot(results, self.run)
        write_text(self.run.path("summary.md"), summary(results))
        console.print(f"wrote {self.run.out}/results.json, summary.md and plots/")
        return results


def tables(reference: str, before: dict, control: str, controls: dict, condition: str, matrix: dict,
           names: list[str]) -> dict:
    """A part's results from its step records: the table of mean scores (the reference, the controls' mean, the
    task's own neurons), the controls' std, every control's score, the per-example outcomes and the matrix of
    changes (task j's score through task i's neurons, minus the reference)."""
    table = {reference: {n: before[n]["score"] for n in names},
             control: {n: statistics.mean(r["score"] for r in controls[n]) for n in names},
             condition: {n: matrix[n][n]["score"] for n in names}}
    return {"table": table,
            "random_std": {control: {n: statistics.pstdev([r["score"] for r in controls[n]]) for n in names}},
            "random_runs": {n: [r["score"] for r in controls[n]] for n in names},
            "outcomes": {reference: {n: before[n]["outcomes"] for n in names},
                         control: {n: [r["outcomes"] for r in controls[n]] for n in names},
                         condition: {n: matrix[n][n]["outcomes"] for n in names}},
            "n": {n: before[n]["n"] for n in names},
            "matrix_change": {i: {j: matrix[i][j]["score"] - before[j]["score"] for j in matrix[i]} for i in matrix}}


def table_rows(part: dict, names: list[str]) -> list[list[str]]:
    """One row per condition: the score per task (± std over random seeds) and the average."""
    rows = []
    for condition, scores in part["table"].items():
        std = part["random_std"].get(condition, {})
        rows.append([condition] + [f"{scores[n]:.1f}" + (f" ± {std[n]:.1f}" if n in std else "") for n in names]
                    + [f"{statistics.mean(scores.values()):.1f}"])
    return rows


def show(part: dict, title: str, tasks: list[Task]) -> None:
    names = [t.name for t in tasks]
    print_table(f"{title} (score on the test split)", ["method", *names, "avg"], table_rows(part, names))
    change = part["matrix_change"]
    if all(len(change[i]) == len(names) for i in change):
        print_table(f"{title}: change of task j (columns) through task i's neurons (rows)", ["neurons of", *names],
                    [[i] + [f"{change[i][j]:+.1f}" for j in names] for i in names])


def plot(results: dict, run: Run) -> None:
    for part in ("deactivation", "finetuning"):
        if part not in results:
            continue
        data = results[part]
        grouped_bars(data["table"], f"{part} (k = {results['config']['selection']['k']}%)", "score", run.path("plots", f"{part}_table.png"),
                     errors=data["random_std"])
        change = data["matrix_change"]
        names = list(change)
        if all(len(change[i]) == len(names) for i in names):
            heatmap([[change[i][j] for j in names] for i in names], names, names, f"{part}: score change",
                    run.path("plots", f"{part}_matrix.png"), xlabel="evaluated task", ylabel="neurons of task")
    overlap = results["deactivation"]["overlap"]
    names = list(overlap)
    heatmap([[overlap[a][b] for b in names] for a in names], names, names, "Jaccard overlap of neuron sets",
            run.path("plots", "overlap.png"), fmt="{:.2f}", cmap="viridis", center=None)


def summary(results: dict) -> str:
    c, sel = results["config"], results["config"]["selection"]
    out = [f"# Task-specific neurons of {c['model']}",
           f"k = {sel['k']}% per {sel['scope']}, scorer {sel['scorer']} {sel['scorer_options'] or ''}, tokens "
           f"{sel['tokens']}, {sel['n_score']} scoring examples, {c['n_eval']} test examples per task, Original = "
           f"{c['original']}, {c['random_controls']} random controls per task.",
           "Scored and trained examples come from each task's pool, disjoint from its test examples (results.json "
           "`examples` lists them)."]
    for part in ("deactivation", "finetuning"):
        if part not in results:
            continue
        names = list(results["tasks"])
        out += [f"\n## {part}\n", markdown_table(["method", *names, "avg"], table_rows(results[part], names)),
                f"\n![{part}](plots/{part}_table.png)"]
    return "\n".join(out) + "\n"
