"""Rewrite the docs' evidence tables from the results kept in evidence/ (or check that they agree).

A generated table sits in a markdown file between two comments that name its source and its kind:

    <!-- evidence: calibration/bench_verdicts.json calibration -->
    ...the table, rewritten by this script...
    <!-- /evidence -->

The source is a file or a run folder under evidence/; run folders keep config.yaml, run.json and results.json
(per-example outcomes per run), so identify's and continual's statistics are recomputed from the outcomes by
today's code (a changed statistic needs no rerun; ``taskneurons report evidence/<run>`` rebuilds the run's own page
the same way). A generalize run's tables show the intervals it stored (its sweep points keep no outcomes); the
benchmarks' files (calibration, fidelity, memory) are tabled as written.

    .venv/bin/python benchmarks/evidence_tables.py            # rewrite every table in docs/ and README.md
    .venv/bin/python benchmarks/evidence_tables.py --check    # exit 1 (naming the tables) if any is out of date
"""
import argparse
import json
import re
import sys
from pathlib import Path

from taskneurons.io import write_text

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- evidence: (\S+) (\S+) -->\n)(.*?)(<!-- /evidence -->)", re.S)


def calibration(path: Path) -> str:
    """bench_verdicts.py's grid: false-verdict rate and power, two-level beside examples-only."""
    from taskneurons.report.markdown import markdown_table

    data = json.loads(path.read_text())
    rows = [[r["design"], r["tasks"], f"{r['noise']:g}", f"{r['spread']:g}",
             *[f"{r[m][k]:.3f}" for m in ("two_level", "examples_only") for k in ("false", "power_5", "power_10")]]
            for r in data["rows"]]
    header = ["design", "tasks", "noise", "run spread (points)", "two-level: false verdicts", "power, gap 5",
              "power, gap 10", "examples only: false verdicts", "power, gap 5", "power, gap 10"]
    return markdown_table(header, rows) + f"\n\n{data['replicates']} replicates a cell, {data['n_examples']} " \
                                         f"examples a task (`benchmarks/bench_verdicts.py`)."


def fidelity(path: Path) -> str:
    """bench_attribution_fidelity.py's results: per model and task, each scorer's Spearman with the loss change."""
    from taskneurons.neurons.fidelity import fidelity_table
    from taskneurons.report.markdown import markdown_table

    out = []
    for name, r in json.loads(path.read_text()).items():
        out += [f"**{name.replace('/', ', ')}** ({r['per_cell']} neurons per (layer, kind), {r['n_examples']} "
                f"examples, {r['seconds']:.0f} s)", "", markdown_table(*fidelity_table(r)), ""]
    return "\n".join(out)


def memory(path: Path) -> str:
    """bench_memory.py's rows: each work's measured peak beside the planner's estimate."""
    from taskneurons.report.markdown import markdown_table

    data, mib = json.loads(path.read_text()), 2 ** 20
    rows = [[r["model"], r["label"], f"{r['measured'] / mib:,.0f}", f"{r['estimated'] / mib:,.0f}",
             f"{r['estimated'] / max(1, r['measured']):.2f}"] for r in data["rows"]]
    devices = sorted({r["device"] for r in data["rows"]})
    failed = "".join(f" Failed: {line}." for line in data["failed"])
    return markdown_table(["model", "work", "measured MiB", "estimated MiB", "estimate / measured"], rows) \
        + f"\n\nBatch {data['batch']} x {data['length']} tokens on {', '.join(devices)} " \
          f"(`benchmarks/bench_memory.py`).{failed}"


def bold_titles(lines: list[str]) -> list[str]:
    """A page's "## " section titles as bold lines: a generated block sits inside a docs page's own sections."""
    return [f"\n**{line.strip(chr(10)).lstrip('# ')}**\n" if line.startswith("\n## ") else line for line in lines]


def without_plots(lines: list[str]) -> list[str]:
    """A page's lines less its plots, which stay in the run folder."""
    return [line for line in lines if not line.lstrip("\n").startswith("![")]


def identify(folder: Path) -> str:
    """An identify run's tables and claims, with its statistics recomputed from the outcomes it keeps."""
    from taskneurons.experiments.identify import report
    from taskneurons.experiments.identify.claims import claims
    from taskneurons.experiments.kit.auto_k import describe as describe_k
    from taskneurons.report.markdown import markdown_table

    results = report.restat(json.loads((folder / "results.json").read_text()))
    names, out = list(results["tasks"]), []
    for part in report.DIRECTIONS:
        if part in results:
            table = markdown_table(["method", *names, "avg"], report.table_rows(results[part], names))
            out += [f"**{part}**", "", table, "", report.notes(results[part], results["config"]["confidence"]), ""]
    out += [f"- {claim}" for claim in claims(results)]
    if results.get("auto_k"):  # beyond the paper: the k the model chose, and why
        out += ["", describe_k(results["auto_k"]) + "."]
    general = report.general_section(results["deactivation"].get("general") or {})
    out += bold_titles(without_plots(general))
    return "\n".join(out)


def generalize(folder: Path) -> str:
    """A generalize run's measured parts (overlap, sweep, ablation, similarity and Table 4) and its claims."""
    from taskneurons.experiments.generalize.claims import claims
    from taskneurons.experiments.generalize.report import measurements

    results = json.loads((folder / "results.json").read_text())
    return "\n".join(bold_titles(without_plots(measurements(results))) + ["", *[f"- {c}" for c in claims(results)]])


def continual(folder: Path) -> str:
    """A continual run's metrics across orders and its claims, recomputed from the outcomes it keeps."""
    from taskneurons.experiments.continual import claims, report, summary
    from taskneurons.report.markdown import markdown_table

    from taskneurons.experiments.continual.records import upgraded

    results = upgraded(json.loads((folder / "results.json").read_text()))
    results.update(summary.aggregate(results))
    lines = [markdown_table(*report.summary_rows(results)), ""]
    return "\n".join(lines + [f"- {claim}" for claim in claims.claims(results)])


def continual_runs(folder: Path) -> str:
    """Per run (an order, at a training seed): each method's AA; BWT; mean a_ii (what each stage taught its own
    task); and, where measured, the general-text loss after the last stage."""
    from taskneurons.experiments.continual.metrics import diagonal
    from taskneurons.experiments.continual.records import upgraded
    from taskneurons.report.markdown import markdown_table

    results = upgraded(json.loads((folder / "results.json").read_text()))
    general = any("general_loss" in stage for order in results["orders"].values()
                  for method in order["methods"].values() for stage in method.get("train") or [])
    rows = []
    for run, order in results["orders"].items():
        cells = []
        for method in results["methods"]:
            entry = order["methods"][method]
            found = entry["by_evaluation"][order["evaluation"]]
            metrics, learnt = found["metrics"], diagonal(found["matrix"])
            loss = [f"{entry['train'][-1]['general_loss']:.2f}"] if general else []
            cells.append("; ".join([f"{metrics['average_accuracy']:.1f}", f"{metrics['backward_transfer']:+.1f}",
                                    f"{sum(learnt) / len(learnt):.1f}", *loss]))
        rows.append([f"{run} ({', '.join(order['tasks'])})", *cells])
    what = "AA; BWT; mean a_ii" + ("; general-text loss after the last stage (nats/token)" if general else "")
    return markdown_table(["run", *results["methods"]], rows) + f"\n\nEach cell: {what}."


EVIDENCE_KINDS = {"calibration": calibration, "fidelity": fidelity, "memory": memory, "identify": identify,
                  "generalize": generalize, "continual": continual, "continual-runs": continual_runs}


def rewrite(text: str) -> tuple[str, list[str]]:
    """(the text with every block regenerated, the sources of the blocks that changed)."""
    changed = []

    def fill(match: re.Match) -> str:
        source, kind = match.group(2), match.group(3)
        if kind not in EVIDENCE_KINDS:
            raise SystemExit(f"evidence block {source}: kind {kind!r} is not one of {sorted(EVIDENCE_KINDS)}")
        if not (ROOT / "evidence" / source).exists():
            raise SystemExit(f"evidence block: evidence/{source} does not exist")
        table = EVIDENCE_KINDS[kind](ROOT / "evidence" / source).strip() + "\n"
        if table != match.group(4):
            changed.append(f"{source} ({kind})")
        return match.group(1) + table + match.group(5)

    return BLOCK.sub(fill, text), changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        new, changed = rewrite(text)
        stale += [f"{path.relative_to(ROOT)}: {c}" for c in changed]
        if changed and not args.check:
            write_text(path, new)
    for line in stale:
        print(("out of date: " if args.check else "rewrote: ") + line)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
