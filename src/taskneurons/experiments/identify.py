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

from ..evaluation import evaluate
from ..models import LoadedModel, load_model
from ..models.weights import load_weights, save_weights
from ..neurons import NeuronSet, deactivate, score_neurons
from ..report.console import console, print_table
from ..report.io import write_json, write_text
from ..report.markdown import markdown_table
from ..report.plots import grouped_bars, heatmap
from ..tasks import Task, load_task
from ..tuning import NeuronTuner, TrainConfig, train
from .config import train_config
from .run import Run


@dataclass
class IdentifyConfig:
    model: str = "smollm2-135m"
    tasks: list[str] = field(default_factory=lambda: ["rotten_tomatoes", "bbc_news", "tweet_sentiment", "bbc_headline"])
    device: str = "cpu"
    dtype: str = "float32"
    k: float = 10.0  # percent of neurons per (layer, kind)
    scope: str = "layer"  # "layer" | "global" | "all"
    scorer: str = "grad_x_act"
    scorer_options: dict = field(default_factory=dict)  # e.g. {aggregation: abs_sum}
    tokens: str = "target"  # which positions' activations count when scoring
    n_score: int = 64  # training examples per task for scoring
    n_eval: int = 100  # test examples per task
    eval_method: str = "rank"  # classification: "rank" (label likelihood) or "generate" (exact match)
    batch_size: int = 8
    max_length: int = 192
    max_new_tokens: int = 32
    random_seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    deactivation_mode: str = "activation"  # "activation" (hooks) | "weights" (zeroed slices)
    deactivate_matrix: bool = True
    original: str = "base"  # "base" | "multitask" (the paper's Original: after multi-task fine-tuning)
    multitask: dict = field(default_factory=lambda: {"n_train": 200, "lr": 2e-5, "epochs": 1})
    finetune: bool = True  # the Zero-shot / Train-Random / Train-Task table
    finetune_matrix: bool = False
    finetune_random_seeds: list[int] = field(default_factory=lambda: [0])
    neuron_training: dict = field(default_factory=lambda: {"n_train": 200, "lr": 1e-3, "epochs": 1})
    seed: int = 0

    def train_config(self, spec: dict, what: str) -> TrainConfig:
        return train_config(spec, what, batch_size=self.batch_size, max_length=self.max_length, seed=self.seed)


def train_split(task: Task) -> str:
    """The split to score and train on (several shared tasks ship only a test split: then that one)."""
    return task.first_split("train", "dev", "test")


class Identify:
    def __init__(self, config: IdentifyConfig, out: Path, progress: bool = True):
        self.config, self.progress = config, progress
        self.run = Run(out, asdict(config))
        self.tasks = [load_task(name) for name in config.tasks]

    # --- building blocks -------------------------------------------------------------------------------
    def evaluate(self, lm: LoadedModel, task: Task) -> float:
        c = self.config
        return evaluate(lm, task, split="test", limit=c.n_eval, method=c.eval_method, batch_size=c.batch_size,
                        max_length=c.max_length, max_new_tokens=c.max_new_tokens, progress=self.progress).score

    def neuron_set(self, lm: LoadedModel, task: Task, tag: str) -> NeuronSet:
        """Task's top-k% neurons on ``lm`` (scores and set saved as artifacts, reused when present)."""
        c = self.config
        path = self.run.path("artifacts", f"{tag}.{task.name}.neurons")
        if Path(f"{path}.json").is_file():
            neurons = NeuronSet.load(path)
            neurons.validate(lm.ffn)
            return neurons
        examples = task.split(train_split(task), c.n_score)
        scores = score_neurons(lm, examples, scorer=c.scorer, tokens=c.tokens, batch_size=c.batch_size,
                               max_length=c.max_length, task=task.name, progress=self.progress,
                               checkpoint=self.run.path("checkpoints", f"{tag}.{task.name}"), **c.scorer_options)
        scores.save(self.run.path("artifacts", f"{tag}.{task.name}.scores"))
        neurons = NeuronSet.from_scores(scores, c.k, c.scope, provenance={"model_role": tag, "seed": c.seed})
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
        n = self.config.multitask.get("n_train", 200)
        mixed = [ex for t in self.tasks for ex in t.split(train_split(t), n)]
        console.print(f"multi-task fine-tuning the Original model on {len(mixed)} examples of {len(self.tasks)} tasks")
        train(lm, mixed, list(lm.model.parameters()), c.train_config(c.multitask, "option multitask"), progress=self.progress)
        save_weights(lm.model, weights)
        return lm

    # --- the two tables ---------------------------------------------------------------------------------
    def deactivation(self) -> dict:
        c = self.config
        lm = self.original_model()
        tag = "original" if c.original == "multitask" else "base"  # the base model's sets serve both tables
        sets = {t.name: self.neuron_set(lm, t, tag) for t in self.tasks}
        names = [t.name for t in self.tasks]
        original = {t.name: self.run.step(f"deact/original/{t.name}", lambda t=t: {"score": self.evaluate(lm, t)})["score"]
                    for t in self.tasks}
        matrix, randoms = {}, {}
        for i in self.tasks:
            targets = self.tasks if c.deactivate_matrix else [i]
            for j in targets:
                def deactivated(i=i, j=j):
                    with deactivate(lm, sets[i.name], mode=c.deactivation_mode):
                        return {"score": self.evaluate(lm, j)}
                matrix.setdefault(i.name, {})[j.name] = self.run.step(f"deact/task={i.name}/{j.name}", deactivated)["score"]
            for seed in c.random_seeds:
                def random_control(i=i, seed=seed):
                    with deactivate(lm, sets[i.name].random_like(seed), mode=c.deactivation_mode):
                        return {"score": self.evaluate(lm, i)}
                randoms.setdefault(i.name, []).append(self.run.step(f"deact/random{seed}/{i.name}", random_control)["score"])
        table = {
            "Original": original,
            "Deactivate-Random": {n: statistics.mean(randoms[n]) for n in names},
            "Deactivate-Task": {n: matrix[n][n] for n in names},
        }
        std = {"Deactivate-Random": {n: statistics.pstdev(randoms[n]) for n in names}}
        change = {i: {j: matrix[i][j] - original[j] for j in matrix[i]} for i in matrix}
        return {"table": table, "random_std": std, "random_runs": randoms, "matrix_change": change,
                "neurons": {n: {"count": sets[n].count(), "fraction": sets[n].fraction()} for n in names},
                "overlap": {a: {b: sets[a].jaccard(sets[b]) for b in names} for a in names}}

    def finetuning(self) -> dict:
        c = self.config
        lm = load_model(c.model, device=c.device, dtype=c.dtype)
        sets = {t.name: self.neuron_set(lm, t, "base") for t in self.tasks}
        names = [t.name for t in self.tasks]
        zero_shot = {t.name: self.run.step(f"ft/zero_shot/{t.name}", lambda t=t: {"score": self.evaluate(lm, t)})["score"]
                     for t in self.tasks}

        def trained(neurons: NeuronSet, train_task: Task, eval_tasks: list[Task]) -> dict:
            config = c.train_config(c.neuron_training, "option neuron_training")
            examples = train_task.split(train_split(train_task), c.neuron_training.get("n_train", 200))
            with NeuronTuner(lm, None, neurons) as tuner:
                result = train(lm, examples, tuner.parameters(), config, progress=self.progress)
                scores = {t.name: self.evaluate(lm, t) for t in eval_tasks}
            return {"scores": scores, "final_loss": result.losses[-1] if result.losses else None,
                    "trainable": tuner.num_trainable()}

        matrix, randoms = {}, {}
        for i in self.tasks:
            # row i: task i's neurons trained on task j's data (the diagonal is Train-Task)
            targets = self.tasks if c.finetune_matrix else [i]
            for j in targets:
                step = self.run.step(f"ft/task={i.name}/{j.name}", lambda i=i, j=j: trained(sets[i.name], j, [j]))
                matrix.setdefault(i.name, {})[j.name] = step["scores"][j.name]
            for seed in c.finetune_random_seeds:
                step = self.run.step(f"ft/random{seed}/{i.name}",
                                     lambda i=i, seed=seed: trained(sets[i.name].random_like(seed), i, [i]))
                randoms.setdefault(i.name, []).append(step["scores"][i.name])
        table = {
            "Zero-shot": zero_shot,
            "Train-Random": {n: statistics.mean(randoms[n]) for n in names},
            "Train-Task": {n: matrix[n][n] for n in names},
        }
        std = {"Train-Random": {n: statistics.pstdev(randoms[n]) for n in names}}
        change = {i: {j: matrix[i][j] - zero_shot[j] for j in matrix[i]} for i in matrix}
        return {"table": table, "random_std": std, "random_runs": randoms, "matrix_change": change}

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
        write_json(self.run.path("results.json"), results)
        plot(results, self.run)
        write_text(self.run.path("summary.md"), summary(results))
        console.print(f"wrote {self.run.out}/results.json, summary.md and plots/")
        return results


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
        grouped_bars(data["table"], f"{part} (k = {results['config']['k']}%)", "score", run.path("plots", f"{part}_table.png"),
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
    c = results["config"]
    out = [f"# Task-specific neurons of {c['model']}",
           f"k = {c['k']}% per {c['scope']}, scorer {c['scorer']} {c['scorer_options'] or ''}, tokens {c['tokens']}, "
           f"{c['n_score']} scoring examples, {c['n_eval']} test examples per task, Original = {c['original']}."]
    for part in ("deactivation", "finetuning"):
        if part not in results:
            continue
        names = list(results["tasks"])
        out += [f"\n## {part}\n", markdown_table(["method", *names, "avg"], table_rows(results[part], names)),
                f"\n![{part}](plots/{part}_table.png)"]
    return "\n".join(out) + "\n"
