"""check_model_spec: is a model spec loadable, decided in milliseconds, before any run folder exists."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import TaskNeuronsError
from ..registry import suggest
from .loading import PACKAGED_GGUF, model_names

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_model_spec(spec: str, device: str = "cpu") -> None:
    """Raise a one-line error unless ``spec`` is a built-in name, an existing folder or .gguf file, or has the
    shape of a hub id (``owner/name``); and unless ``device`` is present on this machine."""
    if device.startswith(("cuda", "auto")) and not torch.cuda.is_available():
        raise TaskNeuronsError(f"option device={device!r}: CUDA is not available on this machine; use cpu")
    if spec in model_names() or spec in PACKAGED_GGUF:
        return
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise TaskNeuronsError(f"option model={spec!r}: no such GGUF file")
        return
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TaskNeuronsError(f"option model={spec!r}: the folder has no config.json (expected a saved "
                                   f"Hugging Face model)")
        return
    if HUB_ID.match(spec) and not spec.startswith((".", "/", "~")):
        return
    raise TaskNeuronsError(f"option model={spec!r} is not a built-in model{suggest(spec, model_names())}, an existing "
                           f"folder, a .gguf file or a hub id (owner/name); built-in: {', '.join(model_names())}")
