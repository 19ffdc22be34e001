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
from ..io import write_json, write_text


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

    def _file(self, key: str) -> Path:
        return self.out / "steps" / (re.sub(r"[^A-Za-z0-9_.=-]+", "_", key) + ".json")

    def has(self, key: str) -> bool:
        """Whether step ``key`` is finished."""
        return self._file(key).is_file()

    def load(self, key: str) -> dict:
        """The result of the finished step ``key`` (an error naming the step when it is not)."""
        if not self.has(key):
            raise TaskNeuronsError(f"run folder {self.out}: step {key!r} has no result; rerun the experiment")
        return json.loads(self._file(key).read_text())

    def step(self, key: str, compute: Callable[[], dict]) -> dict:
        """The cached result of step ``key``, computing and saving it first if this run has not done it yet."""
        if self.has(key):
            return self.load(key)
        result = compute()
        write_json(self.path("steps", self._file(key).name), result)
        return result
