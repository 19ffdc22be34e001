"""Which parameters take gradients: the one helper for every place that changes ``requires_grad`` for a while."""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch


@contextlib.contextmanager
def trainable_only(model: torch.nn.Module, params: Iterable[torch.nn.Parameter] = ()) -> Iterator[None]:
    """``requires_grad`` on exactly ``params`` of ``model`` (none: every parameter frozen) while the body runs;
    every flag is put back after, as it was."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    chosen = {id(p) for p in params}
    for p, _ in flags:
        p.requires_grad_(id(p) in chosen)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
