"""FFN maps: where each architecture family keeps its FFN blocks, and which weights belong to each neuron.

Two kinds of neuron per layer (DESIGN.md):

- ``inner`` j: intermediate unit j. Its output is the j-th input of the down projection; its weights are
  output feature j of every up projection (gate and up for gated FFNs), weight row and bias entry.
- ``outer`` m: output channel m of the FFN. Its output is the m-th output of the family's *outer module*:
  the down projection, or, where the block normalises the FFN output before the residual add (Gemma-2 and
  Gemma-3: ``post_feedforward_layernorm``), that norm. Its weights are output feature m of the down projection
  (weight row and bias entry), plus the norm's gain entry m where there is such a norm.

Switching a neuron's weight slices off (each :class:`ParamSlice` says to what value) gives the same output as
zeroing its activation: every activation function used here maps 0 to 0 (silu, gelu, relu), gated units
multiply by the zeroed up feature, and a norm's output channel is 0 where its gain is (Gemma's RMSNorm
multiplies by ``1 + weight``, so the gain entry goes to -1). Behind a norm the down projection's row is *not*
zeroed: that would change the norm's RMS and so rescale every other channel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import TaskNeuronsError
from ..registry import Registry, suggest
from . import sharding

KINDS = ("inner", "outer")


@dataclass(frozen=True)
class FFNMap:
    """One architecture family: module paths relative to the causal-LM root and to each block."""

    family: str
    model_types: tuple[str, ...]
    layers: str  # dotted path to the ModuleList of transformer blocks
    up: tuple[str, ...]  # modules (relative to a block) whose output features are the inner neurons
    down: str  # module whose input is the inner activation
    fused: int = 1  # up modules that stack several projections along their output (Phi-3 gate_up_proj: 2)
    transposed: bool = False  # GPT-2 Conv1D keeps weights as [in, out]
    outer: str | None = None  # module whose output is the outer activation: None is ``down``; else an elementwise
    # norm right after it (Gemma-2/3 post_feedforward_layernorm), whose gain entry m is part of outer neuron m
    outer_off: float = 0.0  # the outer norm's gain value that makes its output channel 0 (Gemma's 1 + w: -1)


FFN_MAPS: Registry[FFNMap] = Registry("FFN map")  # keyed by family

_GATED = ("mlp.gate_proj", "mlp.up_proj")
for _map in (
    FFNMap("llama", ("llama", "mistral", "qwen2", "qwen3", "smollm3", "olmo", "olmo2"), "model.layers", _GATED, "mlp.down_proj"),
    FFNMap("gemma", ("gemma",), "model.layers", _GATED, "mlp.down_proj"),
    FFNMap("gemma2", ("gemma2", "gemma3_text"), "model.layers", _GATED, "mlp.down_proj",
           outer="post_feedforward_layernorm", outer_off=-1.0),
    FFNMap("phi3", ("phi3",), "model.layers", ("mlp.gate_up_proj",), "mlp.down_proj", fused=2),
    FFNMap("gpt2", ("gpt2",), "transformer.h", ("mlp.c_fc",), "mlp.c_proj", transposed=True),
    FFNMap("gpt_neox", ("gpt_neox",), "gpt_neox.layers", ("mlp.dense_h_to_4h",), "mlp.dense_4h_to_h"),
    FFNMap("gptj", ("gptj",), "transformer.h", ("mlp.fc_in",), "mlp.fc_out"),
    FFNMap("opt", ("opt",), "model.decoder.layers", ("fc1",), "fc2"),
    FFNMap("bloom", ("bloom",), "transformer.h", ("mlp.dense_h_to_4h",), "mlp.dense_4h_to_h"),
    FFNMap("falcon", ("falcon",), "transformer.h", ("mlp.dense_h_to_4h",), "mlp.dense_4h_to_h"),
):
    FFN_MAPS.register(_map, _map.family)


def families() -> dict[str, tuple[str, ...]]:
    """Family name -> the ``config.model_type`` values it covers."""
    return {name: m.model_types for name, m in FFN_MAPS.items()}


def ffn_map_for(model_type: str) -> FFNMap:
    """The map of the family that covers ``model_type``; an unknown type gets the list of supported ones."""
    for m in FFN_MAPS.values():
        if model_type in m.model_types:
            return m
    known = sorted(t for m in FFN_MAPS.values() for t in m.model_types)
    raise TaskNeuronsError(f"unsupported model family {model_type!r}{suggest(model_type, known)}; "
                           f"supported model types: {', '.join(known)}")


@dataclass(frozen=True)
class ParamSlice:
    """Neuron n of a kind owns ``param.narrow(dim, offset + n, 1)``.

    ``off``: the value that, written into the neuron's entries, switches it off (0 for weight rows and biases,
    -1 for the gain of Gemma's ``1 + w`` RMSNorm); None for a slice that belongs to the neuron but that
    deactivation by weights leaves alone (the down row in front of a norm). ``tuned``: the neuron tuner trains
    it (a slice of one of :meth:`FFN.projections`); a norm's gain is not tuned.
    """

    param: nn.Parameter
    dim: int
    offset: int
    off: float | None = 0.0
    tuned: bool = True

    def index(self, neurons: torch.Tensor) -> tuple:
        """An index that selects the given neurons' entries of ``param``."""
        idx = [slice(None)] * len(sharding.shape(self.param))  # a ZeRO-3 parameter's own data is empty
        idx[self.dim] = neurons.to(self.param.device) + self.offset
        return tuple(idx)

    def read(self, neurons: torch.Tensor) -> torch.Tensor:
        """A copy of the given neurons' entries of ``param`` (whole, when the weights are sharded)."""
        return sharding.full(self.param)[self.index(neurons)]

    def write_(self, neurons: torch.Tensor, values) -> None:
        """Set the given neurons' entries of ``param`` to ``values`` (a tensor of :meth:`read`'s shape, or a number)."""
        with sharding.editing(self.param) as whole:
            whole[self.index(neurons)] = values


@dataclass(frozen=True)
class Projection:
    """One module whose output features hold neurons of one kind: neuron n is output feature ``o + n`` for each
    offset ``o`` in ``offsets`` (two for Phi-3's fused gate_up_proj). Rows are ``[out, in]`` whatever the storage
    (GPT-2 Conv1D keeps ``[in, out]``); ``features`` are output-feature indices, as :meth:`features` makes them."""

    path: str  # relative to the block, e.g. "mlp.gate_proj"
    module: nn.Module
    offsets: tuple[int, ...]
    transposed: bool = False

    @property
    def rows(self) -> torch.Tensor:
        """The weight as an [out_features, in_features] tensor (detached; a view, or a gathered copy when the
        weights are sharded): row f holds output feature f."""
        w = sharding.full(self.module.weight)
        return w.t() if self.transposed else w

    @property
    def shape(self) -> tuple[int, int]:
        """(out_features, in_features), read without gathering a sharded weight."""
        out, inp = sharding.shape(self.module.weight)
        return (inp, out) if self.transposed else (out, inp)

    @property
    def in_features(self) -> int:
        return self.shape[1]

    @property
    def bias(self) -> torch.Tensor | None:
        b = getattr(self.module, "bias", None)
        return None if b is None else sharding.full(b)

    def features(self, neurons: torch.Tensor) -> torch.Tensor:
        """The output features of ``neurons`` (one block per offset), on the module's device."""
        neurons = neurons.to(device=self.module.weight.device, dtype=torch.long)
        return torch.cat([neurons + o for o in self.offsets])

    def weight_rows(self, features: torch.Tensor) -> torch.Tensor:
        """A copy of the weight rows of ``features``: [len(features), in_features]."""
        return self.rows.index_select(0, features)

    def bias_entries(self, features: torch.Tensor) -> torch.Tensor | None:
        """A copy of the bias entries of ``features`` (None without a bias)."""
        return None if self.bias is None else self.bias.index_select(0, features)

    def add_rows_(self, features: torch.Tensor, rows: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        """Add [len(features), in_features] ``rows`` (and ``bias`` entries) into the module's weights in place."""
        self._edit_rows("index_add_", features, rows, bias)

    def copy_rows_(self, features: torch.Tensor, rows: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        """Overwrite the weight rows (and bias entries) of ``features`` in place."""
        self._edit_rows("index_copy_", features, rows, bias)

    def _edit_rows(self, how: str, features: torch.Tensor, rows: torch.Tensor, bias: torch.Tensor | None) -> None:
        with sharding.editing(self.module.weight) as w:
            w = w.t() if self.transposed else w
            getattr(w, how)(0, features, sharding.full(rows).to(w.dtype))
        if bias is not None:
            with sharding.editing(self.module.bias) as b:
                getattr(b, how)(0, features, sharding.full(bias).to(b.dtype))


def _get(root: nn.Module, dotted: str) -> nn.Module:
    for part in dotted.split("."):
        root = getattr(root, part)
    return root


class FFN:
    """A model's FFN blocks addressed through its family's map: layers, widths, modules, weight slices.

    Only this class (with :class:`Projection` and :class:`ParamSlice`) knows where a neuron's weights are.
    """

    def __init__(self, model: nn.Module, ffn_map: FFNMap | None = None):
        self.map = ffn_map or ffn_map_for(model.config.model_type)
        try:
            self.blocks = list(_get(model, self.map.layers))
            self.downs = [_get(b, self.map.down) for b in self.blocks]
            self.outers = ([_get(b, self.map.outer) for b in self.blocks] if self.map.outer else list(self.downs))
            self.ups = [[_get(b, name) for name in self.map.up] for b in self.blocks]
        except AttributeError as e:
            raise TaskNeuronsError(
                f"model of type {model.config.model_type!r} does not have the layout of FFN map {self.map.family!r} ({e})"
            ) from None
        d_out, d_in = self.projections(0, "outer")[0].shape
        self.widths = {"inner": d_in, "outer": d_out}

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    def projections(self, layer: int, kind: str) -> list[Projection]:
        """The modules whose output features are the neurons of one (layer, kind): the up modules for inner
        neurons, the down module for outer ones (behind a norm, the down row is the outer neuron's pre-norm input;
        the norm's gain is in :meth:`slices` only)."""
        if kind == "inner":
            width = self.widths["inner"]
            offsets = tuple(b * width for b in range(self.map.fused))
            return [Projection(path, module, offsets, self.map.transposed)
                    for path, module in zip(self.map.up, self.ups[layer])]
        if kind == "outer":
            return [Projection(self.map.down, self.downs[layer], (0,), self.map.transposed)]
        raise TaskNeuronsError(f"neuron kind {kind!r} is not one of {KINDS}")

    def slices(self, layer: int, kind: str) -> list[ParamSlice]:
        """Every parameter slice that belongs to the neurons of one (layer, kind): the projections' rows and
        bias entries, then, for outer neurons behind a norm, the norm's gain (and bias) entries."""
        behind_norm = kind == "outer" and self.map.outer is not None
        off = None if behind_norm else 0.0
        out = []
        for p in self.projections(layer, kind):
            for offset in p.offsets:
                out.append(ParamSlice(p.module.weight, 1 if p.transposed else 0, offset, off))
                if getattr(p.module, "bias", None) is not None:
                    out.append(ParamSlice(p.module.bias, 0, offset, off))
        if behind_norm:
            norm = self.outers[layer]
            out.append(ParamSlice(norm.weight, 0, 0, self.map.outer_off, tuned=False))
            if getattr(norm, "bias", None) is not None:
                out.append(ParamSlice(norm.bias, 0, 0, 0.0, tuned=False))
        return out

    def neuron_rows(self, layer: int, kind: str) -> list[torch.Tensor]:
        """Each weight tensor of one (layer, kind) as a [width, in_features] view (detached, no copy) whose row n
        is neuron n's weights; biases left out (for parameter similarity)."""
        width = self.widths[kind]
        return [p.rows[o:o + width] for p in self.projections(layer, kind) for o in p.offsets]

    def total_neurons(self) -> int:
        return self.n_layers * sum(self.widths.values())

    def describe(self) -> str:
        after = f" after {self.map.outer}" if self.map.outer else ""
        return (f"{self.map.family}: {self.n_layers} layers x ({self.widths['inner']} inner + "
                f"{self.widths['outer']} outer{after}) = {self.total_neurons():,} neurons")
