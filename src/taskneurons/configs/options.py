"""Options: a config field with its meaning beside it, as PEFT's ``field(metadata={"help": ...})``.

``--help``, the options list of ``--set`` and the test that every option is explained all read the meaning from
the field itself (:func:`meanings`), so it travels with the option when a class extends another.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


def option(default: Any = dataclasses.MISSING, help: str = "", *, factory: Callable[[], Any] | None = None):
    """A dataclass field with its default (``factory`` for a list, dict or nested options) and its meaning."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def meanings(cls) -> dict[str, str]:
    """Field name -> its meaning, for every field of the dataclass ``cls`` (inherited ones included)."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def resolve(cls, key: str):
    """(the dataclass holding the last part of dotted ``key``, that field) or None when ``cls`` has no such option."""
    *parents, leaf = key.split(".")
    for part in parents:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            return None
        cls = type(default_of(fields[part]))
        if not dataclasses.is_dataclass(cls):
            return None
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return (cls, fields[leaf]) if leaf in fields else None


def default_of(field: dataclasses.Field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default
