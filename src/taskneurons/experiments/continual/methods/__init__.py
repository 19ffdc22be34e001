"""The continual-learning methods: one module per method, each registered once by ``@register``.

``get_method(name)`` (a wrong name gets the list of right ones), ``method_specs(config.methods)``.
"""
from .base import METHODS, Context, Method, MethodOptions, MethodSpec, draws, get_method, method_specs, register

# importing a method's module registers it
from . import ncft, wncft, random_ncft, seqft, seqlora, olora, epi, replay, ewc, per_task_ft, multitask_ft  # noqa: E402,F401,I001

__all__ = ["METHODS", "Context", "Method", "MethodOptions", "MethodSpec", "draws", "get_method", "method_specs",
           "register"]
