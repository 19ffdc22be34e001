"""Per-Task FT (paper 3.5, the upper bound): a separate model per task, each fine-tuned from the base model on
that task alone. Its score on task i is A_i, the reference of the forgetting rate FG (Eq. 5).

As a continual learner it is a bank of task models used with the task's identity: after stage j, task i <= j
is scored by its own model (A_i) and a later task by the base model (its zero-shot score). It does not
depend on the order, so the runner trains each task once per run and shares the result between orders.
"""
from __future__ import annotations

from ....models import LoadedModel
from ....tasks import Task
from .base import Method, MethodOptions, register
from .seqft import train_all_weights


@register
class PerTaskFT(Method):
    name = "per_task_ft"
    title = "Per-Task FT"
    kind = "isolated"
    Options = MethodOptions

    def train_stage(self, lm: LoadedModel, stage: int, task: Task) -> dict:
        return train_all_weights(self, lm, self.ctx.train_examples(task))
