"""Task sequences: the paper's orders 1-6 (Table 14) on the ``../shared/data`` folders, or any list of tasks.

Orders 1-3 are the Standard CL Benchmark (4 tasks), orders 4-6 the Large Number of Tasks benchmark (8 tasks).
Their tasks are built-in task names, i.e. folders of the data root (``../shared/data`` by default, resolved
against the current directory). A user sequence is a list of task specs: anything ``load_task`` accepts (a
built-in name, a file, a folder, ``hf:...``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import TaskNeuronsError
from .base import Task
from .registry import load_task
from .registry import data_root as resolve_root

# Table 14 of the paper; names are the folders of ../shared/data.
ORDERS: dict[int, list[str]] = {
    1: ["dbpedia", "amazon", "yahoo", "agnews"],
    2: ["dbpedia", "amazon", "agnews", "yahoo"],
    3: ["yahoo", "amazon", "agnews", "dbpedia"],
    4: ["mnli", "qqp", "rte", "amazon", "sst2", "dbpedia", "agnews", "yahoo"],
    5: ["amazon", "agnews", "yahoo", "qqp", "rte", "mnli", "dbpedia", "sst2"],
    6: ["agnews", "yahoo", "sst2", "rte", "qqp", "mnli", "dbpedia", "amazon"],
}


@dataclass
class TaskSequence:
    """A named task sequence: ``specs`` as resolved (paths or names), ``tasks`` once loaded."""

    name: str
    specs: list[str]
    data_root: str | None = None

    def load(self) -> list[Task]:
        tasks = [load_task(spec, data_root=self.data_root) for spec in self.specs]
        names = [t.name for t in tasks]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise TaskNeuronsError(f"sequence {self.name!r} has task {repeated[0]!r} more than once; "
                                   f"each task of a sequence needs its own name")
        return tasks


def order_number(entry) -> int | None:
    """1 for 1, "1", "order1", "order-1", "Order 1"; None when ``entry`` does not name an order."""
    if isinstance(entry, bool):
        return None
    if isinstance(entry, int):
        return entry
    if isinstance(entry, str):
        text = entry.strip().lower().replace("order", "").strip(" -_")
        return int(text) if text.isdigit() else None
    return None


def resolve_orders(entries, data_root: str | Path | None = None) -> list[TaskSequence]:
    """Sequences from config entries: an order (1-6, "order1"), a list of task specs, or {name, tasks}."""
    root = resolve_root(data_root)
    if not isinstance(entries, list) or not entries:
        raise TaskNeuronsError(f"orders must be a non-empty list (order numbers 1-6 or lists of tasks), got {entries!r}")
    sequences, custom = [], 0
    for entry in entries:
        number = order_number(entry)
        if number is not None:
            sequences.append(builtin_order(number, root))
            continue
        if isinstance(entry, dict):
            name, specs = entry.get("name"), entry.get("tasks")
        elif isinstance(entry, list):
            custom += 1
            name, specs = f"custom{custom}", entry
        else:
            raise TaskNeuronsError(f"unknown order {entry!r}: expected one of {sorted(ORDERS)} (or 'order1'...), "
                                   f"a list of tasks, or {{name: ..., tasks: [...]}}")
        if not isinstance(specs, list) or not specs:
            raise TaskNeuronsError(f"sequence {name or entry!r} is empty: give at least one task")
        sequences.append(TaskSequence(str(name or f"custom{custom}"), [str(s) for s in specs], str(root)))
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise TaskNeuronsError(f"orders has the same sequence name twice: {names}")
    return sequences


def builtin_order(number: int, data_root: Path) -> TaskSequence:
    if number not in ORDERS:
        raise TaskNeuronsError(f"unknown order {number}: the paper's orders are {sorted(ORDERS)} "
                               f"(1-3 standard benchmark, 4-6 large number of tasks)")
    missing = [name for name in ORDERS[number] if not (data_root / name).is_dir()]
    if missing:
        raise TaskNeuronsError(f"order {number} needs the task folder {data_root / missing[0]}, which does not exist "
                               f"(data_root {str(data_root)!r} is resolved against {Path.cwd()}; set data_root=...)")
    return TaskSequence(f"order{number}", list(ORDERS[number]), str(data_root))
