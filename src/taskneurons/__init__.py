"""taskneurons: task-specific neurons of language models."""
__version__ = "0.1.0"
