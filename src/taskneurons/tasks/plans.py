"""Which examples a task contributes to scoring, training and evaluation. Evaluated examples are disjoint from
scored and trained ones by construction; scored and trained examples are separate draws from one pool, so they
may overlap (each draw is seeded by its own role).

The rule, for every experiment:

- **evaluated** examples come from the task's ``test`` split (else ``dev``, else ``train``);
- **scored and trained** examples come from its pool: the ``train`` split (else ``dev``, else ``test``), minus
  every example whose prompt is also an evaluated prompt;
- a task with one split only (for instance a test-only task) is partitioned: the evaluated examples are drawn
  first, the pool is the rest of the split;
- a subsample is seeded by (run seed, task, role), so it is the same in every run; a classification subsample is
  stratified (each label keeps its share of the split, every label present when n is at least the number of
  labels); a generation subsample is a seeded shuffle (``tasks.sampling``, which ``evaluate(limit=)`` and
  ``taskneurons eval --limit`` use too: the evaluated examples are theirs at the same seed);
- a task too small for the requested sizes is an error, never an overlap.

``ExamplePlan.to_dict()`` records every draw (split and indices), the file each split was read from, and the
target lengths for results.json. The lengths are a step of the run folder (:func:`keep_lengths`), so a rerun or
a resumed run records what an uninterrupted one records, whichever steps this session computed.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import TaskNeuronsError
from .base import Example, Task
from .batching import encode_target
from .sampling import derive_seed, evaluation_sample, sample

EVAL_SPLITS = ("test", "dev", "train")
POOL_SPLITS = ("train", "dev", "test")


@dataclass
class Draw:
    """Indices into one split of the task."""

    split: str
    indices: list[int]


@dataclass
class ExamplePlan:
    """One task's evaluated examples and its pool for scoring and training (see the module docstring)."""

    task: Task
    seed: int
    eval: Draw
    pool: Draw
    draws: dict[str, Draw] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)  # the pool's target lengths, once a tokenizer asked
    run: object = field(default=None, repr=False, compare=False)  # the Run keeping the lengths (keep_lengths)

    @classmethod
    def make(cls, task: Task, n_eval: int, n_pool: int, seed: int, evaluate_on: str = "test") -> ExamplePlan:
        """``n_eval`` evaluated examples and a pool of at least ``n_pool`` others, or a one-line error.
        ``evaluate_on="dev"`` evaluates on the dev split (a hyper-parameter search: the test split is never read)."""
        eval_split = task.first_split(*EVAL_SPLITS) if evaluate_on == "test" else evaluate_on
        if not task.splits.get(eval_split):
            raise TaskNeuronsError(f"task {task.name!r} has no {eval_split!r} split to evaluate on; it has "
                                   f"{[s for s, e in task.splits.items() if e]}")
        pool_split = next((s for s in POOL_SPLITS if task.splits.get(s) and s != eval_split), eval_split)
        examples = task.splits[eval_split]
        if n_eval > len(examples) - (n_pool if pool_split == eval_split else 0):
            shared = f" and {n_pool} examples to score and train on" if pool_split == eval_split else ""
            raise TaskNeuronsError(
                f"task {task.name!r} is too small: its {eval_split!r} split has {len(examples)} examples, the run "
                f"asks for {n_eval} test examples{shared}"
                + (" (a single-split task is partitioned, never reused)" if pool_split == eval_split else ""))
        evaluated = evaluation_sample(task, eval_split, n_eval, seed)  # the sample evaluate(limit=) draws too
        prompts = {examples[i].prompt for i in evaluated}
        pool = [i for i, ex in enumerate(task.splits[pool_split]) if ex.prompt not in prompts]
        if len(pool) < n_pool:
            raise TaskNeuronsError(f"task {task.name!r} is too small: {len(pool)} examples of its {pool_split!r} split "
                                   f"are not test examples, the run asks for {n_pool} to score and train on")
        return cls(task, seed, Draw(eval_split, evaluated), Draw(pool_split, pool))

    def evaluated(self) -> list[Example]:
        return [self.task.splits[self.eval.split][i] for i in self.eval.indices]

    def subset(self, positions: list[int]) -> ExamplePlan:
        """The same plan evaluating only the evaluated examples at ``positions`` (of :meth:`evaluated`)."""
        return dataclasses.replace(self, eval=Draw(self.eval.split, [self.eval.indices[p] for p in positions]))

    def draw(self, role: str, n: int, at_most: bool = False) -> list[Example]:
        """``n`` pool examples for ``role`` ("score", "train"...): seeded by (run seed, task, role), recorded.
        ``at_most``: the whole pool when it has fewer (else that is an error)."""
        n = min(n, len(self.pool.indices)) if at_most else n
        if n > len(self.pool.indices):
            raise TaskNeuronsError(f"task {self.task.name!r}: {n} {role} examples asked for, its pool has "
                                   f"{len(self.pool.indices)} (the {self.pool.split!r} split without test examples)")
        examples, key = self.task.splits[self.pool.split], f"{role}:{n}"
        if key not in self.draws:
            indices = sample(examples, self.pool.indices, n, derive_seed(self.seed, self.task.name, role),
                             self.task.kind == "classification")
            self.draws[key] = Draw(self.pool.split, indices)
        return [examples[i] for i in self.draws[key].indices]

    def target_tokens(self, tokenizer) -> int:
        """How many tokens a target needs, in ``tokenizer``'s tokens (computed once, recorded, kept in the run
        folder when there is one): a classification task's longest label (never cut); a generation task's 95th
        percentile of the pool's target lengths."""
        if "target_tokens" not in self.lengths:
            def count() -> dict:
                return {"target_tokens": self._count_target_tokens(tokenizer)}
            self.lengths.update(self.run.step(self._lengths_key(), count) if self.run is not None else count())
        return self.lengths["target_tokens"]

    def _count_target_tokens(self, tokenizer) -> int:
        if self.task.kind == "classification":
            return max(len(encode_target(tokenizer, label)) for label in self.task.labels)
        targets = [self.task.splits[self.pool.split][i].target for i in self.pool.indices]
        counts = sorted(len(encode_target(tokenizer, t)) for t in targets) or [1]
        return counts[min(len(counts) - 1, math.ceil(0.95 * len(counts)) - 1)]

    def _lengths_key(self) -> str:
        return f"lengths/{self.task.name}"

    def recorded_lengths(self) -> dict[str, int]:
        """The lengths as the run folder has them (computed by this session or an earlier one), else as asked."""
        if not self.lengths and self.run is not None and self.run.has(self._lengths_key()):
            self.lengths.update(self.run.load(self._lengths_key()))
        return dict(self.lengths)

    def to_dict(self) -> dict:
        """What results.json records: the evaluated indices, the pool, the file each split was read from, the
        target lengths and every draw from the pool."""
        return {"eval": {"split": self.eval.split, "indices": self.eval.indices},
                "pool": {"split": self.pool.split, "size": len(self.pool.indices)}, "files": dict(self.task.files),
                "lengths": self.recorded_lengths(),
                **{key: {"split": d.split, "indices": d.indices} for key, d in self.draws.items()}}


Draws = list[tuple]  # (role, n) or (role, n, at_most)


def keep_lengths(plans: dict[str, ExamplePlan], run) -> None:
    """Keep the plans' target lengths in ``run``'s folder (a step per task, written by the first session that
    needs them), so results.json records them also when a rerun or resume computes nothing that asks."""
    for plan in plans.values():
        plan.run = run


def make_plans(tasks: list[Task], seed: int, n_eval: Callable[[Task], int], draws: Callable[[Task], Draws],
               evaluate_on: str = "test") -> dict[str, ExamplePlan]:
    """One plan per task (by name), its pool large enough for the run's draws, which are made now: so a bad size
    fails before the run folder exists, and results.json lists every draw on a resumed run too. ``evaluate_on``:
    see :meth:`ExamplePlan.make`."""
    plans: dict[str, ExamplePlan] = {}
    for task in tasks:
        if task.name in plans:
            if plans[task.name].task is not task:
                raise TaskNeuronsError(f"two different tasks are named {task.name!r} ({plans[task.name].task.source} "
                                       f"and {task.source}); rename one")
            continue
        wanted = draws(task)
        pool = max([d[1] for d in wanted if not (len(d) > 2 and d[2])], default=0)
        plan = plans[task.name] = ExamplePlan.make(task, n_eval(task), pool, seed, evaluate_on)
        for draw in wanted:
            plan.draw(*draw)
    return plans
