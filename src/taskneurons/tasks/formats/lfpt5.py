"""LFPT5's text-classification files (``qcwthu/Lifelong-Fewshot-Language-Learning``): ``{train,dev,test}.txt``.

One example a line, ``text<TAB>label``; newlines inside the text are the two characters backslash-n. By default
Yahoo! Answers labels are renamed to O-LoRA's (as in yahoo/SOURCE.md), so the CL benchmark reads like O-LoRA's,
and the prompt is O-LoRA's topic-classification (TC) prompt.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import TaskNeuronsError
from ..base import Example, Task
from ..templates import olora_template
from .common import read_text, split_files

EXPECTS = "train.txt / dev.txt / test.txt (one 'text<TAB>label' a line)"

# LFPT5 label -> O-LoRA's labels.json (in O-LoRA's order) for Yahoo! Answers Topics.
YAHOO_TO_OLORA = {
    "society and culture": "Society & Culture",
    "science": "Science & Mathematics",
    "health": "Health",
    "education and reference": "Education & Reference",
    "computers and internet": "Computers & Internet",
    "sports": "Sports",
    "business": "Business & Finance",
    "entertainment and Music": "Entertainment & Music",
    "family and relationships": "Family & Relationships",
    "politics and government": "Politics & Government",
}


def detect(folder: Path) -> bool:
    files = split_files(folder, ".txt")
    if not files:
        return False
    with open(next(iter(files.values())), encoding="utf-8", errors="replace") as f:
        return "\t" in f.readline()


def read_lines(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs; the label is after the last tab."""
    pairs = []
    for i, line in enumerate(l for l in read_text(path).splitlines() if l.strip()):
        if "\t" not in line:
            raise TaskNeuronsError(f"{path}: record {i}: expected 'text<TAB>label', found no tab")
        text, label = line.rsplit("\t", 1)
        pairs.append((text.replace("\\n", "\n").strip(), label.strip()))
    return pairs


def read(folder: Path, name: str, olora_labels: bool = True, task_type: str = "TC") -> Task:
    files = split_files(folder, ".txt")
    pairs = {split: read_lines(path) for split, path in files.items()}
    found = {label for ps in pairs.values() for _, label in ps}
    if olora_labels and found <= set(YAHOO_TO_OLORA):
        rename, labels = YAHOO_TO_OLORA, tuple(YAHOO_TO_OLORA.values())
    else:  # not Yahoo's labels (or renaming turned off): keep them as they are
        rename, labels = {}, tuple(sorted(found))
    template = olora_template(task_type, labels)
    splits = {
        s: [Example(template.format(sentence=text), rename.get(label, label)) for text, label in ps]
        for s, ps in pairs.items()
    }
    return Task(name, "classification", splits, labels, template, str(folder), files=files)
