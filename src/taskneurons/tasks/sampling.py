"""Seeded, stratified subsamples of a task's examples: the one rule behind the experiments' draws, ``evaluate(limit=)``
and ``taskneurons eval --limit``.

It lives with the tasks (below evaluation and the experiments) so that every layer can draw the same examples:
a file sorted by label gives a class-disjoint subset if one takes its first n records (LFPT5 yahoo's first 48
hold 3 of its 10 classes).
"""
from __future__ import annotations

import hashlib
import random
from collections import defaultdict

from .base import Example, Task


def derive_seed(*parts) -> int:
    """A 63-bit seed from ``parts`` (e.g. run seed, task, role or control index); stable across processes and
    Python versions (unlike ``hash``)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """How many of ``n`` each class gets: its share of the split, by largest remainder, at least one each when
    ``n`` is at least the number of classes; never more than the class has."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    exact = {c: n * s / total for c, s in sizes.items()}
    counts = {c: int(exact[c]) for c in sizes}
    if n >= len(sizes):
        for c in sizes:
            counts[c] = max(counts[c], 1)
    while sum(counts.values()) < n:  # hand out the rest, to the class furthest below its share first
        c = max((c for c in sizes if counts[c] < sizes[c]), key=lambda c: (exact[c] - counts[c], -sorted(sizes).index(c)))
        counts[c] += 1
    while sum(counts.values()) > n:  # the minimum of one each overshot: take from the largest classes
        c = max((c for c in counts if counts[c] > 1), key=lambda c: (counts[c] - exact[c], counts[c], c))
        counts[c] -= 1
    return counts


def sample(examples: list[Example], indices: list[int], n: int, seed: int, stratify: bool) -> list[int]:
    """``n`` of ``indices`` (seeded; stratified by target when ``stratify``), in a seeded shuffled order."""
    rng = random.Random(seed)
    if not stratify:
        chosen = list(indices)
        rng.shuffle(chosen)
        return chosen[:n]
    by_label: dict[str, list[int]] = defaultdict(list)
    for i in indices:
        by_label[examples[i].target].append(i)
    counts = allocate({label: len(members) for label, members in by_label.items()}, n)
    chosen = []
    for label in sorted(by_label):
        members = list(by_label[label])
        rng.shuffle(members)
        chosen += members[:counts[label]]
    rng.shuffle(chosen)
    return chosen


def evaluation_sample(task: Task, split: str, n: int, seed: int) -> list[int]:
    """The indices (sorted) of the ``n`` examples of ``task``'s ``split`` that are evaluated at run seed ``seed``:
    seeded by (seed, task, "eval"), stratified by label for a classification task (the whole split when n is
    at least its size)."""
    examples = task.split(split)
    return sorted(sample(examples, list(range(len(examples))), n, derive_seed(seed, task.name, "eval"),
                         task.kind == "classification"))
