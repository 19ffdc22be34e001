"""One training loop for every method (full fine-tuning, LoRA, the neuron tuner), on ``accelerate``.

``train`` optimises exactly the parameters it is given with AdamW, on the target tokens of the examples
(``tasks/batching.py``), in one process or under ``accelerate launch`` (data parallel: ``batch_size`` is the whole
step's batch, each process weighting its part's loss by its share of the target tokens, so any number of processes
trains the same steps, to float rounding). Sharded weights: FSDP2 (``models/sharding.py``) averages the gradients
in place of DDP; DeepSpeed ZeRO's engine (``models/zero.py``) averages, clips and steps, keeping float32 masters.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, RandomSampler
from tqdm.auto import tqdm
from transformers import get_scheduler

from .. import processes
from ..errors import TaskNeuronsError
from ..models import sharding, zero
from ..models.grads import restore, set_trainable
from ..models.memory import check_fits, estimate
from ..tasks.base import Example, Task
from ..tasks.batching import IGNORE, training_batch
from ..tasks.loss import target_loss
from .master import MasterWeights

log = logging.getLogger(__name__)
SCHEDULES = ("linear", "constant", "cosine")
PRECISIONS = ("no", "bf16")
ACCELERATE_MARKS = ("forward", "_original_forward", "_is_accelerate_prepared")  # what prepare() sets on a model


@dataclass
class TrainConfig:
    """Training hyper-parameters (defaults: the paper's reference script, section 3.6, for one epoch)."""

    lr: float = 2e-5
    epochs: int = 1
    max_steps: int | None = None  # optimizer steps; when set, overrides epochs (the data is cycled)
    batch_size: int = 8  # per optimizer (micro-)step, over all processes together
    grad_accum: int = 1
    max_length: int = 256
    max_target_length: int | None = None  # target tokens kept (None: half of max_length)
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    schedule: str = "linear"
    mixed_precision: str = "no"
    seed: int = 0
    log_every: int = 10
    max_grad_norm: float | None = 1.0
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, ~30% more time

    def __post_init__(self):
        if not (math.isfinite(self.lr) and self.lr >= 0):
            raise TaskNeuronsError(f"lr must be a finite number >= 0, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise TaskNeuronsError(f"schedule {self.schedule!r} is not one of {list(SCHEDULES)}")
        if self.mixed_precision not in PRECISIONS:
            raise TaskNeuronsError(f"mixed_precision {self.mixed_precision!r} is not one of {list(PRECISIONS)}")
        for name in ("epochs", "batch_size", "grad_accum", "max_length", "log_every"):
            if getattr(self, name) < 1:
                raise TaskNeuronsError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise TaskNeuronsError(f"max_steps must be at least 1 (or None), got {self.max_steps}")
        if not 0 <= self.warmup_ratio < 1:
            raise TaskNeuronsError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise TaskNeuronsError(f"max_grad_norm must be > 0 (or None), got {self.max_grad_norm}")


@dataclass
class TrainResult:
    """The loss of every optimizer step (averaged over its micro-batches and processes), and the cost."""

    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    tokens: int = 0  # non-padding tokens trained on, all processes


def train(lm, data, params: Iterable[torch.nn.Parameter], config: TrainConfig | None = None, progress: bool = True,
          extra_loss: Callable[[torch.nn.Module], torch.Tensor] | None = None) -> TrainResult:
    """Train ``lm.model`` on ``data``, updating only ``params`` (every other parameter is frozen meanwhile).

    A non-finite loss or gradient raises TaskNeuronsError before its update is applied; the model's mode is kept.

    Args:
        lm: the model (``load_model``).
        data: examples, a Task (its train split), or several Tasks mixed.
        params: the parameters to train; they must belong to the model (e.g. ``NeuronTuner.parameters()``).
        config: the training settings (``TrainConfig``: lr, epochs or max_steps, batch size, schedule...).
        progress: show a progress bar.
        extra_loss: ``extra_loss(model)`` added to each micro-batch's loss (e.g. a regulariser).

    Returns:
        A ``TrainResult``: ``losses``, ``steps``, ``seconds``, ``tokens``.

    Example:
        >>> from taskneurons import TrainConfig, load_model, load_task, train
        >>> lm, task = load_model("tiny-llama"), load_task("rotten_tomatoes")
        >>> up = lm.model.model.layers[0].mlp.up_proj.weight
        >>> before = up.detach().clone()
        >>> train(lm, task.splits["train"][:8], [up], TrainConfig(max_steps=2, batch_size=4), progress=False).steps
        2
        >>> bool((up != before).any())
        True
    """
    config = config or TrainConfig()
    processes.check_launch()
    examples = _examples(data)
    model = lm.model
    params = sharding.shard_trained(model, _check_params(model, params))  # sharded: the new parameter objects
    accelerator = _accelerator(config, cpu=next(model.parameters()).device.type == "cpu")
    set_seed(config.seed)
    loader = DataLoader(range(len(examples)), batch_size=config.batch_size,
                        sampler=RandomSampler(range(len(examples)), generator=torch.Generator().manual_seed(config.seed)),
                        collate_fn=partial(_collate, lm.tokenizer, examples, config.max_length, config.max_target_length))
    per_process = config.batch_size // accelerator.num_processes
    check_fits(estimate(model, "train", per_process, config.max_length, target_tokens=config.max_target_length,
                        gradient_checkpointing=config.gradient_checkpointing, trained=params),
               per_process, next(model.parameters()).device)
    deepspeed = sharding.deepspeed()
    masters = MasterWeights(params, copies=not deepspeed)  # 16-bit parameters are updated through float32 copies
    adamw = torch.optim.AdamW(masters.optimized(), lr=config.lr, weight_decay=config.weight_decay)
    flags = set_trainable(model, params)  # every requires_grad flag back at the end
    checkpointing = config.gradient_checkpointing and not model.is_gradient_checkpointing
    marks = {k: model.__dict__[k] for k in ACCELERATE_MARKS if k in model.__dict__}
    was_training = model.training
    try:
        with contextlib.ExitStack() as scope:
            if checkpointing:  # non-reentrant: the recomputed forward runs the neuron tuner's and LoRA's hooks too
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if deepspeed:  # DeepSpeed's engine averages the gradients, clips and steps
                engine = scope.enter_context(zero.training(model, params, adamw, per_process, config.grad_accum,
                                                           config.max_grad_norm))
                wrapped, optimizer, loader = engine, None, accelerator.prepare(loader)
            elif processes.sharded():  # FSDP2 synchronises the gradients itself (reduce-scatter): no DDP around
                wrapped, optimizer, loader = model, adamw, accelerator.prepare(loader)  # it, and accelerate's FSDP2
            else:  # prepare would shard again; the loop steps the optimizer itself, once per optimizer step
                wrapped, optimizer, loader = accelerator.prepare(model, adamw, loader)
            per_epoch = math.ceil(len(loader) / config.grad_accum)  # loader: this process's shard
            total = config.max_steps or config.epochs * per_epoch
            warmup = math.ceil(config.warmup_ratio * total)
            name = "constant_with_warmup" if config.schedule == "constant" and warmup else config.schedule
            scheduler = get_scheduler(name, adamw, num_warmup_steps=warmup, num_training_steps=total)
            model.train()
            return _loop(accelerator, wrapped, model, optimizer, scheduler, loader, masters, config, total,
                         progress, extra_loss, engine if deepspeed else None)
    finally:
        for p in params:
            p.grad = None
        if checkpointing:
            model.gradient_checkpointing_disable()
        restore(flags)
        for k in ACCELERATE_MARKS:  # accelerate's autocast wrapper and mark go: the next train() prepares afresh
            model.__dict__.pop(k, None)
        model.__dict__.update(marks)
        model.train(was_training)


def _loop(accelerator, wrapped, model, optimizer, scheduler, loader, masters, config, total, progress,
          extra_loss, engine) -> TrainResult:
    """The optimizer steps. One host sync per step (its loss and gradient norm, checked and logged together);
    the micro-batches' losses add up on the device."""
    result = TrainResult()
    tokens = torch.zeros((), dtype=torch.long, device=accelerator.device)
    window, micro = torch.zeros((), device=accelerator.device), 0  # this process's losses of the step so far
    bar = tqdm(total=total, desc="train", unit="step", disable=not progress or not accelerator.is_main_process)
    start = time.perf_counter()
    with bar:
        while result.steps < total:
            for batch in loader:
                with accelerator.accumulate(model if engine is not None else wrapped):  # an engine has no no_sync
                    # the mean over the whole batch's target tokens, whichever process holds them: DDP averages
                    # the processes' gradients, so each one's sum is scaled by world / all target tokens
                    targets = accelerator.reduce((batch["labels"] != IGNORE).sum(), reduction="sum")
                    own = processes.sharded() or engine is not None  # no prepare() that adds autocast
                    with accelerator.autocast() if own else contextlib.nullcontext():
                        loss = target_loss(model, batch, reduction="sum", forward=wrapped)
                    loss = loss * (accelerator.num_processes / targets.clamp(min=1))
                    if extra_loss is not None:
                        loss = loss + sharding.plain(extra_loss(model))  # sharded weights: the whole sum
                    window, micro = window + loss.detach().float(), micro + 1
                    tokens += batch["attention_mask"].sum()
                    if engine is not None:
                        engine.set_gradient_accumulation_boundary(accelerator.sync_gradients)
                    (accelerator if engine is None else engine).backward(loss)
                    if accelerator.sync_gradients:
                        step_loss = accelerator.reduce(window, reduction="mean") / micro
                        window, micro = torch.zeros_like(window), 0
                        result.losses.append(_update(step_loss, result.steps + 1, engine, optimizer, masters,
                                                     scheduler, config, model))
                if not accelerator.sync_gradients:
                    continue
                scheduler.step()
                result.steps += 1
                bar.update()
                if result.steps % config.log_every == 0 or result.steps in (1, total):
                    recent = result.losses[-config.log_every:]
                    bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}")
                    log.info("step %d/%d: loss %.4f", result.steps, total, result.losses[-1])
                if result.steps >= total:
                    break
    result.seconds = time.perf_counter() - start
    result.tokens = int(accelerator.reduce(tokens, "sum"))
    return result


def _update(step_loss, step, engine, optimizer, masters, scheduler, config, model) -> float:
    """One optimizer step; returns the step's loss, checked finite with the gradient norm before the update
    (DeepSpeed's engine: the loss before, the norm as its step computes it; it skips a step that overflows)."""
    if engine is not None:
        _check_finite(step_loss, None, step, scheduler)
        engine.step()
        norm = engine.get_global_grad_norm() if config.max_grad_norm else None
        norm = torch.as_tensor(float("inf") if not engine.was_step_applied() else 0.0 if norm is None else float(norm))
        return _check_finite(step_loss, norm, step, scheduler)  # a skipped step: its gradients overflowed
    masters.take_grads()
    norm = None if config.max_grad_norm is None else \
        torch.nn.utils.clip_grad_norm_(masters.optimized(), config.max_grad_norm)
    loss = _check_finite(step_loss, norm, step, scheduler)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    masters.put_weights()
    model.zero_grad(set_to_none=True)
    return loss


def _check_finite(loss: torch.Tensor, norm: torch.Tensor | None, step: int, scheduler) -> float:
    """The step's loss as a number, after one host sync; stop before a non-finite loss or gradient norm can reach
    the weights."""
    values = torch.stack([loss, loss.new_zeros(()) if norm is None else sharding.plain(norm).to(loss)]).tolist()
    for what, value in zip(("loss", "gradient norm"), values):
        if not math.isfinite(value):
            lr = scheduler.get_last_lr()[0]
            raise TaskNeuronsError(f"{what} became {'nan' if math.isnan(value) else 'inf'} at step {step} "
                                   f"(lr={lr:.3g}); lower the learning rate or check the data")
    return values[0]


def _examples(data) -> list[Example]:
    """Examples from a list of Examples, a Task (its train split) or a list of Tasks (their train splits)."""
    if isinstance(data, Task):
        data = [data]
    data = list(data)
    if all(isinstance(d, Task) for d in data):
        data = [ex for task in data for ex in task.split("train")]
    if not data:
        raise TaskNeuronsError("no training examples")
    if not all(isinstance(ex, Example) for ex in data):
        kinds = sorted({type(d).__name__ for d in data})
        raise TaskNeuronsError(f"training data must be Examples or Tasks, got {kinds}")
    return data


def _collate(tokenizer, examples: Sequence[Example], max_length: int, max_target_length: int | None,
             indices: list[int]) -> dict[str, torch.Tensor]:
    return training_batch(tokenizer, [examples[i] for i in indices], max_length, max_target_length, padding_side="left")


def _check_params(model: torch.nn.Module, params) -> list[torch.nn.Parameter]:
    """The parameters to train, once each; all of them must be the model's own (so DDP synchronises them)."""
    unique = list({id(p): p for p in params}.values())
    if not unique:
        raise TaskNeuronsError("nothing to train: the list of parameters is empty")
    own = {id(p) for p in model.parameters()}
    foreign = sum(id(p) not in own for p in unique)
    if foreign:
        raise TaskNeuronsError(f"{foreign} of the {len(unique)} parameters to train are not the model's "
                               f"(a removed neuron tuner, or another model?)")
    return unique


def _accelerator(config: TrainConfig, cpu: bool) -> Accelerator:
    """A fresh Accelerator (``cpu``: the model's device; several CPU processes then train over gloo); accelerate
    keeps one mixed-precision setting per process, so a different one resets that shared state (the process group,
    under ``accelerate launch``, is kept)."""
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision") not in (None, config.mixed_precision):
        AcceleratorState._reset_state()
    with processes.accelerate_plain():  # DeepSpeed (ZeRO): the engine is ours, models/zero.py
        accelerator = Accelerator(cpu=cpu, mixed_precision=config.mixed_precision,
                                  gradient_accumulation_steps=config.grad_accum,
                                  dataloader_config=DataLoaderConfiguration(split_batches=True))
    if config.batch_size % accelerator.num_processes:
        raise TaskNeuronsError(f"batch_size {config.batch_size} cannot be split over {accelerator.num_processes} "
                               f"processes; give a multiple of {accelerator.num_processes} (the batch is the whole "
                               f"step's, shared out, so that any number of processes trains the same steps)")
    return accelerator
