"""Method state on disk: full model weights (tied weights handled), tensor dicts, and a digest of the weights.

Stage folders are written whole: the runner lets a method write into ``stageN.tmp`` and renames it to
``stageN`` once complete, so a killed run never leaves a half-written stage behind.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ...errors import TaskNeuronsError
from ...models import sharding


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """``tensors`` whole (a sharded one gathered) in one safetensors file."""
    save_file({k: sharding.full(v).cpu().contiguous() for k, v in tensors.items()}, str(path))


def load_tensors(path: Path, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as e:
        raise TaskNeuronsError(f"{path}: not a readable safetensors file ({e})") from None


def weights_digest(model: torch.nn.Module) -> str:
    """16 hex digits of sha256 over every parameter's name and exact bytes (bit-identical weights, same digest)."""
    h = hashlib.sha256()
    with torch.no_grad():
        for name, p in model.named_parameters():
            h.update(f"{name}:{tuple(sharding.shape(p))}:{p.dtype};".encode())
            h.update(sharding.full(p).cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
