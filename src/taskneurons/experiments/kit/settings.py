"""Settings: what every experiment needs (model, device, dtype, sizes, evaluation, seed, data root).

The three experiment configs extend this dataclass. ``__post_init__`` checks every value, and the model spec,
before an experiment creates its run folder, so a wrong value leaves nothing behind.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import TaskNeuronsError
from ...evaluation.evaluate import CLASSIFICATION_METHODS
from ...models.loading import DEFAULT_MODEL, DEVICE, DTYPES, check_model_spec
from ...configs import checks
from ...configs.options import option

GENERATION_CAP = 256
# The shortest max_length: a target gets at most half of it (target_length), so 8 keeps a prompt's last 4 tokens
# (a template's closing cue such as "Answer:" and a word of input) and a label of up to 4 tokens; below that a run
# would score and train on inputs with nothing left of the prompt.
MIN_LENGTH = 8


@dataclass
class Settings:
    model: str = option(DEFAULT_MODEL, "a built-in name, a local folder, a .gguf file or a hub id (owner/name)")
    device: str = option("cpu", "cpu | cuda | cuda:N | mps | auto (split over the visible GPUs)")
    dtype: str = option("float32", "float32 | bfloat16 | float16 (train in float32 on a CPU)")
    batch_size: int = option(8, "examples per batch when scoring, training and evaluating")
    max_length: int = option(256, "prompt + target tokens (at least 8)")
    max_new_tokens: int | None = option(None,
        "tokens generated for a generation task (null: from its references' lengths)")
    max_target_tokens: int | None = option(None,
        "target tokens trained and scored on (null: from the references' lengths)")
    eval_method: str = option("rank",
        'classification: "rank" (summed label log-likelihood) | "rank_mean" (per token) | "rank_eos" (label + EOS) | '
        '"generate" (greedy + exact match); evaluation.CLASSIFICATION_METHODS')
    seed: int = option(0, "every sample and random control derives its seed from this one")
    n_boot: int = option(2000, "bootstrap resamples of every interval")
    confidence: float = option(0.95, "confidence level of every interval")
    data_root: str | None = option(None,
        "where built-in task names are folders (null: $TASKNEURONS_DATA, else ../shared/data)")

    def __post_init__(self):
        if not isinstance(self.device, str) or not DEVICE.match(self.device):
            raise TaskNeuronsError(f"option device={self.device!r} is not one of cpu, cuda, cuda:N, mps, auto")
        checks.choice("dtype", self.dtype, DTYPES)
        checks.choice("eval_method", self.eval_method, CLASSIFICATION_METHODS)
        checks.integer("batch_size", self.batch_size)
        checks.integer("max_length", self.max_length, minimum=MIN_LENGTH)
        for name in ("max_new_tokens", "max_target_tokens"):
            checks.integer(name, getattr(self, name), optional=True)
        if self.max_target_tokens is not None and self.max_target_tokens >= self.max_length:
            raise TaskNeuronsError(f"option max_target_tokens={self.max_target_tokens} leaves no prompt token in "
                                   f"max_length={self.max_length}; give a smaller one (or null)")
        checks.integer("seed", self.seed, minimum=0)
        checks.integer("n_boot", self.n_boot, minimum=100)
        checks.number("confidence", self.confidence, 0, 1)
        if self.confidence == 1:
            raise TaskNeuronsError("option confidence=1 is not a number in (0, 1)")
        if self.data_root is not None and not isinstance(self.data_root, str):
            raise TaskNeuronsError(f"option data_root={self.data_root!r} is not a folder path (or null)")
        check_model_spec(self.model, self.device)

    def target_length(self, plans, tokenizer) -> int:
        """Target tokens kept when training or scoring on these tasks' examples: ``max_target_tokens``, or the
        most any of them needs (``ExamplePlan.target_tokens``: the longest label; a generation task's 95th
        percentile), at most half of ``max_length`` (the prompt keeps the rest)."""
        if self.max_target_tokens:
            return self.max_target_tokens
        return max(1, min(max(plan.target_tokens(tokenizer) for plan in plans), self.max_length // 2))

    def generation_length(self, plan, tokenizer) -> int:
        """New tokens generated for a generation task: ``max_new_tokens``, or its references' 95th percentile
        plus one, at most ``GENERATION_CAP``."""
        return self.max_new_tokens or min(plan.target_tokens(tokenizer) + 1, GENERATION_CAP)
