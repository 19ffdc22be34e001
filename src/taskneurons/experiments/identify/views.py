"""What the report and ``taskneurons runs`` show of an identify run: its claims, headline and per-task cells, the
summary restated from the outcomes, and the pages beyond the summary (where each task's neurons are, what its top
neurons respond to)."""
from __future__ import annotations

from pathlib import Path

from markupsafe import escape

from ...io import write_json, write_text
from ...neurons import NeuronSet, Scores
from ...report.html import Section, image_html
from ...report.markdown import markdown_table
from ...report.plots import heatmap
from ...runs import Run
from .claims import claims
from .config import deactivation_tag
from .report import plot, restat, summary
from .records import Results

__all__ = ["claims", "headline", "task_cells", "refreshed", "sections", "write", "PAGE_PLOTS"]
PAGE_PLOTS = ("score_by_layer.png", "neurons_by_layer.png")  # drawn by ``sections``, not listed under "More plots"


def write(results: Results, run: Run) -> None:
    write_json(run.path("results.json"), results)
    plot(results, run)
    write_text(run.path("summary.md"), summary(results))


def refreshed(results: Results, out: Path) -> tuple[dict, str]:
    results = restat(results)
    return results, summary(results)


def headline(results: Results) -> str:
    parts = []
    for part, short in (("deactivation", "deact"), ("finetuning", "train")):
        if part in results:
            gap = results[part]["gap"]["average"]
            parts.append(f"{short} gap {gap['mean']:+.1f} [{gap['low']:+.1f}, {gap['high']:+.1f}] ({gap['verdict']})")
    return "; ".join(parts)


def task_cells(results: Results) -> dict[str, str]:
    """Per task: Original -> Deactivate-Task and the gap against random, for the comparison page."""
    data = results.get("deactivation")
    if not data:
        return {}
    table = data["table"]
    return {n: f"{table['Original'][n]:.1f} → {table['Deactivate-Task'][n]:.1f} (gap {data['gap'][n]['mean']:+.1f} "
               f"[{data['gap'][n]['low']:+.1f}, {data['gap'][n]['high']:+.1f}])" for n in results["tasks"]}


def placement_rows(out: Path, results: Results, suffix: str, values) -> tuple[list[list[float]], list[str]]:
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


def placement_section(out: Path, results: Results) -> list[Section]:
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


def sections(out: Path, results: Results) -> list[Section]:
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
