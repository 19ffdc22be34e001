"""The paper's tasks and groups mapped to ../shared/data (with the substitutions), and the paper's numbers."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

SHORT = {"classification": "CLS", "generation": "GEN"}
KIND_OF = {"CLS": "classification", "GEN": "generation", "classification": "classification", "generation": "generation"}


# --- the paper's tasks and groups, on the built-in task names (the folders of ../shared/data) ----------------

@dataclass(frozen=True)
class PaperTask:
    """What a built-in task stands for in the paper, and what was substituted, if anything."""

    paper: str
    note: str = ""


PAPER_TASKS = {
    "amazon_yang": PaperTask("Amazon", "Yang et al.'s binary Amazon reviews (the paper's 'Amazon')"),
    "qqp": PaperTask("QQP", "Yang et al.'s QQP is test-only (qqp_yang): QQP is trained and ID-tested on O-LoRA's QQP "
                     "(its instruction prompt and labels False/True, not Yang's template and yes/no)"),
    "mnli_yang": PaperTask("MNLI"),
    "socialqa": PaperTask("SciQ", "SciQ question generation is test-only (sciq): Social IQa question generation (same "
                          "schema; MANIFEST's substitute) is trained and ID-tested in its place"),
    "e2e": PaperTask("E2E", "E2E train/dev carved out of the official devset (trainset.csv is absent)"),
    "xsum": PaperTask("XSum"),
    "sst2_yang": PaperTask("SST-2"),
    "paws": PaperTask("PAWS"),
    "gptnli": PaperTask("GPTNLI"),
    "tweetqa": PaperTask("TweetQA"),
    "commongen": PaperTask("CommonGen"),
    "cnn_dailymail": PaperTask("CNN/DailyMail"),
}


@dataclass(frozen=True)
class Group:
    name: str
    train: tuple[str, ...]
    ood: tuple[str, ...]
    paper: dict = field(default_factory=dict)  # task -> the paper's task it stands for in this group, where they differ
    notes: tuple[str, ...] = ()


GROUPS = {
    "a": Group("a", ("amazon_yang", "qqp", "mnli_yang"), ("sst2_yang", "paws", "gptnli", "tweetqa", "commongen", "xsum"),
               notes=(PAPER_TASKS["qqp"].note,)),
    "b": Group("b", ("socialqa", "e2e", "xsum"),
               ("sst2_yang", "paws", "gptnli", "tweetqa", "commongen", "cnn_dailymail"),
               paper={"socialqa": "SciQ", "xsum": "CNN/DailyMail", "cnn_dailymail": "XSum"},
               notes=(PAPER_TASKS["socialqa"].note,
                      "CNN/DailyMail is test-only (cnn_dailymail): XSum (MANIFEST's summarization substitute) is "
                      "trained and ID-tested in its place; as XSum is then a training task of group (b), group (b)'s "
                      "OOD summarization test is CNN/DailyMail's test split (the two swap roles)")),
}

# The paper's numbers (PAPER.md section 4), to print beside ours.
PAPER_TABLE8 = {"CLS-CLS": {10: 20.8, 30: 53.9, 50: 84.5, 70: 96.2, 100: 100.0},
                "CLS-GEN": {10: 12.9, 30: 41.6, 50: 71.5, 70: 83.5, 100: 100.0},
                "GEN-CLS": {10: 11.8, 30: 40.2, 50: 69.3, 70: 81.8, 100: 100.0},
                "GEN-GEN": {10: 21.6, 30: 52.5, 50: 82.0, 70: 94.3, 100: 100.0}}
PAPER_ABLATION = {  # overlap rate (%) -> proportion (%) -> OOD score; Tables 9 (CLS-CLS), 10 (GEN-GEN), 11 (GEN-CLS)
    "CLS-CLS": {10: {10: 80.2, 30: 81.4, 50: 81.8}, 30: {10: 81.1, 30: 82.0, 50: 82.3}, 50: {10: 81.5, 30: 82.3, 50: 82.8},
                70: {10: 82.0, 30: 82.7, 50: 83.0}, 100: {10: 82.2, 30: 83.1, 50: 83.6}},
    "GEN-GEN": {10: {10: 31.6, 30: 32.1, 50: 32.3}, 30: {10: 32.5, 30: 32.9, 50: 33.5}, 50: {10: 32.7, 30: 33.4, 50: 33.8},
                70: {10: 32.9, 30: 34.0, 50: 34.1}, 100: {10: 33.1, 30: 34.4, 50: 35.1}},
    "GEN-CLS": {10: {10: 78.2, 30: 78.5, 50: 78.6}, 30: {10: 78.8, 30: 78.7, 50: 79.3}, 50: {10: 79.0, 30: 79.4, 50: 79.7},
                70: {10: 79.3, 30: 79.6, 50: 80.3}, 100: {10: 79.5, 30: 79.9, 50: 80.8}},
}
PAPER_ABLATION_ORIGINAL = {"CLS-CLS": {10: (20.8, 80.7), 30: (53.9, 82.5), 50: (84.5, 83.1)},
                           "GEN-GEN": {10: (21.6, 32.2), 30: (52.5, 33.8), 50: (82.0, 34.9)},
                           "GEN-CLS": {10: (11.8, 78.4), 30: (40.2, 78.7), 50: (69.3, 80.1)}}
PAPER_TABLE4 = {  # test task -> (Pearson r, p, Spearman rho, p), n = 6 models
    "sst2_yang": (0.87, 0.02, 0.81, 0.05), "paws": (0.92, 0.01, 0.77, 0.07), "gptnli": (0.79, 0.05, 0.81, 0.05),
    "tweetqa": (0.96, 0.00, 0.77, 0.07), "commongen": (0.96, 0.00, 0.83, 0.04), "xsum": (0.97, 0.00, 0.71, 0.11)}

TOTALS = ("proportion", "train_union")
RATE_DEFINITIONS = ("share", "jaccard")
POOLS = ("complement", "train_union")
SIMILARITY_NEURONS = ("base", "finetuned")


def mean(values) -> float:
    """Mean of the finite values of a list or a mapping (NaN when there are none)."""
    values = list(values.values()) if isinstance(values, dict) else list(values)
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def pct(p: float) -> str:
    return f"{p:g}"


def fmt(v, digits: int = 1) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"
