"""A learning-rate sweep per method on the dev split, before a continual run (issue 11).

The paper gives no learning rates, and one method at 1e-3 beside another at 2e-5 is not a like-for-like comparison.
Each (method, rate) is a short continual run of that method alone on the first ``n_tasks`` tasks of the first
sequence, with the run's training budget, evaluated on each task's **dev** split (``evaluate_on: dev``: the test
examples are never read, the trained ones are disjoint from the dev ones by construction). The rate with the
highest average accuracy after the last of those tasks wins; a tie keeps the rate nearest the method's default.
The grid is each method's own default rate times ``factors``. W-NCFT takes NCFT's rate when both are run (its
training is NCFT's; its difference from NCFT must stay the Eq. 12 reweighting alone), and random NCFT (random W-NCFT)
takes NCFT's too: a control must differ from its method in the neurons it trains alone. A one-task sweep (the
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
from ...tasks.orders import resolve_orders
from .records import main_across

FACTORS = (1 / 3, 1.0, 3.0)
# a method that trains as another (or is its control) takes that one's rate
FOLLOWS = {"wncft": "ncft", "random_ncft": "ncft", "random_wncft": "ncft"}
SAME_ON_A_FIRST_TASK = {"replay": "seqft", "ewc": "seqft", "per_task_ft": "seqft", "multitask_ft": "seqft",
                        "olora": "seqlora", "epi": "seqlora"}


def sweep_learning_rates(options: dict, out: Path, factors=FACTORS, n_tasks: int = 1, n_dev: int = 100,
                         progress: bool = True, extend: int = 2) -> dict:
    """``options``: the ContinualConfig options of the run to prepare. Returns (and writes to ``out/sweep.json``)
    ``{"tasks", "factors", "methods": {name: {"grid": [{"lr", "dev_aa"}...], "n": dev examples per task, "best": lr,
    "edge": whether the best rate is still at an edge of its grid}}}``; :func:`with_rates` puts the chosen rates
    into the options. Every trial is a resumable run folder under ``out``.

    A best rate at the edge of the grid says the optimum may lie beyond it: the grid is then extended on that side
    by the ratio of its two outermost rates, up to ``extend`` times per side."""
    from .experiment import Continual

    config = ContinualConfig(**options)  # every value checked before any trial starts
    tasks = resolve_orders(config.orders, config.data_root)[0].specs[:n_tasks]
    names = list(dict.fromkeys(spec.cls.name for spec in method_specs(config.methods, config.method_options)))
    found = {"tasks": tasks, "factors": list(factors), "extend": extend, "methods": {}}
    follows = {**FOLLOWS, **(SAME_ON_A_FIRST_TASK if n_tasks == 1 else {})}

    def trial(name: str, lr: float) -> dict:
        alone = {**options, "orders": [{"name": "sweep", "tasks": tasks}], "methods": [name], "reference": None,
                 "evaluate_on": "dev", "n_eval": n_dev, "evaluate_unseen": False, "also_evaluate": [],
                 "training_seeds": config.training_seeds[:1],
                 "method_options": {**config.method_options, name: {**config.method_options.get(name, {}), "lr": lr}}}
        console.print(f"learning-rate sweep: {name} at lr {lr:g} on the dev split of {', '.join(tasks)}")
        result = Continual(ContinualConfig(**alone), Path(out) / name / f"lr={lr:g}", progress=progress)()
        return {"lr": lr, "dev_aa": next(iter(main_across(result)["summary"].values()))["average_accuracy"][0]}

    for name in [n for n in names if follows.get(n) not in names]:
        default = method_specs([name], config.method_options)[0].options.lr
        grid = [trial(name, lr) for lr in sorted({float(f"{default * f:.3g}") for f in factors})]
        extended = {"up": 0, "down": 0}
        while True:
            best = max(grid, key=lambda t: (t["dev_aa"], -abs(math.log(t["lr"] / default))))["lr"]
            rates = [t["lr"] for t in grid]
            side = "up" if best == rates[-1] else "down" if best == rates[0] else None
            if len(rates) < 2 or side is None or extended[side] >= extend:
                break
            extended[side] += 1
            if side == "up":
                grid.append(trial(name, float(f"{rates[-1] * rates[-1] / rates[-2]:.3g}")))
            else:
                grid.insert(0, trial(name, float(f"{rates[0] * rates[0] / rates[1]:.3g}")))
        found["methods"][name] = {"grid": grid, "n": n_dev, "best": best, "edge": side is not None}
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
             f"{float(entry['best']):g}" + (" (at the grid's edge)" if entry.get("edge") else ""), str(entry["n"])]
            for name, entry in sweep["methods"].items()]
    return header, rows

