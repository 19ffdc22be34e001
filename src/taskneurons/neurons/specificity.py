"""Specificity: rescore every task's neurons by how specific they are to it, and measure specificity.

Plain top-k by attribution finds neurons that matter for every task. :func:`specific_scores` turns each task's
scores into scores whose top k% (``NeuronSet.from_scores``) are neurons specific to that task. Every method but
"none" first normalises each (task, layer, kind) row by its mean, n_t = s_t / mean(s_t row), so that a task with
a larger loss scale does not dominate (an all-zero row stays zero). With T tasks and O = the other tasks:

- ``none``: the scores as they are (returned as given; no checks, any number of tasks).
- ``relative`` (option ``eps``, default 0.1): r_t = n_t / (mean_{t' in O} n_t' + eps). eps is in units of the
  row mean, so a neuron that no other task uses scores n_t / eps, and noise-sized neurons stay small.
- ``entropy`` (LAPE, Tang et al. 2024; option ``min_score``, default 1.0): p_t = n_t / sum_t' n_t' (uniform
  where all are 0), H = -sum_t p_t log p_t, e_t = p_t * (1 - H / log T), in [0, 1], times min(1, n_t /
  ``min_score``) (default: full weight from the row mean up). As LAPE keeps only neurons active enough for the
  language, a neuron small for the task counts in proportion to its size; a neuron large for every task has
  e_t = 0, so it never ranks above one with some share of its own. (Before issue 23, neurons below
  ``min_score`` were demoted below all others, so a neuron large for every task, above every row mean, ranked
  before a neuron of this task only that a large shared neuron had pushed below the mean.)
- ``exclude_common`` (options ``k``, required, ``scope``, default "layer", ``max_tasks``, default T // 2 + 1):
  the task's own scores, with every neuron that is in the plain top-k% of at least ``max_tasks`` tasks demoted.

Demoted neurons (``exclude_common``) rank below all others of the task (both kinds, so scope "all" works too) in
the same order among themselves; values stay finite. :func:`specificity_index` reads a cross-task deactivation matrix.
"""
from __future__ import annotations

import math

import torch

from ..errors import TaskNeuronsError
from ..models.ffn import KINDS
from .neuron_set import NeuronSet
from .scores import Scores

SPECIFICITY_METHODS = ("none", "relative", "entropy", "exclude_common")
_OPTIONS = {"none": {}, "relative": {"eps": 0.1}, "entropy": {"min_score": 1.0},
            "exclude_common": {"k": None, "scope": "layer", "max_tasks": None}}


def specific_scores(scores: dict[str, Scores], method: str = "none", **options) -> dict[str, Scores]:
    """task -> new Scores ranking that task's neurons by specificity ``method`` (see the module docstring)."""
    if method not in SPECIFICITY_METHODS:
        raise TaskNeuronsError(f"unknown specificity method {method!r}; methods: {', '.join(SPECIFICITY_METHODS)}")
    unknown = sorted(set(options) - set(_OPTIONS[method]))
    if unknown:
        raise TaskNeuronsError(f"specificity method {method!r} takes options {list(_OPTIONS[method]) or 'none'}, "
                               f"got {unknown}")
    if method == "none":
        return dict(scores)
    tasks = list(scores)
    values = _check(scores)
    opts = {**_OPTIONS[method], **options}
    if method == "relative" and not opts["eps"] > 0:
        raise TaskNeuronsError(f"specificity option eps must be > 0, got {opts['eps']}")
    if method == "entropy" and not opts["min_score"] >= 0:
        raise TaskNeuronsError(f"specificity option min_score must be >= 0, got {opts['min_score']}")
    if method == "exclude_common":
        if opts["k"] is None:
            raise TaskNeuronsError("specificity method 'exclude_common' needs option k (the percentage selected)")
        opts["max_tasks"] = len(tasks) // 2 + 1 if opts["max_tasks"] is None else opts["max_tasks"]
        if not 1 <= opts["max_tasks"] <= len(tasks):
            raise TaskNeuronsError(f"specificity option max_tasks must be in 1..{len(tasks)}, got {opts['max_tasks']}")
        sets = [NeuronSet.from_scores(scores[t], opts["k"], opts["scope"]).masks for t in tasks]
        common = {kind: sum(m[kind].long() for m in sets) >= opts["max_tasks"] for kind in KINDS}
        out = {t: _demote(values[t], common) for t in tasks}
    else:
        if any((v < 0).any() for per in values.values() for v in per.values()):
            raise TaskNeuronsError(f"specificity method {method!r} needs non-negative scores")
        out = {t: {} for t in tasks}
        for kind in KINDS:
            n = torch.stack([_row_normalise(values[t][kind]) for t in tasks])  # [T, layers, width]
            result = _relative(n, opts["eps"]) if method == "relative" else _entropy(n, opts["min_score"])
            for i, t in enumerate(tasks):
                out[t][kind] = result[i]
    record = {"method": method, "options": opts, "tasks": tasks}
    return {t: Scores({kind: v.float() for kind, v in out[t].items()}, {**scores[t].meta, "specificity": record})
            for t in tasks}


def _check(scores: dict[str, Scores]) -> dict[str, dict[str, torch.Tensor]]:
    """float64 values per task, after checking: at least 2 tasks, one layout, finite values."""
    if len(scores) < 2:
        raise TaskNeuronsError(f"specificity needs scores of at least 2 tasks, got {len(scores)}: {list(scores)}")
    shapes = {t: {kind: tuple(s.values[kind].shape) for kind in KINDS} for t, s in scores.items()}
    first = next(iter(shapes.values()))
    if any(shape != first for shape in shapes.values()):
        raise TaskNeuronsError(f"specificity needs every task's scores in one layout, got {shapes}")
    values = {t: {kind: s.values[kind].detach().double().cpu() for kind in KINDS} for t, s in scores.items()}
    bad = [t for t, per in values.items() if not all(torch.isfinite(v).all() for v in per.values())]
    if bad:
        raise TaskNeuronsError(f"scores of tasks {bad} contain NaN or inf")
    return values


def _row_normalise(v: torch.Tensor) -> torch.Tensor:
    """Each layer's row divided by its mean; an all-zero row stays zero."""
    return v / v.mean(dim=1, keepdim=True).clamp_min(1e-30)


def _relative(n: torch.Tensor, eps: float) -> torch.Tensor:
    """n_t / (mean of the other tasks' n + eps), for every task t along dim 0."""
    others = (n.sum(dim=0, keepdim=True) - n) / (n.shape[0] - 1)
    return n / (others + eps)


def _entropy(n: torch.Tensor, min_score: float) -> torch.Tensor:
    """p_t * (1 - H / log T) * min(1, n_t / min_score), p the share of each task along dim 0 (uniform where all
    shares are 0). A weight rather than a cut-off at ``min_score``: a cut-off would rank a neuron large for every
    task (specificity 0, above every cut) before a neuron of this task alone just below it."""
    total = n.sum(dim=0, keepdim=True)
    p = torch.where(total > 0, n / total.clamp_min(1e-300), torch.full_like(n, 1.0 / n.shape[0]))
    h = -torch.where(p > 0, p * p.clamp_min(1e-300).log(), torch.zeros_like(p)).sum(dim=0, keepdim=True)
    size = (n / min_score).clamp_max(1) if min_score > 0 else torch.ones_like(n)
    return p * (1 - h / math.log(n.shape[0])).clamp_min(0) * size


def _demote(values: dict[str, torch.Tensor], mask: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masked neurons below every other one (over both kinds), finite, order otherwise kept."""
    flat = torch.cat([v.flatten() for v in values.values()])
    shift = float(flat.max() - flat.min()) + 1.0
    return {kind: torch.where(mask[kind], v - shift, v) for kind, v in values.items()}


def specificity_index(change: dict[str, dict[str, float]]) -> float:
    """Mean diagonal drop minus mean off-diagonal drop of a cross-task matrix.

    ``change[i][j]``: the change of task j's score when task i's neurons are deactivated (negative = worse);
    drop = -change. Positive when deactivating a task's neurons hurts that task more than the others; 0 when
    every task is hurt alike (no diagonal).
    """
    tasks = list(change)
    if len(tasks) < 2 or any(sorted(change[i]) != sorted(tasks) for i in tasks):
        raise TaskNeuronsError(f"specificity index needs a square matrix over at least 2 tasks, rows {tasks} "
                               f"with columns {[sorted(change[i]) for i in tasks]}")
    diag = [-change[i][i] for i in tasks]
    off = [-change[i][j] for i in tasks for j in tasks if i != j]
    return sum(diag) / len(diag) - sum(off) / len(off)


def specificity_index_from_outcomes(original: dict[str, list[float]],
                                    deactivated: dict[str, dict[str, list[float]]]) -> float:
    """:func:`specificity_index` of change[i][j] = mean(deactivated[i][j]) - mean(original[j]), from per-example
    outcomes (0-100) on the same examples of task j, so a bootstrap can resample the examples and call this."""
    change = {}
    for i, row in deactivated.items():
        change[i] = {}
        for j, outcomes in row.items():
            if j not in original or len(outcomes) != len(original[j]) or not outcomes:
                raise TaskNeuronsError(f"outcomes of task {j!r} with {i!r} deactivated must pair with the Original's "
                                       f"({len(outcomes)} vs {len(original.get(j, []))} examples)")
            change[i][j] = (sum(outcomes) - sum(original[j])) / len(outcomes)
    return specificity_index(change)
