"""Neurons: scorers and attribution, selection into neuron sets (set algebra, random controls, files), deactivation."""
from .attribution import score_neurons
from .deactivate import deactivate
from .fingerprint import model_fingerprint
from .neuron_set import NeuronSet, pairwise_jaccard
from .scorers import SCORERS, make_scorer
from .scores import Scores
from .specificity import SPECIFICITY_METHODS, specific_scores, specificity_index, specificity_index_from_outcomes

__all__ = ["score_neurons", "SCORERS", "make_scorer", "Scores", "NeuronSet", "deactivate", "pairwise_jaccard",
           "model_fingerprint", "SPECIFICITY_METHODS", "specific_scores", "specificity_index",
           "specificity_index_from_outcomes"]
