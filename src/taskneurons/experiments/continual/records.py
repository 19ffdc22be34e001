"""Continual's records, typed: at every level each evaluation method is a peer under ``by_evaluation`` (the run's
``eval_method`` first, then each ``also_evaluate`` one), so a reader asks for the method it wants and nothing is
nested under another method's results. The TypedDicts below are the schema of ``results.json`` (version 2);
:func:`upgraded` reads a results.json or a cached step written before (version 1: the main method's record at the
top, the others under ``"also"``), so old run folders resume and old evidence is re-read.
"""
from __future__ import annotations

from typing import NotRequired, TypedDict

from ...errors import TaskNeuronsError

VERSION = 2


class Record(TypedDict):
    """One task scored by one evaluation method: the score (percent), n and each example's outcome."""
    score: float
    n: int
    outcomes: list[float]


class StageScores(TypedDict):
    """Every task of a sequence after one stage (None: not evaluated): a column of the accuracy matrix."""
    scores: dict[str, float | None]
    outcomes: dict[str, list[float] | None]


class View(TypedDict):
    """A method's result by one evaluation method."""
    matrix: NotRequired[list[list[float | None]]]  # sequential and isolated methods: a[i][j]
    final: NotRequired[list[float]]  # joint methods: the score of each task
    n: list
    final_outcomes: dict[str, list[float]]
    learnt_outcomes: NotRequired[dict[str, list[float]]]  # sequential methods: task i right after stage i
    metrics: dict
    intervals: dict


class MethodResult(TypedDict):
    kind: str  # sequential | isolated | joint
    train: list[dict]
    describe: NotRequired[dict]
    by_evaluation: dict[str, View]


class OrderEvaluation(TypedDict):
    zero_shot: list[float] | None  # the base model's score per task (with evaluate_unseen)
    reference: list[float] | None  # A_i: Per-Task FT's score per task


class Order(TypedDict):
    """One run: a task sequence trained with one training seed."""
    tasks: list[str]
    sources: list[str]
    evaluation: str  # the main evaluation method
    zero_shot_outcomes: dict[str, list[float]] | None
    by_evaluation: dict[str, OrderEvaluation]
    methods: dict[str, MethodResult]


class Across(TypedDict):
    """Across the runs, by one evaluation method."""
    summary: dict[str, dict[str, list]]  # label -> metric -> value per run
    intervals: dict[str, dict[str, dict]]  # label -> metric -> interval over runs (and AA's over examples)
    gaps: NotRequired[dict]  # an also_evaluate method's AA and BWT minus the main method's


class Results(TypedDict):
    version: int
    config: dict
    methods: dict[str, dict]
    orders: dict[str, Order]
    examples: dict
    auto_k: NotRequired[dict]
    by_evaluation: dict[str, Across]


def evaluations(config) -> list[str]:
    """The run's evaluation methods, the main one first (a config object or its dict)."""
    get = config.get if isinstance(config, dict) else lambda key: getattr(config, key)
    return [get("eval_method"), *[m for m in get("also_evaluate") or [] if m != get("eval_method")]]


def stage_record(records: dict[str, dict[str, Record] | None], methods: list[str]) -> dict:
    """A step result from per-task records by evaluation method (None: not evaluated): by each of ``methods``,
    ``{"scores", "outcomes"}`` by task (StageScores)."""
    return {"by_evaluation": {m: {"scores": {k: r and r[m]["score"] for k, r in records.items()},
                                  "outcomes": {k: r and r[m]["outcomes"] for k, r in records.items()}}
                              for m in methods}}


def main_across(results: dict) -> Across:
    """The run's statistics across its runs by its main evaluation method."""
    return results["by_evaluation"][results["config"]["eval_method"]]


def merged(parts: list[tuple[list[int], dict[str, Record]]], n: int) -> dict[str, Record]:
    """One task's records from records of disjoint subsets of its evaluated examples (``(positions, records by
    evaluation method)`` pairs covering 0..n-1): each method's outcomes back in their places, its score their mean."""
    out = {}
    for method in parts[0][1]:
        outcomes = [None] * n
        for positions, records in parts:
            for position, outcome in zip(positions, records[method]["outcomes"]):
                outcomes[position] = outcome
        if any(o is None for o in outcomes):
            raise ValueError("merged: the parts do not cover every evaluated example")
        out[method] = Record(score=sum(outcomes) / n, n=n, outcomes=outcomes)
    return out


# --- version 1 (before December 2026): the main method at the top, the others under "also" ---------------------
def _split(entry: dict, main: str, keys: tuple[str, ...]) -> dict:
    """``entry`` with its per-evaluation ``keys`` moved under ``by_evaluation`` (``also`` included)."""
    if "by_evaluation" in entry:
        return entry
    rest = {k: v for k, v in entry.items() if k not in keys and k != "also"}
    return {**rest, "by_evaluation": {main: {k: entry[k] for k in keys if k in entry},
                                      **{m: {k: v[k] for k in keys if k in v} for m, v in entry.get("also", {}).items()}}}


RECORD_KEYS = ("score", "n", "outcomes")
STAGE_KEYS = ("scores", "outcomes")
VIEW_KEYS = ("matrix", "final", "n", "final_outcomes", "learnt_outcomes", "metrics", "intervals")


def upgraded_step(step: dict | None, main: str) -> dict | None:
    """A cached step of version 1 in today's layout (unchanged when it is already): a task's record (zero-shot,
    Per-Task FT) or a stage's scores (a sequential stage, Multi-Task FT)."""
    if step is None or "by_evaluation" in step:
        return step
    return _split(step, main, STAGE_KEYS if "scores" in step else RECORD_KEYS)


def upgraded(results: dict) -> Results:
    """A continual results.json of version 1 in today's layout; one of today's unchanged; anything else refused
    in one line."""
    version = results.get("version", 1)
    if version == VERSION:
        return results
    if version != 1:
        raise TaskNeuronsError(f"a continual results.json of version {version} cannot be read (expected {VERSION})")
    config = results["config"]
    main_method = config["eval_method"]
    orders = {}
    for name, order in results["orders"].items():
        methods = {label: _split(r, main_method, VIEW_KEYS) for label, r in order["methods"].items()}
        orders[name] = {**_split(order, main_method, ("zero_shot", "reference")), "methods": methods}
    top = {k: v for k, v in results.items() if k not in ("summary", "intervals", "also")}
    across = {main_method: {"summary": results.get("summary", {}), "intervals": results.get("intervals", {})},
              **results.get("also", {})}
    return {**top, "version": VERSION, "orders": orders, "by_evaluation": across}
