"""Float32 master copies of 16-bit trained parameters.

AdamW moves a weight by about ``lr`` per step; a bfloat16 weight keeps 8 significant bits, so for a weight of
size 0.02 any step below about 8e-5 rounds to nothing (most of full fine-tuning's 2e-5 steps). The optimizer
therefore updates float32 copies, which are rounded into the parameters after every step: small steps add up
in the copy and reach the weights as they accumulate. Float16 weights are refused (without a loss scaler their
gradients overflow); train those in float32 or bfloat16.
"""
from __future__ import annotations

import torch

from ..errors import TaskNeuronsError

SIXTEEN_BIT = (torch.bfloat16, torch.float16)


class MasterWeights:
    """For each trained parameter, the tensor the optimizer updates: a float32 copy of a 16-bit one, else itself
    (itself always without ``copies``: DeepSpeed keeps its own)."""

    def __init__(self, params: list[torch.nn.Parameter], copies: bool = True):
        if any(p.dtype == torch.float16 for p in params):
            raise TaskNeuronsError("training float16 weights overflows without a loss scaler; load the model in "
                                   "bfloat16 (trained through float32 master copies) or float32")
        self.pairs = [(p, p.detach().float().clone().requires_grad_(True) if copies and p.dtype in SIXTEEN_BIT else p)
                      for p in params]

    def optimized(self) -> list[torch.Tensor]:
        return [master for _, master in self.pairs]

    def any(self) -> bool:
        return any(master is not p for p, master in self.pairs)

    def take_grads(self) -> None:
        """The parameters' (synchronised) gradients, in float32, onto the copies."""
        for p, master in self.pairs:
            if master is not p:
                master.grad = None if p.grad is None else p.grad.float()

    @torch.no_grad()
    def put_weights(self) -> None:
        """The updated copies, rounded into the parameters."""
        for p, master in self.pairs:
            if master is not p:
                p.copy_(master)
