"""A NeuronSet from what another tool wrote: boolean masks or index lists, checked against the model.

Accepted files:

- ``.safetensors`` or ``.pt``: tensors named ``inner`` and/or ``outer`` (bool or 0/1, ``[layers, width]``), or a
  single unnamed ``[layers, width]`` mask (a ``.pt`` of one tensor, or the only tensor of the file), read as
  inner neurons, as neuron-finding repositories usually ship them;
- ``.json``: ``{"inner": [[indices of layer 0], [layer 1], ...], "outer": [...]}``.

A kind that is not given selects nothing.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import TaskNeuronsError
from ..models.ffn import FFN, KINDS
from .neuron_set import NeuronSet


def import_neurons(path: Path, ffn: FFN, provenance: dict | None = None) -> NeuronSet:
    """The neuron set in ``path`` (see the module doc), validated against ``ffn``'s layers and widths."""
    path = Path(path)
    if not path.is_file():
        raise TaskNeuronsError(f"no such file: {path}")
    given = _read(path)
    unknown = sorted(set(given) - set(KINDS))
    if unknown:
        raise TaskNeuronsError(f"{path}: unknown neuron kind(s) {unknown}; expected {list(KINDS)}")
    masks = {}
    for kind in KINDS:
        shape = (ffn.n_layers, ffn.widths[kind])
        value = given.get(kind)
        if value is None:
            masks[kind] = torch.zeros(shape, dtype=torch.bool)
        elif isinstance(value, torch.Tensor):
            masks[kind] = _mask(value, shape, f"{path}: {kind}")
        else:
            masks[kind] = _from_indices(value, shape, f"{path}: {kind}")
    return NeuronSet(masks, {"imported_from": str(path), "ffn_family": ffn.map.family, **(provenance or {})})


def _read(path: Path) -> dict:
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise TaskNeuronsError(f"{path}: expected {{kind: [indices per layer]}}, got {type(data).__name__}")
            return data
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path))
        elif path.suffix in (".pt", ".pth"):
            data = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise TaskNeuronsError(f"{path}: expected a .safetensors, .pt or .json file")
    except (OSError, ValueError, RuntimeError) as e:
        raise TaskNeuronsError(f"{path}: cannot be read ({str(e).splitlines()[0]})") from None
    if isinstance(data, torch.Tensor):
        return {"inner": data}
    if isinstance(data, dict) and len(data) == 1 and next(iter(data)) not in KINDS:
        return {"inner": next(iter(data.values()))}
    if not isinstance(data, dict):
        raise TaskNeuronsError(f"{path}: expected tensors named inner/outer, got {type(data).__name__}")
    return data


def _mask(value: torch.Tensor, shape: tuple[int, int], what: str) -> torch.Tensor:
    if tuple(value.shape) != shape:
        raise TaskNeuronsError(f"{what}: mask of shape {list(value.shape)}, the model has {list(shape)} "
                               f"(layers, neurons)")
    if value.dtype != torch.bool:
        if not bool(((value == 0) | (value == 1)).all()):
            raise TaskNeuronsError(f"{what}: a mask holds only 0/1 or True/False, found other values")
        value = value != 0
    return value.cpu()


def _from_indices(value, shape: tuple[int, int], what: str) -> torch.Tensor:
    if not isinstance(value, list) or len(value) != shape[0] or not all(isinstance(v, list) for v in value):
        raise TaskNeuronsError(f"{what}: expected {shape[0]} index lists (one per layer)")
    mask = torch.zeros(shape, dtype=torch.bool)
    for layer, indices in enumerate(value):
        bad = [i for i in indices if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < shape[1]]
        if bad:
            raise TaskNeuronsError(f"{what}: layer {layer} has indices {bad[:3]} outside 0..{shape[1] - 1}")
        mask[layer, indices] = True
    return mask
