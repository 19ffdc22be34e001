"""Offline-first access to the Hugging Face hub: what is in the local cache is read from there without a network
call, and one quick probe per process (a few seconds at most, no retries) decides whether the hub can be asked
for the rest. Without it, a name that is neither a local path nor cached would cost a minute of "Retrying" lines
before failing."""
from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

PROBE_TIMEOUT_S = 3.0


@functools.cache
def reachable() -> bool:
    """Whether the hub answers within ``PROBE_TIMEOUT_S`` (False in offline mode, ``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import constants, get_session

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        get_session().head(constants.ENDPOINT, timeout=PROBE_TIMEOUT_S)
    except Exception:  # DNS, refused, timeout, proxy: all mean "not reachable from here"
        return False
    return True


def cached(repo_id: str, filename: str = "config.json", repo_type: str | None = None) -> bool:
    """Whether ``filename`` of hub repository ``repo_id`` is in the local cache."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return isinstance(try_to_load_from_cache(repo_id, filename, repo_type=repo_type), str)
    except HFValidationError:  # not a repository id at all
        return False


@contextmanager
def offline() -> Iterator[None]:
    """Inside the block, huggingface_hub, transformers and datasets read their caches only (the same switch as
    ``HF_HUB_OFFLINE=1``, which those libraries read once at import)."""
    from huggingface_hub import constants

    modules = [constants]
    try:
        import datasets.config

        modules.append(datasets.config)
    except ImportError:
        pass
    before = [m.HF_HUB_OFFLINE for m in modules]
    for m in modules:
        m.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for m, value in zip(modules, before):
            m.HF_HUB_OFFLINE = value
