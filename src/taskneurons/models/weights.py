"""A model's whole weights on disk (safetensors; tied tensors such as shared embeddings stored once)."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model

from .. import processes
from ..errors import TaskNeuronsError
from ..io import atomic_path
from . import sharding


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Every parameter and persistent buffer of ``model``, written atomically (temporary file, then rename).
    Sharded weights are gathered onto the main process first (the one that writes)."""
    if processes.sharded():
        state = sharding.full_state_dict(model)
        with atomic_path(path) as tmp:
            save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
        return
    with atomic_path(path) as tmp:
        save_model(model, str(tmp))


def load_weights(model: torch.nn.Module, path: Path) -> None:
    try:
        if processes.sharded():
            sharding.load_full_state_dict(model, lambda: load_file(str(path)))
        else:
            load_model(model, str(path), strict=True)
    except (SafetensorError, OSError, RuntimeError, KeyError) as e:
        raise TaskNeuronsError(f"{path}: cannot load these weights into the model ({str(e).splitlines()[0]})") from None
