"""The E2E NLG Challenge's CSV format (``tuetschek/e2e-dataset``): ``{train,dev,test}.csv`` with columns mr, ref.

Data-to-text generation: the prompt gives the meaning representation, the target is the human reference.
"""
from __future__ import annotations

from pathlib import Path

from ..base import Example, Task
from ..templates import E2E_TEMPLATE
from .common import read_csv, split_files

EXPECTS = "train.csv / dev.csv / test.csv (header 'mr,ref')"


def detect(folder: Path) -> bool:
    files = split_files(folder, ".csv")
    if not files:
        return False
    with open(next(iter(files.values())), encoding="utf-8-sig", errors="replace") as f:
        return f.readline().strip().replace('"', "") == "mr,ref"


def read(folder: Path, name: str) -> Task:
    files = split_files(folder, ".csv")
    splits = {
        split: [Example(E2E_TEMPLATE.format(mr=row["mr"]), row["ref"]) for row in read_csv(path, ("mr", "ref"))]
        for split, path in files.items()
    }
    return Task(name, "generation", splits, (), E2E_TEMPLATE, str(folder), files=files)
