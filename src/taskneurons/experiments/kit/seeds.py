"""Seeds derived from names: every sample and random control gets its own, reproducible across runs."""
from __future__ import annotations

from ...tasks.sampling import derive_seed  # lives with the sampling rule, which evaluation uses too


def control_seed(run_seed: int, task: str, index: int, what: str = "random") -> int:
    """The seed of random control ``index`` of ``task``: each task has its own independent draws."""
    return derive_seed(run_seed, "control", what, task, index)


def training_seed(run_seed: int, *what) -> int:
    """The seed of one training, named by ``what`` (identify: task and index; continual: the run's training seed)
    (32 bits: what ``accelerate.set_seed`` takes)."""
    return derive_seed(run_seed, "training", *what) % 2 ** 32
