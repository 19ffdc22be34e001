"""A run folder's HTML page (``report.html``), written when the run ends and by ``taskneurons report``.

Everything comes from the folder (results.json, run.json, config.yaml, plots/, artifacts/): no model is loaded,
so a page is rebuilt from any finished run, its verdicts recomputed from the per-example outcomes by today's
statistics and its summary.md rewritten from them. What each experiment claims, its summary, its pages beyond the
summary come from the experiment's views module (its entry in ``experiment.EXPERIMENTS``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from markupsafe import escape

from .. import processes
from ..errors import TaskNeuronsError
from ..io import write_text
from ..report.html import Page, Section, image_html, render
from ..runs import current_state, read_state
from .experiment import folder_experiment


def load_results(out: Path) -> dict:
    path = out / "results.json"
    if not path.is_file():
        raise TaskNeuronsError(f"{out}: no results.json, so the run has not finished; rerun its command to resume it")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise TaskNeuronsError(f"{path}: not valid JSON ({e}); rerun the experiment to rewrite it") from None


def views_of(out: Path):
    """(name, views module) of the experiment that wrote the folder, as its run.json says."""
    entry = folder_experiment(out, read_state(out))
    return entry.name, entry.view()


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


def refreshed(out: Path, results: dict, views) -> tuple[dict, str]:
    """The results with their statistics recomputed from the per-example outcomes the folder keeps (a changed
    statistic needs no rerun), and the summary written from them; a folder written by a version whose results
    today's summary cannot read keeps its stored summary."""
    try:
        return views.refreshed(results, out)
    except (KeyError, TypeError, ValueError):
        return results, (out / "summary.md").read_text() if (out / "summary.md").is_file() else ""


def page_of(out: Path) -> Page:
    results = load_results(out)
    experiment, views = views_of(out)
    results, summary = refreshed(out, results, views)
    if processes.is_main() and summary:
        write_text(out / "summary.md", summary)
    title, _, body = summary.partition("\n") if summary.startswith("# ") else (f"# {experiment} run", "", summary)
    try:  # what today's views read of the results
        sections, claims = [Section("Summary", markdown=body), *views.sections(out, results)], views.claims(results)
    except (KeyError, TypeError, ValueError) as e:
        raise TaskNeuronsError(f"{out}/results.json was written by a version of taskneurons whose results this one "
                               f"cannot read ({type(e).__name__}: {e}); rerun its command to rewrite it, or use the "
                               f"version that wrote it ({read_state(out).get('version', 'unknown')})") from None
    others = [p for p in sorted((out / "plots").rglob("*.png"))  # neither in the summary nor drawn by a section
              if str(p.relative_to(out)) not in body and p.name not in views.PAGE_PLOTS]
    if others:
        sections.append(Section("More plots", html="".join(image_html(out, str(p.relative_to(out)), p.stem)
                                                            for p in others)))
    config = (out / "config.yaml").read_text() if (out / "config.yaml").is_file() else ""
    sections.append(Section("Configuration", html=f"<details><summary>config.yaml</summary><pre>{escape(config)}"
                                                  f"</pre></details>"))
    links = [(name, name) for name in ("results.json", "summary.md", "config.yaml", "run.json") if (out / name).is_file()]
    links += [(str(p.relative_to(out)), str(p.relative_to(out))) for p in sorted((out / "artifacts").glob("*.neurons.json"))]
    return Page(title[2:].strip(), header(out, results, experiment), claims, sections, links)


def write_report(out: Path) -> Path:
    """Write (or rewrite) ``out/report.html``; returns its path. (Of several processes, the main one writes it,
    from the folder it wrote.)"""
    out = Path(out)
    page = out / "report.html"
    if processes.is_main():
        write_text(page, render(page_of(out), out))
    return page
