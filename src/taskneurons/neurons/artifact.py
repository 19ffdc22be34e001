"""File pairs ``X.safetensors`` (tensors) + ``X.json`` (what they are, where they came from), written atomically.

Scores, neuron sets and tuner deltas share this convention, and the shape checks against a model's FFN. Both
files carry the same random pair id, so a pair torn by a crash between its two writes, or two halves of
different runs, is refused on reading instead of read as one artifact.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..errors import TaskNeuronsError
from ..io import atomic_path, write_json
from ..models.ffn import KINDS, FFN


def paths(path) -> tuple[Path, Path]:
    """``X``, ``X.safetensors`` or ``X.json`` -> (``X.safetensors``, ``X.json``)."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def save(path, tensors: dict[str, torch.Tensor], header: dict) -> Path:
    """Write the tensors, then the JSON header (with the tensors' shapes); each file atomically, both with one
    new pair id."""
    st, js = paths(path)
    pair = uuid.uuid4().hex
    with atomic_path(st) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata={"pair": pair})
    write_json(js, {**header, "pair": pair, "shapes": {k: list(v.shape) for k, v in tensors.items()}})
    return st


def load_tensors(st: Path, header: dict) -> dict[str, torch.Tensor]:
    """The tensors of ``st``, checked to be the other half of ``header`` (the same pair id, where recorded)."""
    try:
        with safe_open(str(st), "pt") as f:
            pair = (f.metadata() or {}).get("pair")
        tensors = load_file(st)
    except (SafetensorError, OSError, ValueError) as e:
        raise TaskNeuronsError(f"{st}: not a readable safetensors file ({e}); {remedy(st)}") from None
    if "pair" in header and pair != header["pair"]:
        raise TaskNeuronsError(f"{st} and its .json were not written together (a write interrupted between them, "
                               f"or files of two runs); {remedy(st)}")
    return tensors


def read_header(js: Path, fmt: str, what: str) -> dict:
    """The JSON half of a pair, checked to be of format ``fmt``; any problem is one clear line."""
    if not js.is_file():
        raise TaskNeuronsError(f"no {what} at {js}: file not found")
    try:
        header = json.loads(js.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TaskNeuronsError(f"{js}: not valid JSON ({e}); {remedy(js)}") from None
    if not isinstance(header, dict) or header.get("format") != fmt:
        got = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise TaskNeuronsError(f"{js}: field 'format' is {got!r}, expected {fmt!r} (is this a {what} file?)")
    return header


def load(path, fmt: str, what: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a pair written by :func:`save` whose header has ``format == fmt``; any problem is one clear line."""
    st, js = paths(path)
    if not st.is_file():
        half = f"; {js.name} is there without it (half an artifact): {remedy(st)}" if js.is_file() else ""
        raise TaskNeuronsError(f"no {what} at {st}: file not found{half}")
    header = read_header(js, fmt, what)
    tensors = load_tensors(st, header)
    shapes = header.get("shapes", {})
    if sorted(tensors) != sorted(KINDS):
        raise TaskNeuronsError(f"{st}: holds tensors {sorted(tensors)}, expected {sorted(KINDS)}")
    for kind, t in tensors.items():
        if list(t.shape) != shapes.get(kind):
            raise TaskNeuronsError(
                f"{st}: tensor {kind!r} has shape {list(t.shape)} but {js.name} says {shapes.get(kind)}; {remedy(st)}"
            )
    return tensors, header


def remedy(path) -> str:
    """What to do about a damaged or torn pair: delete both files (a run folder computes them again on its
    next run; a file of your own is written again by the command that made it)."""
    st, js = paths(path)
    return f"delete {st.name} and {js.name} together, then rerun (a run folder computes them again)"


def check_layout(tensors: dict[str, torch.Tensor], what: str) -> None:
    """One 2-D tensor [n_layers, width] per kind, all with the same number of layers."""
    if sorted(tensors) != sorted(KINDS):
        raise TaskNeuronsError(f"{what} must have one tensor per kind {list(KINDS)}, got {sorted(tensors)}")
    if any(t.dim() != 2 for t in tensors.values()) or len({t.shape[0] for t in tensors.values()}) != 1:
        shapes = {k: list(t.shape) for k, t in tensors.items()}
        raise TaskNeuronsError(f"{what} must be [n_layers, width] with the same n_layers per kind, got {shapes}")


def describe(tensors: dict[str, torch.Tensor]) -> str:
    """'2 layers x (48 inner, 32 outer)'."""
    n_layers = tensors[KINDS[0]].shape[0]
    return f"{n_layers} layers x ({', '.join(f'{tensors[k].shape[1]} {k}' for k in KINDS)})"


def check_fits(tensors: dict[str, torch.Tensor], ffn: FFN, what: str, verb: str = "has") -> None:
    """Raise unless the tensors have the model's layer count and widths."""
    fits = all(tuple(tensors[k].shape) == (ffn.n_layers, ffn.widths[k]) for k in KINDS)
    if not fits:
        model = f"{ffn.n_layers} layers x ({', '.join(f'{ffn.widths[k]} {k}' for k in KINDS)})"
        raise TaskNeuronsError(f"{what} {verb} {describe(tensors)} but the model has {model}")
