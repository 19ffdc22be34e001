"""``load_task``: one entry point from a spec to a Task.

One name space for every experiment and ``taskneurons eval``. A spec is, in this order:

- a built-in name: a demo task (``rotten_tomatoes``...) or a folder of the data root (``agnews``, ``mnli`` is
  O-LoRA's MNLI and ``mnli_yang`` Yang et al.'s, exactly as ``../shared/data`` names them); the data root is the
  ``data_root`` argument, else ``$TASKNEURONS_DATA``, else ``../shared/data`` (from the current directory);
- ``hf:<name>[:<config>]``;
- a path: a file (generic table) or a folder (format detected, or ``format=``).

A built-in name wins over a folder of the same name here (write ``./agnews`` for that one).
Options go to the reader (a wrong one gets the list of right ones); ``name=`` renames the task. Loaded tasks are
cached in-process by (resolved spec, options, the files' sizes and times): callers share the Task.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path

from ..errors import TaskNeuronsError
from ..registry import suggest
from .base import Task
from .demo import DEMO_TASKS
from .formats import FORMATS, detect_format, get_reader

DEFAULT_DATA_ROOT = "../shared/data"
_CACHE: dict = {}


def list_demo_tasks() -> list[str]:
    """The names of the built-in demo tasks."""
    return list(DEMO_TASKS)


def data_root(root: str | Path | None = None) -> Path:
    """The folder whose sub-folders are built-in task names."""
    return Path(root or os.environ.get("TASKNEURONS_DATA") or DEFAULT_DATA_ROOT).expanduser()


def list_data_tasks(root: str | Path | None = None) -> list[str]:
    """The built-in task names of the data root (its sub-folders), sorted; empty when it does not exist."""
    folder = data_root(root)
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def is_bare_name(spec: str) -> bool:
    return not spec.startswith(("hf:", ".", "~")) and "/" not in spec and "\\" not in spec and not Path(spec).suffix


def resolve_spec(spec: str | Path, root: str | Path | None = None) -> str:
    """The spec ``load_task`` reads: a data-root folder for a bare name that is not a demo task, else ``spec``."""
    spec = str(spec)
    if is_bare_name(spec) and spec not in DEMO_TASKS and (data_root(root) / spec).is_dir():
        return str(data_root(root) / spec)
    return spec


def load_task(spec: str | Path, data_root: str | Path | None = None, **options) -> Task:
    """The Task a spec names, read once per process for the same options and files.

    Args:
        spec: a built-in name (a demo task such as ``rotten_tomatoes``, or a folder of the data root such as
            ``agnews``), ``hf:<name>[:<config>]``, or a path to a file or folder (see the module docstring).
        data_root: where the built-in folders are (default ``$TASKNEURONS_DATA``, else ``../shared/data``).
        **options: for the reader (``name=`` renames the task; a wrong option gets the list of right ones).

    Returns:
        A ``Task``: its name, kind (classification or generation), metric, labels and splits of ``Example``.

    Example:
        >>> from taskneurons import load_task
        >>> task = load_task("rotten_tomatoes")
        >>> task.kind, task.metric, task.labels
        ('classification', 'accuracy', ('negative', 'positive'))
    """
    spec = resolve_spec(spec, data_root)
    key = (spec, freeze(options), _stamp(spec))
    if key not in _CACHE:
        _CACHE[key] = _load(spec, dict(options), data_root)
    return _CACHE[key]


def _stamp(spec: str) -> tuple:
    """(path, size, modification time) of each file of a local spec, so that an edited file is read again."""
    path = Path(spec).expanduser()
    files = sorted(path.rglob("*")) if path.is_dir() else [path] if path.is_file() else []
    return tuple((str(f), st.st_size, st.st_mtime_ns) for f in files if f.is_file() for st in [f.stat()])


def clear_cache() -> None:
    _CACHE.clear()


def freeze(value):
    """A hashable stand-in for option values (dicts and lists included)."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set)):
        return tuple(freeze(v) for v in value)
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _load(spec: str, options: dict, root) -> Task:
    name = options.pop("name", None)
    fmt = options.pop("format", None)
    if spec in DEMO_TASKS:
        task = _checked(DEMO_TASKS[spec], options, f"demo task {spec!r}", spec)(**options)
        task.name = name or task.name
        return task
    if spec.startswith("hf:"):
        read = _checked(FORMATS["hf"].read, options, "format 'hf'", spec)
        return read(spec, name or FORMATS["hf"].task_name(spec), **options)
    path = Path(spec).expanduser()
    if path.is_file():
        if fmt not in (None, "generic"):
            raise TaskNeuronsError(f"{path}: a single file is read by the generic format, not {fmt!r}")
        return _checked(FORMATS["generic"].read, options, "format 'generic'", path)(path, name or path.stem, **options)
    if path.is_dir():
        fmt = fmt or detect_format(path)
        read = _checked(get_reader(fmt).read, options, f"format {fmt!r}", path)
        return read(path, name or path.resolve().name, **options)
    check_task_name(spec, root)  # a missing path or an unknown name: one line
    raise TaskNeuronsError(f"{spec}: neither a file nor a folder; give a task file or folder")


def check_task_name(spec: str | Path, root: str | Path | None = None) -> None:
    """A one-line error unless ``spec`` can name a task: a demo task, a folder of the data root, an existing path,
    or ``hf:...`` (its local files there; the dataset is read later). Reads no data and imports nothing heavy, so
    the command line checks task names before it imports torch."""
    spec = resolve_spec(spec, root)
    if spec.startswith("hf:"):
        FORMATS["hf"].load_arguments(spec)  # a local file that is not there, a builder without files
        return
    if spec in DEMO_TASKS or Path(spec).expanduser().exists():
        return
    if not is_bare_name(spec):
        raise TaskNeuronsError(f"no such file or folder: {spec}")
    builtin = list(DEMO_TASKS) + list_data_tasks(root)
    where = data_root(root)
    raise TaskNeuronsError(
        f"unknown task {spec!r}{suggest(spec, builtin)}. Demo tasks: {', '.join(DEMO_TASKS)}; tasks of the data root "
        f"{where}: {', '.join(list_data_tasks(root)) or f'none (no folder {where})'}; "
        "or give a folder, a .jsonl/.json/.csv/.parquet file, or hf:<name>[:<config>]"
    )


def _checked(read, options: dict, what: str, source):
    """``read``, once the option names are checked against its signature."""
    allowed = [p for p in inspect.signature(read).parameters if p not in ("path", "folder", "source", "name")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TaskNeuronsError(f"{source}: {what} takes no option {', '.join(map(repr, unknown))}; its options are {allowed}")
    return read
