"""Models: loading from anywhere, tiny test models, and the FFN map of each architecture family."""
from .ffn import FFN, FFN_MAPS, KINDS, FFNMap, ParamSlice, Projection, families, ffn_map_for
from .loading import DEFAULT_MODEL, LoadedModel, load_model, model_names

__all__ = ["FFN", "FFN_MAPS", "KINDS", "FFNMap", "ParamSlice", "Projection", "families", "ffn_map_for", "DEFAULT_MODEL",
           "LoadedModel", "load_model", "model_names"]
