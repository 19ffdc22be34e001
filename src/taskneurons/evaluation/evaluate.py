"""evaluate(model, task): one batched pass over a split, the task's metric, and the predictions."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from tqdm.auto import tqdm

from .. import processes
from ..errors import TaskNeuronsError
from ..models import LoadedModel
from ..models.memory import check_fits, estimate
from ..registry import Registry
from ..tasks import Example, Task
from ..tasks.batching import batches_by_length, encode_target
from ..tasks.sampling import evaluation_sample
from .metrics import PER_EXAMPLE, mean
from .predict import generate, rank_labels


@dataclass(frozen=True)
class ClassificationMethod:
    """How a classification task is scored: greedy generation (``rank`` None) or ranking its labels with these
    ``rank_labels`` options. Either way an example scores 100 when the prediction equals its label after
    ``metrics.normalize_label`` (exact match), else 0."""

    name: str
    description: str
    rank: dict | None = None


CLASSIFICATION_METHODS: Registry[ClassificationMethod] = Registry("evaluation method")
for _method in (
        ClassificationMethod("generate", "greedy generation, exact match of its first line with the label (the paper's)"),
        ClassificationMethod("rank", "the label of highest summed log-probability of its tokens", {}),
        ClassificationMethod("rank_mean", "the label of highest mean log-probability per token (length-normalised)",
                             {"length_normalize": True}),
        ClassificationMethod("rank_eos", "the label of highest log-probability of its tokens followed by EOS",
                             {"eos": True})):
    CLASSIFICATION_METHODS.register(_method)


@dataclass
class EvalResult:
    task: str
    split: str
    metric: str
    score: float
    n: int
    method: str
    seconds: float
    predictions: list[str] = field(default_factory=list, repr=False)
    targets: list[str] = field(default_factory=list, repr=False)
    outcomes: list[float] = field(default_factory=list, repr=False)  # per example; ``score`` is their mean

    def to_dict(self, with_predictions: bool = True) -> dict:
        d = asdict(self)
        if not with_predictions:
            d.pop("predictions"), d.pop("targets")
        return d


def limited(task: Task, split: str, limit: int | None, seed: int) -> list[Example]:
    """The examples of ``split`` that ``evaluate`` scores: all of them, or the seeded, stratified sample of
    ``limit`` (one rule for the Python API, the CLI and the experiments)."""
    if limit is not None and limit < 1:
        raise TaskNeuronsError(f"limit {limit}: give a number of examples >= 1 (or None for all)")
    examples = task.split(split)
    return examples if limit is None else [examples[i] for i in evaluation_sample(task, split, limit, seed)]


def evaluate(lm: LoadedModel, task: Task, split: str = "test", limit: int | None = None, method: str = "rank",
             batch_size: int = 8, max_length: int = 256, max_new_tokens: int = 64, progress: bool = True,
             examples: list[Example] | None = None, seed: int = 0) -> EvalResult:
    """Score ``lm`` on ``task``, keeping every example's outcome.

    Args:
        lm: the model (``load_model``).
        task: the task (``load_task``).
        split: which split to score.
        limit: how many examples: the seeded, stratified sample the experiments evaluate on at run seed
            ``seed`` (``tasks.sampling.evaluation_sample``, as ``taskneurons eval --limit``), never the first
            ``limit`` records, which in a label-sorted file hold a few classes only. None: all of them.
        method: for classification, one of ``CLASSIFICATION_METHODS`` ("rank": label log-likelihood, the fast
            default; "generate": greedy generation + exact match, the paper's way). A generation task is always
            decoded greedily and scored by Rouge-L.
        batch_size, max_length, max_new_tokens: batching and lengths.
        progress: show a progress bar.
        examples: score these instead of a split.
        seed: the run seed of the ``limit`` sample.

    Returns:
        An ``EvalResult``: ``score`` (percent), ``n``, ``outcomes`` (per example), the predictions.

    Example:
        >>> from taskneurons import evaluate, load_model, load_task
        >>> result = evaluate(load_model("tiny-llama"), load_task("rotten_tomatoes"), limit=16, progress=False)
        >>> result.n, len(result.outcomes), 0 <= result.score <= 100
        (16, 16, True)
    """
    ranking = CLASSIFICATION_METHODS.get(method).rank  # a wrong name: one line listing the right ones
    if examples is None:
        examples = limited(task, split, limit, seed)
    if task.kind == "generation":
        method = "generate"
    if task.kind == "classification" and method == "generate":
        max_new_tokens = max(len(encode_target(lm.tokenizer, label)) for label in task.labels) + 1
    labels = [len(encode_target(lm.tokenizer, label)) for label in task.labels] or [1]
    check_fits(estimate(lm.model, "rank" if method != "generate" else "generate", batch_size, max_length,
                        n_labels=len(task.labels), label_tokens=max(labels), new_tokens=max_new_tokens),
               batch_size, lm.device)
    predictions: list[str] = [""] * len(examples)
    start = time.perf_counter()
    was_training = lm.model.training
    lm.model.eval()
    every = batches_by_length(examples, batch_size)
    batches = processes.share(every)  # several processes: each its batches
    bar = tqdm(total=sum(map(len, batches)), desc=f"eval {task.name} ({method})", unit="ex",
               disable=not progress or not processes.is_main(), leave=False)
    for n in range(processes.rounds(len(every)) if processes.sharded() else len(batches)):
        idx = batches[n] if n < len(batches) else every[0]  # past its share: a stand-in pass, its result dropped
        prompts = [examples[i].prompt for i in idx]
        if method != "generate":
            preds = rank_labels(lm, prompts, task.labels, max_length=max_length, **ranking)
        else:
            preds = generate(lm, prompts, max_new_tokens=max_new_tokens, max_length=max_length)
        if n < len(batches):
            for i, p in zip(idx, preds):
                predictions[i] = p
            bar.update(len(idx))
    bar.close()
    mine = [(i, predictions[i]) for idx in batches for i in idx]
    predictions = processes.reassemble(processes.gather(mine), len(examples))
    lm.model.train(was_training)
    targets = [ex.target for ex in examples]
    outcomes = PER_EXAMPLE[task.metric](predictions, targets)
    return EvalResult(task.name, split, task.metric, mean(outcomes), len(examples), method, time.perf_counter() - start,
                      predictions, targets, outcomes)
