"""What does a fully fine-tuned similarity model answer on a test task? From a finished generalize run, fine-tune
the model of one training task again exactly as the run did (its config, examples and seed), generate on one test
task's evaluated prompts before and after, and describe the texts: how many are questions (end with "?"), how long
they are, how many are empty, beside the references and the training task's own targets (issue 10: on SmolLM2
the socialqa model, trained on Social IQa question generation, is the most similar to tweetqa's neurons, a
question-generation task too, and the worst on it).

    .venv/bin/python benchmarks/diagnose_generalize_answers.py --run runs/issue10-generalize --model-task socialqa --test tweetqa

Writes ``<run>/answers.<model-task>.<test>.json`` and prints the counts and a few answers side by side.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from taskneurons.configs.files import load_config
from taskneurons.experiments.generalize import GeneralizeConfig
from taskneurons.experiments.generalize.lab import Lab
from taskneurons.experiments.generalize.similarity import full_finetune
from taskneurons.experiments.kit.evaluation import plan_result
from taskneurons.io import write_json
from taskneurons.report.console import console, print_table


def describe(texts: list[str]) -> dict[str, float]:
    """Percent of the texts that are questions (end with "?") and that are empty; their mean length in words."""
    n = max(len(texts), 1)
    return {"questions_percent": 100 * sum(t.strip().endswith("?") for t in texts) / n,
            "empty_percent": 100 * sum(not t.strip() for t in texts) / n,
            "mean_words": sum(len(t.split()) for t in texts) / n}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a generalize run folder")
    parser.add_argument("--model-task", required=True, help="the training task of the similarity model")
    parser.add_argument("--test", required=True, help="the test task to generate on")
    parser.add_argument("--show", type=int, default=5, help="answers printed side by side")
    args = parser.parse_args(argv)
    run = Path(args.run)
    lab = Lab(load_config(GeneralizeConfig, run / "config.yaml"), run, progress=True)  # the run's own config
    key, plan = args.model_task, lab.plans[args.test]
    before = plan_result(lab.base, plan, lab.config)  # as the run evaluates, with the predictions kept
    examples, _ = full_finetune(lab, lab.base, key)  # as the run fine-tuned its similarity model
    after = plan_result(lab.base, plan, lab.config)
    stored = json.loads((run / "results.json").read_text())["similarity"]["models"][key]["scores"][args.test]
    console.print(f"{args.test} score: base {before.score:.1f}, fine-tuned on {key} {after.score:.1f} "
                  f"(the run's: {stored:.1f})")
    scores = {"base": before.score, "finetuned": after.score, "run": stored}
    before, after = before.predictions, after.predictions
    references = [ex.target for ex in plan.evaluated()]
    described = {f"{key} training targets": describe([ex.target for ex in examples]),
                 f"{args.test} references": describe(references), "base model": describe(before),
                 f"after fine-tuning on {key}": describe(after)}
    print_table(f"{args.test}: the texts (n = {len(after)} test prompts)",
                ["texts", "questions (%)", "empty (%)", "mean words"],
                [[k, f"{v['questions_percent']:.1f}", f"{v['empty_percent']:.1f}", f"{v['mean_words']:.1f}"]
                 for k, v in described.items()])
    print_table("answers side by side", ["reference", "base model", f"fine-tuned on {key}"],
                [[r, b, a] for r, b, a in list(zip(references, before, after))[:args.show]])
    out = run / f"answers.{key}.{args.test}.json"
    found = {"model_task": key, "test": args.test, "scores": scores, "described": described,
             "references": references, "base": before, "finetuned": after}
    write_json(out, found)
    console.print(f"wrote {out}")
    return found


if __name__ == "__main__":
    main()
