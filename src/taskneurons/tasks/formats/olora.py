"""O-LoRA's CL_Benchmark format: ``{train,dev,test}.json`` (lists of {"sentence", "label"}) and ``labels.json``.

The sentence already carries O-LoRA's field prefixes ('Title:'/'Text:', 'sentence 1:'/'sentence 2:'), so the
prompt is O-LoRA's instruction for the task type, the options, the sentence and 'Answer:'.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import TaskNeuronsError
from ..base import Example, Task
from ..templates import OLORA_INSTRUCTIONS, OLORA_TASK_TYPES, olora_template
from .common import check_labels, read_json, read_records, split_files

EXPECTS = "train.json / dev.json / test.json (lists of {sentence, label}) and labels.json"
SENTIMENT_WORDS = {"good", "bad", "positive", "negative", "neutral", "very positive", "very negative"}


def detect(folder: Path) -> bool:
    return (folder / "labels.json").is_file() and bool(split_files(folder, ".json"))


def task_type_for(name: str, labels: tuple[str, ...], first_sentence: str) -> str:
    """O-LoRA's task type (TC, SC, NLI, QQP): from the folder name, else from the sentence prefixes and labels."""
    if name.lower() in OLORA_TASK_TYPES:
        return OLORA_TASK_TYPES[name.lower()]
    if first_sentence.startswith("sentence 1:"):
        return "NLI"
    if first_sentence.startswith("first sentence:"):
        return "QQP"
    return "SC" if {l.lower() for l in labels} <= SENTIMENT_WORDS else "TC"


def read(folder: Path, name: str, task_type: str | None = None) -> Task:
    labels_path = folder / "labels.json"
    labels = read_json(labels_path)
    if not isinstance(labels, list) or not all(isinstance(l, str) for l in labels):
        raise TaskNeuronsError(f"{labels_path}: expected a JSON list of label strings")
    labels = tuple(labels)
    files = split_files(folder, ".json")
    records = {split: read_records(path, ("sentence", "label")) for split, path in files.items()}
    for split, path in files.items():
        check_labels(path, [r["label"] for r in records[split]], labels, "labels.json's labels")
    first = next((rs[0]["sentence"] for rs in records.values() if rs), "")
    task_type = task_type or task_type_for(name, labels, first)
    if task_type not in OLORA_INSTRUCTIONS:
        raise TaskNeuronsError(f"task_type {task_type!r} is not one of {sorted(OLORA_INSTRUCTIONS)}")
    template = olora_template(task_type, labels)
    splits = {s: [Example(template.format(sentence=r["sentence"]), r["label"]) for r in rs] for s, rs in records.items()}
    return Task(name, "classification", splits, labels, template, str(folder), files=files)
