"""Experiment configs: a YAML file into a dataclass, then ``key=value`` overrides from the command line."""
from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

import yaml

from ..errors import TaskNeuronsError


def load_config(cls, path: str | Path | None = None, overrides: list[str] | None = None):
    """``cls`` built from the YAML file (if any) and ``key=value`` overrides (values parsed as YAML)."""
    values: dict = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise TaskNeuronsError(f"no such config file: {path}")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise TaskNeuronsError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(values, dict):
            raise TaskNeuronsError(f"{path}: expected a mapping of option: value, got {type(values).__name__}")
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise TaskNeuronsError(f"override {item!r} is not of the form key=value")
        values[key.strip()] = yaml.safe_load(raw)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TaskNeuronsError(f"unknown option {key!r}{hint} in {path or 'the overrides'}; options: {', '.join(sorted(known))}")
    return cls(**values)


def train_config(spec: dict, what: str, **defaults):
    """A TrainConfig from an experiment's ``{n_train: N, lr: ..., ...}`` spec (``n_train`` is the experiment's, the
    rest TrainConfig's), over ``defaults``; an unknown key is a one-line error naming ``what``."""
    from ..tuning import TrainConfig

    options = {k: v for k, v in spec.items() if k != "n_train"}
    try:
        return TrainConfig(**{**defaults, **options})
    except TypeError:
        known = sorted(TrainConfig.__dataclass_fields__) + ["n_train"]
        raise TaskNeuronsError(f"{what} has an unknown option among {sorted(spec)}; options: {', '.join(known)}") from None
