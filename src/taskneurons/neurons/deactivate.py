"""deactivate: switch a neuron set off for the duration of a ``with`` block, then restore the model exactly; and
scaled: multiply each neuron's activation by its own factor (W-NCFT's weights), of which deactivation is the 0/1 case.

Deactivation, two ways, equivalent in output (every FFN activation maps 0 to 0, see ``models/ffn.py``), as in the paper §2.5:

- ``"activation"``: ``scaled`` with factor 0 for the set's neurons and 1 for the others. The weights are
  untouched; this is the cheap default.
- ``"weights"``: each of the neurons' weight slices that the FFN map gives an ``off`` value (weight rows and
  bias entries: 0; a Gemma norm's gain: -1) is set to it, and copied back afterwards.

``scaled(target, factors)``: forward hooks multiply each down projection's input (inner neuron j: its j-th input)
and each outer module's output (outer neuron m: the down projection's output channel m, or Gemma-2/3's post-FFN
norm's output channel m) by the neuron's factor, in the activation's dtype promoted to float32 and rounded back
once. Layers whose factors are all 1 get no hook.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

import torch

from ..errors import TaskNeuronsError
from ..models.ffn import FFN, KINDS
from ..models.loading import LoadedModel
from .fingerprint import check_made_on, model_identity
from .neuron_set import NeuronSet

MODES = ("activation", "weights")


@contextmanager
def deactivate(target, neurons: NeuronSet, mode: str = "activation", other_model: bool = False):
    """Deactivate ``neurons`` in ``target`` inside the ``with`` block; restore the model on exit.

    The model is restored also when the block raises: hooks removed, weights bit-identical. Nesting works; an
    empty set changes nothing.

    Args:
        target: a LoadedModel, an FFN or a ``(model, ffn)`` pair.
        neurons: the ``NeuronSet`` to switch off.
        mode: "activation" (their activations set to 0 by hooks, the paper's way) or "weights" (their weight
            slices zeroed, then put back).
        other_model: allow a set made on a model of another type (refused otherwise, see
            :func:`~taskneurons.neurons.fingerprint.check_made_on`).

    Returns:
        A context manager.

    Example:
        >>> from taskneurons import NeuronSet, deactivate, evaluate, load_model, load_task, score_neurons
        >>> lm, task = load_model("tiny-llama"), load_task("rotten_tomatoes")
        >>> neurons = NeuronSet.from_scores(score_neurons(lm, task.splits["train"][:8], progress=False), k=10)
        >>> before = evaluate(lm, task, limit=16, progress=False).score
        >>> with deactivate(lm, neurons):
        ...     off = evaluate(lm, task, limit=16, progress=False).score
        >>> evaluate(lm, task, limit=16, progress=False).score == before  # restored
        True
    """
    ffn = _ffn(target)
    if mode not in MODES:
        raise TaskNeuronsError(f"deactivation mode {mode!r} is not one of {list(MODES)}")
    neurons.validate(ffn)
    if isinstance(target, LoadedModel):
        check_made_on(neurons.provenance, model_identity(target.model, ffn, target.name), "neuron set", other_model)
    if mode == "activation":
        change = _hook_activations, {kind: (~mask).float() for kind, mask in neurons.masks.items()}
    else:
        change = _zero_weights, neurons
    with _undoing(ffn, *change):
        yield


@contextmanager
def scaled(target, factors: dict[str, torch.Tensor]):
    """Multiply every neuron's activation by its factor inside the block (see the module docstring).

    ``factors``: kind -> a float tensor [n_layers, width] of that kind (a kind left out keeps factor 1).
    The weights are never touched; the hooks are removed on exit, also when the block raises. Nesting multiplies.
    """
    ffn = _ffn(target)
    for kind, f in factors.items():
        if kind not in KINDS:
            raise TaskNeuronsError(f"neuron kind {kind!r} is not one of {list(KINDS)}")
        if tuple(f.shape) != (ffn.n_layers, ffn.widths[kind]) or not f.is_floating_point():
            raise TaskNeuronsError(f"{kind} factors must be a float tensor [{ffn.n_layers}, {ffn.widths[kind]}], "
                                   f"got {f.dtype} {list(f.shape)}")
    with _undoing(ffn, _hook_activations, factors):
        yield


@contextmanager
def _undoing(ffn: FFN, change: Callable, what):
    """``change(ffn, what, undo)`` for the block; then every function it appended to ``undo``, in reverse."""
    undo: list[Callable[[], None]] = []
    try:
        change(ffn, what, undo)
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


def _scale(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``x`` times ``factor`` along its last dim, computed in at least float32 and rounded to x's dtype once."""
    return (x * factor.to(device=x.device, dtype=torch.promote_types(x.dtype, torch.float32))).to(x.dtype)


def _hook_activations(ffn: FFN, factors: dict[str, torch.Tensor], undo: list) -> None:
    for layer, (down, out_module) in enumerate(zip(ffn.downs, ffn.outers)):
        inner, outer = (factors[kind][layer] if kind in factors else None for kind in KINDS)
        if inner is not None and bool((inner != 1).any()):
            def pre(module, args, factor=inner.to(down.weight.device)):
                return (_scale(args[0], factor), *args[1:])

            undo.append(down.register_forward_pre_hook(pre).remove)
        if outer is not None and bool((outer != 1).any()):
            def post(module, args, output, factor=outer.to(out_module.weight.device)):
                return _scale(output, factor)

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
                    saved = s.read(idx).clone()
                    undo.append(lambda s=s, i=idx, v=saved: s.write_(i, v))
                    s.write_(idx, s.off)
