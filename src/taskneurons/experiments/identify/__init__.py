"""The identification experiment (paper 2.5-2.6, Tables 1-2, Figure 5): ``config`` holds its options,
``experiment`` runs it (resumably), ``report`` makes its tables, plots and summary."""
from .config import IdentifyConfig
from .experiment import Identify

__all__ = ["Identify", "IdentifyConfig"]
