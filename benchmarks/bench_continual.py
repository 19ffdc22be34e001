"""Continual learning on the standard CL benchmark (agnews, amazon, dbpedia, yahoo; order 1 by default):
every method side by side on SmolLM2-135M, next to the paper's Table 5 (Llama-2-7b).

The run folder resumes: rerunning the same command after a kill continues from the last finished stage.
The defaults (500 training and 200 test examples per task, prompts cut to 256 tokens, one epoch, label
ranking) are sized for a CPU; on 2 cores expect several hours for all methods (each full-weight method trains
about 63 steps per task; W-NCFT's task vectors use 200 samples per task here, the paper 1000). W-NCFT runs in both
readings of Eq. 12 (``--wncft-readings``); its training is NCFT's, which the script checks from the weight digests.

    .venv/bin/python benchmarks/bench_continual.py [--model smollm2-135m] [--orders 1] [--n-train 500]
        [--n-test 200] [--methods ncft seqft ...] [--out runs/bench_continual] [--set key=value ...]
        [--sweep [--sweep-tasks 1] [--sweep-dev 100]]

With ``--sweep`` each method's learning rate is first chosen on the dev split (its default rate x 1/3, 1, 3; each a
short run on the first ``--sweep-tasks`` tasks, under OUT/sweep/), then the main run uses the chosen rates (OUT/main/).

With ``--combine RUN_FOLDER ...`` nothing runs: finished runs of one setting (e.g. order 1 with every method, and
orders 2 and 3 with four methods, each sized for a session) are read as one (``experiments/continual/combine.py``)
and their table, intervals over orders and claims written to OUT/benchmark.md and OUT/combined.json.

A quick check of the script itself: ``--model tiny-llama --n-train 4 --n-test 4 --set training.max_steps=1``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from taskneurons.errors import TaskNeuronsError
from taskneurons.configs.files import apply_override
from taskneurons.experiments.continual import Continual, ContinualConfig
from taskneurons.experiments.continual.combine import combine_folders
from taskneurons.experiments.continual.config import ALL_METHODS
from taskneurons.experiments.continual.metrics import diagonal
from taskneurons.tasks.orders import order_number
from taskneurons.experiments.continual.records import main_across
from taskneurons.experiments.continual.report import PAPER_TABLE5, fmt, fmt_interval, fmt_mean_std, markdown_table
from taskneurons.experiments.continual.claims import claims
from taskneurons.experiments.continual.sweep import sweep_learning_rates, sweep_table, with_rates
from taskneurons.report.console import print_table
from taskneurons.io import write_json, write_text

# the paper's Table 5 (Llama-2-7b, AA after the last task, orders 1-6) by the label our runs give each method
PAPER_AA = dict(PAPER_TABLE5.values())


def paper_value(label: str, orders: list[int]) -> str:
    """The paper's AA for ``label`` on the paper ``orders`` it ran (their mean when several)."""
    row = PAPER_AA.get(label.split(" (")[0])  # "W-NCFT (snapshot)" -> the paper's W-NCFT
    shown = sorted({k for k in orders if 1 <= k <= len(row)}) if row else []
    if not shown:
        return "-"
    mean = f"{sum(row[k - 1] for k in shown) / len(shown):.1f}"
    return mean if len(shown) == 1 else f"{mean} (avg {', '.join(map(str, shown))})"


def _paper_orders(results: dict, label: str | None = None) -> list[int]:
    """The paper order numbers of the orders (in which ``label`` ran): names "order<k>", with or without a seed."""
    numbers = [order_number(name.split(".")[0]) for name, order in results["orders"].items()
               if label is None or label in order["methods"]]
    return [k for k in numbers if k is not None]


def table(results: dict) -> tuple[list[str], list[list[str]]]:
    header = ["method", "AA (ours)", "runs", "AA 95% CI (test examples)", "AA (paper, Llama-2-7b)", "learnt (mean a_ii)",
              "BWT", "FWT", "FG_N", "s/step", "trainable"]
    rows = []
    across = main_across(results)
    run_methods = {label.split(" (")[0] for label in across["summary"]}
    labels = list(across["summary"]) + [label for label in PAPER_AA if label not in run_methods]
    for label in labels:
        entry = across["summary"].get(label)
        if entry is None:  # in the paper, not implemented here (EPI)
            rows.append([label, "not run", "-", "-", paper_value(label, _paper_orders(results)), "-", "-", "-", "-",
                         "-", "-"])
            continue
        trains = [t for order in _orders_of(results, label) for t in order["methods"][label]["train"]]
        per_step = [t["seconds_per_step"] for t in trains if t.get("seconds_per_step")]
        intervals = across["intervals"].get(label, {})

        def show(key, signed=False):  # one order: its value; several: mean ± std [t-interval over orders]
            values = entry[key]
            if len(values) == 1:
                return fmt(values[0], signed)
            return f"{fmt_mean_std(values, signed)} {fmt_interval(intervals.get(key), signed)}".rstrip(" -")
        examples = intervals.get("average_accuracy_examples") or {}
        rows.append([label, show("average_accuracy"), f"{len(entry['average_accuracy'])}",
                     f"[{examples['low']:.1f}, {examples['high']:.1f}]" if examples.get("low") is not None else "-",
                     paper_value(label, _paper_orders(results, label)), _learnt(results, label),
                     show("backward_transfer", True), show("forward_transfer", True),
                     show("final_forgetting_rate"), f"{sum(per_step) / len(per_step):.2f}" if per_step else "-",
                     f"{trains[0]['trainable']:,}"])
    return header, rows


def _orders_of(results: dict, label: str) -> list[dict]:
    """The orders in which ``label`` ran (a combination of runs may hold a method in some orders only)."""
    return [order for order in results["orders"].values() if label in order["methods"]]


def _learnt(results: dict, label: str) -> str:
    """Each task's score right after its own stage, averaged over tasks and runs: how much a method learnt (BWT
    and FG are only comparable between methods that learnt alike); "-" for a joint method (no stages)."""
    ev = results["config"]["eval_method"]
    views = [o["methods"][label]["by_evaluation"][ev] for o in _orders_of(results, label)]
    values = [v for view in views if view.get("matrix") for v in diagonal(view["matrix"]) if v is not None]
    return f"{sum(values) / len(values):.1f}" if values else "-"


def _digests(order: dict, label: str) -> list[str]:
    return [t.get("weights") for t in order["methods"][label]["train"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--orders", nargs="+", type=int, default=[1], help="paper orders (1-3: the standard benchmark)")
    parser.add_argument("--n-train", type=int, default=500)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--methods", nargs="+", default=ALL_METHODS)
    parser.add_argument("--wncft-readings", nargs="+", default=["scale", "snapshot"], choices=["scale", "snapshot"],
                        help="W-NCFT's Eq. 12 readings to run (scale: literal, shared sum; snapshot: shared mean)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--out", default="runs/bench_continual")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any ContinualConfig option")
    parser.add_argument("--sweep", action="store_true",
                        help="first choose each method's learning rate on the dev split (experiments/continual/sweep.py)")
    parser.add_argument("--sweep-tasks", type=int, default=1, help="tasks of the order the sweep trains (from the first)")
    parser.add_argument("--sweep-dev", type=int, default=100, help="dev examples per task the sweep evaluates on")
    parser.add_argument("--combine", nargs="+", metavar="RUN_FOLDER",
                        help="run nothing: read these finished runs of one setting as one and write their table")
    args = parser.parse_args(argv)
    if args.combine:
        try:
            results = combine_folders(args.combine)
        except TaskNeuronsError as error:  # one line, exit 2, nothing written
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
        write_json(Path(args.out) / "combined.json", results)
        write_benchmark(results, args.out, [f"Combined from {', '.join(args.combine)}.", ""])
        return

    methods = []
    for name in args.methods:
        if name != "wncft":
            methods.append(name)
            continue
        for reading in args.wncft_readings:  # the same training as NCFT, evaluated two ways
            methods.append({"method": "wncft", "label": "W-NCFT (scale)", "reading": "scale", "shared": "sum"}
                           if reading == "scale" else
                           {"method": "wncft", "label": "W-NCFT (snapshot)", "reading": "snapshot", "shared": "mean"})
    options = dict(model=args.model, orders=args.orders, training={"n_train": args.n_train}, n_eval=args.n_test,
                   methods=methods,
                   device=args.device, dtype=args.dtype, max_length=256, data_root="../shared/data",
                   method_options={"wncft": {"n_vector": 200}})
    for item in args.set:  # e.g. training.max_steps=1 (a nested option by dots)
        apply_override(options, item)
    swept = []
    if args.sweep:
        found = sweep_learning_rates(options, Path(args.out) / "sweep", n_tasks=args.sweep_tasks, n_dev=args.sweep_dev)
        options = with_rates(options, found)
        header, rows = sweep_table(found)
        print_table(f"learning rates chosen on the dev split of {', '.join(found['tasks'])}", header, rows)
        swept = [f"Learning rates chosen on the dev split of {', '.join(found['tasks'])} (each rate its own run; "
                 f"the highest dev average accuracy wins, a tie the rate nearest the default):", "", markdown_table(header, rows), ""]
    results = Continual(ContinualConfig(**options), Path(args.out) / "main" if args.sweep else Path(args.out))()
    write_benchmark(results, args.out, swept)


def write_benchmark(results: dict, out: str, preamble: list[str]) -> None:
    """Print the table beside the paper's and the claims' verdicts; write them to OUT/benchmark.md."""
    c = results["config"]
    orders = c["orders"]
    header, rows = table(results)
    title = (f"{c['model']}, order(s) {orders}, {c['training']['n_train']} train / {c['n_eval']} test per task: "
             f"ours vs the paper's Table 5")
    print_table(title, header, rows)
    # each claim of Table 5 the run can test, decided by its paired bootstrap interval over the test examples
    notes = [f"- {claim.verdict}: {claim.text}: {claim.evidence}" for claim in claims(results)]
    summary = main_across(results)["summary"]
    same = [label for label in summary if label.startswith("W-NCFT") and "NCFT" in summary
            and all(_digests(o, label) == _digests(o, "NCFT") for o in _orders_of(results, label))]
    adopted = [label for label in same if all(t.get("adopted_from") for o in _orders_of(results, label)
                                              for t in o["methods"][label]["train"])]
    if adopted:
        notes.append(f"- {', '.join(adopted)} adopted NCFT's stages (the same training, its weight digests checked; "
                     f"its s/step is NCFT's): their difference from NCFT is the Eq. 12 reweighting alone.")
    if set(same) - set(adopted):
        notes.append(f"- {', '.join(l for l in same if l not in adopted)} trained exactly as NCFT (identical weight "
                     f"digests after every stage): their difference from NCFT is the Eq. 12 reweighting alone.")
    for note in notes:
        print(note)
    text = "\n".join([f"## {title}", "", *preamble, markdown_table(header, rows), "", *notes, ""])
    write_text(Path(out) / "benchmark.md", text)
    print(f"wrote {Path(out) / 'benchmark.md'}")


if __name__ == "__main__":
    main()
