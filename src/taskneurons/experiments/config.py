"""Experiment configs: a YAML file into a dataclass, then ``key=value`` overrides from the command line."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from ..errors import TaskNeuronsError
from ..io import load_yaml, read_yaml, yaml_error
from ..registry import suggest


parse = load_yaml  # the toolkit's one YAML loader (io.load_yaml): duplicate keys refused, 1e-3 a number


def apply_override(values: dict, item: str) -> None:
    """Set one ``key=value`` (``a.b=v``: field b of the nested option a) in ``values``; the value is YAML."""
    key, sep, raw = item.partition("=")
    if not sep:
        raise TaskNeuronsError(f"override {item!r} is not of the form key=value")
    try:
        value = parse(raw)
    except yaml.YAMLError as e:
        raise yaml_error(f"override {item!r}", e) from None
    set_dotted(values, key.strip(), value, f"override {item!r}")


def set_dotted(values: dict, key: str, value, what: str | None = None) -> None:
    """``values[a][b] = value`` for the dotted ``key`` "a.b" (field b of the nested option a)."""
    *parents, leaf = key.split(".")
    target = values
    for part in parents:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise TaskNeuronsError(f"{what or 'option ' + repr(key)}: option {part!r} is not a mapping")
    target[leaf] = value


def load_config(cls, path: str | Path | None = None, overrides: list[str] | None = None, values_given: dict | None = None):
    """``cls`` built from the YAML file (if any), ``key=value`` overrides (values parsed as YAML; ``a.b=v`` sets
    field b of the nested option a) and ``values_given`` (dotted key -> value, already parsed: the command
    line's flags), each overriding the ones before."""
    values: dict = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise TaskNeuronsError(f"no such config file: {path}")
        values = read_yaml(path) or {}
        if not isinstance(values, dict):
            raise TaskNeuronsError(f"{path}: expected a mapping of option: value, got {type(values).__name__}")
    for item in overrides or []:
        apply_override(values, item)
    for key, value in (values_given or {}).items():
        set_dotted(values, key, value)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise TaskNeuronsError(f"unknown option {key!r}{suggest(key, known)} in {path or 'the overrides'}; "
                                   f"options: {', '.join(sorted(known))}")
    try:
        return cls(**values)
    except TypeError as e:
        raise TaskNeuronsError(f"{path or 'the overrides'}: {e}") from None
