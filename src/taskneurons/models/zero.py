"""DeepSpeed ZeRO (stages 2 and 3): the part of ``models/sharding.py`` that knows DeepSpeed's engines and parameters.

Stage 3 partitions every parameter over the processes right after loading: an engine without an optimizer
(DeepSpeed's own inference set-up) converts the parameters (each process keeps ``ds_tensor``, 1/N of the
elements; ``param.data`` is empty) and hooks every module so that a forward or backward pass gathers its
parameters and releases them after. Stage 2 leaves the weights whole and shares out the gradients and the
optimizer state only. A training swaps the engine for one with the optimizer (:func:`training`): DeepSpeed converts
the parameters added since (neuron-tuner deltas, LoRA layers), averages the gradients and steps; afterwards the
inference engine comes back (stage 3). Reads and edits go through ``GatheredParameters`` (:func:`full`,
:func:`editing`); both are collective, as every process runs the same program.

On a machine without GPUs DeepSpeed runs on its CPU accelerator over gloo; it compiles its shared-memory
communication op the first time (about 30 s, cached in ``TORCH_EXTENSIONS_DIR``, by default ``~/.cache``): the
main process builds it while the others wait.
"""
from __future__ import annotations

import contextlib
import gc

import torch
from torch import nn

from .. import processes

ENGINE = "_taskneurons_deepspeed_engine"  # where a model keeps its current engine (in its __dict__: no submodule)


def _deepspeed():
    """``deepspeed``, imported once its CPU communication op is built (by the main process first, the others
    loading what it built)."""
    import deepspeed

    if not torch.cuda.is_available() and not getattr(_deepspeed, "ready", False):
        from deepspeed.ops.op_builder.cpu import ShareMemCommBuilder

        for turn in (True, False):
            if processes.is_main() == turn:
                ShareMemCommBuilder().load(verbose=False)
            processes.barrier()
        _deepspeed.ready = True
    return deepspeed


def stage() -> int:
    return int(processes.sharding()[-1])  # "zero2" / "zero3"


def _config(dtype: torch.dtype, micro_batch: int = 1, grad_accum: int = 1, clip: float | None = None) -> dict:
    """The DeepSpeed config of this launch's stage: 16-bit training (float32 masters kept by DeepSpeed) exactly
    when the weights (the trained ones, in a training) are 16-bit; clipping at ``clip`` (0: none; DeepSpeed's own
    default would clip at 1). Every parameter is partitioned, however small (DeepSpeed's default keeps those under
    1e5 elements whole)."""
    return {"train_micro_batch_size_per_gpu": micro_batch, "gradient_accumulation_steps": grad_accum,
            "gradient_clipping": clip or 0.0,
            "zero_optimization": {"stage": stage(), "stage3_param_persistence_threshold": 0},
            "bf16": {"enabled": dtype == torch.bfloat16}, "fp16": {"enabled": dtype == torch.float16},
            "steps_per_print": 2**31 - 1, "wall_clock_breakdown": False}


def _dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def is_partitioned(tensor) -> bool:
    """Whether ``tensor`` is a ZeRO-3 parameter (each process holding 1/N of its elements)."""
    return hasattr(tensor, "ds_id")


def partition(model: nn.Module) -> None:
    """Stage 3: partition ``model``'s parameters over the processes and hook its modules (an engine without an
    optimizer). Stage 2 keeps whole weights: nothing to do."""
    if stage() == 3:
        release(model)
        model.__dict__[ENGINE] = _deepspeed().initialize(model=model, config=_config(_dtype(model)))[0]


def release(model: nn.Module) -> None:
    """Destroy ``model``'s engine, if any, and every reference DeepSpeed keeps to it (the parameters stay as they
    are: partitioned under ZeRO-3), so that the engine's optimizer state, and the model once dropped, are freed."""
    engine = model.__dict__.pop(ENGINE, None)
    if engine is None:
        return
    from deepspeed.runtime.zero import parameter_offload

    engine.destroy()  # its module and gradient hooks go, but not the two forward hooks over the engine itself
    for hook in ("module_forward_pre_hook", "module_forward_post_hook"):
        handle = getattr(engine, hook, None)
        if handle is not None:
            handle.remove()
    parameter_offload.FWD_MODULE_STACK[:] = [m for m in parameter_offload.FWD_MODULE_STACK if m is not model]
    del engine
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def training(model: nn.Module, params: list[nn.Parameter], optimizer, micro_batch: int, grad_accum: int,
             clip: float | None):
    """A DeepSpeed engine that trains ``params`` of ``model`` with ``optimizer`` (its ``step`` clips at ``clip``
    and steps at each accumulation boundary); on exit the model is left as :func:`partition` leaves it."""
    release(model)
    config = _config(params[0].dtype, micro_batch, grad_accum, clip)  # float32 deltas of a 16-bit model: float32
    try:
        model.__dict__[ENGINE] = _deepspeed().initialize(model=model, optimizer=optimizer, model_parameters=params,
                                                         config=config)[0]
        yield model.__dict__[ENGINE]
    finally:
        release(model)
        if stage() == 2:  # the trained parameters are views into one flat buffer: each gets its own storage back
            for p in params:
                p.data = p.data.clone()
        partition(model)  # hooked again (also when DeepSpeed failed to start)


def gathered(params: list, edit: bool = False):
    """A context in which ``params`` are whole on every process (an edit made by every process alike is kept when
    ``edit``); a no-op for parameters that are not partitioned."""
    params = [p for p in params if is_partitioned(p)]
    if not params:
        return contextlib.nullcontext()
    return _deepspeed().zero.GatheredParameters(params, modifier_rank=0 if edit else None)


def full(tensor: torch.Tensor) -> torch.Tensor:
    with gathered([tensor]):
        return tensor.detach().clone() if is_partitioned(tensor) else tensor.detach()


@contextlib.contextmanager
def editing(param: torch.Tensor):
    with gathered([param], edit=True), torch.no_grad():
        yield param.data


def shape(tensor: torch.Tensor) -> torch.Size:
    return tensor.ds_shape if is_partitioned(tensor) else tensor.shape


def numel(tensor: torch.Tensor) -> int:
    return tensor.ds_numel if is_partitioned(tensor) else tensor.numel()


def full_state_dict(model: nn.Module, skip: set[str]) -> dict[str, torch.Tensor]:
    """Every tensor of ``model.state_dict()`` but ``skip``, whole, on the main process's CPU memory (gathered one
    parameter at a time); an empty dict on the others."""
    state = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if name not in skip:
            with gathered([tensor]):
                if processes.is_main():
                    state[name] = tensor.detach().cpu().clone()
    return state


def load_full_state_dict(model: nn.Module, state: dict[str, torch.Tensor], skip: set[str]) -> None:
    """``state`` (whole tensors, on the main process only) into ``model``, one tensor at a time; tied names in
    ``skip`` follow their first name."""
    for name, tensor in model.state_dict(keep_vars=True).items():
        if name in skip:
            continue
        if is_partitioned(tensor):
            with gathered([tensor], edit=True), torch.no_grad():
                if processes.is_main():
                    tensor.data.copy_(state[name])
        else:
            with torch.no_grad():
                tensor.copy_(processes.broadcast(state[name] if processes.is_main() else None))
