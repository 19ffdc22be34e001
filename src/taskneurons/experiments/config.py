"""Experiment configs: a YAML file into a dataclass, then ``key=value`` overrides from the command line."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from ..errors import TaskNeuronsError
from ..registry import suggest


class Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-3`` as a string; here it is the number every user means."""


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def parse(text: str):
    return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader)


def apply_override(values: dict, item: str) -> None:
    """Set one ``key=value`` (``a.b=v``: field b of the nested option a) in ``values``; the value is YAML."""
    key, sep, raw = item.partition("=")
    if not sep:
        raise TaskNeuronsError(f"override {item!r} is not of the form key=value")
    try:
        value = parse(raw)
    except yaml.YAMLError as e:
        raise TaskNeuronsError(f"override {item!r}: the value is not valid YAML ({str(e).splitlines()[0]})") from None
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
        try:
            values = parse(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as e:
            raise TaskNeuronsError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
        except yaml.YAMLError as e:
            raise TaskNeuronsError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
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
