"""Several continual runs of one setting read as one: e.g. order 1 with every method in one run folder and orders 2
and 3 with four of them in another, each sized to finish in a session. Runs combine when everything that decides
a number is the same (the config but its orders, training seeds, methods and per-method options; each method label
meaning the same method with the same options in every run; the same examples drawn per task) and their runs
(order and training seed) are distinct;
the metrics across orders and the claims are then computed as for one run (``summary.aggregate``)."""
from __future__ import annotations

import json
from pathlib import Path

from ...errors import TaskNeuronsError
from ...runs import option_defaults
from ...runs.state import config_differences
from .config import ContinualConfig
from .records import VERSION, upgraded
from .summary import aggregate

# what each run may choose for itself: which orders, training seeds and methods it ran (the options are checked per
# method label)
PER_RUN = {"orders", "training_seeds", "methods", "method_options"}
# what a task's plan records beside its draws: where its data was read (paths differ between machines) and its
# target lengths (recorded by the runs whose methods needed them); never a reason to refuse combining
NOT_DRAWS = {"files", "lengths"}


def combine(runs: list[dict]) -> dict:
    """One ``results`` with every order of ``runs`` (a list of results.json contents), recomputed across orders."""
    if not runs:
        raise TaskNeuronsError("combine needs at least one run")
    runs = [upgraded(results) for results in runs]
    first = runs[0]["config"]
    combined = {"version": VERSION, "config": dict(first), "methods": {}, "orders": {}, "examples": {}}
    defaults = option_defaults(ContinualConfig)  # an option a run predates: at its default (as a resumed folder)
    for number, results in enumerate(runs, 1):
        config = results["config"]
        differ = [k for k in config_differences(first, config, defaults) if k.split(".")[0] not in PER_RUN]
        if differ:
            raise TaskNeuronsError(f"run {number} differs from run 1 in {', '.join(differ)}: only runs of one "
                                   f"setting combine (they may differ in {', '.join(sorted(PER_RUN))})")
        for label, info in results["methods"].items():
            if combined["methods"].setdefault(label, info) != info:
                raise TaskNeuronsError(f"run {number}'s {label!r} is not run 1's (method or options differ): give "
                                       f"different methods different labels")
        for name, order in results["orders"].items():
            if name in combined["orders"]:
                raise TaskNeuronsError(f"run {number} repeats {name}: combine runs of distinct orders")
            combined["orders"][name] = order
        for task, plan in results["examples"].items():
            known = combined["examples"].setdefault(task, dict(plan))
            clash = sorted(draw for draw in set(known) & set(plan) - NOT_DRAWS if known[draw] != plan[draw])
            if clash:
                raise TaskNeuronsError(f"run {number} drew other examples of {task} ({', '.join(clash)}): combine "
                                       f"runs with the same seed and sizes")
            known.update(plan)
    specs = []  # every run's method entries, each once
    for results in runs:
        specs += [m for m in results["config"]["methods"] if m not in specs]
    for key in ("orders", "training_seeds"):  # every run's, each once (orders may be lists or mappings)
        found = combined["config"][key] = []
        for value in (v for results in runs for v in results["config"].get(key, [0])):
            found += [] if value in found else [value]
    combined["config"]["methods"] = specs
    combined.update(aggregate(combined))
    return combined


def combine_folders(folders: list[str | Path]) -> dict:
    """``combine`` of the results.json of each run folder."""
    runs = []
    for folder in folders:
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise TaskNeuronsError(f"{folder} has no results.json: combine finished continual runs")
        runs.append(json.loads(path.read_text()))
    return combine(runs)
