"""Which model an artifact was made on: its weight fingerprint, and the check made when a neuron set or tuner
deltas are applied to a model (another model type is refused unless asked for; other weights are a warning)."""
from __future__ import annotations

import hashlib
import warnings

import torch

from ..errors import TaskNeuronsError, TaskNeuronsWarning
from ..models import sharding
from ..models.loading import LoadedModel

SAMPLES = 1 << 14  # values read per parameter: a 7B model hashes in well under a second


def model_fingerprint(model) -> str:
    """16 hex digits of sha256 over every parameter's name, shape, dtype and an evenly strided sample of
    its values (fast for large models; catches any fine-tune that changes more than a few scattered rows).

    ``model``: an ``nn.Module`` or a ``LoadedModel``.
    """
    if isinstance(model, LoadedModel):
        model = model.model
    h = hashlib.sha256()
    with torch.no_grad():
        for name, p in model.named_parameters():
            h.update(f"{name}:{tuple(sharding.shape(p))}:{p.dtype};".encode())
            if p.device.type == "meta" or sharding.numel(p) == 0:
                continue
            flat = sharding.full(p).reshape(-1)
            sample = flat[:: max(1, flat.numel() // SAMPLES)][:SAMPLES]
            h.update(sample.to(device="cpu", dtype=torch.float32).numpy().tobytes())
    return h.hexdigest()[:16]


def model_identity(model, ffn, name: str | None) -> dict:
    """What an artifact records of the model it was made on (``model``: the module, ``ffn``: its FFN map)."""
    return {"model": name, "model_type": model.config.model_type, "ffn_family": ffn.map.family,
            "weight_hash": model_fingerprint(model)}


def check_made_on(made_on: dict, have: dict, what: str, other_model: bool = False) -> None:
    """Before applying ``what``, made on the model that ``made_on`` describes, to the model ``have`` describes
    (both :func:`model_identity`): a model of another type or FFN family is an error, unless ``other_model`` asks
    for it (then a warning); other weights of the same type (a fine-tuned copy, another checkpoint) are a warning.
    Keys missing from ``made_on`` are not checked."""
    differs = [key for key in ("model_type", "ffn_family") if made_on.get(key) not in (None, have[key])]
    made = f"{made_on.get('model', 'an unknown model')} ({', '.join(f'{k} {made_on[k]}' for k in differs) or made_on.get('weight_hash')})"
    here = f"{have['model']} ({', '.join(f'{k} {have[k]}' for k in differs) or have['weight_hash']})"
    if differs and not other_model:
        raise TaskNeuronsError(f"{what} was made on {made}, not on a model like {here}; apply it to the model it was "
                               f"made on, or pass other_model (--other-model) to apply it on purpose")
    if differs or made_on.get("weight_hash") not in (None, have["weight_hash"]):
        warnings.warn(f"{what} was made on {made}, applied to other weights, {here}", TaskNeuronsWarning, stacklevel=2)
