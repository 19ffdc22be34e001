"""Run folders: one run each, resumable step by step, locked while written, saying what they hold (``folder``);
their state as it is true now, the lock, configs compared by dotted keys (``state``)."""
from .folder import RUN_FILES, Run
from .state import code_version, current_state, first_line, flatten, moved, option_defaults, read_state

__all__ = ["RUN_FILES", "Run", "code_version", "current_state", "first_line", "flatten", "moved", "option_defaults",
           "read_state"]
