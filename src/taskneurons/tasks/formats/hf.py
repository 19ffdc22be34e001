"""Hugging Face ``datasets``: ``hf:<name>[:<config>]`` through ``datasets.load_dataset``, or a folder written by
``save_to_disk``; then the same field mapping as the generic reader.

``datasets`` is imported only here, when needed. Split names train/validation/test become train/dev/test;
ClassLabel columns become their label names (and give the label set); splits without labels (-1) are dropped.
"""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

from ... import hub
from ...errors import TaskNeuronsError
from ..base import Task
from .common import SPLIT_NAMES
from .generic import TARGET_GUESSES, build_task, guess

EXPECTS = "a folder written by datasets' save_to_disk (dataset_dict.json or state.json), or the spec hf:<name>[:<config>]"


def detect(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def import_datasets():
    try:
        import datasets
    except ImportError:
        raise TaskNeuronsError("reading Hugging Face datasets needs the datasets package (pip install datasets)") from None
    return datasets


def read(source: Path | str, name: str, template: str | None = None, prompt_fields=None, target_field: str | None = None,
         kind: str | None = None, labels=None, data_files=None, revision: str | None = None) -> Task:
    """``source`` is a save_to_disk folder or a spec ``hf:<name>[:<config>]``."""
    datasets = import_datasets()
    try:
        if isinstance(source, Path):
            ds = datasets.load_from_disk(str(source))
        else:  # from the local cache only when the hub does not answer: one line in seconds, not a retry loop
            path, _, config = source.removeprefix("hf:").partition(":")
            with nullcontext() if hub.reachable() else hub.offline():
                ds = datasets.load_dataset(path, config or None, data_files=data_files, revision=revision)
    except Exception as e:  # network, missing dataset, bad files: datasets raises many types
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if not isinstance(source, Path) and not hub.reachable():
            message = "not in the local datasets cache, and the Hugging Face hub cannot be reached from here"
        raise TaskNeuronsError(f"{source}: could not load the dataset ({type(e).__name__}: {message})") from None
    return from_dataset(ds, name, str(source), template=template, prompt_fields=prompt_fields,
                        target_field=target_field, kind=kind, labels=labels)


def from_dataset(ds, name: str, source: str, target_field: str | None = None, labels=None, **mapping) -> Task:
    """A ``datasets.Dataset`` (one split, called test) or ``DatasetDict`` -> Task."""
    parts = dict(ds) if hasattr(ds, "keys") else {"test": ds}
    features = next(iter(parts.values())).features
    class_names = {c: f.names for c, f in features.items() if type(f).__name__ == "ClassLabel"}
    target_field = target_field or guess(features, TARGET_GUESSES)
    if labels is None and target_field in class_names:
        labels = class_names[target_field]
    records, files = {}, {}
    for split_name, part in parts.items():
        rows = part.to_list()
        for r in rows:
            for c, names in class_names.items():
                r[c] = names[r[c]] if r[c] is not None and r[c] >= 0 else None
        if target_field in class_names and all(r[target_field] is None for r in rows):
            continue  # an unlabelled split (e.g. GLUE test)
        split = SPLIT_NAMES.get(split_name, split_name)
        records[split], files[split] = rows, f"{source} ({split_name} split)"
    return build_task(records, files, name, source, target_field=target_field, labels=labels, **mapping)
