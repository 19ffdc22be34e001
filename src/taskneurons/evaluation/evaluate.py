"""evaluate(model, task): one batched pass over a split, the task's metric, and the predictions."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from tqdm.auto import tqdm

from ..errors import TaskNeuronsError
from ..models import LoadedModel
from ..tasks import Example, Task
from ..tasks.batching import batches_by_length, encode_target
from .metrics import PER_EXAMPLE, mean
from .predict import generate, rank_labels

CLASSIFICATION_METHODS = ("rank", "generate")


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


def evaluate(lm: LoadedModel, task: Task, split: str = "test", limit: int | None = None, method: str = "rank",
             batch_size: int = 8, max_length: int = 256, max_new_tokens: int = 64, progress: bool = True,
             examples: list[Example] | None = None) -> EvalResult:
    """Score ``lm`` on ``task`` (the first ``limit`` examples of ``split``, or the given ``examples``).
    Classification: ``method`` "rank" (label log-likelihood, the fast default) or "generate" (greedy generation +
    exact match, the paper's way). Generation: greedy decoding + Rouge-L. Per-example outcomes are kept."""
    if method not in CLASSIFICATION_METHODS:
        raise TaskNeuronsError(f"evaluation method {method!r} is not one of {CLASSIFICATION_METHODS}")
    if examples is None:
        examples = task.split(split, limit)
    if task.kind == "generation":
        method = "generate"
    if task.kind == "classification" and method == "generate":
        max_new_tokens = max(len(encode_target(lm.tokenizer, label)) for label in task.labels) + 1
    predictions: list[str] = [""] * len(examples)
    start = time.perf_counter()
    was_training = lm.model.training
    lm.model.eval()
    bar = tqdm(total=len(examples), desc=f"eval {task.name}", unit="ex", disable=not progress, leave=False)
    for idx in batches_by_length(examples, batch_size):
        prompts = [examples[i].prompt for i in idx]
        if method == "rank":
            preds = rank_labels(lm, prompts, task.labels, max_length=max_length)
        else:
            preds = generate(lm, prompts, max_new_tokens=max_new_tokens, max_length=max_length)
        for i, p in zip(idx, preds):
            predictions[i] = p
        bar.update(len(idx))
    bar.close()
    lm.model.train(was_training)
    targets = [ex.target for ex in examples]
    outcomes = PER_EXAMPLE[task.metric](predictions, targets)
    return EvalResult(task.name, split, task.metric, mean(outcomes), len(examples), method, time.perf_counter() - start,
                      predictions, targets, outcomes)
