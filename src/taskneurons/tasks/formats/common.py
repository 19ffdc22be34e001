"""File helpers shared by the readers: find split files, read JSON/JSONL/CSV, and fail with one clear line.

Every error names the file, the record (0-based, in file order) and what was expected. A split file that is
there but cannot be read (a broken or looping link, a folder, no permission) is an error naming it, never a
missing split. Text is UTF-8, with or without a byte order mark (as spreadsheet programs write CSV).
"""
from __future__ import annotations

import csv
import errno
import io
import json
import os
import stat
from pathlib import Path

from ...errors import TaskNeuronsError

SPLITS = ("train", "dev", "test")
SPLIT_NAMES = {"train": "train", "dev": "dev", "valid": "dev", "validation": "dev", "test": "test"}


def split_files(folder: str | Path, suffix: str) -> dict[str, Path]:
    """The ``train``/``dev``/``test`` files of a folder with this suffix (dev may be called valid or validation);
    one that is there but cannot be read is an error naming it (:func:`readable`)."""
    found: dict[str, Path] = {}
    for stem, split in SPLIT_NAMES.items():
        path = Path(folder) / f"{stem}{suffix}"
        if split not in found and os.path.lexists(path):
            found[split] = readable(path, f"the {split} split")
    return found


def readable(path: Path, what: str) -> Path:
    """``path`` when it is a regular file this process may read; else one line naming it, ``what`` it holds and
    why not, so that a file that is there is never taken for a missing one."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise _unreadable(path, what, f"a broken link (to {os.readlink(path)}); fix the link or remove it") from None
    except OSError as e:
        why = "a link that loops" if e.errno == errno.ELOOP else e.strerror or str(e)
        raise _unreadable(path, what, f"{why}; fix the link or remove it") from None
    if stat.S_ISDIR(mode):
        raise _unreadable(path, what, "a folder, not a file; rename it or remove it")
    if not stat.S_ISREG(mode):
        raise _unreadable(path, what, "not a regular file; give a file")
    if not os.access(path, os.R_OK):
        raise _unreadable(path, what, "permission denied; make it readable (chmod +r) or remove it")
    return path


def _unreadable(path: Path, what: str, why: str) -> TaskNeuronsError:
    return TaskNeuronsError(f"{path}: cannot read {what}: {why}")


def bad_record(path: Path | str, index: int, what: str) -> TaskNeuronsError:
    return TaskNeuronsError(f"{path}: record {index}: {what}")


def read_text(path: Path, encoding: str = "utf-8-sig") -> str:
    """The whole file (UTF-8 by default, a byte order mark dropped); an empty file is an error."""
    try:
        text = path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise TaskNeuronsError(f"no such file or folder: {path}") from None
    except UnicodeDecodeError as e:
        raise TaskNeuronsError(f"{path}: not {encoding.removesuffix('-sig')} text (byte {e.start})") from None
    except OSError as e:
        raise TaskNeuronsError(f"{path}: cannot read it ({e.strerror or e})") from None
    if not text.strip():
        raise TaskNeuronsError(f"{path}: the file is empty")
    return text


def read_json(path: Path):
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise TaskNeuronsError(f"{path}: not valid JSON (line {e.lineno} column {e.colno}): {e.msg}") from None


def read_jsonl(path: Path) -> list[dict]:
    records = []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise TaskNeuronsError(f"{path}: record {len(records)} (line {lineno}): not valid JSON: {e.msg}") from None
        if not isinstance(records[-1], dict):
            raise bad_record(path, len(records) - 1, f"expected a JSON object, got {type(records[-1]).__name__}")
    return records


def read_records(path: Path, fields: tuple[str, ...] = ()) -> list[dict]:
    """A JSON list of objects, each with these string fields."""
    data = read_json(path)
    if not isinstance(data, list):
        raise TaskNeuronsError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    for i, record in enumerate(data):
        require(path, i, record, fields)
    return data


def read_csv(path: Path, fields: tuple[str, ...] = (), encoding: str = "utf-8-sig") -> list[dict]:
    """CSV rows as dicts; the header must have these columns and each row a value for each."""
    rows = list(csv.DictReader(io.StringIO(read_text(path, encoding), newline="")))
    header = list(rows[0]) if rows else []
    missing = [f for f in fields if f not in header]
    if missing:
        raise TaskNeuronsError(f"{path}: expected CSV columns {list(fields)}, the header has {header}")
    for i, row in enumerate(rows):
        require(path, i, row, fields)
    return rows


def require(path: Path, index: int, record, fields: tuple[str, ...]) -> None:
    """Raise unless ``record`` is a dict whose ``fields`` are strings."""
    if not isinstance(record, dict):
        raise bad_record(path, index, f"expected an object with fields {list(fields)}, got {type(record).__name__}")
    for f in fields:
        if f not in record or record[f] is None:
            raise bad_record(path, index, f"missing field {f!r} (expected fields {list(fields)})")
        if not isinstance(record[f], str):
            raise bad_record(path, index, f"field {f!r} should be a string, got {type(record[f]).__name__}")


def check_labels(path: Path, targets: list[str], labels: tuple[str, ...], where: str = "the label set") -> None:
    """Raise at the first target outside ``labels``."""
    allowed = set(labels)
    for i, t in enumerate(targets):
        if t not in allowed:
            raise bad_record(path, i, f"label {t!r} is not in {where} {list(labels)}")


def looks_like_labels(targets: list[str]) -> bool:
    """True when the targets form a small closed set of short strings (classification, not generation)."""
    distinct = set(targets)
    return 2 <= len(distinct) <= 20 and len(distinct) < len(targets) and all(len(t.split()) <= 4 for t in distinct)


def peek_json_record(path: Path) -> dict | None:
    """The first record of a JSON list file, or None when it is not one (for format detection)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None
    return data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
