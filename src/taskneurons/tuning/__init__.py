"""Tuning: the neuron tuner (train only selected neurons), LoRA, and the one training loop they all use."""
from .lora import add_lora, lora_parameters
from .neuron_tuner import NeuronTuner
from .trainer import TrainConfig, TrainResult, train

__all__ = ["NeuronTuner", "TrainConfig", "TrainResult", "train", "add_lora", "lora_parameters"]
