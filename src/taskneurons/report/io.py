"""Moved to :mod:`taskneurons.io`; re-exported for the experiments that still import it from here."""
from ..io import write_json, write_text  # noqa: F401
