"""Why does (or doesn't) deactivating a task's neurons hurt more than a random set? Re-deactivate the neurons of
an identify run's Original model by kind (inner only, outer only, both) and at other k, against random sets.

Reuses the run folder of ``evidence_identify.py`` (its Original model and its scores), so nothing is retrained.

    .venv/bin/python benchmarks/diagnose_deactivation.py --run runs/evidence-identify --tasks amazon_yang paws
"""
import argparse
import statistics
from pathlib import Path

from taskneurons.experiments.identify import Identify, IdentifyConfig
from taskneurons.experiments.identify.config import deactivation_tag
from taskneurons.experiments.kit import control_seed
from taskneurons.io import read_yaml, write_json
from taskneurons.neurons import NeuronSet, Scores, deactivate


def restricted(neurons: NeuronSet, kinds: str) -> NeuronSet:
    """The same set with the other kind's neurons dropped ("inner", "outer" or "both")."""
    if kinds == "both":
        return neurons
    masks = {k: (m if k == kinds else m & False) for k, m in neurons.masks.items()}
    return NeuronSet(masks, {**neurons.provenance, "kinds": kinds})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default="runs/evidence-identify")
    parser.add_argument("--tasks", nargs="+", default=["amazon_yang", "paws"])
    parser.add_argument("--variants", nargs="+", default=["both:10", "inner:10", "outer:10", "both:2"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    run = Path(args.run)
    config = IdentifyConfig(**read_yaml(run / "config.yaml"))
    identify = Identify(config, run, progress=False)  # the run's own tasks and test examples
    lm = identify.original_model()
    tag = deactivation_tag(config.original)
    tasks = {t.name: t for t in identify.tasks}
    rows = []
    for name in args.tasks:
        task = tasks[name]
        scores = Scores.load(run / "artifacts" / f"{tag}.{name}.scores")

        def score(neurons=None):
            if neurons is None:
                return identify.evaluate(lm, task)["score"]
            with deactivate(lm, neurons):
                return score()

        original = score()
        for variant in args.variants:
            kinds, k = variant.split(":")
            neurons = restricted(config.selection.neurons(scores, float(k)), kinds)
            randoms = [score(neurons.random_like(control_seed(config.seed, name, seed))) for seed in args.seeds]
            row = {"task": name, "kinds": kinds, "k": float(k), "original": original, "task_set": score(neurons),
                   "random_mean": statistics.mean(randoms), "random_runs": randoms}
            rows.append(row)
            print(f"{name:12s} {kinds:6s} k={k:>3s}%  original {original:5.1f}  deactivate-task {row['task_set']:5.1f}  "
                  f"deactivate-random {row['random_mean']:5.1f} {randoms}", flush=True)
    write_json(run / "diagnosis.json", rows)


if __name__ == "__main__":
    main()
