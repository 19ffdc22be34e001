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
    local = isinstance(source, Path)
    if not local:
        path, config, data_files, local = load_arguments(source, data_files)
    datasets = import_datasets()
    try:
        if isinstance(source, Path):
            ds = datasets.load_from_disk(str(source))
        else:  # from the local cache only when the hub does not answer: one line in seconds, not a retry loop
            with hub.offline() if local or not hub.reachable() else nullcontext():
                ds = datasets.load_dataset(path, config, data_files=data_files, revision=revision)
    except Exception as e:  # network, missing dataset, bad files: datasets raises many types
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if not local and not hub.reachable():
            message = "not in the local datasets cache, and the Hugging Face hub cannot be reached from here"
        raise TaskNeuronsError(f"{source}: could not load the dataset ({type(e).__name__}: {message})") from None
    return from_dataset(ds, name, str(source), template=template, prompt_fields=prompt_fields,
                        target_field=target_field, kind=kind, labels=labels)


# datasets' builders for local files, by suffix: ``hf:/data/x.parquet`` is read by the parquet builder
BUILDERS = {".parquet": "parquet", ".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".txt": "text",
            ".arrow": "arrow"}


def task_name(spec: str) -> str:
    """The name a ``hf:`` spec's task gets: the file's stem for a local file (``hf:parquet:/data/x.parquet``:
    x), else the dataset and config (``hf:glue:sst2``: glue_sst2)."""
    last = spec.removeprefix("hf:").rpartition(":")[2] if "/" in spec or "." in spec else ""
    if Path(last).suffix.lower() in BUILDERS:
        return Path(last).stem
    return spec[3:].split("/")[-1].replace(":", "_")


def load_arguments(spec: str, data_files=None) -> tuple[str, str | None, object, bool]:
    """(path, config, data_files, local) for ``datasets.load_dataset`` from ``hf:<name>[:<config>]``. A local
    file (``hf:/data/x.parquet``) is read by its suffix's builder; a builder (``hf:parquet:/data/x.parquet``, or
    ``hf:json`` with the option data_files) reads the files it is given and nothing else: without them datasets
    would read every file under the working directory. ``local``: no hub needed."""
    rest = spec.removeprefix("hf:")
    file = Path(rest).expanduser()
    if file.is_file():
        if file.suffix.lower() not in BUILDERS:
            raise TaskNeuronsError(f"{spec}: datasets reads local files of types {sorted(BUILDERS)}, not "
                                   f"{file.suffix!r}; give the file's path without hf: for the generic reader")
        return BUILDERS[file.suffix.lower()], None, str(file), True
    if rest.startswith(("/", ".", "~")):
        raise TaskNeuronsError(f"{spec}: no such file")
    name, _, config = rest.partition(":")
    if name not in set(BUILDERS.values()):
        return name, config or None, data_files, False
    files = data_files or config
    if not files:
        raise TaskNeuronsError(f"{spec}: the {name} builder reads the files it is given: write hf:{name}:/path/to/file "
                               f"or give the option data_files (it would otherwise read every file under the "
                               f"working directory)")
    return name, None, files, True


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
