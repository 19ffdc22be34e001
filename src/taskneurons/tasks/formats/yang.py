"""Yang et al.'s format (``LHRYANG/Generalization_of_FT-LLM``): ``{train,dev,test}.json`` and ``prompt_map.json``.

Records are {"input", "output"}, {"input_1", "input_2", "output"} or {"input", "answer", "output"}. The template
kind follows from the fields and the outputs: two inputs with yes/no -> detection, otherwise -> inference;
input + answer -> question generation; one input with a small closed set of outputs -> sentiment, else summary.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import TaskNeuronsError
from ..base import Example, Task
from ..templates import YANG_TEMPLATES, yang_template
from .common import bad_record, looks_like_labels, peek_json_record, read_records, require, split_files

EXPECTS = "train.json / dev.json / test.json (lists of {input | input_1, input_2 | input, answer} + output), prompt_map.json"
# The full label set of each classification family, so a test-only file missing one class still has it.
KNOWN_LABELS = {
    "sentiment": ("negative", "positive"),
    "detection": ("no", "yes"),
    "inference": ("contradiction", "entailment", "neutral"),
}


def detect(folder: Path) -> bool:
    files = split_files(folder, ".json")
    if not files:
        return False
    if (folder / "prompt_map.json").is_file():
        return True
    record = peek_json_record(next(iter(files.values())))
    return record is not None and "output" in record and ("input" in record or "input_1" in record)


def infer_kind(first: dict, outputs: list[str]) -> str:
    """Which of Yang's templates fits records like ``first`` with these outputs."""
    if "input_1" in first:
        return "detection" if set(outputs) <= {"yes", "no"} else "inference"
    if "answer" in first:
        return "question"
    if set(outputs) <= set(KNOWN_LABELS["sentiment"]) or looks_like_labels(outputs):
        return "sentiment"
    return "summary"


def read(folder: Path, name: str, prompt_index: int = 0, template_kind: str | None = None) -> Task:
    files = split_files(folder, ".json")
    records = {split: read_records(path) for split, path in files.items()}
    first_split = next((s for s, rs in records.items() if rs), None)
    if first_split is None:
        raise TaskNeuronsError(f"{folder}: no records in {[p.name for p in files.values()]}")
    first = records[first_split][0]
    if not isinstance(first, dict):
        raise bad_record(files[first_split], 0, "expected an object with input(s) and output")
    inputs = ("input_1", "input_2") if "input_1" in first else ("input", "answer") if "answer" in first else ("input",)
    for split, rs in records.items():
        for i, r in enumerate(rs):
            require(files[split], i, r, inputs + ("output",))
    outputs = [r["output"] for rs in records.values() for r in rs]
    kind = template_kind or infer_kind(first, outputs)
    if kind not in YANG_TEMPLATES:
        raise TaskNeuronsError(f"template_kind {kind!r} is not one of {sorted(YANG_TEMPLATES)}")
    template = yang_template(kind, folder, prompt_index)
    labels: tuple[str, ...] = ()
    if kind in KNOWN_LABELS:
        known = KNOWN_LABELS[kind]
        labels = known if set(outputs) <= set(known) else tuple(sorted(set(outputs)))
    splits = {}
    for split, rs in records.items():
        try:
            splits[split] = [Example(template.format(**r), r["output"]) for r in rs]
        except KeyError as e:
            raise TaskNeuronsError(f"{folder / 'prompt_map.json'}: template {kind!r} uses field {e} that the records of {files[split]} lack") from None
    return Task(name, "classification" if labels else "generation", splits, labels, template, str(folder), files=files)
