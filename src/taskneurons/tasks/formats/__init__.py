"""Task-data formats, registered here and only here: name -> reader module.

Each reader module has ``EXPECTS`` (the files it reads, for error messages), ``detect(folder) -> bool`` and
``read(path, name, **options) -> Task``. A folder gets the first format, in this order, whose ``detect`` says yes;
``generic`` comes last because it accepts any train/dev/test table.
"""
from __future__ import annotations

from pathlib import Path

from ...errors import TaskNeuronsError
from ...registry import Registry
from . import commongen, e2e, generic, hf, lfpt5, olora, tweetqa, yang

FORMATS = Registry("task format")
for _name, _reader in [("olora", olora), ("yang", yang), ("tweetqa", tweetqa), ("lfpt5", lfpt5), ("e2e", e2e),
                       ("commongen", commongen), ("hf", hf), ("generic", generic)]:
    FORMATS.register(_reader, _name)


def detect_format(folder: Path) -> str:
    """The name of the first format that recognises ``folder``, or an error listing what each expects."""
    for name, reader in FORMATS.items():
        if reader.detect(folder):
            return name
    expected = "; ".join(f"{name}: {reader.EXPECTS}" for name, reader in FORMATS.items())
    raise TaskNeuronsError(f"{folder}: no task format recognises this folder. Formats and the files they expect: {expected}")


def get_reader(name: str):
    """The reader module of format ``name``; a wrong name gets an error listing the formats."""
    return FORMATS.get(name)
