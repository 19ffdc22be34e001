"""The page comparing several run folders and the list of run folders (a run's own page:
``experiments/page.py``). Everything comes from the folders; each experiment's headline and per-task cells from
its views module."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import TaskNeuronsError
from .experiments.page import load_results, views_of, wall_time, write_report
from .io import write_text
from .report.html import Page, Section, render
from .report.markdown import markdown_table
from .runs import current_state

__all__ = ["list_runs", "write_index", "write_report"]


def write_index(folders: list[Path], path: Path) -> Path:
    """A page linking each folder's report, with the tasks they share side by side."""
    runs = []
    for out in folders:
        results = load_results(out)
        experiment, views = views_of(out)
        write_report(out)
        runs.append((out, results, experiment, views))
    names = [os.path.relpath(out / "report.html", path.parent) for out, *_ in runs]
    listing = markdown_table(["run", "experiment", "model", "state", "headline"], [
        [f"[{out.name}]({name})", experiment, results["config"]["model"], current_state(out).get("state", "?"),
         views.headline(results)] for (out, results, experiment, views), name in zip(runs, names)])
    cells = [views.task_cells(results) for _, results, _, views in runs]
    tasks = list(dict.fromkeys(t for found in cells for t in found))
    shared = markdown_table(["task", *[out.name for out, *_ in runs]],
                            [[t, *[found.get(t, "") for found in cells]] for t in tasks])
    page = Page(f"{len(runs)} runs side by side", [("folders", ", ".join(str(out) for out, *_ in runs))],
                sections=[Section("Runs", markdown=listing), Section("Tasks side by side", markdown=shared)])
    write_text(path, render(page, path.parent))
    return path


def list_runs(root: Path) -> list[list[str]]:
    """One row per run folder under ``root``: folder, experiment, state (as true now: :func:`current_state`),
    wall time, headline (the reason, for a run that failed or was interrupted)."""
    rows = []
    for config in sorted(root.rglob("config.yaml")):
        out, state = config.parent, current_state(config.parent)
        done = (out / "results.json").is_file()
        status = state.get("state", "finished" if done else "resumable" if (out / "steps").is_dir() else "started")
        experiment, headline = state.get("experiment", "?"), state.get("error", "")
        if status == "interrupted":
            status = "interrupted (resumable)"
        elif done and status == "finished":
            try:
                results = load_results(out)
                experiment, views = views_of(out)
                headline = views.headline(results)
            except (TaskNeuronsError, KeyError, TypeError) as e:
                headline = f"unreadable results ({e})"
        rows.append([str(out.relative_to(root)) or ".", experiment, status, wall_time(state.get("wall_s")), headline])
    return rows
