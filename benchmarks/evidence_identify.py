"""Issue 3 evidence: are the grad_x_act neurons task-specific on real data? Runs (or resumes) the identify
experiment of ``identify_evidence.yaml`` and prints our tables beside the paper's Tables 1 and 2 (Llama-2-7b).

    .venv/bin/python benchmarks/evidence_identify.py [--config benchmarks/identify_evidence.yaml] [--out runs/evidence-identify]
"""
import argparse
import statistics
from pathlib import Path

from taskneurons.configs.files import load_config
from taskneurons.experiments.identify import Identify, IdentifyConfig
from taskneurons.experiments.identify.report import PAPER


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(Path(__file__).with_name("identify_evidence.yaml")))
    parser.add_argument("--out", default="runs/evidence-identify")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    results = Identify(load_config(IdentifyConfig, args.config, args.set), Path(args.out))()
    kinds = {name: info["kind"] for name, info in results["tasks"].items()}
    print("\nAverages by kind of task, ours (SmolLM2-135M) vs the paper (Llama-2-7b):")
    print(f"{'condition':20s} {'kind':15s} {'ours':>8s} {'paper':>8s}")
    for part in ("deactivation", "finetuning"):
        for condition, scores in results.get(part, {}).get("table", {}).items():
            for kind in ("classification", "generation"):
                ours = [scores[t] for t in scores if kinds[t] == kind]
                if ours:
                    print(f"{condition:20s} {kind:15s} {statistics.mean(ours):8.1f} {PAPER[kind][condition]:8.1f}")
    deact = results["deactivation"]["table"]
    held = [t for t in kinds if deact["Deactivate-Task"][t] < deact["Deactivate-Random"][t]]
    print(f"\nDeactivate-Task below Deactivate-Random (mean of {results['config']['random_controls']} draws per task) "
          f"on {len(held)} of {len(kinds)} tasks: {', '.join(held) or 'none'}")
    if "finetuning" in results:
        ft = results["finetuning"]["table"]
        gain_task = statistics.mean(ft["Train-Task"][t] - ft["Zero-shot"][t] for t in kinds)
        gain_random = statistics.mean(ft["Train-Random"][t] - ft["Zero-shot"][t] for t in kinds)
        print(f"mean gain over zero-shot: Train-Task {gain_task:+.1f}, Train-Random {gain_random:+.1f}")


if __name__ == "__main__":
    main()
