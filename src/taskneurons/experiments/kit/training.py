"""TrainingSpec: how many examples one training uses and its hyper-parameters.

Batch size, maximum length and seed come from the experiment's Settings, so a spec holds only what differs
between trainings: ``n_train`` and the other TrainConfig fields (lr, epochs, max_steps, weight_decay, ...).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ...errors import TaskNeuronsError
from ...registry import suggest
from ...tuning import TrainConfig
from . import checks
from .options import option

FROM_SETTINGS = ("batch_size", "max_length", "seed", "max_target_length")
OPTIONS = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in FROM_SETTINGS + ("lr", "epochs", "max_steps")]


@dataclass
class TrainingSpec:
    n_train: int = option(200, "pool examples per task")
    lr: float = option(2e-5, "learning rate (AdamW)")
    epochs: int = option(1, "passes over the n_train examples")
    max_steps: int | None = option(None, "optimizer steps; overrides epochs")
    options: dict = option(factory=dict, help="other TrainConfig fields: weight_decay, schedule, warmup_ratio...")

    def __post_init__(self):
        checks.integer("n_train", self.n_train)
        checks.number("lr", self.lr, 0, math.inf, low_open=False)
        checks.integer("epochs", self.epochs)
        checks.integer("max_steps", self.max_steps, optional=True)
        checks.mapping("options", self.options)
        for key in self.options:
            if key not in OPTIONS:
                where = " (set by the experiment's settings)" if key in FROM_SETTINGS else suggest(str(key), OPTIONS)
                raise TaskNeuronsError(f"option options.{key} cannot be set here{where}; options: {', '.join(OPTIONS)}")
        try:  # the options' values (schedule, warmup_ratio...) are checked by TrainConfig
            self.config(batch_size=1, max_length=1, seed=0)
        except TypeError as e:
            raise TaskNeuronsError(f"option options={self.options!r}: {e}") from None

    def config(self, batch_size: int, max_length: int, seed: int, max_target_length: int | None = None) -> TrainConfig:
        return TrainConfig(lr=self.lr, epochs=self.epochs, max_steps=self.max_steps, batch_size=batch_size,
                           max_length=max_length, seed=seed, max_target_length=max_target_length, **self.options)

    def for_settings(self, settings, target_length: int | None = None) -> TrainConfig:
        """The TrainConfig of this spec under an experiment's Settings (``target_length``: see
        ``Settings.target_length``)."""
        return self.config(settings.batch_size, settings.max_length, settings.seed, target_length)
