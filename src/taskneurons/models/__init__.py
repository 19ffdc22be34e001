"""Models: loading from anywhere, tiny test models, and the FFN map of each architecture family.

Names are looked up on first use (PEP 562), so that ``models.spec`` (model names, checked before anything
heavy) can be imported without importing torch and transformers.
"""
import importlib

_WHERE = {"FFN": "ffn", "FFN_MAPS": "ffn", "KINDS": "ffn", "FFNMap": "ffn", "ParamSlice": "ffn", "Projection": "ffn",
          "families": "ffn", "ffn_map_for": "ffn", "DEFAULT_MODEL": "spec", "model_names": "spec",
          "LoadedModel": "loading", "load_model": "loading"}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
