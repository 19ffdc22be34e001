"""Evaluation: label ranking, greedy generation, accuracy and Rouge-L."""
from .evaluate import CLASSIFICATION_METHODS, EvalResult, evaluate
from .metrics import accuracy, normalize_label, rouge_l
from .predict import generate, rank_labels

__all__ = ["CLASSIFICATION_METHODS", "EvalResult", "evaluate", "accuracy", "normalize_label", "rouge_l", "generate", "rank_labels"]
