"""Multi-Task FT: one model fine-tuned on all the sequence's tasks at once (their training examples mixed and
shuffled), then scored on every task. Not a continual learner: it sees every task together, so it has no
accuracy matrix, only final scores. The mix is made in task-name order, so every order of the same tasks gives
the same model; the runner trains it once per set of tasks.
"""
from __future__ import annotations

from ....models import LoadedModel
from ....tasks import Task
from .base import Method, MethodOptions, register
from .seqft import train_all_weights


@register
class MultiTaskFT(Method):
    name = "multitask_ft"
    title = "Multi-Task FT"
    kind = "joint"
    Options = MethodOptions

    def train_joint(self, lm: LoadedModel, tasks: list[Task]) -> dict:
        examples = [ex for task in sorted(tasks, key=lambda t: t.name) for ex in self.ctx.train_examples(task)]
        return train_all_weights(self, lm, examples, stages=len(tasks))  # N stages of steps for N tasks
