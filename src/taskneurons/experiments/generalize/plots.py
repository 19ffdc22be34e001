"""The plots of a generalization run: overlap heatmaps, Figure 2 (ID and OOD score by proportion), Figure 6,
the overlap ablation (Tables 9-11) and Figure 3 (per-layer similarity)."""
from __future__ import annotations

from ...analysis.similarity import mean_curve
from ...report.curves import Panel, line_panels, mean
from ...report.plots import heatmap
from ...runs import Run
from .groups import SHORT


COLORS = {"ID-CLS": "tab:blue", "ID-GEN": "tab:purple", "OOD-CLS": "tab:orange", "OOD-GEN": "tab:green",
          "avg": "tab:red"}


def figure2_panel(results: dict, g: str) -> Panel:
    group, tasks = results["groups"][g], results["tasks"]
    sweep = results["sweep"][g]
    xs = [float(p) for p in sweep]
    tk = group["train_kind"]
    lines = {f"ID-{tk}": lambda s: mean({t: s[t] for t in group["train"]})}
    for kind in ("classification", "generation"):
        keys = [t for t in group["ood"] if tasks[t]["kind"] == kind]
        if keys:
            lines[f"OOD-{SHORT[kind]}"] = lambda s, keys=keys: mean({t: s[t] for t in keys})
    panel = Panel(f"({g}) trained on {', '.join(group['train'])}", "trained neurons: top-p% per task (p)", "score",
                  xticks=xs)
    for name, fn in lines.items():
        panel.curves[name] = (xs, [fn({**pt["id"], **pt["ood"]}) for pt in sweep.values()])
        panel.styles[name] = {"color": COLORS.get(name, None)}
        key = "ID" if name.startswith("ID-") else name
        if all(key in pt.get("lines", {}) for pt in sweep.values()):  # the interval of each point's mean
            panel.bands[name] = (xs, [pt["lines"][key]["low"] for pt in sweep.values()],
                                 [pt["lines"][key]["high"] for pt in sweep.values()])
        if results.get("zero_shot"):
            panel.hlines[f"{name} zero-shot"] = (fn(results["zero_shot"]), {"color": COLORS.get(name, "gray")})
    same = f"OOD-{tk}"
    if same in panel.curves:
        a, b = panel.curves[f"ID-{tk}"][1], panel.curves[same][1]
        panel.curves["avg"] = (xs, [(u + v) / 2 for u, v in zip(a, b)])
        panel.styles["avg"] = {"color": COLORS["avg"], "linestyle": "--"}
    return panel


def figure3_panels(results: dict, which: str = "curves") -> list[Panel]:
    sim, tasks = results["similarity"], results["tasks"]
    panels = []
    for kind in ("classification", "generation"):
        tests = [t for t in sim["correlation"] if tasks[t]["kind"] == kind]
        if not tests:
            continue
        model_groups = {"all models": list(sim["models"])}
        same = [m for m, v in sim["models"].items() if v["kind"] == kind]
        if same and len(same) < len(sim["models"]):
            model_groups[f"{SHORT[kind]}-trained models"] = same
        for label, models in model_groups.items():
            panel = Panel(f"{SHORT[kind]} test tasks, mean over {label} ({len(models)})", "layer", "cosine similarity",
                          integer_x=True)
            for t in tests:
                curves = [sim["models"][m][which][t] for m in models if t in sim["models"][m][which]]
                if curves:
                    ys = mean_curve(curves)
                    panel.curves[t] = (list(range(len(ys))), ys)
            panels.append(panel)
    return panels


def plot(results: dict, run: Run) -> None:
    for p, m in results["overlap"]["pairwise"].items():
        heatmap(m["jaccard"], m["tasks"], m["tasks"], f"Jaccard overlap of top-{p}% neuron sets",
                run.path("plots", f"overlap_p{p}.png"), fmt="{:.2f}", cmap="viridis", center=None)
    if "sweep" in results:
        line_panels([figure2_panel(results, g) for g in results["sweep"]], "Figure 2: specialization (ID) and "
                    "generalization (OOD) vs the proportion of trained task-specific neurons; shaded: "
                    f"{100 * results['config']['confidence']:g}% bootstrap intervals over test examples",
                    run.path("plots", "figure2.png"))
    if "single" in results:
        panels = []
        for g, tasks in results["single"].items():
            panel = Panel(f"({g}) each task trained alone", "trained neurons: top-p% (p)", "ID score")
            for t, values in tasks.items():
                panel.curves[t] = ([float(p) for p in values], list(values.values()))
                panel.xticks = [float(p) for p in values]
                if results.get("zero_shot"):
                    panel.hlines[f"{t} zero-shot"] = (results["zero_shot"][t], {"color": "gray"})
            panels.append(panel)
        line_panels(panels, "Figure 6: single-task specialization vs proportion", run.path("plots", "figure6.png"))
    if "ablation" in results:
        panels = []
        for part in results["ablation"].values():
            panel = Panel(f"({part['group']}) {part['label']}", f"overlap rate (%, {results['config']['ablation_rate']})",
                          "mean OOD score")
            rates = [float(r) for r in part["grid"]]
            for p in next(iter(part["grid"].values())):
                panel.curves[f"{p}% neurons"] = (rates, [part["grid"][r][p] for r in part["grid"]])
            panel.xticks = rates
            panels.append(panel)
        line_panels(panels, "Tables 9-11: OOD score vs preset overlap", run.path("plots", "ablation.png"))
    if "similarity" in results:
        panels = figure3_panels(results)
        if panels:
            line_panels(panels, f"Figure 3: per-layer similarity of train- and test-task neuron parameters in the "
                        f"fine-tuned models ({results['similarity']['variant']})", run.path("plots", "figure3.png"), columns=2)
            line_panels(figure3_panels(results, "base_curves"), "the same in the base model (before fine-tuning)",
                        run.path("plots", "figure3_base.png"), columns=2)
