"""taskneurons: task-specific neurons of language models.

The public API, each name imported on first use (``import taskneurons`` stays light: torch loads when a name that
needs it is used)::

    from taskneurons import load_model, load_task, evaluate, score_neurons, NeuronSet, deactivate

The experiments (``Identify``, ``Continual``, ``Generalize`` and their configs) are found by name in
``EXPERIMENTS``; everything else stays where it is, for those who need more.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {  # name -> the module that defines it
    "load_model": "taskneurons.models", "LoadedModel": "taskneurons.models",
    "load_task": "taskneurons.tasks", "Task": "taskneurons.tasks",
    "evaluate": "taskneurons.evaluation",
    "score_neurons": "taskneurons.neurons", "Scores": "taskneurons.neurons", "NeuronSet": "taskneurons.neurons",
    "deactivate": "taskneurons.neurons",
    "NeuronTuner": "taskneurons.tuning", "TrainConfig": "taskneurons.tuning", "train": "taskneurons.tuning",
    "ExamplePlan": "taskneurons.tasks.plans", "control_seed": "taskneurons.experiments.kit",
    "EXPERIMENTS": "taskneurons.experiments.experiment",
    "Identify": "taskneurons.experiments.identify", "IdentifyConfig": "taskneurons.experiments.identify",
    "Continual": "taskneurons.experiments.continual", "ContinualConfig": "taskneurons.experiments.continual",
    "Generalize": "taskneurons.experiments.generalize", "GeneralizeConfig": "taskneurons.experiments.generalize",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'taskneurons' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
