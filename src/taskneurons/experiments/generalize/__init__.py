"""Generalization through task-specific neurons (paper 2.7-2.10, Tables 3, 4, 8-11, Figures 2, 3, 6).

``groups`` maps the paper's tasks and groups to the data here (and keeps the paper's numbers), ``config`` holds
every option, ``experiment`` runs the steps (resumably), ``report`` prints and plots them, ``demo`` is the
demo's small slice. See docs/generalize.md.
"""
from .config import GeneralizeConfig
from .demo import demo_config, run_generalize_demo
from .experiment import Generalize, neuron_weights
from .groups import BUILTIN_TASKS, GROUPS

__all__ = ["GeneralizeConfig", "Generalize", "neuron_weights", "BUILTIN_TASKS", "GROUPS", "demo_config",
           "run_generalize_demo"]
