"""Any table of records: a .jsonl / .json / .csv / .parquet file, or a folder of train/dev/test files.

A field mapping turns records into examples: ``template`` (a ``str.format`` string over the fields) or
``prompt_fields`` (rendered as ``### Field:\\n<value>`` blocks), ``target_field``, ``kind`` and ``labels``.
Unset fields are guessed from common names (text/input/sentence..., label/output/target...), the kind from the
targets (a small closed set of short strings is classification). Splits come from separate files, from a split
column (``split_field``, default ``split`` when present), or the whole file is one split (``split``, default test).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from ...errors import TaskNeuronsError
from ..base import Example, Task, normalize_label
from .common import SPLIT_NAMES, bad_record, check_labels, looks_like_labels, read_csv, read_jsonl, read_records, split_files

EXPECTS = "train / dev / test as .jsonl, .json, .csv or .parquet (map fields with template or prompt_fields, target_field)"
SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
PROMPT_GUESSES = ("prompt", "input", "text", "sentence", "question", "document", "content")
TARGET_GUESSES = ("target", "output", "label", "answer", "summary", "completion")


def detect(folder: Path) -> bool:
    return any(split_files(folder, suffix) for suffix in SUFFIXES)


def read_file(path: Path) -> list[dict]:
    """The records of one file, by its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".json":
        return read_records(path)
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise TaskNeuronsError(f"{path}: reading .parquet needs pyarrow (pip install pyarrow)") from None
        try:
            return pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises several types for a broken file
            raise TaskNeuronsError(f"{path}: not a readable parquet file ({e})") from None
    raise TaskNeuronsError(f"{path}: unsupported file type {suffix!r}; expected one of {list(SUFFIXES)}")


def read(path: Path, name: str, template: str | None = None, prompt_fields=None, target_field: str | None = None,
         kind: str | None = None, labels=None, split: str = "test", split_field: str | None = None) -> Task:
    """Read a file or a folder of split files, then apply the field mapping."""
    mapping = dict(template=template, prompt_fields=prompt_fields, target_field=target_field, kind=kind, labels=labels)
    if path.is_dir():
        suffix = next((s for s in SUFFIXES if split_files(path, s)), None)
        if suffix is None:
            raise TaskNeuronsError(f"{path}: no train/dev/test files; expected {EXPECTS}")
        files = split_files(path, suffix)
        return build_task({s: read_file(p) for s, p in files.items()}, files, name, str(path), **mapping)
    records = read_file(path)
    field = split_field or ("split" if records and isinstance(records[0], dict) and "split" in records[0] else None)
    if not field:
        return build_task({split: records}, {split: path}, name, str(path), **mapping)
    by_split: dict[str, list[dict]] = {}
    for i, r in enumerate(records):
        if not isinstance(r, dict) or r.get(field) is None:
            raise bad_record(path, i, f"missing the split field {field!r}")
        by_split.setdefault(SPLIT_NAMES.get(str(r[field]), str(r[field])), []).append(r)
    return build_task(by_split, {s: f"{path} ({s} split)" for s in by_split}, name, str(path), **mapping)


def as_list(value) -> list[str]:
    """A list option given as a list or as a comma-separated string (from the command line)."""
    if value is None:
        return []
    return [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v) for v in value]


def guess(fields, candidates, skip=None) -> str | None:
    return next((c for c in candidates if c in fields and c != skip), None)


def build_task(
    records: dict[str, list[dict]],
    files: dict[str, Path | str],
    name: str,
    source: str,
    template: str | None = None,
    prompt_fields=None,
    target_field: str | None = None,
    kind: str | None = None,
    labels=None,
) -> Task:
    """Records per split -> Task, with the field mapping (guessing what is not given)."""
    first = next((rs[0] for rs in records.values() if rs), None)
    if not isinstance(first, dict):
        got = "no records" if first is None else f"a {type(first).__name__}"
        raise TaskNeuronsError(f"{source}: expected records with named fields, got {got}")
    target_field = target_field or guess(first, TARGET_GUESSES)
    if not target_field:
        raise TaskNeuronsError(f"{source}: give target_field; the records have fields {list(first)}")
    if not template:
        fields = as_list(prompt_fields) or [guess(first, PROMPT_GUESSES, skip=target_field)]
        if fields == [None]:
            raise TaskNeuronsError(f"{source}: give prompt_fields or template; the records have fields {list(first)}")
        template = "".join(f"### {f.replace('_', ' ').capitalize()}:\n{{{f}}}\n" for f in fields)
        template += f"### {target_field.replace('_', ' ').capitalize()}:"
    splits: dict[str, list[Example]] = {}
    for split, rs in records.items():
        examples = []
        for i, r in enumerate(rs):
            if not isinstance(r, dict) or r.get(target_field) is None:
                raise bad_record(files[split], i, f"missing the target field {target_field!r}")
            try:
                prompt = template.format(**{k: "" if v is None else v for k, v in r.items()})
            except KeyError as e:
                raise bad_record(files[split], i, f"missing field {e} used by the template {template!r}") from None
            except (IndexError, ValueError) as e:
                raise TaskNeuronsError(f"template {template!r} is not a valid format string over named fields ({e})") from None
            examples.append(Example(prompt, str(r[target_field])))
        splits[split] = examples
    targets = [ex.target for exs in splits.values() for ex in exs]
    label_set = tuple(as_list(labels))
    guessed = looks_like_labels([normalize_label(t) for t in targets])
    kind = kind or ("classification" if label_set or guessed else "generation")
    if kind == "classification":
        spelling = label_spellings(targets, label_set)
        splits = {s: [Example(ex.prompt, spelling[ex.target]) for ex in exs] for s, exs in splits.items()}
        label_set = label_set or tuple(sorted(set(spelling.values())))
        for split, exs in splits.items():
            check_labels(files[split], [ex.target for ex in exs], label_set)
    else:
        label_set = ()
    return Task(name, kind, splits, label_set, template, source, files=files)


def label_spellings(targets: list[str], given: tuple[str, ...] = ()) -> dict[str, str]:
    """Each target -> its label: the given label that exact match takes it for (``normalize_label``), else the
    most frequent stripped spelling of the targets it takes for the same; so ``pos`` and ``pos `` are one label,
    as exact match counts them, never two."""
    chosen = {normalize_label(label): label for label in given}
    for spelling, _ in sorted(Counter(t.strip() for t in targets).items(), key=lambda item: (-item[1], item[0])):
        chosen.setdefault(normalize_label(spelling), spelling)
    return {t: chosen[normalize_label(t)] for t in set(targets)}
