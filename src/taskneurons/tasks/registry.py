"""``load_task``: one entry point from a spec to a Task.

A spec is ``hf:<name>[:<config>]``, an existing file (generic table) or folder (format detected, or
``format=``), or a built-in demo task name. Options go to the reader (a wrong one gets the list of right ones);
``name=`` renames the task. Loaded tasks are cached in-process by (spec, options): callers share the Task.
"""
from __future__ import annotations

import difflib
import inspect
from pathlib import Path

from ..errors import TaskNeuronsError
from .base import Task
from .demo import DEMO_TASKS
from .formats import FORMATS, detect_format, get_reader
from .formats.generic import SUFFIXES

_CACHE: dict = {}


def list_demo_tasks() -> list[str]:
    """The names of the built-in demo tasks."""
    return list(DEMO_TASKS)


def load_task(spec: str | Path, **options) -> Task:
    """The Task for ``spec`` (see the module docstring), read once per process for the same options."""
    key = (str(spec), freeze(options))
    if key not in _CACHE:
        _CACHE[key] = _load(str(spec), dict(options))
    return _CACHE[key]


def clear_cache() -> None:
    _CACHE.clear()


def freeze(value):
    """A hashable stand-in for option values (dicts and lists included)."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set)):
        return tuple(freeze(v) for v in value)
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _load(spec: str, options: dict) -> Task:
    name = options.pop("name", None)
    fmt = options.pop("format", None)
    if spec.startswith("hf:"):
        read = _checked(FORMATS["hf"].read, options, "format 'hf'", spec)
        return read(spec, name or spec[3:].split("/")[-1].replace(":", "_"), **options)
    path = Path(spec).expanduser()
    if path.is_file():
        if fmt not in (None, "generic"):
            raise TaskNeuronsError(f"{path}: a single file is read by the generic format, not {fmt!r}")
        return _checked(FORMATS["generic"].read, options, "format 'generic'", path)(path, name or path.stem, **options)
    if path.is_dir():
        fmt = fmt or detect_format(path)
        read = _checked(get_reader(fmt).read, options, f"format {fmt!r}", path)
        return read(path, name or path.resolve().name, **options)
    if spec in DEMO_TASKS:
        task = _checked(DEMO_TASKS[spec], options, f"demo task {spec!r}", spec)(**options)
        task.name = name or task.name
        return task
    if "/" in spec or "\\" in spec or path.suffix.lower() in SUFFIXES + (".txt",) or spec.startswith((".", "~")):
        raise TaskNeuronsError(f"no such file or folder: {spec}")
    close = difflib.get_close_matches(spec, list(DEMO_TASKS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise TaskNeuronsError(
        f"unknown task {spec!r}{hint}. Demo tasks: {', '.join(DEMO_TASKS)}; "
        "or give a folder, a .jsonl/.json/.csv/.parquet file, or hf:<name>[:<config>]"
    )


def _checked(read, options: dict, what: str, source):
    """``read``, once the option names are checked against its signature."""
    allowed = [p for p in inspect.signature(read).parameters if p not in ("path", "folder", "source", "name")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TaskNeuronsError(f"{source}: {what} takes no option {', '.join(map(repr, unknown))}; its options are {allowed}")
    return read
