"""model_fingerprint: a short hash that tells apart the weights a neuron set or score table came from."""
from __future__ import annotations

import hashlib

import torch

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
            h.update(f"{name}:{tuple(p.shape)}:{p.dtype};".encode())
            if p.device.type == "meta" or p.numel() == 0:
                continue
            flat = p.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // SAMPLES)][:SAMPLES]
            h.update(sample.to(device="cpu", dtype=torch.float32).numpy().tobytes())
    return h.hexdigest()[:16]
