"""Experiment configs: a YAML file into a dataclass, then ``key=value`` overrides from the command line."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from ..errors import TaskNeuronsError
from ..io import load_yaml, read_yaml, yaml_error
from ..registry import suggest
from .options import resolve


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


def config_values(path: str | Path | None = None, overrides: list[str] | None = None,
                  values_given: dict | None = None) -> dict:
    """The options as a plain mapping: the YAML file (if any), then ``key=value`` overrides (values parsed as
    YAML; ``a.b=v`` sets field b of the nested option a), then ``values_given`` (dotted key -> value, already
    parsed: the command line's flags), each overriding the ones before. Imports nothing heavy: the command line
    reads the model and task names from here before torch is imported."""
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
    return values


def load_config(cls, path: str | Path | None = None, overrides: list[str] | None = None, values_given: dict | None = None):
    """``cls`` built from :func:`config_values`; an option ``cls`` does not have is one line (its new name when
    it was renamed, else the closest name)."""
    values = config_values(path, overrides, values_given)
    where = path or "the overrides"
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise TaskNeuronsError(renamed(cls, key, where) or f"unknown option {key!r}{suggest(key, known)} in "
                                                               f"{where}; options: {', '.join(sorted(known))}")
    try:
        return cls(**values)
    except TypeError as e:
        raise TaskNeuronsError(f"{where}: {e}") from None


# Options renamed when the experiments moved onto the kit (December 2026): old name -> (new dotted name, what
# else changed). A config written before still names them; the error points to the new name.
RENAMED = {
    "k": ("selection.k", ""), "scope": ("selection.scope", ""), "scorer": ("selection.scorer", ""),
    "scorer_options": ("selection.scorer_options", ""), "tokens": ("selection.tokens", ""),
    "n_score": ("selection.n_score", ""), "similarity_k": ("selection.k", ""),
    "random_seeds": ("random_controls", "a number of draws now: [0, 1, 2] is 3"),
    "finetune_random_seeds": ("finetune_random_controls", "a number of draws now: [0] is 1"),
    "ablation_seeds": ("ablation_draws", "a number of draws now: [0] is 1"),
    "data_dir": ("data_root", ""), "n_test": ("n_eval", ""), "n_train": ("training.n_train", ""),
    "epochs": ("training.epochs", ""), "max_steps": ("training.max_steps", ""), "train": ("training", "its fields sit in training itself"),
}


def renamed(cls, key: str, where) -> str:
    """``<where>: option 'k' was renamed selection.k; ...`` when ``key`` is an old name of an option of ``cls``
    (``where``: the file or "the overrides"), else ""."""
    if key not in RENAMED or resolve(cls, RENAMED[key][0]) is None:
        return ""
    new, note = RENAMED[key]
    parent, _, leaf = new.rpartition(".")
    yaml_form = f"{parent}: {{{leaf}: ...}}" if parent else f"{new}: ..."
    return (f"{where}: option {key!r} was renamed {new}{f' ({note})' if note else ''}; write {yaml_form} in YAML "
            f"(--set {new}=... on the command line)")
