"""How well does each scoring variant estimate Eq. 2 (the loss change when a neuron's output is set to 0)?

For a seeded sample of neurons of the first, middle and last layers, both kinds, the true loss change of zeroing
each one at every position on a fixed set of task examples (more than one batch), against every scoring variant
(tokens: target / all; aggregation: mean of |g a|, |sum of g a| over the set, |sum over an example's tokens| averaged
over examples; and the other scorers): Spearman and Pearson with bootstrap intervals, per (layer, kind), for each
task and model. The variant with the highest Spearman against the dataset loss change is the default scorer.

    .venv/bin/python benchmarks/bench_attribution_fidelity.py [--models smollm2-135m gemma3-270m]
        [--tasks amazon_yang e2e] [--n 24] [--per-cell 20] [--out runs/bench_fidelity.json]

A rerun into the same --out keeps each (model, task) computed with the same settings and computes the
others (the file is what the docs' `fidelity` evidence tables read).
"""
import argparse
import json
import time
from pathlib import Path

from taskneurons.errors import TaskNeuronsError
from taskneurons.neurons.fidelity import VARIANTS, attribution_fidelity, fidelity_table
from taskneurons.experiments.kit import ExamplePlan
from taskneurons.io import write_json
from taskneurons.models import load_model
from taskneurons.report.console import print_table
from taskneurons.tasks import load_task


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--tasks", nargs="+", default=["amazon_yang", "e2e"])
    parser.add_argument("--n", type=int, default=24, help="examples (from the task's pool), 3 batches of 8")
    parser.add_argument("--per-cell", type=int, default=20, help="neurons per (layer, kind)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", default="runs/bench_fidelity.json")
    args = parser.parse_args(argv)
    out = Path(args.out)
    settings = {"n": args.n, "per_cell": args.per_cell, "max_length": args.max_length, "variants": list(VARIANTS)}
    results = json.loads(out.read_text()) if out.exists() else {}
    for model in args.models:
        todo = [name for name in args.tasks if results.get(f"{model}/{name}", {}).get("settings") != settings]
        lm = None
        for name in args.tasks:
            key = f"{model}/{name}"
            if name in todo:
                try:
                    lm = lm or load_model(model)
                except TaskNeuronsError as e:
                    print(f"skipping {model}: {e}")
                    break
                examples = ExamplePlan.make(load_task(name), 1, args.n, seed=0).draw("score", args.n)
                start = time.perf_counter()
                r = attribution_fidelity(lm, examples, per_cell=args.per_cell, max_length=args.max_length)
                results[key] = {**r, "seconds": time.perf_counter() - start, "settings": settings}
                write_json(out, results)
            r = results[key]
            print_table(f"{model} · {name}: Spearman (95% bootstrap CI) with |dataset loss change| of zeroing, "
                        f"{r['per_cell']} neurons per cell, {r['n_examples']} examples, {r['seconds']:.0f} s"
                        + ("" if name in todo else " (kept from an earlier run)"), *fidelity_table(r))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
