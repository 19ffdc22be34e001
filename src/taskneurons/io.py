"""Atomic writes: a file or folder is either its old content or its complete new content, never half of one;
and the one YAML loader (:func:`load_yaml`, :func:`read_yaml`) that every config and run folder is read with.

Everything that writes a file goes through :func:`atomic_path` (or :func:`write_text` / :func:`write_json`),
everything that writes a folder through :func:`atomic_folder`. New files and folders get the usual mode
(0o666 / 0o777 less the umask), not the 0o600 / 0o700 of ``tempfile``. Of several processes of one run, only the
main one writes (``processes``): the others' writes go to a scratch place and are dropped, so no two processes
ever race on a file.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from . import processes
from .errors import TaskNeuronsError


@functools.cache
def _umask() -> int:
    """The process umask, read once: from /proc where it can be, since ``os.umask`` reads it only by setting it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) to write to; on success it replaces ``path``, on failure
    it is deleted and ``path`` keeps its old content. A failed write (disk full, permissions) is one line."""
    path = Path(path)
    if not processes.is_main():
        with _scratch() as folder:
            yield folder / path.name
        return
    with _write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
    tmp = Path(name)
    try:
        with _write_errors(path):
            yield tmp
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path) -> Iterator[Path]:
    """A temporary folder beside ``path`` to fill; on success it replaces ``path`` (see :func:`replace_folder`),
    on failure it is deleted and ``path`` keeps its old content."""
    path = Path(path)
    if not processes.is_main():
        with _scratch() as folder:
            yield folder
        return
    with _write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        with _write_errors(path):
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())
            for file in tmp.rglob("*"):  # what libraries wrote inside (safetensors: 0o600) gets the usual mode too
                if file.is_file():
                    os.chmod(file, 0o666 & ~_umask())
            replace_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def _scratch() -> Iterator[Path]:
    """A private temporary folder, deleted afterwards: where a process other than the main one writes."""
    folder = Path(tempfile.mkdtemp(prefix="taskneurons-rank"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _write_errors(path: Path) -> Iterator[None]:
    """An OSError while writing ``path`` (no space left, read-only, permission, a folder in the way) as one line."""
    try:
        yield
    except OSError as e:
        if e.errno is None:  # not a failed system call: someone else's error, keep it as it is
            raise
        raise TaskNeuronsError(f"cannot write {path} ({e.strerror or e}); free some space or choose a writable "
                               f"place (what was there before is unchanged)") from None


def check_output_file(path, flag: str) -> Path:
    """``path`` as a Path, or one line before any work when it cannot become a file (a folder is there, or its
    folder cannot be created or written)."""
    path = Path(path)
    if path.is_dir():
        raise TaskNeuronsError(f"{flag} {path}: is a folder; give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TaskNeuronsError(f"{flag} {path}: cannot create its folder ({e.strerror}); choose a writable place") from None
    if not os.access(path.parent, os.W_OK):
        raise TaskNeuronsError(f"{flag} {path}: cannot write in {path.parent}; choose a writable place")
    return path


def replace_folder(src, dst) -> None:
    """Move the complete folder ``src`` onto ``dst`` by renames: an existing ``dst`` is moved aside first and
    deleted last, so a crash at any point leaves the old or the new folder (the old one as ``.{name}.old``)."""
    src, dst = Path(src), Path(dst)
    old = dst.with_name(f".{dst.name}.old")
    if dst.exists():
        shutil.rmtree(old, ignore_errors=True)  # a stale copy from an earlier crash
        os.rename(dst, old)
    os.rename(src, dst)
    shutil.rmtree(old, ignore_errors=True)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, data) -> None:
    write_text(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# --- YAML ------------------------------------------------------------------------------------------------

class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one mapping: YAML forbids it, and PyYAML would silently keep the last value."""

    def __init__(self, key, first, second):
        self.key, self.first_line, self.second_line = key, first.line + 1, second.line + 1
        super().__init__(None, None, f"key {key!r} is given twice", second)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and reads ``1e-3`` as a number (YAML 1.1 reads it as a string)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicates(self, node)
        return super().construct_mapping(node, deep=deep)


def _refuse_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> None:
    """Raise :class:`DuplicateKeyError` at the second of two equal keys of ``node`` (merge keys ``<<`` aside:
    a key that overrides a merged one is YAML's way of changing it)."""
    seen = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node)
        except TypeError:  # an unhashable key: the constructor itself says so
            continue
        if first is not key_node:
            raise DuplicateKeyError(key, first.start_mark, key_node.start_mark)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def load_yaml(text: str):
    """``text`` as YAML, by the toolkit's one loader (safe; duplicate keys refused; ``1e-3`` a number). Raises
    ``yaml.YAMLError``; :func:`yaml_error` turns one into a line naming where."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)


def yaml_error(source, e: yaml.YAMLError) -> TaskNeuronsError:
    """One line for a YAML error of ``source`` (a file, an override): the line (and column) and the problem;
    a duplicated key names both its lines."""
    mark = getattr(e, "problem_mark", None)
    if isinstance(e, DuplicateKeyError):
        lines = f" (lines {e.first_line} and {e.second_line})" if e.first_line != e.second_line else ""
        return TaskNeuronsError(f"{source}, line {e.second_line}: {e.problem}{lines}; keep one")
    if mark is None:
        return TaskNeuronsError(f"{source}: not valid YAML: {str(e).strip().splitlines()[0] if str(e).strip() else e}")
    context, where = getattr(e, "context", None), getattr(e, "context_mark", None)
    started = f" ({context} on line {where.line + 1})" if context and where and where.line != mark.line else ""
    return TaskNeuronsError(f"{source}, line {mark.line + 1}, column {mark.column + 1}: not valid YAML: "
                            f"{e.problem}{started}")


def read_yaml(path):
    """The YAML file ``path`` (:func:`load_yaml`); a missing, unreadable, non-UTF-8 or malformed file is one line
    naming it (and the line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise TaskNeuronsError(f"{path}: not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise TaskNeuronsError(f"cannot read {path} ({e.strerror or e})") from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as e:
        raise yaml_error(path, e) from None
