"""The identification experiment's tables (with intervals and verdicts), plots and markdown summary."""
from __future__ import annotations

import statistics

from ...report.console import print_table
from ...report.markdown import markdown_table
from ...report.plots import grouped_bars, heatmap
from ...tasks import Task
from ..kit.auto_k import describe as describe_k
from ...analysis.stats import adjust, mean_interval, paired_gap, per_example, specificity_interval
from ...runs import Run


PAPER = {  # the paper's Tables 1 and 2 (Llama-2-7b, k = 10%): averages over its classification / generation tasks
    "classification": {"Original": 87.7, "Deactivate-Random": 84.8, "Deactivate-Task": 76.0,
                       "Zero-shot": 53.3, "Train-Random": 54.8, "Train-Task": 83.2},
    "generation": {"Original": 45.6, "Deactivate-Random": 42.3, "Deactivate-Task": 32.0,
                   "Zero-shot": 19.8, "Train-Random": 22.5, "Train-Task": 37.0},
}
CLAIMS = {"less": "{condition} lowers the score more than {control}", "greater": "{condition} beats {control}"}


def tables(reference: str, before: dict, control: str, controls: dict, condition: str, runs: dict,
           names: list[str], settings, direction: str) -> dict:
    """A part's results from its step records (``before[task]``: the reference's record; ``controls[task]``: the
    random controls' records; ``runs[i][j]``: the records (one per seed) of task j through task i's neurons).

    The table holds mean scores; ``gap`` the paired difference condition - control per task and averaged over
    tasks (analysis.stats: two-level interval over examples and runs, p-value, per-task p Holm-adjusted, verdict for
    the claim in ``direction``); ``intervals``
    each cell's interval of the mean; ``specificity`` (deactivation with the full matrix) the index of the
    cross-task matrix, whose drops are the deactivated task's scores below the Original's."""
    stat = {"n_boot": settings.n_boot, "confidence": settings.confidence, "seed": settings.seed}
    score = lambda records: statistics.mean(r["score"] for r in records)  # noqa: E731
    table = {reference: {n: before[n]["score"] for n in names}, control: {n: score(controls[n]) for n in names},
             condition: {n: score(runs[n][n]) for n in names}}
    outcomes = {reference: {n: before[n]["outcomes"] for n in names},
                control: {n: [r["outcomes"] for r in controls[n]] for n in names},
                condition: {n: [r["outcomes"] for r in runs[n][n]] for n in names}}
    claim = CLAIMS[direction].format(condition=condition, control=control)
    part = {"table": table, "outcomes": outcomes, "n": {n: before[n]["n"] for n in names},
            "runs": {control: {n: len(controls[n]) for n in names}, condition: {n: len(runs[n][n]) for n in names}},
            "random_runs": {n: [r["score"] for r in controls[n]] for n in names},
            **statistics_of(outcomes, condition, control, names, stat, direction), "claim": claim,
            "matrix_change": {i: {j: score(runs[i][j]) - before[j]["score"] for j in runs[i]} for i in runs}}
    if direction == "less" and all(len(runs[i]) == len(names) for i in names) and len(names) > 1:  # deactivation
        original = {j: before[j]["outcomes"] for j in names}
        deactivated = {i: {j: per_example([r["outcomes"] for r in runs[i][j]]).tolist() for j in names} for i in names}
        part["specificity"] = specificity_interval(original, deactivated, **stat)
    return part


def controlled(*args) -> dict:
    """``tables`` of the same condition against another control (importance-matched, beyond the paper): its
    table, gaps and claims, without the cross-task matrix, which the main part holds."""
    return {k: v for k, v in tables(*args).items() if k not in ("matrix_change", "specificity")}


def statistics_of(outcomes: dict, condition: str, control: str, names: list[str], stat: dict,
                  direction: str) -> dict:
    """``gap``: condition - control per task (Holm-adjusted together) and averaged over tasks (one test), with
    verdicts; ``intervals``: each cell's interval of the mean. From per-example outcomes alone."""
    gaps = {n: paired_gap([outcomes[condition][n]], [outcomes[control][n]], **stat) for n in names}
    if len(names) > 1:  # the per-task claims of one table, adjusted together; the average stays one test
        adjust([gaps[n] for n in names])
    gaps["average"] = paired_gap([outcomes[condition][n] for n in names], [outcomes[control][n] for n in names], **stat)
    return {"intervals": {cond: {n: mean_interval(outcomes[cond][n], **stat) for n in names} for cond in outcomes},
            "gap": {n: {**g.to_dict(), "verdict": g.verdict(direction)} for n, g in gaps.items()}}


DIRECTIONS = {"deactivation": "less", "deactivation_matched": "less", "deactivation_general_excluded": "less",
              "finetuning": "greater", "finetuning_matched": "greater"}  # the parts, and the direction of their claims


def restat(results: dict) -> dict:
    """``results`` with every part's gaps, verdicts and intervals recomputed from its per-example outcomes by
    today's statistics (``taskneurons report`` and the evidence tables: a changed statistic needs no rerun)."""
    c = results["config"]
    stat = {"n_boot": c["n_boot"], "confidence": c["confidence"], "seed": c["seed"]}
    out = dict(results)
    for part, direction in DIRECTIONS.items():
        if part in results:
            _, control, condition = list(results[part]["table"])
            out[part] = {**results[part], **statistics_of(results[part]["outcomes"], condition, control,
                                                          list(results["tasks"]), stat, direction)}
    return out


def table_rows(part: dict, names: list[str]) -> list[list[str]]:
    """One row per condition (score per task, with its runs' count for the controls) and the gap's row."""
    rows = []
    for condition, scores in part["table"].items():
        runs = part["runs"].get(condition, {})
        rows.append([condition] + [f"{scores[n]:.1f}" + (f" ({runs[n]} runs)" if runs.get(n, 1) > 1 else "")
                                   for n in names] + [f"{statistics.mean(scores.values()):.1f}"])
    gap = part["gap"]
    rows.append(["gap [CI], p"] + [f"{gap[n]['mean']:+.1f} [{gap[n]['low']:+.1f}, {gap[n]['high']:+.1f}], "
                                   f"p={gap[n]['p']:.2g}" + holm_cell(gap[n]) for n in names + ["average"]])
    rows.append(["claim"] + [gap[n]["verdict"] for n in names + ["average"]])
    return rows


def holm_cell(gap: dict) -> str:
    return f", Holm p={gap['p_adjusted']:.2g}" if gap.get("p_adjusted") is not None else ""


def notes(part: dict, confidence: float) -> str:
    """What the gap row is: the claim, the interval, n, runs and the test."""
    gap = part["gap"]["average"]
    return (f"gap = {' - '.join(list(part['table'])[2:0:-1])} per example, mean over {gap['n']} test examples "
            f"({gap['tasks']} tasks; {gap['basis']}); {100 * confidence:g}% {gap['test']}: the interval counts both "
            f"the test examples and the runs (random draws, training seeds), docs/statistics.md. A claim holds when "
            f"its interval excludes 0: {part['claim']}. The per-task claims are adjusted together (Holm): one is "
            f"decided only when its Holm p is below {1 - confidence:.2g}; the average is one test.")


def show(part: dict, title: str, tasks: list[Task]) -> None:
    names = [t.name for t in tasks]
    print_table(f"{title} (score on the test split; {part['claim']}?)", ["method", *names, "avg"],
                table_rows(part, names))
    if "specificity" in part:
        sp = part["specificity"]
        print(f"specificity index (mean diagonal drop - mean off-diagonal drop): {sp['index']:+.1f} "
              f"[{sp['low']:+.1f}, {sp['high']:+.1f}]")
    change = part.get("matrix_change", {})
    if change and all(len(change[i]) == len(names) for i in change):
        print_table(f"{title}: change of task j (columns) through task i's neurons (rows)", ["neurons of", *names],
                    [[i] + [f"{change[i][j]:+.1f}" for j in names] for i in names])


def plot(results: dict, run: Run) -> None:
    for part in DIRECTIONS:
        if part not in results:
            continue
        data = results[part]
        k = results["auto_k"]["k"] if results.get("auto_k") else results["config"]["selection"]["k"]
        grouped_bars(data["table"], f"{part} (k = {k}%), "
                     f"{100 * results['config']['confidence']:g}% intervals over test examples", "score",
                     run.path("plots", f"{part}_table.png"), errors=data["intervals"])
        change = data.get("matrix_change", {})
        names = list(change)
        if names and all(len(change[i]) == len(names) for i in names):
            heatmap([[change[i][j] for j in names] for i in names], names, names, f"{part}: score change",
                    run.path("plots", f"{part}_matrix.png"), xlabel="evaluated task", ylabel="neurons of task")
    general = results["deactivation"].get("general") or {}
    if general:
        changes = {c: r["change"] for c, r in general.items() if "change" in r}
        grouped_bars({"change of the general-text loss": {c: g["mean"] for c, g in changes.items()}},
                     "general ability: loss change from the Original (nats/token)", "loss change",
                     run.path("plots", "general_ability.png"),
                     errors={"change of the general-text loss": {c: [g["low"], g["high"]] for c, g in changes.items()}})
    overlap = results["deactivation"]["overlap"]
    names = list(overlap)
    heatmap([[overlap[a][b] for b in names] for a in names], names, names, "Jaccard overlap of neuron sets",
            run.path("plots", "overlap.png"), fmt="{:.2f}", cmap="viridis", center=None)


def paper_cell(condition: str) -> str:
    if condition not in PAPER["classification"]:
        return ""
    return f"{PAPER['classification'][condition]} / {PAPER['generation'][condition]}"


def summary(results: dict) -> str:
    c, sel = results["config"], results["config"]["selection"]
    n_generation = f" ({c['n_eval_generation']} per generation task)" if c.get("n_eval_generation") else ""
    options = f" {sel['scorer_options']}" if sel["scorer_options"] else ""
    k = f"{results['auto_k']['k']:g}% (auto)" if results.get("auto_k") else f"{sel['k']}%"
    out = [f"# Task-specific neurons of {c['model']}",
           f"k = {k} per {sel['scope']}, scorer {sel['scorer']}{options}, tokens "
           f"{sel['tokens']}, specificity {sel['specificity']}, {sel['n_score']} scoring examples, {c['n_eval']} test "
           f"examples per task{n_generation}, Original = {c['original']}, {c['random_controls']} random controls per task "
           f"({c.get('matched_controls', 0)} importance-matched), "
           f"Train-Task over {c['finetune_seeds']} training seeds, Train-Random over {c['finetune_random_controls']} "
           f"(draw, seed) pairs.",
           "Scored and trained examples come from each task's pool, disjoint from its test examples (results.json "
           "`examples` lists them)."] + ([describe_k(results["auto_k"]) + " (beyond the paper)."]
                                         if results.get("auto_k") else [])
    for part in DIRECTIONS:
        if part not in results:
            continue
        names = list(results["tasks"])
        rows = [row + [paper_cell(row[0])] for row in table_rows(results[part], names)]
        out += [f"\n## {part}\n", markdown_table(["method", *names, "avg", "paper: avg, Llama-2-7b (cls / gen)"], rows),
                "", notes(results[part], c["confidence"]),
                "\nThe paper's column: its Tables 1-2 (Llama-2-7b, k = 10%, averages over its own classification / "
                "generation tasks, not these tasks)."]
        if "specificity" in results[part]:
            sp = results[part]["specificity"]
            out.append(f"\nSpecificity index of the cross-task matrix (mean diagonal drop minus mean off-diagonal "
                       f"drop, points): {sp['index']:+.1f} [{sp['low']:+.1f}, {sp['high']:+.1f}] "
                       f"({100 * c['confidence']:g}% bootstrap over test examples).")
        out.append(f"\n![{part}](plots/{part}_table.png)")
    out += general_section(results.get("deactivation", {}).get("general") or {})
    out += harness_section(results.get("deactivation", {}).get("harness") or {})
    return "\n".join(out) + "\n"


def general_section(general: dict) -> list[str]:
    """(Beyond the paper) the loss on held-out general text per condition, and its change from the Original."""
    if not general:
        return []
    rows = [[condition, f"{r['loss']:.3f}", "" if "change" not in r else
             f"{r['change']['mean']:+.3f} [{r['change']['low']:+.3f}, {r['change']['high']:+.3f}]"]
            for condition, r in general.items()]
    n = len(general["Original"]["passages"])
    return ["\n## general ability: loss on held-out general text (beyond the paper)\n",
            markdown_table(["condition", "loss (nats/token)", "change [CI]"], rows), "",
            f"{n} passages of general text in no task (tasks/general.py); each condition's change from the Original "
            f"paired passage by passage: what switching a set of neurons off costs the model beyond its task.",
            "\n![general ability](plots/general_ability.png)"]


def harness_section(harness: dict) -> list[str]:
    """General abilities (lm-evaluation-harness): each metric with its stderr, per condition."""
    if not harness:
        return []
    metrics = [(task, m) for task, values in harness["Original"].items() for m in values if "stderr" not in m]
    rows = [[condition] + [f"{values[t][m]:.3f} ± {values[t].get(m.replace(',', '_stderr,', 1), float('nan')):.3f}"
                           for t, m in metrics] for condition, values in harness.items()]
    return ["\n## general abilities (lm-evaluation-harness)\n",
            markdown_table(["condition", *[f"{t} {m}" for t, m in metrics]], rows), "",
            "Each value ± the harness's standard error; a task's neurons and one of its random controls switched off "
            "in turn."]
