"""Metrics: accuracy by exact match of the label string, and Rouge-L F-measure x 100 (``rouge-score``)."""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from ..tasks.base import normalize_label  # where readers find it too: a label set is one label per exact-match class




def exact_match(predictions: Sequence[str], targets: Sequence[str]) -> list[float]:
    """Per example: 100 when the prediction equals its target after ``normalize_label``, else 0."""
    return [100.0 * (normalize_label(p) == normalize_label(t)) for p, t in zip(predictions, targets, strict=True)]


def accuracy(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Percentage of predictions equal to their target after ``normalize_label``."""
    return mean(exact_match(predictions, targets))


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


@lru_cache(maxsize=2)
def _scorer(use_stemmer: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)


def rouge_l_each(predictions: Sequence[str], references: Sequence[str], use_stemmer: bool = False) -> list[float]:
    """Per example: Rouge-L F-measure x 100 (longest common subsequence over ``rouge-score`` tokens)."""
    scorer = _scorer(use_stemmer)
    return [100.0 * scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references, strict=True)]


def rouge_l(predictions: Sequence[str], references: Sequence[str], use_stemmer: bool = False) -> float:
    """Mean Rouge-L F-measure x 100."""
    return mean(rouge_l_each(predictions, references, use_stemmer))


METRICS = {"accuracy": accuracy, "rougeL": rouge_l}
PER_EXAMPLE = {"accuracy": exact_match, "rougeL": rouge_l_each}  # the per-example outcomes a metric averages
