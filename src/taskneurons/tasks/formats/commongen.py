"""CommonGen's line-aligned text files (``INK-USC/CommonGen``, ``dataset/final_data``).

Per split, ``<split>.src_alpha.txt`` (the concepts, space-separated) and ``<split>.tgt.txt`` (one reference
sentence), line by line; the ``.index.txt`` and ``.cs_str.txt`` files beside them are not needed. Files may be
prefixed (``commongen.train.src_alpha.txt``), as in the repository.
"""
from __future__ import annotations

import os
from pathlib import Path

from ...errors import TaskNeuronsError
from ..base import Example, Task
from ..templates import COMMONGEN_TEMPLATE
from .common import SPLIT_NAMES, SPLITS, bad_record, read_text, readable

EXPECTS = "<split>.src_alpha.txt and <split>.tgt.txt, line-aligned (split = train, dev, test)"


def pairs(folder: Path) -> dict[str, tuple[Path, Path]]:
    """split -> (source file, target file)."""
    found = {}
    for src in sorted(folder.glob("*.src_alpha.txt")):
        stem = src.name[: -len(".src_alpha.txt")]
        split = SPLIT_NAMES.get(stem.rsplit(".", 1)[-1])
        if split and split not in found:
            found[split] = (src, src.with_name(stem + ".tgt.txt"))
    return {s: found[s] for s in SPLITS if s in found}


def detect(folder: Path) -> bool:
    return bool(pairs(folder))


def read(folder: Path, name: str) -> Task:
    splits, files = {}, {}
    for split, (src, tgt) in pairs(folder).items():
        if not os.path.lexists(tgt):
            raise TaskNeuronsError(f"{src}: the target file {tgt.name} beside it is missing")
        readable(src, f"the {split} split's concepts")
        readable(tgt, f"the {split} split's targets")
        files[split] = f"{src} + {tgt}"
        concepts, targets = read_text(src).splitlines(), read_text(tgt).splitlines()
        if len(concepts) != len(targets):
            raise TaskNeuronsError(f"{src} has {len(concepts)} lines but {tgt} has {len(targets)}; they must be line-aligned")
        examples = []
        for i, (c, t) in enumerate(zip(concepts, targets)):
            if not c.strip() or not t.strip():
                raise bad_record(src if not c.strip() else tgt, i, "empty line (expected concepts and a sentence)")
            examples.append(Example(COMMONGEN_TEMPLATE.format(concepts=", ".join(c.split())), t.strip()))
        splits[split] = examples
    return Task(name, "generation", splits, (), COMMONGEN_TEMPLATE, str(folder), files=files)
