"""FFN maps: where each architecture family keeps its FFN blocks, and which weights belong to each neuron.

Two kinds of neuron per layer (DESIGN.md):

- ``inner`` j: intermediate unit j. Its output is the j-th input of the down projection; its weights are
  output feature j of every up projection (gate and up for gated FFNs), weight row and bias entry.
- ``outer`` m: output channel m of the FFN. Its output is the down projection's m-th output; its weights are
  output feature m of the down projection, weight row and bias entry.

Zeroing a neuron's weight slices gives the same output as zeroing its activation, because every activation
function used here maps 0 to 0 (silu, gelu, relu) and gated units multiply by the zeroed up feature.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import TaskNeuronsError

KINDS = ("inner", "outer")


@dataclass(frozen=True)
class FFNMap:
    """One architecture family: module paths relative to the causal-LM root and to each block."""

    family: str
    model_types: tuple[str, ...]
    layers: str  # dotted path to the ModuleList of transformer blocks
    up: tuple[str, ...]  # modules (relative to a block) whose output features are the inner neurons
    down: str  # module whose input is the inner activation and whose output is the FFN output
    fused: int = 1  # up modules that stack several projections along their output (Phi-3 gate_up_proj: 2)
    transposed: bool = False  # GPT-2 Conv1D keeps weights as [in, out]


FFN_MAPS: dict[str, FFNMap] = {}


def register(ffn_map: FFNMap) -> FFNMap:
    FFN_MAPS[ffn_map.family] = ffn_map
    return ffn_map


_GATED = ("mlp.gate_proj", "mlp.up_proj")
register(FFNMap("llama", ("llama", "mistral", "qwen2", "qwen3", "smollm3", "olmo", "olmo2"), "model.layers", _GATED, "mlp.down_proj"))
register(FFNMap("gemma", ("gemma", "gemma2", "gemma3_text"), "model.layers", _GATED, "mlp.down_proj"))
register(FFNMap("phi3", ("phi3",), "model.layers", ("mlp.gate_up_proj",), "mlp.down_proj", fused=2))
register(FFNMap("gpt2", ("gpt2",), "transformer.h", ("mlp.c_fc",), "mlp.c_proj", transposed=True))
register(FFNMap("gpt_neox", ("gpt_neox",), "gpt_neox.layers", ("mlp.dense_h_to_4h",), "mlp.dense_4h_to_h"))
register(FFNMap("gptj", ("gptj",), "transformer.h", ("mlp.fc_in",), "mlp.fc_out"))
register(FFNMap("opt", ("opt",), "model.decoder.layers", ("fc1",), "fc2"))
register(FFNMap("bloom", ("bloom",), "transformer.h", ("mlp.dense_h_to_4h",), "mlp.dense_4h_to_h"))
register(FFNMap("falcon", ("falcon",), "transformer.h", ("mlp.dense_h_to_4h",), "mlp.dense_4h_to_h"))


def families() -> dict[str, tuple[str, ...]]:
    """Family name -> the ``config.model_type`` values it covers."""
    return {name: m.model_types for name, m in FFN_MAPS.items()}


def ffn_map_for(model_type: str) -> FFNMap:
    for m in FFN_MAPS.values():
        if model_type in m.model_types:
            return m
    known = sorted(t for m in FFN_MAPS.values() for t in m.model_types)
    close = difflib.get_close_matches(model_type, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise TaskNeuronsError(
        f"unsupported model family {model_type!r}{hint}; supported model types: {', '.join(known)}"
    )


@dataclass(frozen=True)
class ParamSlice:
    """Neuron n of a kind owns ``param.narrow(dim, offset + n, 1)``."""

    param: nn.Parameter
    dim: int
    offset: int

    def index(self, neurons: torch.Tensor) -> tuple:
        """An index that selects the given neurons' entries of ``param``."""
        idx = [slice(None)] * self.param.dim()
        idx[self.dim] = neurons.to(self.param.device) + self.offset
        return tuple(idx)


def _get(root: nn.Module, dotted: str) -> nn.Module:
    for part in dotted.split("."):
        root = getattr(root, part)
    return root


class FFN:
    """A model's FFN blocks addressed through its family's map: layers, widths, modules, weight slices."""

    def __init__(self, model: nn.Module, ffn_map: FFNMap | None = None):
        self.map = ffn_map or ffn_map_for(model.config.model_type)
        try:
            self.blocks = list(_get(model, self.map.layers))
            self.downs = [_get(b, self.map.down) for b in self.blocks]
            self.ups = [[_get(b, name) for name in self.map.up] for b in self.blocks]
        except AttributeError as e:
            raise TaskNeuronsError(
                f"model of type {model.config.model_type!r} does not have the layout of FFN map {self.map.family!r} ({e})"
            ) from None
        d_out, d_in = self._shape(self.downs[0])
        self.widths = {"inner": d_in, "outer": d_out}

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    def _shape(self, module: nn.Module) -> tuple[int, int]:
        """(out_features, in_features) of a Linear or a transposed Conv1D."""
        w = module.weight
        return (w.shape[1], w.shape[0]) if self.map.transposed else (w.shape[0], w.shape[1])

    def slices(self, layer: int, kind: str) -> list[ParamSlice]:
        """Every parameter slice that belongs to the neurons of one (layer, kind)."""
        out_dim = 1 if self.map.transposed else 0
        if kind == "inner":
            modules = self.ups[layer]
            blocks = range(self.map.fused)
        elif kind == "outer":
            modules = [self.downs[layer]]
            blocks = range(1)
        else:
            raise TaskNeuronsError(f"neuron kind {kind!r} is not one of {KINDS}")
        width = self.widths[kind]
        out = []
        for module in modules:
            for b in blocks:
                out.append(ParamSlice(module.weight, out_dim, b * width))
                if getattr(module, "bias", None) is not None:
                    out.append(ParamSlice(module.bias, 0, b * width))
        return out

    def total_neurons(self) -> int:
        return self.n_layers * sum(self.widths.values())

    def describe(self) -> str:
        return (f"{self.map.family}: {self.n_layers} layers x ({self.widths['inner']} inner + "
                f"{self.widths['outer']} outer) = {self.total_neurons():,} neurons")
