"""Replay: SeqFT with a small memory of earlier tasks' training examples mixed into each stage's data.

The memory keeps ``per_task`` examples of every finished task, drawn with a generator seeded by the run's seed
and the task's name (so it is the same on resume and in every order). The replayed examples are shuffled in
with the stage's own and share its optimizer steps (every method trains the same number of steps per stage).
State: the weights, as SeqFT.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ....errors import TaskNeuronsError
from ....models import LoadedModel
from ....tasks import Example, Task
from ....configs.options import option
from .base import MethodOptions, register
from .seqft import SeqFT, train_all_weights


@dataclass
class ReplayOptions(MethodOptions):
    per_task: int = option(20, "examples kept per finished task")

    def __post_init__(self):
        super().__post_init__()
        if self.per_task < 0:
            raise TaskNeuronsError(f"per_task must be >= 0, got {self.per_task}")


@register
class Replay(SeqFT):
    name = "replay"
    title = "Replay"
    Options = ReplayOptions

    def memory(self, task: Task) -> list[Example]:
        pool = self.ctx.train_examples(task)
        rng = random.Random(f"{self.ctx.config.seed}/{task.name}")
        return [pool[i] for i in sorted(rng.sample(range(len(pool)), min(self.options.per_task, len(pool))))]

    def train_stage(self, lm: LoadedModel, stage: int, task: Task) -> dict:
        replayed = [ex for earlier in self.tasks[:stage] for ex in self.memory(earlier)]
        info = train_all_weights(self, lm, self.ctx.train_examples(task) + replayed)
        return {**info, "replayed": len(replayed)}
