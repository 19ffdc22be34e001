"""Continual learning with task-specific neurons: NCFT, W-NCFT and the baselines (paper 2.11-2.13, 3.4-3.5).

``Continual(ContinualConfig(...), out)()`` runs every configured method on every task sequence, resumably
(``experiment``); ``methods/`` holds one registered module per method, ``metrics`` the pure metric functions,
``orders`` the paper's task orders, ``demo.run_continual_demo`` the short demo.
"""
from .config import ContinualConfig
from .demo import run_continual_demo
from .methods import METHODS, get_method
from ...tasks.orders import ORDERS, resolve_orders
from .experiment import Continual

__all__ = ["Continual", "ContinualConfig", "METHODS", "get_method", "ORDERS", "resolve_orders", "run_continual_demo"]
