"""Tables and the markdown summary of a generalization run (its plots: ``plots.py``)."""
from __future__ import annotations

import math

from ...analysis.similarity import aggregate
from ...report.console import print_table
from ...report.curves import mean
from ...report.markdown import markdown_table
from .groups import PAPER_ABLATION, PAPER_ABLATION_ORIGINAL, PAPER_TABLE4, PAPER_TABLE8, SHORT, fmt, pct


def overlap_rows(results: dict, with_paper: bool = True) -> tuple[list[str], list[list[str]]]:
    ps = [pct(p) for p in results["config"]["proportions"]]
    rows = []
    for g, pairs in results["overlap"]["groups"].items():
        for label, values in pairs.items():
            rows.append([f"({g}) {label}"] + [fmt(values[p]) for p in ps])
            if with_paper and label in PAPER_TABLE8:
                rows.append([f"paper {label}"] + [fmt(PAPER_TABLE8[label].get(float(p))) for p in ps])
    return ["group", *[f"{p}%" for p in ps]], rows


def sweep_rows(results: dict, g: str, with_intervals: bool = False) -> tuple[list[str], list[list[str]]]:
    """Zero-shot and each p's scores per task (with their intervals over test examples when asked)."""
    sweep, group = results["sweep"][g], results["groups"][g]
    header = ["p", *group["train"], *group["ood"], "ID avg", "OOD-CLS avg", "OOD-GEN avg"]
    rows = []
    zs = results.get("zero_shot")
    if zs:
        rows.append(["zero-shot"] + [fmt(zs[t]) for t in group["train"] + group["ood"]] + category_means(results, g, zs))
    for p, point in sweep.items():
        scores = {**point["id"], **point["ood"]}
        cells = [fmt(scores[t]) + (f" [{fmt(point['intervals'][t][0])}, {fmt(point['intervals'][t][1])}]"
                                   if with_intervals else "") for t in group["train"] + group["ood"]]
        rows.append([f"{p}%"] + cells + category_means(results, g, scores))
    return header, rows


def category_means(results: dict, g: str, scores: dict) -> list[str]:
    group, tasks = results["groups"][g], results["tasks"]
    out = [fmt(mean({t: scores[t] for t in group["train"]}))]
    for kind in SHORT:
        out.append(fmt(mean({t: scores[t] for t in group["ood"] if tasks[t]["kind"] == kind})))
    return out


def figure2_rows(results: dict, g: str) -> tuple[list[str], list[list[str]]] | None:
    """Figure 2's lines per p: the mean over the line's tasks [its interval], zero-shot's means first (None for a
    run written before the lines were kept)."""
    sweep, zs = results["sweep"][g], results.get("zero_shot")
    if not all("lines" in point for point in sweep.values()):
        return None
    names = list(next(iter(sweep.values()))["lines"])
    rows = []
    if zs:
        means = dict(zip(["ID", *[f"OOD-{short}" for short in SHORT.values()]], category_means(results, g, zs)))
        rows.append(["zero-shot", *[means[name] for name in names]])
    for p, point in sweep.items():
        runs = point.get("runs", 1)
        rows.append([f"{p}% ({runs} training{'s' * (runs > 1)})"]
                    + [f"{fmt(e['mean'])} [{fmt(e['low'])}, {fmt(e['high'])}]" for e in point["lines"].values()])
    return ["p", *names], rows


def model_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """Per fully fine-tuned model: its score on each test task, with its layer-averaged similarity in brackets where
    the correlation uses it (not on the model's own task)."""
    sim, layers = results["similarity"], results["config"]["similarity_layers"]
    tests = list(sim["correlation"])

    def cell(model: dict, t: str) -> str:
        if t not in model["scores"]:
            return "-"
        return fmt(model["scores"][t]) + (f" ({fmt(aggregate(model['curves'][t], layers), 3)})" if t in model["curves"]
                                          else "")
    return ["model", *tests], [[m] + [cell(v, t) for t in tests] for m, v in sim["models"].items()]


def ablation_rows(part: dict, rate: str = "share") -> tuple[list[str], list[list[str]]]:
    """The grid by overlap rate, with each p's "orig." row (the training tasks' own neurons, same total) placed
    at its natural rate in the cells' definition ``rate``."""
    ps = list(next(iter(part["grid"].values())))
    rows = []
    intervals = part.get("intervals", {})  # written since the two-level statistics

    def cell(r: str, p: str) -> str:
        value, interval = part["grid"][r].get(p), intervals.get(r, {}).get(p)
        return fmt(value) + (f" [{interval['low']:.1f}, {interval['high']:.1f}]" if interval and value is not None
                             else "")

    entries = [(float(r), f"{r}%", {p: cell(r, p) for p in part["grid"][r]}) for r in part["grid"]]
    for p, orig in part["original"].items():
        entries.append((orig[rate], f"{orig[rate]:.1f}% (orig. @{p}%, {orig.get('set', 'union of top-p%')})",
                        {p: fmt(orig["score"])}))
    for _, label, values in sorted(entries, key=lambda e: e[0]):
        rows.append([label] + [values.get(p, fmt(None)) for p in ps])
    return ["overlap rate", *[f"{p}%" for p in ps]], rows


def paper_ablation_rows(label: str) -> tuple[list[str], list[list[str]]] | None:
    if label not in PAPER_ABLATION:
        return None
    table, orig = PAPER_ABLATION[label], PAPER_ABLATION_ORIGINAL[label]
    entries = [(float(r), f"{r}%", v) for r, v in table.items()]
    entries += [(j, f"{j}% (orig. @{p}%)", {p: s}) for p, (j, s) in orig.items()]
    rows = [[lab] + [fmt(v.get(p)) for p in (10, 30, 50)] for _, lab, v in sorted(entries, key=lambda e: e[0])]
    return ["overlap rate (paper)", "10%", "30%", "50%"], rows


def correlation_rows(results: dict, with_paper: bool = True) -> tuple[list[str], list[list[str]]]:
    rows = []
    for t, e in results["similarity"]["correlation"].items():
        if "error" in e:
            rows.append([t, str(e["n"]), "-", "-", "-", "-", "-", "-", "-", "-", e["error"]])
        else:
            note = "" if math.isfinite(e["pearson"]) else "a variable is constant: no coefficient"
            rows.append([t, str(e["n"]), fmt(e["pearson"], 2), fmt(e["pearson_p"], 2), fmt(e["pearson_perm_p"], 2),
                         f"[{fmt(e['pearson_ci'][0], 2)}, {fmt(e['pearson_ci'][1], 2)}]", fmt(e["spearman"], 2),
                         fmt(e["spearman_p"], 2), fmt(e["spearman_perm_p"], 2),
                         f"[{fmt(e['spearman_ci'][0], 2)}, {fmt(e['spearman_ci'][1], 2)}]", note])
        if with_paper and t in PAPER_TABLE4:
            r, p, rho, q = PAPER_TABLE4[t]
            rows.append([f"  paper {t}", "6", f"{r:.2f}", f"{p:.2f}", "", "", f"{rho:.2f}", f"{q:.2f}", "", "", ""])
    conf = f"{100 * results['config']['confidence']:g}% CI"
    return ["test task", "n", "Pearson r", "p", "perm. p", conf, "Spearman rho", "p", "perm. p", conf, "note"], rows


def variant_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    """Spearman rho [interval] (permutation p) per test task for every similarity variant (the reported one marked):
    whether the correlation depends on how the two sets' rows are paired or summarised."""
    sim = results["similarity"]
    tests, rows = list(sim["correlation"]), []
    for name, entries in sim.get("by_variant", {}).items():
        cells = []
        for t in tests:
            e = entries[t]
            ok = "error" not in e and math.isfinite(e["spearman"])
            cells.append(f"{e['spearman']:+.2f} [{e['spearman_ci'][0]:+.2f}, {e['spearman_ci'][1]:+.2f}] "
                         f"p={e['spearman_perm_p']:.2g}" if ok else "-")
        rows.append([name + (" (reported)" if name == sim["variant"] else ""), *cells])
    return ["variant", *[f"{t} (n={sim['correlation'][t]['n']})" for t in tests]], rows


def show_overlap(results: dict) -> None:
    print_table("Jaccard overlap (%) between the training tasks' and the OOD tasks' top-p% neurons (unions)",
                *overlap_rows(results))


def show_sweep(results: dict) -> None:
    for g in results["sweep"]:
        print_table(f"group ({g}): scores after joint training through the union of the top-p% neurons",
                    *sweep_rows(results, g))


def show_single(results: dict) -> None:
    for g, tasks in results["single"].items():
        ps = list(next(iter(tasks.values())))
        print_table(f"group ({g}): each task trained alone through its own top-p% neurons (ID score)",
                    ["task", *[f"{p}%" for p in ps]], [[t] + [fmt(v[p]) for p in ps] for t, v in tasks.items()])


def show_ablation(results: dict) -> None:
    c = results["config"]
    for part in results["ablation"].values():
        print_table(f"({part['group']}) {part['label']}: mean OOD score over {', '.join(part['tests'])} "
                    f"(overlap rate = {c['ablation_rate']}, total = {c['ablation_total']})",
                    *ablation_rows(part, c["ablation_rate"]))


def show_similarity(results: dict) -> None:
    print_table(f"each fully fine-tuned model's score (layer-averaged similarity, {results['similarity']['variant']}, "
                f"of its training task's neurons with the test task's)", *model_rows(results))
    print_table("correlation between similarity and score across models (Table 4)", *correlation_rows(results))
    print_table("Spearman rho [interval] (permutation p) for every similarity variant", *variant_rows(results))


def examples_of(results: dict, task: str, part: str) -> str:
    """E.g. "test: 100" (evaluated) or "test: 400, without the evaluated" (a partitioned single split)."""
    plan = results["examples"][task]
    if part == "eval":
        return f"{plan['eval']['split']}: {len(plan['eval']['indices'])}"
    shared = ", without the evaluated" if plan["pool"]["split"] == plan["eval"]["split"] else ""
    return f"{plan['pool']['split']}: {plan['pool']['size']}{shared}"


def summary(results: dict) -> str:
    c = results["config"]
    out = [f"# Generalization through task-specific neurons: {c['model']}",
           f"Neurons: top-p% per {c['selection']['scope']} by {c['selection']['scorer']} on the base model "
           f"({c['selection']['n_score']} pool examples per task, disjoint from its test examples); "
           f"{c['n_eval']} test examples per task"
           + (f" ({c['n_eval_generation']} for generation)" if c["n_eval_generation"] else "")
           + f"; neuron-only training {c['training']}; full fine-tuning {c['full_training']}.", "\n## Tasks\n",
           markdown_table(["task", "paper", "data", "kind", "evaluated", "scored and trained from", "note"],
                          [[k, v["paper"] or "", v["data"], v["kind"], examples_of(results, k, "eval"),
                            examples_of(results, k, "pool"), v["note"]] for k, v in results["tasks"].items()])]
    for g, info in results["groups"].items():
        out.append(f"\n**Group ({g})**: train {', '.join(info['train'])}; OOD {', '.join(info['ood'])}.")
        out += [f"- {note}" for note in info["notes"]]
    return "\n".join(out + measurements(results)) + "\n"


def measurements(results: dict) -> list[str]:
    """The measured parts of the summary: overlap, sweeps, ablation and similarity, each under a "## " title, a
    plot on a line of its own."""
    c = results["config"]
    out = ["\n## Overlap (Table 8): Jaccard (%) of the unions of top-p% sets\n", markdown_table(*overlap_rows(results))]
    out += [f"\n![pairwise overlap](plots/overlap_p{p}.png)" for p in list(results["overlap"]["pairwise"])[:1]]
    if "sweep" in results:
        out.append("\n## Proportion sweep (Figure 2)\n")
        for g in results["sweep"]:
            lines = figure2_rows(results, g)
            if lines:
                out += [f"\nGroup ({g}), Figure 2's lines (mean over the line's tasks [interval]):\n",
                        markdown_table(*lines)]
            out += [f"\nGroup ({g}), per task:\n", markdown_table(*sweep_rows(results, g, with_intervals=True))]
        out.append(f"\nBrackets: {100 * c['confidence']:g}% intervals over the test examples (and the trainings, "
                   f"when a point has several: `sweep_seeds`); a point with one training holds for that training.")
        out.append("\n![figure 2](plots/figure2.png)")
    if "single" in results:
        out.append("\n## Single-task sweep (Figure 6)\n")
        for g, tasks in results["single"].items():
            ps = list(next(iter(tasks.values())))
            out.append(f"\nGroup ({g}), ID score of each task trained alone:\n")
            out.append(markdown_table(["task", *[f"{p}%" for p in ps]], [[t] + [fmt(v[p]) for p in ps] for t, v in tasks.items()]))
        out.append("\n![figure 6](plots/figure6.png)")
    if "ablation" in results:
        out.append(f"\n## Overlap-controlled ablation (Tables 9-11); overlap rate = {c['ablation_rate']}, "
                   f"total = {c['ablation_total']}, rest from {c['ablation_pool']}\n")
        for part in results["ablation"].values():
            out += [f"\n({part['group']}) {part['label']}, mean OOD score over {', '.join(part['tests'])} "
                    f"[{100 * c['confidence']:g}% interval over the cell's {c['ablation_draws']} draw(s) and the test "
                    f"examples, docs/statistics.md]:\n",
                    markdown_table(*ablation_rows(part, c["ablation_rate"]))]
            out += [f"\n- not possible at rate {r}%, {p}% neurons: {msg}" for r, cells in part["impossible"].items()
                    for p, msg in cells.items()]
            paper = paper_ablation_rows(part["label"])
            if paper:
                out += [f"\nThe paper's {part['label']} table (Llama-2-7b):\n",
                        markdown_table(*paper)]
    if "similarity" in results:
        sim = results["similarity"]
        out += ["\n## Parameter similarity (Figure 3) and correlation (Table 4)\n",
                f"Similarity: {sim['variant']} (pairing {sim['pairing']}), neurons scored on the {sim['neurons']} "
                f"model, top {c['selection']['k']}%; averaged over layers {sim['layers'] or 'all'} for the correlation.\n",
                "Each fully fine-tuned model's score on each test task, and its layer-averaged similarity:\n",
                markdown_table(*model_rows(results)), "",
                markdown_table(*correlation_rows(results)),
                "\nThe same correlation (Spearman rho, bootstrap interval over models, permutation p) for every "
                "similarity variant (`inner`/`outer`/`both` matrices; `flatten` with `index` or `shared_first` "
                "pairing, or `mean` vectors):\n",
                markdown_table(*variant_rows(results)),
                "\n![figure 3](plots/figure3.png)", "\n![figure 3, base model](plots/figure3_base.png)"]
    return out
