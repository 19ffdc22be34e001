"""Analysis: overlap, parameter similarity and correlation. Pure functions on neuron sets, scores, plain tensors
and numbers; nothing here loads or runs a model (DESIGN.md)."""
from .correlation import Correlation, correlate
from .overlap import (apportion, cross_overlap, group_overlap, n_from_target, overlap_by_proportion, overlap_controlled_set,
                      overlap_matrix, proportion_counts, share, union)
from .similarity import aggregate, cosine, layer_similarity, mean_curve

__all__ = ["Correlation", "correlate", "apportion", "cross_overlap", "group_overlap", "n_from_target",
           "overlap_by_proportion", "overlap_controlled_set", "overlap_matrix", "proportion_counts", "share", "union",
           "aggregate", "cosine", "layer_similarity", "mean_curve"]
