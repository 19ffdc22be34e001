"""EPI (Wang et al. 2023, "Rehearsal-free continual language learning via efficient parameter isolation",
paper 3.5, Table 5): private parameters per task on a frozen shared backbone, and the task identified at test
time, without its label, from statistics of the backbone's representation of each task's training inputs.

What is implemented:

- **Private parameters**: a fresh LoRA adapter per task (``peft``, the attention q/v projections by default,
  as SeqLoRA and O-LoRA), trained on that task only through the one ``train`` loop; the backbone and the earlier
  tasks' adapters are frozen and *not active* while a new task trains (peft's ``set_adapter(name)``: only that
  adapter runs). EPI itself uses prefix tuning; LoRA is what our stack (``add_lora``, named adapters, the
  training loop, greedy generation with a KV cache) already runs on every model family, so the private
  parameters are LoRA here. A simplification of the parameter type, not of the isolation.
- **Statistics**: per task, the frozen backbone's (every adapter disabled) last hidden state averaged over each
  training prompt's tokens (as W-NCFT's task vectors); the task's mean and its scatter matrix (sum of centred
  outer products) over its training examples (``ctx.train_examples``: never a test example).
- **Identification** (``identify``): ``mahalanobis`` (EPI's): the distance of a test prompt's representation to
  each learnt task's mean under the covariance shared by the learnt tasks (pooled scatter / pooled count),
  shrunk towards a scaled identity by ``shrinkage`` (with a few hundred examples in a few hundred dimensions
  the pooled covariance is singular); or ``cosine``: nearest mean by cosine similarity.
- **Routing per example** (``routing: example``, default, as EPI): each test prompt (its input only, never its
  label) is identified on its own and evaluated with its identified task's adapter as the only active one: the
  task's examples are split by identified task, each group evaluated in its own batched pass, and the outcomes
  put back in order (``evaluate_task``; an example is scored as it would be alone, up to batch padding). A task
  not learnt yet is routed the same way, to learnt ones. ``routing: task`` (this project's first reading) routes
  a whole task by majority vote of its prompts (a tie: the smallest mean distance): it uses every test prompt to
  route each one, which makes identification all but perfect and EPI close to per-task LoRA with a known task.
- ``describe()``: the routing of every (stage, task) cell, whether it is right (the runner knows the true
  task), the per-example identification accuracy, and their means over the learnt cells.

State per stage (``cumulative``: every stage's folder is needed): the stage's adapter (``adapter.safetensors``),
its statistics in float64 (``stats.safetensors``) and ``epi.json`` (adapter name, task, count). Restoring
rebuilds the adapters in order and loads them bit for bit.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ....errors import TaskNeuronsError
from ....io import write_json
from ....models import LoadedModel, sharding
from ....tasks import Example, Task
from ....tuning import train
from ..records import merged
from ....configs.options import option
from ..state import load_tensors, save_tensors
from .features import prompt_features
from .base import register, train_info
from .olora import OLoRA
from .seqlora import LoRAOptions, SeqLoRA, copy_into

IDENTIFY = ("mahalanobis", "cosine")
ROUTING = ("example", "task")


@dataclass
class EPIOptions(LoRAOptions):
    identify: str = option("mahalanobis",
        '"mahalanobis" (EPI\'s: task means, shared covariance) | "cosine" (nearest mean)')
    shrinkage: float = option(0.1, "Mahalanobis: covariance (1 - s) S + s (tr S / d) I; 0 < s <= 1 keeps it invertible")
    routing: str = option("example", '"example": each test prompt its own identified adapter | "task": a majority vote')

    def __post_init__(self):
        super().__post_init__()
        if self.identify not in IDENTIFY:
            raise TaskNeuronsError(f"identify {self.identify!r} is not one of {list(IDENTIFY)}")
        if self.routing not in ROUTING:
            raise TaskNeuronsError(f"routing {self.routing!r} is not one of {list(ROUTING)}")
        if not 0 < self.shrinkage <= 1:
            raise TaskNeuronsError(f"shrinkage must be in (0, 1], got {self.shrinkage}")


def task_statistics(features: torch.Tensor) -> dict[str, torch.Tensor]:
    """A task's mean [d] and scatter matrix [d, d] (sum of centred outer products), float64."""
    mean = features.mean(0)
    centred = features - mean
    return {"mean": mean, "scatter": centred.T @ centred}


def distances(stats: Sequence[dict[str, torch.Tensor]], counts: Sequence[int], features: torch.Tensor,
              identify: str = "mahalanobis", shrinkage: float = 0.1) -> torch.Tensor:
    """[n examples, tasks]: each example's distance to each task (smaller is nearer). ``cosine``: 1 - cos to the
    task's mean; ``mahalanobis``: (x - mu_k)^T C^-1 (x - mu_k), C the shrunk covariance pooled over the tasks."""
    means = torch.stack([s["mean"] for s in stats])  # [t, d]
    if identify == "cosine":
        return 1 - torch.nn.functional.normalize(features, dim=-1) @ torch.nn.functional.normalize(means, dim=-1).T
    d = means.shape[1]
    covariance = sum(s["scatter"] for s in stats) / max(sum(counts), 1)
    scale = float(torch.trace(covariance)) / d
    eye = torch.eye(d, dtype=covariance.dtype)
    covariance = (1 - shrinkage) * covariance + shrinkage * scale * eye if scale > 0 else eye
    diff = features.unsqueeze(1) - means.unsqueeze(0)  # [n, t, d]
    solved = torch.linalg.solve(covariance, diff.reshape(-1, d).T).T.reshape(diff.shape)
    return (diff * solved).sum(-1)


def vote(dist: torch.Tensor) -> int:
    """The task most examples are nearest to; a tie goes to the smallest mean distance (then the earliest)."""
    counts = torch.bincount(dist.argmin(1), minlength=dist.shape[1])
    tied = (counts == counts.max()).nonzero().flatten().tolist()
    means = dist.mean(0)
    return min(tied, key=lambda k: (float(means[k]), k))


@register
class EPI(SeqLoRA):
    name = "epi"
    title = "EPI"
    cumulative = True
    Options = EPIOptions

    def setup(self, lm: LoadedModel, tasks: list[Task]) -> None:
        self.tasks, self.lm = tasks, lm
        self.peft = None
        self.adapters: list[str] = []
        self.stats: list[dict[str, torch.Tensor]] = []  # per learnt task: mean, scatter (float64, CPU)
        self.counts: list[int] = []
        self.test_features: dict[str, torch.Tensor] = {}  # task name -> its test prompts' backbone features

    # --- the backbone's representations ---------------------------------------------------------------
    def backbone(self):
        """Every adapter off: the frozen shared model."""
        return self.peft.disable_adapter() if self.peft is not None else contextlib.nullcontext()

    def features(self, lm: LoadedModel, examples: Sequence[Example]) -> torch.Tensor:
        c = self.ctx.config
        with self.backbone():
            return prompt_features(lm, examples, c.eval_batch_size or c.batch_size, c.max_length)

    def test_prompts_features(self, lm: LoadedModel, task: Task) -> torch.Tensor:
        """The backbone's features of the prompts the runner evaluates on ``task`` (inputs only, no label)."""
        if task.name not in self.test_features:
            self.test_features[task.name] = self.features(lm, self.ctx.plan(task).evaluated())
        return self.test_features[task.name]

    # --- adapters ---------------------------------------------------------------------------------------
    def add_adapter(self, lm: LoadedModel) -> str:
        """A new named adapter (O-LoRA's naming and creation), then made the only active one."""
        name = OLoRA.add_adapter(self, lm)  # it activates every adapter: O-LoRA keeps the earlier ones on
        self.activate(name)
        return name

    def activate(self, name: str) -> None:
        self.peft.base_model.set_adapter(name)  # only this task's private parameters run

    def adapter_state(self, name: str) -> dict[str, torch.Tensor]:
        return {n: p for n, p in self.lm.model.named_parameters() if ".lora_" in n and f".{name}." in n}

    # --- the runner's protocol --------------------------------------------------------------------------
    def train_stage(self, lm: LoadedModel, stage: int, task: Task) -> dict:
        examples = self.ctx.train_examples(task)
        self.stats.append(task_statistics(self.features(lm, examples)))  # before the new adapter: the backbone
        self.counts.append(len(examples))
        new = self.add_adapter(lm)
        params = [p for n, p in lm.model.named_parameters() if ".lora_" in n and f".{new}." in n]
        result = train(lm, examples, params, self.ctx.train_config(self.options, lm), progress=self.ctx.progress)
        return {**train_info(result, sum(sharding.numel(p) for p in params)), "adapters": len(self.adapters)}

    def save(self, lm: LoadedModel, folder: Path) -> None:
        save_tensors(self.adapter_state(self.adapters[-1]), folder / "adapter.safetensors")
        save_tensors(self.stats[-1], folder / "stats.safetensors")
        write_json(folder / "epi.json", {"adapter": self.adapters[-1], "task": self.tasks[len(self.adapters) - 1].name,
                                         "count": self.counts[-1]})

    @torch.no_grad()
    def restore(self, lm: LoadedModel, folders: list[Path]) -> None:
        for folder in folders:
            info = json.loads((folder / "epi.json").read_text())
            name = self.add_adapter(lm)
            if info["adapter"] != name:
                raise TaskNeuronsError(f"{folder}: holds adapter {info['adapter']!r}, stage {len(self.adapters)} "
                                       f"should be {name!r}")
            path = folder / "adapter.safetensors"
            tensors, params = load_tensors(path, lm.device), dict(self.adapter_state(name))
            if sorted(tensors) != sorted(params):
                raise TaskNeuronsError(f"{path}: holds LoRA weights {sorted(tensors)[:2]}..., the model has "
                                       f"{sorted(params)[:2]}...")
            copy_into(params, tensors)
            self.stats.append(load_tensors(folder / "stats.safetensors"))
            self.counts.append(int(info["count"]))

    def route(self, lm: LoadedModel, stage: int, index: int) -> dict:
        """Task ``index``'s test prompts identified among the learnt tasks (0..stage): each one's nearest task
        (``nearest``), their majority vote (``task``), the votes, and how many were right."""
        o = self.options
        dist = distances(self.stats[:stage + 1], self.counts[:stage + 1],
                         self.test_prompts_features(lm, self.tasks[index]), o.identify, o.shrinkage)
        nearest = dist.argmin(1)
        return {"task": vote(dist), "votes": torch.bincount(nearest, minlength=stage + 1).tolist(),
                "nearest": nearest.tolist(),
                "example_accuracy": float((nearest == index).double().mean()) if index <= stage else None}

    def evaluate_task(self, lm: LoadedModel, stage: int, index: int, score) -> dict:
        route = self.route(lm, stage, index)
        nearest = route["nearest"] if self.options.routing == "example" else [route["task"]] * len(route["nearest"])
        parts = []
        try:
            for task in sorted(set(nearest)):
                self.activate(self.adapters[task])
                positions = [p for p, t in enumerate(nearest) if t == task]
                parts.append((positions, score(None if len(positions) == len(nearest) else positions)))
        finally:
            self.activate(self.adapters[-1])  # as after training: the latest task's adapter
        return merged(parts, len(nearest))

    def describe(self) -> dict:
        """Identification of every (stage, task) cell: the chosen task, the votes, the per-example accuracy, and
        the means over the cells of learnt tasks (task-level and example-level identification accuracy)."""
        if not self.stats:
            return {}
        n = len(self.stats)
        routes = [[{k: v for k, v in self.route(self.lm, s, i).items() if k != "nearest"}
                   for i in range(len(self.tasks))] for s in range(n)]
        learnt = [(s, i) for s in range(n) for i in range(s + 1)]
        return {"identify": self.options.identify, "routing": self.options.routing, "routes": routes,
                "task_accuracy": sum(routes[s][i]["task"] == i for s, i in learnt) / len(learnt),
                "example_accuracy": sum(routes[s][i]["example_accuracy"] for s, i in learnt) / len(learnt)}
