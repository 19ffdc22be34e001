"""Checks for config values: each failure is one line naming the option, the value and what is allowed."""
from __future__ import annotations

import dataclasses
import math
import types
import typing

from ..errors import TaskNeuronsError
from ..registry import suggest


def integer(name: str, value, minimum: int = 1, optional: bool = False) -> None:
    """``value`` is an int (not a bool) >= ``minimum`` (or None when ``optional``)."""
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        allowed = f"an integer >= {minimum}" + (" or null" if optional else "")
        raise TaskNeuronsError(f"option {name}={value!r} is not {allowed}")


def number(name: str, value, low: float, high: float, low_open: bool = True) -> None:
    """``value`` is a finite number in (low, high] (or [low, high] when not ``low_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise TaskNeuronsError(f"option {name}={value!r} is not a number in {bracket}{low:g}, {high:g}]")


def choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise TaskNeuronsError(f"option {name}={value!r} is not one of {list(allowed)}{suggest(str(value), allowed)}")


def string_list(name: str, value, allow_empty: bool = False) -> None:
    """A YAML list of strings (a bare string is refused: it would be read character by character)."""
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value) or (not value and not allow_empty):
        raise TaskNeuronsError(f"option {name}={value!r} is not a {'' if allow_empty else 'non-empty '}list of names, "
                               f"e.g. [a, b]")


def mapping(name: str, value) -> None:
    if not isinstance(value, dict):
        raise TaskNeuronsError(f"option {name}={value!r} is not a mapping of option: value")


def nested(cls, value, name: str):
    """``value`` as a ``cls`` dataclass: an instance as is, a mapping by its fields (a wrong key is one line)."""
    if isinstance(value, cls):
        return value
    mapping(name, value)
    known = [f.name for f in dataclasses.fields(cls)]
    value = cls.upgraded(value, name) if hasattr(cls, "upgraded") else value  # as an older version wrote them
    for key in value:
        if key not in known:
            raise TaskNeuronsError(f"option {name} has no field {key!r}{suggest(str(key), known)}; "
                                   f"fields: {', '.join(known)}")
    try:
        return cls(**value)
    except TaskNeuronsError as e:  # "option k=0 ..." inside ``name`` reads "option name.k=0 ..."
        message = str(e)
        raise TaskNeuronsError(message.replace("option ", f"option {name}.", 1) if message.startswith("option ")
                               else f"option {name}: {message}") from None


def boolean(name: str, value) -> None:
    if not isinstance(value, bool):
        raise TaskNeuronsError(f"option {name}={value!r} is not true or false")


SCALARS = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a mapping",
           list: "a list"}


def _accepts(hint, value) -> bool:
    if hint is typing.Any or (dataclasses.is_dataclass(hint) and isinstance(hint, type)):
        return True  # nested options are checked by their own class
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(h, value) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    base = origin or hint
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, base) if isinstance(base, type) else True


def field_types(cls, values: dict) -> None:
    """Each of ``values`` has the type its field of dataclass ``cls`` declares (a one-line error naming it)."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        hint = hints.get(name, typing.Any)
        if not _accepts(hint, value):
            union = typing.get_origin(hint) in (typing.Union, types.UnionType)
            names = ["null" if h is type(None) else SCALARS.get(typing.get_origin(h) or h, getattr(h, "__name__", str(h)))
                     for h in (typing.get_args(hint) if union else (hint,))]
            raise TaskNeuronsError(f"option {name}={value!r} is not {' or '.join(names)}")
