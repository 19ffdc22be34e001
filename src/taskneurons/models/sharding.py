"""Sharded weights (FSDP2, DeepSpeed ZeRO-3): the one module that shards a model and reads and edits sharded parameters.

Under DeepSpeed (``processes.sharding()`` ``"zero2"`` or ``"zero3"``) every function here hands over to
``models/zero.py``, which holds DeepSpeed's engines. When ``processes.sharding()`` is ``"fsdp2"``, :func:`shard`
applies torch's own ``fully_shard`` right after loading:
to every transformer block, then to the root (embeddings, final norm, head), over a 1-D mesh of all processes
(cuda over nccl, the CPU over gloo). Each process then keeps 1/N of every parameter, as a DTensor; a block's
whole weights exist only during its forward and backward passes. Modules added later (neuron-tuner deltas,
LoRA layers) are sharded when :func:`shard_trained` meets their parameters at the start of a training.

Why ``fully_shard`` and not ``accelerate.prepare``: accelerate routes FSDP only for GPU launches (on the CPU it
drops the plugin and wraps DDP, silently), and it shards at the first training, after scoring and evaluation
have run whole models. Calling ``fully_shard`` here is one code path on the CPU and on GPUs, the one the tests run.

Everything that reads or writes weights goes through :func:`full` (a whole tensor, gathered) and
:func:`editing` (a whole tensor to edit in place; each process keeps its own shard of the result). Both are
collective: every process calls them in the same order, as every process runs the same program.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from .. import processes
from . import zero


def deepspeed() -> bool:
    """Whether DeepSpeed (ZeRO-2 or ZeRO-3) shares out the model, ``models/zero.py``."""
    return (processes.sharding() or "").startswith("zero")


def _dtensor():
    from torch.distributed.tensor import DTensor

    return DTensor


def is_sharded(tensor) -> bool:
    """Whether ``tensor`` is a shard of a parameter (a DTensor under FSDP2, a partitioned parameter under ZeRO-3)."""
    if deepspeed():
        return zero.is_partitioned(tensor)
    return processes.sharded() and isinstance(tensor, _dtensor())


def shape(tensor: torch.Tensor) -> torch.Size:
    """The whole shape of ``tensor``, read without gathering it."""
    return zero.shape(tensor) if deepspeed() else tensor.shape


def numel(tensor: torch.Tensor) -> int:
    """The whole number of elements of ``tensor``, read without gathering it."""
    return zero.numel(tensor) if deepspeed() else tensor.numel()


def _mesh(device: torch.device):
    from torch.distributed.device_mesh import init_device_mesh

    processes.check_launch()  # one line for a sharding that cannot run (one process, FSDP v1...)
    processes.barrier()  # joins the launcher's process group (accelerate's PartialState) if nothing has yet
    return init_device_mesh(device.type, (processes.world(),))


def shard(model: nn.Module, blocks: list[nn.Module]) -> None:
    """``fully_shard`` every block of ``blocks`` (the transformer layers), then ``model`` itself, in place (ZeRO:
    DeepSpeed partitions every parameter)."""
    if deepspeed():
        return zero.partition(model)
    from torch.distributed.fsdp import fully_shard

    mesh = _mesh(next(model.parameters()).device)
    for block in blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh, reshard_after_forward=True)


def shard_trained(model: nn.Module, params: list[nn.Parameter]) -> list[nn.Parameter]:
    """``params``, with every one that is not sharded yet sharded by ``fully_shard`` on the module that owns it.
    ``fully_shard`` replaces a module's parameters, so the returned list holds the new ones, in the same order."""
    if processes.sharding() != "fsdp2" or all(is_sharded(p) for p in params):  # ZeRO: DeepSpeed's engine converts them
        return params
    from torch.distributed.fsdp import fully_shard

    owners = {}  # id(parameter) -> every (module, name) holding it (a shared parameter has several)
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            owners.setdefault(id(p), []).append((module, name))
    mesh, done = _mesh(next(model.parameters()).device), set()
    for p in params:
        modules = [module for module, _ in owners[id(p)]]
        if not is_sharded(p) and not done & {id(m) for m in modules}:  # one group for the modules that hold it,
            fully_shard(modules if len(modules) > 1 else modules[0], mesh=mesh, reshard_after_forward=True)
            done |= {id(m) for m in modules}  # resharded after each forward, as the root is
    return [getattr(*owners[id(p)][0]) for p in params]


def full(tensor: torch.Tensor) -> torch.Tensor:
    """The whole of ``tensor``, detached: gathered from every process when sharded, else ``tensor`` itself."""
    if deepspeed():
        return zero.full(tensor)
    tensor = tensor.detach()
    return tensor.full_tensor() if is_sharded(tensor) else tensor


def plain(tensor: torch.Tensor) -> torch.Tensor:
    """A DTensor (a sharded weight, or a sum or norm over one) as the whole, plain tensor, gradients flowing back
    to its shards (a collective); anything else unchanged."""
    return tensor.full_tensor() if isinstance(tensor, _dtensor()) else tensor


def like(tensor: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """A whole ``tensor`` of ``param``'s shape as ``param`` holds it: this process's shard when ``param`` is
    sharded (and ``tensor`` is not yet), else ``tensor`` itself."""
    if not isinstance(param, _dtensor()) or isinstance(tensor, _dtensor()):
        return tensor
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(tensor, param.device_mesh, param.placements, src_data_rank=None)


@contextlib.contextmanager
def editing(param: torch.Tensor):
    """A whole, plain tensor of ``param`` to edit in place. Unsharded: ``param``'s own data. Sharded: a gathered
    copy, of which each process writes its own shard back into ``param`` on exit (every process makes the same
    edit, so no further communication; ZeRO-3 keeps the main process's edit)."""
    if deepspeed():
        with zero.editing(param) as whole:
            yield whole
        return
    if not is_sharded(param):
        with torch.no_grad():
            yield param.data
        return
    whole = param.detach().full_tensor()
    with torch.no_grad():
        yield whole
        param.to_local().copy_(like(whole, param).to_local())


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and persistent buffer of ``model``, whole, each tied tensor once (under its first name; a
    loader takes it under any of its names). Sharded: gathered onto the main process's CPU memory (the only one
    that writes files); the other processes get an empty dict."""
    if not processes.sharded():
        return model.state_dict()
    if deepspeed():
        return zero.full_state_dict(model, set(_tied(model)))
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v for k, v in state.items() if k not in _tied(model)}


def load_full_state_dict(model: nn.Module, read) -> None:
    """The whole tensors that ``read()`` returns (called on the main process only; tied tensors once) into
    ``model``'s shards; a tensor missing from them or one too many is a KeyError naming it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    tied, state, problem = _tied(model), {}, None
    if processes.is_main():
        try:
            state, want = read(), set(model.state_dict()) - set(tied)
            for name, first in tied.items():  # a file may hold a tied tensor under another of its names
                if name in state and first not in state:
                    state[first] = state.pop(name)
            wrong = sorted(want ^ set(state))
            problem = wrong and f"{'missing' if wrong[0] in want else 'unexpected'} tensor {wrong[0]!r}"
            state.update({name: state[first] for name, first in tied.items() if not wrong})
        except Exception as e:  # noqa: BLE001 (said on every process below, so that none waits forever)
            problem = str(e).splitlines()[0] if str(e) else type(e).__name__
    problem = processes.broadcast(problem)  # every process stops, or none
    if problem:
        raise KeyError(problem)
    if deepspeed():
        return zero.load_full_state_dict(model, state, set(tied))
    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))


def unwrapped_config(model: nn.Module):
    """The model's config, naming the model's own class as its architecture (``save_pretrained`` writes the class
    it sees: under FSDP2 that is ``FSDP<Name>``)."""
    from torch.distributed.fsdp import FSDPModule

    if isinstance(model, FSDPModule):
        own = next(c for c in type(model).__mro__[1:] if not issubclass(c, FSDPModule))
        model.config.architectures = [own.__name__]
    return model.config


def _tied(model: nn.Module) -> dict[str, str]:
    """name -> the first name of the same parameter, for each parameter that is another one's alias (tied)."""
    first, tied = {}, {}
    for name, p in model.named_parameters(remove_duplicate=False):
        tied.update({name: first[id(p)]} if id(p) in first else {})
        first.setdefault(id(p), name)
    return tied
