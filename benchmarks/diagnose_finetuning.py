"""Does training only a task's neurons beat training an equal random set once the budget grows? Re-trains the
base model's neurons of an identify run (its saved scores, so nothing is re-scored) at other k and step budgets:
Train-Task against Train-Random, each from the base model, scored on the run's test examples.

Reuses the run folder of ``evidence_identify.py``; writes ``<run>/finetune_diagnosis.json``.

    .venv/bin/python benchmarks/diagnose_finetuning.py --run runs/evidence-identify --tasks amazon_yang e2e \
        --variants 10:32 2:32 [--lr 5e-4] [--seeds 0]
"""
import argparse
import json
import statistics
from pathlib import Path

from taskneurons.experiments.identify import Identify, IdentifyConfig
from taskneurons.experiments.kit import TrainingSpec, control_seed
from taskneurons.io import read_yaml, write_json
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet, Scores
from taskneurons.tuning import NeuronTuner, train


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default="runs/evidence-identify")
    parser.add_argument("--tasks", nargs="+", default=["amazon_yang", "e2e"])
    parser.add_argument("--variants", nargs="+", default=["10:32", "2:32"], help="k:steps (batch 8 examples a step)")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="random control sets")
    args = parser.parse_args()
    run = Path(args.run)
    config = IdentifyConfig(**read_yaml(run / "config.yaml"))
    identify = Identify(config, run, progress=False)  # the run's own tasks, pools and test examples
    lm = load_model(config.model)
    tasks = {t.name: t for t in identify.tasks}
    out = run / "finetune_diagnosis.json"
    rows = json.loads(out.read_text()) if out.is_file() else []
    done = {(r["task"], r["k"], r["steps"], r["lr"]) for r in rows}
    for name in args.tasks:
        task = tasks[name]
        scores = Scores.load(run / "artifacts" / f"base.{name}.scores")

        def score():
            return identify.evaluate(lm, task)["score"]

        def trained(neurons: NeuronSet, steps: int) -> float:
            spec = TrainingSpec(n_train=steps * config.batch_size, lr=args.lr, max_steps=steps)
            examples = identify.plans[name].draw("train", spec.n_train)
            with NeuronTuner(lm, neurons) as tuner:  # unmerged on exit: the next arm starts from the base
                train(lm, examples, tuner.parameters(), spec.for_settings(config), progress=False)
                return score()

        zero_shot = score()
        for variant in args.variants:
            k, steps = float(variant.split(":")[0]), int(variant.split(":")[1])
            if (name, k, steps, args.lr) in done:
                continue
            neurons = config.selection.neurons(scores, k)
            randoms = [trained(neurons.random_like(control_seed(config.seed, name, seed, "train")), steps)
                       for seed in args.seeds]
            row = {"task": name, "k": k, "steps": steps, "lr": args.lr, "zero_shot": zero_shot,
                   "train_task": trained(neurons, steps), "train_random": statistics.mean(randoms),
                   "random_runs": randoms}
            rows.append(row)
            write_json(out, rows)
            print(f"{name:12s} k={k:>4}% {steps:3d} steps lr {args.lr:g}  zero-shot {zero_shot:5.1f}  "
                  f"train-task {row['train_task']:5.1f}  train-random {row['train_random']:5.1f} {randoms}", flush=True)


if __name__ == "__main__":
    main()
