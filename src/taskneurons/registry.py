"""The one registry type: plug-ins (scorers, task formats, FFN maps, continual-learning methods) by name.

A wrong name gets one line with the closest right name and the list of all of them.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from .errors import TaskNeuronsError

T = TypeVar("T")


def suggest(name, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to ``name``, or ``""`` if none is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Registry(Generic[T]):
    """Name -> plug-in, in registration order. ``what`` names the kind in errors ("scorer", "task format");
    the list in an error is headed by its last word, plural ("...; formats: olora, yang")."""

    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, obj: T, name: str | None = None) -> T:
        """Add ``obj`` under ``name`` (default ``obj.name``), once; returns ``obj``, so it works as a decorator."""
        name = obj.name if name is None else name
        if name in self._items:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._items[name] = obj
        return obj

    def get(self, name: str) -> T:
        """The plug-in called ``name``; a wrong name gets an error listing the right ones."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            listing = f"{self.what.split()[-1]}s: {', '.join(self._items)}"
            raise TaskNeuronsError(f"unknown {self.what} {name!r}{suggest(name, self._items)}; {listing}") from None

    __getitem__ = get

    def __contains__(self, name) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return list(self._items)

    def items(self):
        return self._items.items()

    def values(self):
        return self._items.values()

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._items)})"
