"""How much does a random k% of every layer cost the Original? Finds the paper's regime for a small model.

The paper's random 10% costs Llama-2-7b about 3 points; on a 135M model a random 10% wrecks it, so the issue asks
for the largest k at which a random set costs at most 3 points on average. This script takes a finished (or
running) identify run folder, its Original (``original/model.safetensors``) and its test examples (the same
plans, from its config.yaml), and for each k deactivates independent random draws of k% per (layer, kind), drawn
as identify draws its controls (kit.seeds.control_seed), on every task. It prints, per k, the cost per task and
averaged over tasks with a paired bootstrap interval over test examples (analysis.stats.paired_gap). Every cell is
cached in ``--out`` (JSON), so rerunning resumes.

    .venv/bin/python benchmarks/random_cost.py --run runs/issue10-deact --ks 0.5 1 --draws 2
"""
import argparse
import json
from pathlib import Path

from taskneurons.experiments.identify import IdentifyConfig
from taskneurons.experiments.kit import control_seed, evaluate_plan, make_plans
from taskneurons.analysis.stats import paired_gap
from taskneurons.io import read_yaml, write_json
from taskneurons.models import load_model
from taskneurons.models.weights import load_weights
from taskneurons.neurons import NeuronSet, deactivate
from taskneurons.neurons.scores import Scores
from taskneurons.tasks import load_task


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", required=True, help="an identify run folder with original/model.safetensors")
    parser.add_argument("--ks", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--out", default=None, help="cache of every cell (default: <run>.random_cost.json)")
    args = parser.parse_args()
    run = Path(args.run)
    out = Path(args.out or f"{run}.random_cost.json")
    cells = json.loads(out.read_text()) if out.is_file() else {}
    config = IdentifyConfig(**read_yaml(run / "config.yaml"))
    tasks = [load_task(name, data_root=config.data_root) for name in config.tasks]
    plans = make_plans(tasks, config.seed, config.n_eval_for, lambda t: config.draws())  # the run's test examples
    lm = load_model(config.model, device=config.device, dtype=config.dtype)
    load_weights(lm.model, run / "original" / "model.safetensors")
    original = {t.name: json.loads((run / "steps" / f"deact_original_{t.name}.json").read_text()) for t in tasks}
    for k in args.ks:
        for task in tasks:
            template = NeuronSet.from_scores(Scores.load(run / "artifacts" / f"original.{task.name}.scores"), k,
                                             config.selection.scope)
            for index in range(args.draws):
                key = f"k={k}/{task.name}/{index}"
                if key not in cells:
                    with deactivate(lm, template.random_like(control_seed(config.seed, task.name, index)),
                                    mode=config.deactivation_mode):
                        cells[key] = evaluate_plan(lm, plans[task.name], config)
                    write_json(out, cells)
    print(f"\nrandom k% per (layer, kind) on {config.model}'s Original ({run}); cost = Original - random, "
          f"{args.draws} draws per task; 95% paired bootstrap over test examples")
    names = [t.name for t in tasks]
    print(f"{'k':>5s} " + " ".join(f"{n:>12s}" for n in names) + "   average [95% CI]")
    for k in args.ks:
        runs = {n: [cells[f"k={k}/{n}/{i}"]["outcomes"] for i in range(args.draws)] for n in names}
        gap = paired_gap([original[n]["outcomes"] for n in names], [runs[n] for n in names])
        costs = [original[n]["score"] - sum(cells[f"k={k}/{n}/{i}"]["score"] for i in range(args.draws)) / args.draws
                 for n in names]
        print(f"{k:5g} " + " ".join(f"{c:12.1f}" for c in costs) + f"   {gap.mean:+.1f} [{gap.low:+.1f}, {gap.high:+.1f}]"
              f" (n={gap.n})")


if __name__ == "__main__":
    main()
