"""Metrics: accuracy by exact match of the label string, and Rouge-L F-measure x 100 (``rouge-score``)."""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache


def normalize_label(text: str) -> str:
    """What counts for exact match: the first line, stripped, without a trailing period, case-folded."""
    first = text.strip().split("\n", 1)[0].strip()
    return first.rstrip(".").strip().casefold()


def accuracy(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """Percentage of predictions equal to their target after ``normalize_label``."""
    if not targets:
        return float("nan")
    hits = sum(normalize_label(p) == normalize_label(t) for p, t in zip(predictions, targets, strict=True))
    return 100.0 * hits / len(targets)


@lru_cache(maxsize=2)
def _scorer(use_stemmer: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)


def rouge_l(predictions: Sequence[str], references: Sequence[str], use_stemmer: bool = False) -> float:
    """Mean Rouge-L F-measure x 100 (longest common subsequence over ``rouge-score`` tokens)."""
    if not references:
        return float("nan")
    scorer = _scorer(use_stemmer)
    pairs = zip(predictions, references, strict=True)
    return 100.0 * sum(scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in pairs) / len(references)


METRICS = {"accuracy": accuracy, "rougeL": rouge_l}
