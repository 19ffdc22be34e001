"""The neuron tuner: train only the selected FFN neurons' weight slices, as small trainable deltas.

Every base parameter is frozen. Each FFN module that owns selected neurons (a ``Projection`` of the FFN map,
``models/ffn.py``, which knows the output features, fused halves and storage layout) gets a :class:`NeuronDelta`
holding just those output features' weight rows and bias entries, and a forward hook that adds them to its
output::

    out[..., index] += x @ delta_w.T + delta_b

The deltas start at zero, so the model is unchanged until trained. Frozen weights get no gradient buffer and
the optimizer keeps state for the deltas only (the paper's 2.6, stored as row deltas as its 5.3 suggests);
weight decay touches nothing else. The deltas are registered as submodules (``<module>.neuron_delta``), so
``model.to()``, ``accelerate.prepare`` and DDP move and synchronise them like any other parameter;
:meth:`NeuronTuner.remove` takes them out again.

Gemma-2/3 outer neurons sit after the block's ``post_feedforward_layernorm`` (``models/ffn.py``); the tuner
trains outer neuron m through down_proj row m, the neuron's pre-norm input, and leaves the norm's gain alone
(its ``ParamSlice`` has ``tuned=False``).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import __version__
from ..errors import TaskNeuronsError
from ..models import sharding
from ..models.ffn import FFN, KINDS, Projection
from ..models.grads import restore, set_trainable
from ..neurons import artifact
from ..neurons.fingerprint import check_made_on, model_identity
from ..neurons.neuron_set import NeuronSet

FORMAT = "taskneurons.neuron_tuner"
DELTA = "neuron_delta"  # attribute name of the delta submodule on each tuned module


class NeuronDelta(nn.Module):
    """Trainable rows for some output features of one Linear (or Conv1D): ``out[..., index] += linear(x)``.

    Rows are kept in float32 at least, so that small updates are not lost when the model is in bfloat16.
    """

    def __init__(self, index: torch.Tensor, in_features: int, bias: bool, like: torch.Tensor):
        super().__init__()
        dtype = torch.promote_types(like.dtype, torch.float32)
        self.register_buffer("index", index.to(like.device), persistent=False)
        self.weight = nn.Parameter(torch.zeros(len(index), in_features, dtype=dtype, device=like.device))
        self.bias = nn.Parameter(torch.zeros(len(index), dtype=dtype, device=like.device)) if bias else None
        self.active = True  # False while merged into the base weights

    def forward(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return out
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return out.index_add(-1, self.index, F.linear(x, self.weight.to(x.dtype), bias).to(out.dtype))


def _add_delta(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    return getattr(module, DELTA)(args[0], output)


class NeuronTuner:
    """Trainable deltas on the weight slices of ``neurons`` in ``lm``: training them trains those neurons only.

    Use :meth:`parameters` as the parameters to train; :meth:`merge` folds the deltas into the base weights
    (exactly undone by :meth:`unmerge`); :meth:`save` / :meth:`load` keep them; :meth:`remove` detaches the tuner
    (as a context manager, on exit), leaving the base weights merged or not, as they are.

    Args:
        lm: a LoadedModel or a model.
        neurons: the ``NeuronSet`` to train.
        ffn: the FFN map (default ``lm.ffn``).

    Example:
        >>> from taskneurons import NeuronSet, NeuronTuner, TrainConfig, load_model, load_task, score_neurons, train
        >>> lm, task = load_model("tiny-llama"), load_task("rotten_tomatoes")
        >>> neurons = NeuronSet.from_scores(score_neurons(lm, task.splits["train"][:8], progress=False), k=10)
        >>> with NeuronTuner(lm, neurons) as tuner:
        ...     result = train(lm, task.splits["train"][:8], tuner.parameters(),
        ...                    TrainConfig(lr=1e-3, max_steps=2, batch_size=4), progress=False)
        >>> result.steps, sum(p.numel() for p in tuner.parameters())  # 16 neurons' slices
        (2, 928)
    """

    def __init__(self, lm, neurons, *, ffn: FFN | None = None):
        self.model: nn.Module = getattr(lm, "model", lm)
        self.ffn = ffn or getattr(lm, "ffn", None) or FFN(self.model)
        self.name = getattr(lm, "name", None)
        self.made_on = model_identity(self.model, self.ffn, self.name)  # before any delta is merged into the weights
        self.neuron_set = neurons
        self.neurons = _selection(neurons, self.ffn)  # (layer, kind) -> sorted LongTensor
        if any(hasattr(m, DELTA) for m in self.model.modules()):
            raise TaskNeuronsError("the model already has a neuron tuner attached; remove() it first")
        self._grad_flags = set_trainable(self.model)  # every base parameter frozen until remove()
        self.deltas: dict[str, tuple[Projection, NeuronDelta]] = {}  # name -> (tuned module, its delta)
        self._hooks = []
        for (layer, kind), idx in self.neurons.items():
            for proj in self.ffn.projections(layer, kind):
                delta = NeuronDelta(proj.features(idx), proj.in_features, getattr(proj.module, "bias", None) is not None,
                                    proj.module.weight)
                proj.module.add_module(DELTA, delta)
                self._hooks.append(proj.module.register_forward_hook(_add_delta))
                self.deltas[f"layers.{layer}.{proj.path}"] = (proj, delta)
        self._saved: dict[str, tuple[torch.Tensor, torch.Tensor | None]] | None = None  # original rows, merged
        self.attached = True

    # parameters

    def named_parameters(self):
        """(name, delta) pairs, e.g. ``layers.3.mlp.gate_proj.weight``."""
        for name, (_, delta) in self.deltas.items():
            for pname, p in delta.named_parameters():
                yield f"{name}.{pname}", p

    def parameters(self):
        """The trainable deltas, and nothing else."""
        return (p for _, p in self.named_parameters())

    def num_trainable(self) -> int:
        return sum(sharding.numel(p) for p in self.parameters())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """name -> the whole delta (gathered, when training sharded it)."""
        return {name: sharding.full(p) for name, p in self.named_parameters()}

    # merging

    @property
    def merged(self) -> bool:
        return self._saved is not None

    @torch.no_grad()
    def merge(self) -> None:
        """Add the deltas into the base weights in place (hooks off); the original rows are kept for unmerge."""
        if self.merged:
            return
        if not self.attached:
            raise TaskNeuronsError("this neuron tuner was removed from its model; it cannot merge any more")
        self._saved = {}
        for name, (proj, delta) in self.deltas.items():
            self._saved[name] = (proj.weight_rows(delta.index), proj.bias_entries(delta.index))
            proj.add_rows_(delta.index, delta.weight, delta.bias)
            delta.active = False

    @torch.no_grad()
    def unmerge(self) -> None:
        """Put the original rows back, bit for bit, and turn the hooks on again."""
        if not self.merged:
            return
        for name, (proj, delta) in self.deltas.items():
            proj.copy_rows_(delta.index, *self._saved[name])
            delta.active = True
        self._saved = None

    def remove(self) -> None:
        """Detach the hooks and deltas and restore every requires_grad flag. Merged weights stay merged: this
        is how to keep what was trained (``merge(); remove()``); unmerged, the model is its base again."""
        if not self.attached:
            return
        self.attached = False
        for h in self._hooks:
            h.remove()
        self._hooks = []
        for proj, _ in self.deltas.values():
            if hasattr(proj.module, DELTA):
                delattr(proj.module, DELTA)
        restore(self._grad_flags)
        self._saved = None

    def __enter__(self) -> NeuronTuner:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    # files

    def save(self, path) -> Path:
        """``X.safetensors`` (the deltas) + ``X.json`` (neurons per layer, model, provenance), each atomic."""
        header = {
            "format": FORMAT, "version": __version__, **self.made_on, "n_layers": self.ffn.n_layers, "widths": self.ffn.widths, "num_trainable": self.num_trainable(),
            "neurons": {kind: [self._indices(layer, kind) for layer in range(self.ffn.n_layers)] for kind in KINDS},
            "provenance": getattr(self.neuron_set, "provenance", {}),
        }
        return artifact.save(path, self.state_dict(), header)

    def _indices(self, layer: int, kind: str) -> list[int]:
        idx = self.neurons.get((layer, kind))
        return [] if idx is None else idx.tolist()

    @classmethod
    def load(cls, path, lm, ffn: FFN | None = None, other_model: bool = False) -> NeuronTuner:
        """A tuner on ``lm`` with the neurons and trained deltas saved at ``path``. Deltas trained on a model of
        another type are refused unless ``other_model``; on other weights of the same type, a warning."""
        st, js = artifact.paths(path)
        header = artifact.read_header(js, FORMAT, "neuron tuner")
        model = getattr(lm, "model", lm)
        ffn = ffn or getattr(lm, "ffn", None) or FFN(model)
        for key, have in (("n_layers", ffn.n_layers), ("widths", ffn.widths)):
            if header.get(key) != have:
                raise TaskNeuronsError(f"{js}: field {key!r} is {header.get(key)!r} but the model has {have!r}")
        check_made_on(header, model_identity(model, ffn, getattr(lm, "name", None)), f"tuner deltas {js}", other_model)
        masks = {kind: torch.zeros(ffn.n_layers, ffn.widths[kind], dtype=torch.bool) for kind in KINDS}
        try:
            for kind in KINDS:
                for layer, idx in enumerate(header["neurons"][kind]):
                    masks[kind][layer, torch.tensor(idx, dtype=torch.long)] = True
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as e:
            raise TaskNeuronsError(f"{js}: field 'neurons' is not one index list per layer and kind ({e})") from None
        tensors = artifact.load_tensors(st, header)
        tuner = cls(lm, NeuronSet(masks, header.get("provenance", {})), ffn=ffn)
        try:
            tuner._load_deltas(tensors, st)
        except BaseException:
            tuner.remove()
            raise
        return tuner

    @torch.no_grad()
    def _load_deltas(self, tensors: dict[str, torch.Tensor], source: Path) -> None:
        params = dict(self.named_parameters())
        if sorted(tensors) != sorted(params):
            raise TaskNeuronsError(f"{source}: holds deltas {sorted(tensors)[:4]}..., expected {sorted(params)[:4]}...")
        for name, p in params.items():
            if tensors[name].shape != p.shape:
                raise TaskNeuronsError(f"{source}: delta {name!r} has shape {list(tensors[name].shape)}, "
                                       f"expected {list(p.shape)}")
            p.copy_(tensors[name])


def _selection(neuron_set, ffn: FFN) -> dict[tuple[int, str], torch.Tensor]:
    """(layer, kind) -> sorted selected indices, for the (layer, kind)s with any; checked against the model."""
    masks = getattr(neuron_set, "masks", None)
    if not isinstance(masks, dict):
        raise TaskNeuronsError(f"expected a NeuronSet, got {type(neuron_set).__name__}")
    validate = getattr(neuron_set, "validate", None)
    if callable(validate):
        validate(ffn)
    for kind, mask in masks.items():
        if kind not in KINDS:
            raise TaskNeuronsError(f"neuron kind {kind!r} is not one of {list(KINDS)}")
        if tuple(mask.shape) != (ffn.n_layers, ffn.widths[kind]):
            raise TaskNeuronsError(f"neuron set has {kind} mask {list(mask.shape)} but the model has "
                                   f"{ffn.n_layers} layers x {ffn.widths[kind]} {kind} neurons")
    selection = {}
    for layer in range(ffn.n_layers):
        for kind in KINDS:
            if kind in masks:
                idx = neuron_set.indices(layer, kind).to(torch.long).cpu()
                if len(idx):
                    selection[(layer, kind)] = idx
    if not selection:
        raise TaskNeuronsError("the neuron set selects no neurons: nothing to train")
    return selection
