"""A model's whole weights on disk (safetensors; tied tensors such as shared embeddings stored once)."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from ..errors import TaskNeuronsError
from ..io import atomic_path


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Every parameter and persistent buffer of ``model``, written atomically (temporary file, then rename)."""
    with atomic_path(path) as tmp:
        save_model(model, str(tmp))


def load_weights(model: torch.nn.Module, path: Path) -> None:
    try:
        load_model(model, str(path), strict=True)
    except (SafetensorError, OSError, RuntimeError) as e:
        raise TaskNeuronsError(f"{path}: cannot load these weights into the model ({str(e).splitlines()[0]})") from None
