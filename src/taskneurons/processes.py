"""The processes of one run, under ``accelerate launch`` or ``torchrun`` (one process otherwise): which one writes,
how work is shared out, how results come back together. Everything asks here; nothing else reads the launcher.

One process: every function is a no-op that costs nothing (accelerate is not even imported). Several: every
process runs the same program in step; work that can be split (evaluation, scoring) is split by batch, its
results gathered on every process in the single-process order, and only the main process writes files
(``io``'s writer discards the others' writes), the others waiting where they must read what it wrote.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn


def world() -> int:
    """How many processes run this program (``WORLD_SIZE``, set by every launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


SHARDINGS = ("fsdp2", "zero2", "zero3")  # what TASKNEURONS_SHARDING may ask for
REFUSED_LAUNCHES = {"ACCELERATE_USE_MEGATRON_LM": "Megatron-LM"}


def sharding() -> str | None:
    """How the model is shared out over the processes (``models/sharding.py``): ``"fsdp2"`` (every process holds
    1/N of each block) when ``TASKNEURONS_SHARDING=fsdp2`` or ``accelerate launch`` asks for FSDP (version 2);
    ``"zero3"`` / ``"zero2"`` (DeepSpeed: 1/N of every parameter / whole weights, 1/N of the gradients and optimizer
    state) when ``TASKNEURONS_SHARDING`` or ``accelerate launch`` asks for DeepSpeed with that ZeRO stage; None
    (every process holds the whole model, data parallel) otherwise."""
    asked = os.environ.get("TASKNEURONS_SHARDING", "").strip().lower()
    if asked:
        return asked
    if _flag("ACCELERATE_USE_DEEPSPEED"):
        return f"zero{_zero_stage()}"
    return "fsdp2" if _flag("ACCELERATE_USE_FSDP") else None


def _zero_stage() -> str:
    """The ZeRO stage ``accelerate launch`` asks for: ``--zero_stage``, or the stage in its DeepSpeed config file."""
    stage = os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "")
    path = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE", "")
    if not stage and path:
        import json

        try:
            with open(path, encoding="utf-8") as f:
                stage = json.load(f).get("zero_optimization", {}).get("stage", "")
        except (OSError, ValueError, AttributeError):  # unreadable: refused in one line as an unknown stage
            stage = f"? ({path} is not a readable DeepSpeed config)"
    return str(stage or "?")


def sharded() -> bool:
    """Whether the weights are sharded (FSDP2, ZeRO-3): then every forward pass is collective, so every process
    runs as many."""
    return sharding() in ("fsdp2", "zero3")


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() in ("true", "1")


def check_launch() -> None:
    """Refuse, in one line, a launch this toolkit cannot run as asked: a sharding it does not know (a ZeRO stage
    other than 2 or 3 among them), FSDP version 1, sharding in one process, Megatron-LM (not yet). Say, in one
    line, when a launch asked for several processes started one."""
    import warnings

    from .errors import TaskNeuronsError, TaskNeuronsWarning

    if one_process_launched_as_several():
        warnings.warn("accelerate launch --cpu starts one process whatever --num_processes says (its simple "
                      "launcher): this run is one process; for several on the CPU: torchrun --standalone "
                      "--nproc_per_node N -m taskneurons.cli ... (docs/scale.md)", TaskNeuronsWarning, stacklevel=2)
    asked = sharding()
    if asked is not None and asked not in SHARDINGS:
        what = (f"ZeRO stage {asked[4:]!r} (accelerate launch) is not 2 or 3" if _flag("ACCELERATE_USE_DEEPSPEED")
                and "TASKNEURONS_SHARDING" not in os.environ else f"TASKNEURONS_SHARDING={asked!r} is not one of "
                f"{list(SHARDINGS)} (or unset: every process holds the whole model)")
        raise TaskNeuronsError(what)
    if _flag("ACCELERATE_USE_FSDP") and os.environ.get("FSDP_VERSION", "1") != "2":
        raise TaskNeuronsError("FSDP version 1 is not supported: launch with --fsdp_version 2 (or fsdp_version: 2 "
                               "in the accelerate config; configs/accelerate/fsdp2.yaml, docs/scale.md)")
    if asked is not None and world() == 1:
        raise TaskNeuronsError(f"sharding ({asked}) needs several processes: launch with torchrun --nproc_per_node "
                               f"N or accelerate launch (docs/scale.md), or unset TASKNEURONS_SHARDING")
    for flag, name in REFUSED_LAUNCHES.items():
        if _flag(flag):
            raise TaskNeuronsError(f"{name} is not supported yet ({flag} is set by the launch): shard the model with "
                                   f"FSDP2 or DeepSpeed ZeRO (configs/accelerate/), or launch data parallel "
                                   f"(accelerate launch --num_processes N) (docs/scale.md)")


def one_process_launched_as_several() -> bool:
    """Whether ``accelerate launch --cpu --num_processes N`` (N > 1) started this single process: accelerate's
    ``--cpu`` always takes its simple launcher, which starts one process and sets MASTER_ADDR for the N it
    was asked for, but no WORLD_SIZE."""
    return _flag("ACCELERATE_USE_CPU") and "MASTER_ADDR" in os.environ and "WORLD_SIZE" not in os.environ


def end(code: int = 0) -> NoReturn:
    """End this process with exit ``code``. Of several processes, its output is flushed and it leaves at once
    (``os._exit``), without the interpreter's finalization: there, a gloo worker thread still releasing the tensors
    of a finished collective cannot take the GIL and aborts the process after its work is done ("terminate called
    without an active exception"; a core dump shows ``ProcessGroupGloo::runLoop`` destroying an allgather's work;
    about 1 run in 5 of two ZeRO-3 processes on 2 busy cores). A script of its own under ``torchrun`` ends with it
    too; the command line does."""
    if world() == 1:
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _state():
    import torch
    from accelerate import PartialState

    # joins the launcher's process group the first time: nccl on GPUs, gloo on a machine without them
    with accelerate_plain():
        return PartialState(cpu=not torch.cuda.is_available())


@contextlib.contextmanager
def accelerate_plain():
    """Within: accelerate sees a plain multi-process launch where ``accelerate launch`` asked for DeepSpeed, because
    DeepSpeed's engine is made here (``models/zero.py``), not by accelerate's ``prepare`` (which needs the model)."""
    asked = os.environ.pop("ACCELERATE_USE_DEEPSPEED", None)
    try:
        yield
    finally:
        if asked is not None:
            os.environ["ACCELERATE_USE_DEEPSPEED"] = asked


def device(requested: str) -> str:
    """``requested``, with a bare ``cuda`` made this process's own GPU (``cuda:LOCAL_RANK``) when several run."""
    if requested == "cuda" and world() > 1:
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return requested


def barrier() -> None:
    """Wait until every process gets here."""
    if world() > 1:
        _state().wait_for_everyone()


def broadcast(value):
    """The main process's ``value``, on every process (any picklable object)."""
    if world() == 1:
        return value
    from accelerate.utils import broadcast_object_list

    _state()
    return broadcast_object_list([value], from_process=0)[0]


def gather(items: list) -> list:
    """Every process's ``items`` concatenated in process order, on every process."""
    if world() == 1:
        return list(items)
    from accelerate.utils import gather_object

    _state()
    return list(gather_object(list(items)))


def share(items: list) -> list:
    """This process's part of ``items`` (every ``world``-th, from its rank): what :func:`gather` reassembles."""
    return list(items)[rank()::world()]


def rounds(n: int) -> int:
    """How many of ``n`` shared items the busiest process gets: with sharded weights every process runs that many
    forward passes (the idle ones on a stand-in whose result is dropped), or the collectives would hang."""
    return -(-n // world())


def smallest(value: int) -> int:
    """The smallest ``value`` over the processes when the weights are sharded (a choice that fixes how many forward
    passes a batch takes must be the same on every process); ``value`` itself otherwise."""
    if not sharded() or world() == 1:
        return value
    import torch
    import torch.distributed as dist

    least = torch.tensor(value, device=_state().device)
    dist.all_reduce(least, op=dist.ReduceOp.MIN)
    return int(least)


def reassemble(parts: list, n: int) -> list:
    """The gathered ``(index, value)`` pairs of a shared list of ``n`` items, as the list in its own order."""
    out = [None] * n
    for index, value in parts:
        out[index] = value
    return out


def sum_over(tensors: dict) -> dict:
    """Each tensor of ``tensors`` summed over the processes (new tensors, on the CPU), on every process."""
    if world() == 1:
        return dict(tensors)
    from accelerate.utils import reduce

    device = _state().device
    return {key: reduce(value.to(device), reduction="sum").cpu() for key, value in tensors.items()}
