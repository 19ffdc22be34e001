"""Compare one method of a continual run with one of another run on the same test examples: AA and BWT, each a
paired bootstrap gap over the examples (a - b) with its sign-flip p. The two runs must have evaluated the very
same examples (same tasks, seed and n_eval: the script checks the recorded indices), e.g. NCFT at k = 10% in one
run and at k = 1% in another.

    .venv/bin/python benchmarks/compare_continual_runs.py runs/issue11-ncft-k1:NCFT runs/issue11/main:NCFT [--order order1]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from taskneurons.experiments.continual.metrics import forgetting_outcomes
from taskneurons.experiments.continual.records import upgraded
from taskneurons.analysis.stats import paired_gap


def fail(message: str) -> None:
    """One line naming what is wrong, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def method_view(spec: str, order: str | None) -> tuple[dict, dict, str]:
    """(results.json, the method's result in ``order``, order name) of ``RUN:LABEL``."""
    run, _, label = spec.rpartition(":")
    results = upgraded(json.loads((Path(run) / "results.json").read_text()))
    order = order or next(iter(results["orders"]))
    methods = results["orders"][order]["methods"]
    if label not in methods:
        fail(f"{run} has no method {label!r} in {order}; it has {sorted(methods)}")
    return results, methods[label]["by_evaluation"][results["config"]["eval_method"]], order


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="RUN_FOLDER:METHOD_LABEL")
    parser.add_argument("b", help="RUN_FOLDER:METHOD_LABEL")
    parser.add_argument("--order", default=None, help="the run (order) of both folders, default their first")
    args = parser.parse_args(argv)
    (ra, a, order), (rb, b, _) = method_view(args.a, args.order), method_view(args.b, args.order or None)
    tasks = list(a["final_outcomes"])
    for task in tasks:
        if ra["examples"][task]["eval"] != rb["examples"][task]["eval"]:
            fail(f"the runs evaluated different examples of {task}; compare runs with the same seed and n_eval")
    c = ra["config"]
    stats = dict(n_boot=c["n_boot"], confidence=c["confidence"], seed=c["seed"])
    aa = paired_gap([a["final_outcomes"][t] for t in tasks], [b["final_outcomes"][t] for t in tasks], **stats)

    bwt = paired_gap(list(forgetting_outcomes(a).values()), list(forgetting_outcomes(b).values()), **stats)
    found = {"a": args.a, "b": args.b, "order": order, "aa_gap": aa.to_dict(), "bwt_gap": bwt.to_dict()}
    for name, gap in (("AA", aa), ("BWT", bwt)):
        print(f"{name} {args.a} - {args.b}: {gap} over {gap.n} test examples of {gap.tasks} tasks ({gap.test})")
    return found


if __name__ == "__main__":
    main()
