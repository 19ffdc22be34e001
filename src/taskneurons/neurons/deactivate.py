"""deactivate: switch a neuron set off for the duration of a ``with`` block, then restore the model exactly.

Two ways, equivalent in output (every FFN activation maps 0 to 0, see ``models/ffn.py``), as in the paper §2.5:

- ``"activation"``: hooks multiply each down projection's input (inner neurons) and each outer module's output
  (outer neurons: the down projection's output, or Gemma-2/3's post-FFN norm's output) by a 0/1 mask. The
  weights are untouched; this is the cheap default.
- ``"weights"``: each of the neurons' weight slices that the FFN map gives an ``off`` value (weight rows and
  bias entries: 0; a Gemma norm's gain: -1) is set to it, and copied back afterwards.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch

from ..errors import TaskNeuronsError
from ..models.ffn import FFN
from .neuron_set import NeuronSet

MODES = ("activation", "weights")


@contextmanager
def deactivate(target, neurons: NeuronSet, mode: str = "activation"):
    """Deactivate ``neurons`` in ``target`` (a LoadedModel, an FFN or a ``(model, ffn)`` pair) inside the block.

    The model is restored on exit, also when the block raises: hooks removed, weights bit-identical.
    Nesting works; an empty set changes nothing.
    """
    ffn = _ffn(target)
    if mode not in MODES:
        raise TaskNeuronsError(f"deactivation mode {mode!r} is not one of {list(MODES)}")
    neurons.validate(ffn)
    undo: list[Callable[[], None]] = []
    try:
        (_hook_activations if mode == "activation" else _zero_weights)(ffn, neurons, undo)
        yield
    finally:
        for fn in reversed(undo):
            fn()


def _ffn(target) -> FFN:
    if isinstance(target, tuple):
        target = target[1]
    ffn = getattr(target, "ffn", target)
    if not isinstance(ffn, FFN):
        raise TypeError(f"expected a LoadedModel, an FFN or a (model, ffn) pair, got {type(target).__name__}")
    return ffn


def _keep_mask(selected: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """1 for kept units, 0 for deactivated ones, on the weight's device and dtype."""
    return (~selected).to(device=weight.device, dtype=weight.dtype)


def _hook_activations(ffn: FFN, neurons: NeuronSet, undo: list) -> None:
    for layer, (down, out_module) in enumerate(zip(ffn.downs, ffn.outers)):
        inner, outer = neurons.masks["inner"][layer], neurons.masks["outer"][layer]
        if inner.any():
            keep = _keep_mask(inner, down.weight)

            def pre(module, args, keep=keep):
                x = args[0]
                return (x * keep.to(dtype=x.dtype, device=x.device), *args[1:])

            undo.append(down.register_forward_pre_hook(pre).remove)
        if outer.any():
            keep = _keep_mask(outer, out_module.weight)

            def post(module, args, output, keep=keep):
                return output * keep.to(dtype=output.dtype, device=output.device)

            undo.append(out_module.register_forward_hook(post).remove)


def _zero_weights(ffn: FFN, neurons: NeuronSet, undo: list) -> None:
    with torch.no_grad():
        for layer in range(ffn.n_layers):
            for kind in neurons.masks:
                idx = neurons.indices(layer, kind)
                if len(idx) == 0:
                    continue
                for s in ffn.slices(layer, kind):
                    if s.off is None:  # belongs to the neuron, but switching it off would touch others
                        continue
                    index = s.index(idx)
                    saved = s.param[index].clone()
                    undo.append(lambda p=s.param, i=index, v=saved: _restore(p, i, v))
                    s.param[index] = s.off


def _restore(param: torch.Tensor, index: tuple, values: torch.Tensor) -> None:
    with torch.no_grad():
        param[index] = values
