"""A run folder: the resolved config, one JSON file per finished step (so a rerun resumes), artifacts, plots.

A step is anything worth not redoing (an evaluation, a training); its result is written atomically when it
finishes, so an interrupted run loses at most the step in progress.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import yaml

from ..errors import TaskNeuronsError
from ..report.io import write_json, write_text


class Run:
    def __init__(self, out: Path, config: dict):
        self.out = Path(out)
        self.config = config
        saved = self.out / "config.yaml"
        if saved.is_file():
            previous = yaml.safe_load(saved.read_text())
            if previous != config:
                changed = sorted(k for k in set(previous) | set(config) if previous.get(k) != config.get(k))
                raise TaskNeuronsError(f"run folder {self.out} was made with another config (differs in {', '.join(changed)}); "
                                       f"rerun with the same config to resume, or choose another --out")
        else:
            write_text(saved, yaml.safe_dump(config, sort_keys=False))

    def path(self, *parts: str) -> Path:
        p = self.out.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def step(self, key: str, compute: Callable[[], dict]) -> dict:
        """The cached result of step ``key``, computing and saving it first if this run has not done it yet."""
        file = self.path("steps", re.sub(r"[^A-Za-z0-9_.=-]+", "_", key) + ".json")
        if file.is_file():
            return json.loads(file.read_text())
        result = compute()
        write_json(file, result)
        return result

    def done(self, key: str) -> bool:
        return (self.out / "steps" / (re.sub(r"[^A-Za-z0-9_.=-]+", "_", key) + ".json")).is_file()
