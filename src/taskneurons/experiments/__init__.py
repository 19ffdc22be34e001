"""Experiments: the demo, identify, generalize, continual."""
