"""The kit the three experiments stand on: settings, selection, training specs, seeds for samples and random
controls, and evaluation of an example plan (``tasks.plans``) with per-example outcomes."""
from .evaluation import evaluate_plan
from ...tasks.plans import ExamplePlan, keep_lengths, make_plans
from .seeds import control_seed, derive_seed, training_seed
from .selection import Selection
from .settings import Settings
from .training import TrainingSpec

__all__ = ["ExamplePlan", "Selection", "Settings", "TrainingSpec", "control_seed", "derive_seed", "evaluate_plan",
           "keep_lengths", "make_plans", "nested",
           "training_seed"]
