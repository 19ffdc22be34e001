"""The HTML report of a run folder (``report.html``), the page comparing several, and the list of run folders.

Everything comes from the folder (results.json, run.json, config.yaml, plots/, artifacts/): no model is loaded,
so ``taskneurons report`` rebuilds a page from any finished run, its verdicts recomputed from the per-example
outcomes by today's statistics and its summary.md rewritten from them. What each experiment claims, its
headline and its per-task cells come from the experiment's own report module (``VIEWS``).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from markupsafe import escape

from .. import processes
from ..errors import TaskNeuronsError
from ..io import write_text
from ..neurons import NeuronSet, Scores
from ..report.html import Page, Section, image_html, render
from ..report.markdown import markdown_table
from ..report.plots import heatmap
from .continual import summary as continual_views
from .generalize import claims as generalize_views
from .identify import report as identify_views
from .identify.config import deactivation_tag
from .run import current_state, read_state

PLACEMENT_PLOTS = ("score_by_layer.png", "neurons_by_layer.png")  # shown in "Where the neurons are"
VIEWS = {"identify": identify_views, "continual": continual_views, "generalize": generalize_views}


def load_results(out: Path) -> dict:
    path = out / "results.json"
    if not path.is_file():
        raise TaskNeuronsError(f"{out}: no results.json, so the run has not finished; rerun its command to resume it")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise TaskNeuronsError(f"{path}: not valid JSON ({e}); rerun the experiment to rewrite it") from None


def experiment_of(out: Path, results: dict) -> str:
    """The experiment that wrote the folder (run.json says; older folders are told apart by their results)."""
    state = read_state(out).get("experiment")
    if state in VIEWS:
        return state
    return "continual" if "orders" in results else "generalize" if "groups" in results else "identify"


def wall_time(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m {secs:02d}s"


def header(out: Path, results: dict, experiment: str) -> list[tuple[str, str]]:
    c, state = results["config"], current_state(out)
    tasks = ", ".join(results.get("tasks", {})) or ", ".join(
        t for order in results.get("orders", {}).values() for t in order["tasks"])
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(state["finished"])) if "finished" in state else "?"
    return [("experiment", experiment), ("model", c["model"]), ("tasks", tasks),
            ("device, dtype, seed", f"{c['device']}, {c['dtype']}, {c['seed']}"),
            ("intervals", f"{100 * c['confidence']:g}%, {c['n_boot']} bootstrap resamples"),
            ("state", state.get("state", "unknown (no run.json)")), ("finished", when),
            ("wall time", f"{wall_time(state.get('wall_s'))} over {state.get('sessions', '?')} session(s)"),
            ("code version", state.get("version", "unknown")), ("folder", str(out.resolve()))]


def placement_rows(out: Path, results: dict, suffix: str, values) -> tuple[list[list[float]], list[str]]:
    """One row per (task, kind) of ``values(artifact)`` (kind -> per-layer values), read from the deactivation's
    artifacts ``<tag>.<task>.<suffix>``, in the run's task order; tasks without the artifact are left out."""
    tag = deactivation_tag(results["config"]["original"])
    rows, labels = [], []
    for task in results.get("tasks", {}):
        path = out / "artifacts" / f"{tag}.{task}.{suffix}"
        if Path(f"{path}.json").is_file():
            for kind, per_layer in values(path).items():
                rows.append(per_layer)
                labels.append(f"{task} {kind}")
    return rows, labels


def selected_shares(path: Path) -> dict[str, list[float]]:
    """kind -> percent of the layer's neurons selected, per layer."""
    neurons = NeuronSet.load(path)
    counts = neurons.counts_per_layer()
    return {kind: [100 * n / neurons.widths[kind] for n in per_layer] for kind, per_layer in counts.items()}


def placement_section(out: Path, results: dict) -> list[Section]:
    """Where each task's neurons are: the share of its score in each layer, per kind (it varies; the selected
    neurons under scope "layer" are k% of every layer, a flat picture), and under another scope also the share
    of each layer's neurons selected."""
    plots = [("scores", lambda path: Scores.load(path).layer_shares(), "share of the task's score in each layer "
              "(% of the kind's total |score|)", "score_by_layer.png", "{:.1f}")]
    if results["config"]["selection"]["scope"] != "layer":
        plots.append(("neurons", selected_shares, "selected neurons per layer (% of the layer's neurons)",
                      "neurons_by_layer.png", "{:.0f}"))
    html = ""
    for suffix, values, title, name, fmt in plots:
        rows, labels = placement_rows(out, results, suffix, values)
        if rows:
            picture = heatmap(rows, labels, [str(i) for i in range(len(rows[0]))], title, out / "plots" / name,
                              xlabel="layer", fmt=fmt, cmap="viridis", center=None)
            html += image_html(out, str(picture.relative_to(out)), title)
    return [Section("Where the neurons are", html=html)] if html else []


def neuron_sections(out: Path, results: dict) -> list[Section]:
    """Identify: where each task's neurons are (layers x kinds), and what its top neurons respond to."""
    sections = placement_section(out, results)
    top = results.get("deactivation", {}).get("top_neurons") or {}
    for task, neurons in top.items():
        rows = [[f"L{n['layer']} {n['kind']} #{n['index']}", f"{hit['activation']:.2f} (median {n['median']:.2f})",
                 escape(hit["prompt"][-160:]).replace("\n", " ").replace("|", "/"),
                 escape(hit["target"][:60]).replace("|", "/")] for n in neurons for hit in n["examples"]]
        sections.append(Section(f"What {task}'s top neurons respond to", markdown=(
            "The test examples on which each of the task's highest-ranked neurons is most active (largest absolute "
            "activation over the prompt; the prompt's end is shown).\n\n"
            + markdown_table(["neuron", "activation", "prompt (end)", "target"], rows))))
    return sections


def refreshed(out: Path, results: dict, experiment: str) -> tuple[dict, str]:
    """The results with their statistics recomputed from the per-example outcomes the folder keeps (a changed
    statistic needs no rerun), and the summary written from them; a folder written by a version whose results
    today's summary cannot read keeps its stored summary."""
    from .continual import report as continual_report
    from .generalize import report as generalize_report

    plots = [str(p.relative_to(out)) for p in sorted((out / "plots").rglob("*.png"))]
    writers = {"identify": lambda r: (identify_views.restat(r), identify_views.summary),
               "continual": lambda r: ({**r, **continual_views.aggregate(r)},
                                       lambda x: continual_report.summary_markdown(x, plots)),
               "generalize": lambda r: (r, generalize_report.summary)}
    try:
        results, summary = writers[experiment](results)
        return results, summary(results)
    except (KeyError, TypeError, ValueError):
        return results, (out / "summary.md").read_text() if (out / "summary.md").is_file() else ""


def page_of(out: Path) -> Page:
    results = load_results(out)
    experiment = experiment_of(out, results)
    results, summary = refreshed(out, results, experiment)
    if processes.is_main() and summary:
        write_text(out / "summary.md", summary)
    title, _, body = summary.partition("\n") if summary.startswith("# ") else (f"# {experiment} run", "", summary)
    referenced = {p for p in (out / "plots").rglob("*.png") if str(p.relative_to(out)) in body}
    sections = [Section("Summary", markdown=body)]
    if experiment == "identify":
        sections += neuron_sections(out, results)
    others = [p for p in sorted((out / "plots").rglob("*.png")) if p not in referenced
              and p.name not in PLACEMENT_PLOTS]
    if others:
        sections.append(Section("More plots", html="".join(image_html(out, str(p.relative_to(out)), p.stem)
                                                            for p in others)))
    config = (out / "config.yaml").read_text() if (out / "config.yaml").is_file() else ""
    sections.append(Section("Configuration", html=f"<details><summary>config.yaml</summary><pre>{escape(config)}"
                                                  f"</pre></details>"))
    links = [(name, name) for name in ("results.json", "summary.md", "config.yaml", "run.json") if (out / name).is_file()]
    links += [(str(p.relative_to(out)), str(p.relative_to(out))) for p in sorted((out / "artifacts").glob("*.neurons.json"))]
    return Page(title[2:].strip(), header(out, results, experiment), VIEWS[experiment].claims(results), sections, links)


def write_report(out: Path) -> Path:
    """Write (or rewrite) ``out/report.html``; returns its path. (Of several processes, the main one writes it,
    from the folder it wrote.)"""
    out = Path(out)
    page = out / "report.html"
    if processes.is_main():
        write_text(page, render(page_of(out), out))
    return page


def write_index(folders: list[Path], path: Path) -> Path:
    """A page linking each folder's report, with the tasks they share side by side."""
    runs = []
    for out in folders:
        results = load_results(out)
        experiment = experiment_of(out, results)
        write_report(out)
        runs.append((out, results, experiment, VIEWS[experiment].task_cells(results)))
    names = [os.path.relpath(out / "report.html", path.parent) for out, *_ in runs]
    listing = markdown_table(["run", "experiment", "model", "state", "headline"], [
        [f"[{out.name}]({name})", experiment, results["config"]["model"], current_state(out).get("state", "?"),
         VIEWS[experiment].headline(results)] for (out, results, experiment, _), name in zip(runs, names)])
    tasks = [t for t in dict.fromkeys(t for *_, cells in runs for t in cells)]
    shared = markdown_table(["task", *[out.name for out, *_ in runs]],
                            [[t, *[cells.get(t, "") for *_, cells in runs]] for t in tasks])
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
                experiment = experiment_of(out, results)
                headline = VIEWS[experiment].headline(results)
            except (TaskNeuronsError, KeyError, TypeError) as e:
                headline = f"unreadable results ({e})"
        rows.append([str(out.relative_to(root)) or ".", experiment, status, wall_time(state.get("wall_s")), headline])
    return rows
