"""Model inputs that differ by family."""
from __future__ import annotations

import inspect

import torch


def position_kwargs(model: torch.nn.Module, attention_mask: torch.Tensor) -> dict:
    """``position_ids`` that skip left padding, for the models that take them (absolute positions need it)."""
    if "position_ids" not in inspect.signature(model.forward).parameters:
        return {}
    return {"position_ids": (attention_mask.cumsum(-1) - 1).clamp(min=0)}
