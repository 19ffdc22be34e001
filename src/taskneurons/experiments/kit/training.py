"""TrainingSpec: how many examples one training uses and its hyper-parameters, flat.

Batch size, maximum length, the target cut and the seed come from the experiment's Settings, so a spec holds every
other TrainConfig field (lr, epochs, max_steps, weight_decay, schedule, ...) and ``n_train``; a test keeps the two
in step. A continual method's ``train`` options override fields of the run's spec, merged once
(:meth:`TrainingSpec.overridden`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace

from ...errors import TaskNeuronsError
from ...tuning import TrainConfig
from ...configs import checks
from ...configs.options import option

FROM_SETTINGS = ("batch_size", "max_length", "seed", "max_target_length")


@dataclass
class TrainingSpec:
    n_train: int = option(200, "pool examples per task")
    lr: float = option(2e-5, "learning rate (AdamW)")
    epochs: int = option(1, "passes over the n_train examples")
    max_steps: int | None = option(None, "optimizer steps; overrides epochs (the examples are cycled)")
    grad_accum: int = option(1, "micro-batches per optimizer step")
    weight_decay: float = option(0.0, "AdamW's decoupled weight decay")
    warmup_ratio: float = option(0.0, "share of the steps the rate warms up over, in [0, 1)")
    schedule: str = option("linear", "learning-rate schedule: linear | cosine | constant")
    mixed_precision: str = option("no", "accelerate's mixed precision: no | bf16 | fp16")
    max_grad_norm: float | None = option(1.0, "gradient clipping norm (null: none)")
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass: less memory, ~30% "
                                                 "more time")
    log_every: int = option(10, "optimizer steps between loss lines")

    def __post_init__(self):
        checks.integer("n_train", self.n_train)
        checks.field_types(TrainingSpec, {f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        try:  # every value (lr >= 0, schedule, warmup_ratio...) is checked by TrainConfig itself
            self.for_settings(SimpleNamespace(batch_size=1, max_length=1, seed=0))
        except TaskNeuronsError as e:
            raise TaskNeuronsError(f"option {e}") from None

    @staticmethod
    def upgraded(values: dict, name: str) -> dict:
        """A spec written before it was flat (``{n_train: 8, options: {weight_decay: 0.1}}``, as the evidence
        configs of December 2026 are) read as today's (``{n_train: 8, weight_decay: 0.1}``)."""
        if not isinstance(values.get("options"), dict):
            return values
        clash = sorted(set(values["options"]) & set(values) - {"options"})
        if clash:
            raise TaskNeuronsError(f"option {name}.options.{clash[0]} is also set directly; keep one (the spec is "
                                   f"flat now)")
        return {**{k: v for k, v in values.items() if k != "options"}, **values["options"]}

    def overridden(self, changes: dict, where: str) -> TrainingSpec:
        """This spec with ``changes`` (field -> value; ``where`` names them in an error), checked."""
        return checks.nested(TrainingSpec, {**dataclasses.asdict(self), **changes}, where)

    def for_settings(self, settings, target_length: int | None = None, seed: int | None = None) -> TrainConfig:
        """The TrainConfig of this spec under an experiment's Settings (``target_length``: see
        ``Settings.target_length``; ``seed``: the training's, default the settings')."""
        fields = {key: value for key, value in dataclasses.asdict(self).items() if key != "n_train"}
        return TrainConfig(batch_size=settings.batch_size, max_length=settings.max_length,
                           seed=settings.seed if seed is None else seed, max_target_length=target_length, **fields)
