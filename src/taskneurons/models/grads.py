"""Which parameters take gradients: the one place that changes ``requires_grad``, for a ``with`` block
(:func:`trainable_only`) or for an object's lifetime (:func:`set_trainable` and :func:`restore`)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch

Flags = list[tuple[torch.nn.Parameter, bool]]


def set_trainable(model: torch.nn.Module, params: Iterable[torch.nn.Parameter] = ()) -> Flags:
    """``requires_grad`` on exactly ``params`` of ``model`` (none: every parameter frozen); returns the flags as they
    were, for :func:`restore`. An object that keeps parameters frozen beyond a ``with`` block (the neuron tuner)
    keeps these flags itself: a suspended ``trainable_only`` would put them back whenever it is garbage collected."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    chosen = {id(p) for p in params}
    for p, _ in flags:
        p.requires_grad_(id(p) in chosen)
    return flags


def restore(flags: Flags) -> None:
    for p, flag in flags:
        p.requires_grad_(flag)


@contextlib.contextmanager
def trainable_only(model: torch.nn.Module, params: Iterable[torch.nn.Parameter] = ()) -> Iterator[None]:
    """``requires_grad`` on exactly ``params`` of ``model`` while the body runs; every flag put back after."""
    flags = set_trainable(model, params)
    try:
        yield
    finally:
        restore(flags)
