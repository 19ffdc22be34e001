"""Shared fixtures: tiny models per family, the shared data folder."""
from pathlib import Path

import pytest
import torch

from taskneurons.models import load_model
from taskneurons.models.tiny import TINY_CONFIGS

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TINY_NAMES = sorted(TINY_CONFIGS)


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models run faster on one thread (and do not fight other processes for the cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny():
    """tiny(name) -> a fresh LoadedModel (cached per name for the session: do not mutate it in place)."""
    cache = {}

    def get(name="tiny-llama"):
        if name not in cache:
            cache[name] = load_model(name)
        return cache[name]

    return get
