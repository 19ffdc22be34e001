"""A learning-rate sweep per method on the dev split, before a continual run (issue 11).

The paper gives no learning rates, and one method at 1e-3 beside another at 2e-5 is not a like-for-like comparison.
Each (method, rate) is a short continual run of that method alone on the first ``n_tasks`` tasks of the first
sequence, with the run's training budget, evaluated on each task's **dev** split (``evaluate_on: dev``: the test
examples are never read, the trained ones are disjoint from the dev ones by construction). The rate with the
highest average accuracy after the last of those tasks wins; a tie keeps the rate nearest the method's default.
The grid is each method's own default rate times ``factors``. W-NCFT takes NCFT's rate when both are run (its
training is NCFT's; its difference from NCFT must stay the Eq. 12 reweighting alone). A one-task sweep (the
default) also gives the methods that train exactly as another on a first task that other's rate instead of
repeating its trials (``SAME_ON_A_FIRST_TASK``: Replay has no memory yet, EWC no anchor, Per-Task and Multi-Task FT
one task: SeqFT; O-LoRA has no earlier adapter to be orthogonal to, EPI one adapter to route to: SeqLoRA).
"""
from __future__ import annotations

import math
from pathlib import Path

from ...io import write_json
from ...report.console import console
from .config import ContinualConfig
from .methods.base import method_specs
from .orders import resolve_orders

FACTORS = (1 / 3, 1.0, 3.0)
FOLLOWS = {"wncft": "ncft"}  # a method that trains as another takes that one's rate
SAME_ON_A_FIRST_TASK = {"replay": "seqft", "ewc": "seqft", "per_task_ft": "seqft", "multitask_ft": "seqft",
                        "olora": "seqlora", "epi": "seqlora"}


def sweep_learning_rates(options: dict, out: Path, factors=FACTORS, n_tasks: int = 1, n_dev: int = 100,
                         progress: bool = True) -> dict:
    """``options``: the ContinualConfig options of the run to prepare. Returns (and writes to ``out/sweep.json``)
    ``{"tasks", "factors", "methods": {name: {"grid": [{"lr", "dev_aa"}...], "n": dev examples per task, "best": lr}}}``;
    :func:`with_rates` puts the chosen rates into the options. Every trial is a resumable run folder under ``out``."""
    from .runner import Continual

    config = ContinualConfig(**options)  # every value checked before any trial starts
    tasks = resolve_orders(config.orders, config.data_root)[0].specs[:n_tasks]
    names = list(dict.fromkeys(spec.cls.name for spec in method_specs(config.methods, config.method_options)))
    found = {"tasks": tasks, "factors": list(factors), "methods": {}}
    follows = {**FOLLOWS, **(SAME_ON_A_FIRST_TASK if n_tasks == 1 else {})}
    for name in [n for n in names if follows.get(n) not in names]:
        default = method_specs([name], config.method_options)[0].options.lr
        grid = []
        for lr in sorted({float(f"{default * f:.3g}") for f in factors}):
            trial = {**options, "orders": [{"name": "sweep", "tasks": tasks}], "methods": [name], "reference": None,
                     "evaluate_on": "dev", "n_eval": n_dev, "evaluate_unseen": False, "also_evaluate": [],
                     "training_seeds": config.training_seeds[:1],
                     "method_options": {**config.method_options, name: {**config.method_options.get(name, {}), "lr": lr}}}
            console.print(f"learning-rate sweep: {name} at lr {lr:g} on the dev split of {', '.join(tasks)}")
            result = Continual(ContinualConfig(**trial), Path(out) / name / f"lr={lr:g}", progress=progress)()
            grid.append({"lr": lr, "dev_aa": next(iter(result["summary"].values()))["average_accuracy"][0]})
        best = max(grid, key=lambda trial: (trial["dev_aa"], -abs(math.log(trial["lr"] / default))))["lr"]
        found["methods"][name] = {"grid": grid, "n": n_dev, "best": best}
    for name in names:
        if follows.get(name) in names:
            found["methods"][name] = {**found["methods"][follows[name]], "follows": follows[name]}
    write_json(Path(out) / "sweep.json", found)
    return found


def with_rates(options: dict, sweep: dict) -> dict:
    """``options`` with each swept method's chosen rate in ``method_options``."""
    chosen = {**options.get("method_options", {})}
    for name, entry in sweep["methods"].items():
        chosen[name] = {**chosen.get(name, {}), "lr": entry["best"]}
    return {**options, "method_options": chosen}


def sweep_table(sweep: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) for the benchmark's markdown: each method's grid, its dev AA per rate, the chosen rate."""
    header = ["method", "rates tried (dev AA)", "chosen", "dev examples per task"]
    rows = [[name, ", ".join(f"{trial['lr']:g}: {trial['dev_aa']:.1f}" for trial in entry["grid"]) +
             (f" (those of {entry['follows']}, which it trains as here)" if entry.get("follows") else ""),
             f"{float(entry['best']):g}", str(entry["n"])] for name, entry in sweep["methods"].items()]
    return header, rows

