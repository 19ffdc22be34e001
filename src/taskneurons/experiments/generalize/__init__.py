"""Generalization through task-specific neurons (paper 2.7-2.10, Tables 3, 4, 8-11, Figures 2, 3, 6).

``groups`` maps the paper's tasks and groups to the data here (and keeps the paper's numbers), ``config`` holds
every option, ``lab`` what the parts share, ``overlap``, ``sweep``, ``ablation`` and ``similarity`` are the
parts, ``experiment`` runs them (resumably), ``report`` prints and plots them, ``demo`` is the demo's slice. See docs/generalize.md.
"""
from .config import GeneralizeConfig
from .demo import demo_config, run_generalize_demo
from .experiment import Generalize
from .groups import GROUPS, PAPER_TASKS

__all__ = ["GeneralizeConfig", "Generalize", "PAPER_TASKS", "GROUPS", "demo_config", "run_generalize_demo"]
