"""Task and Example: the plain values every reader produces and every experiment consumes."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

from ..errors import TaskNeuronsError

Kind = Literal["classification", "generation"]
METRIC_FOR_KIND = {"classification": "accuracy", "generation": "rougeL"}


def normalize_label(text: str) -> str:
    """What counts for exact match: the first line, stripped, without a trailing period, case-folded.

    Both the prediction and the label go through it; so "Positive.", " positive" and "positive\nmore" all match
    the label "positive", while "positive sentiment" or "pos" do not (no prefix or substring matching)."""
    first = text.strip().split("\n", 1)[0].strip()
    return first.rstrip(".").strip().casefold()


@dataclass(frozen=True)
class Example:
    """One rendered prompt and its target text (a label string for classification)."""

    prompt: str
    target: str


@dataclass
class Task:
    """A named dataset with a prompt template, a target, a metric and splits.

    ``labels`` is the label set for classification (the options ranked or matched at evaluation),
    empty for generation. ``template`` is the prompt template (``str.format`` fields), kept for display.
    ``files``: the file each split was read from (split -> path), for the record (results.json).
    """

    name: str
    kind: Kind
    splits: dict[str, list[Example]]
    labels: tuple[str, ...] = ()
    template: str = ""
    source: str = ""
    metric: str = field(default="")
    files: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        self.files = {split: str(path) for split, path in self.files.items()}
        if self.kind not in METRIC_FOR_KIND:
            raise TaskNeuronsError(f"task {self.name!r}: kind {self.kind!r} is not one of {sorted(METRIC_FOR_KIND)}")
        self.metric = self.metric or METRIC_FOR_KIND[self.kind]
        if self.kind == "classification":
            if len(self.labels) < 2:
                raise TaskNeuronsError(f"task {self.name!r}: a classification task needs at least 2 labels, got {list(self.labels)}")
            allowed = set(self.labels)
            for split, examples in self.splits.items():
                for i, ex in enumerate(examples):
                    if ex.target not in allowed:
                        raise TaskNeuronsError(
                            f"{self.source or self.name}: {split} record {i}: label {ex.target!r} is not in the label set {list(self.labels)}"
                        )
        if not any(self.splits.values()):
            raise TaskNeuronsError(f"{self.source or self.name}: no examples in any split")

    def fingerprint(self) -> str:
        """16 hex digits of sha256 over what the experiments read (kind, labels, every split's prompts and
        targets): the same for the same data whatever file it came from; any edited example changes it."""
        h = hashlib.sha256(json.dumps([self.kind, list(self.labels)]).encode())
        for split in sorted(self.splits):
            for ex in self.splits[split]:
                h.update(json.dumps([split, ex.prompt, ex.target]).encode())
        return h.hexdigest()[:16]

    def split(self, name: str, limit: int | None = None) -> list[Example]:
        """The examples of one split (the first ``limit``), with an error naming the splits that exist."""
        if name not in self.splits or not self.splits[name]:
            have = [s for s, exs in self.splits.items() if exs]
            raise TaskNeuronsError(f"task {self.name!r} has no {name!r} split; it has {have}")
        examples = self.splits[name]
        return examples[:limit] if limit else examples

    def first_split(self, *preferred: str) -> str:
        """The first non-empty split among ``preferred`` (e.g. train, dev, test)."""
        for s in preferred:
            if self.splits.get(s):
                return s
        raise TaskNeuronsError(f"task {self.name!r} has none of the splits {list(preferred)}; it has {[s for s, e in self.splits.items() if e]}")
