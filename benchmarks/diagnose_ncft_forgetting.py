"""Why does NCFT forget? From a finished continual run, replay its NCFT stages on the base model and measure, for
every earlier task i at every later stage j (issue 11):

- the change of task i's loss on its test examples when stage j's neurons are merged (per example: the mean
  target-token loss; the gap after - before with a paired bootstrap interval and a sign-flip p);
- the share of task i's neurons that stage j retrains (|S_i ∩ S_j| / |S_i|; a random k% set shares about k%);
- the same loss change with stage j's overlap with task i left out (stage j's deltas on S_j - S_i only): if the
  forgetting came from retraining task i's own neurons, it would vanish here;
- the correlation of the loss change with the share over all (i, j) pairs (Pearson and Spearman, permutation p);
- what task i's test prompts are answered with after stage j (greedy generation, as the run scores): one of task
  i's labels, one of stage j's task's labels (the later task's answers taking over), another task's, or none.

    .venv/bin/python benchmarks/diagnose_ncft_forgetting.py --run runs/issue11/main [--order order1] [--method NCFT]

On a tiny run in the tests (``tests/test_bench_scripts.py``).

Writes ``<run>/ncft_forgetting.<order>.<method>.json`` and ``.md`` and prints the table.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from taskneurons.analysis.correlation import correlate
from taskneurons.analysis.overlap import share
from taskneurons.experiments.continual.methods.ncft import merge
from taskneurons.tasks.orders import resolve_orders
from taskneurons.experiments.continual.report import markdown_table
from taskneurons.experiments.continual.stages import slug
from taskneurons.evaluation.metrics import normalize_label
from taskneurons.evaluation.predict import generate
from taskneurons.analysis.stats import paired_gap
from taskneurons.io import write_json, write_text
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet
from taskneurons.report.console import print_table
from taskneurons.tasks import load_task
from taskneurons.tasks.batching import IGNORE, training_batch
from taskneurons.tasks.loss import target_loss
from taskneurons.tuning import NeuronTuner


@torch.no_grad()
def example_losses(lm, examples, batch_size: int, max_length: int) -> list[float]:
    """Each example's mean target-token loss (the training loss, target + EOS)."""
    losses = []
    for start in range(0, len(examples), batch_size):
        batch = training_batch(lm.tokenizer, examples[start:start + batch_size], max_length, padding_side="left")
        batch = {k: v.to(lm.device) for k, v in batch.items()}
        rows = batch["labels"].shape[0]
        per_token = target_loss(lm.model, batch, reduction="none").view(rows, -1)
        counted = (batch["labels"][:, -per_token.shape[1]:] != IGNORE).sum(1)
        losses += (per_token.sum(1) / counted).tolist()
    return losses


@torch.no_grad()
def answer_kinds(lm, examples, tasks, i: int, j: int, batch_size: int, max_length: int) -> dict[str, float]:
    """Shares (%) of task i's prompts answered with a label of task i ("own"), of task j ("stage", not also task
    i's), of another task of the order ("other") or with none ("none"), by greedy generation."""
    labels = [{normalize_label(label) for label in task.labels} for task in tasks]
    longest = max(len(lm.tokenizer(label, add_special_tokens=False)["input_ids"]) for t in tasks for label in t.labels)
    kinds = {"own": 0, "stage": 0, "other": 0, "none": 0}
    for start in range(0, len(examples), batch_size):
        prompts = [e.prompt for e in examples[start:start + batch_size]]
        for answer in map(normalize_label, generate(lm, prompts, max_new_tokens=longest + 1, max_length=max_length)):
            kind = ("own" if answer in labels[i] else "stage" if answer in labels[j] else
                    "other" if any(answer in other for other in labels) else "none")
            kinds[kind] += 1
    return {kind: 100 * count / len(examples) for kind, count in kinds.items()}


@torch.no_grad()
def stage_rows(lm, folder: Path) -> dict:
    """A stage's trained deltas, read once: tuned module -> (its features, weight rows, bias entries)."""
    tuner = NeuronTuner.load(folder / "deltas", lm)
    rows = {name: (delta.index.clone(), delta.weight.detach().clone(), None if delta.bias is None else delta.bias.detach().clone())
            for name, (_, delta) in tuner.deltas.items()}
    tuner.remove()
    return rows


@torch.no_grad()
def restricted(lm, rows: dict, keep: NeuronSet) -> NeuronTuner:
    """A tuner holding a stage's trained deltas (``stage_rows``) on the neurons of ``keep`` only (a subset of the
    stage's set; the whole set gives the stage's tuner)."""
    part = NeuronTuner(lm, keep)
    for name, (_, delta) in part.deltas.items():
        index, weight, bias = rows[name]
        pos = torch.searchsorted(index, delta.index)
        delta.weight.copy_(weight[pos])
        if bias is not None:
            delta.bias.copy_(bias[pos])
    return part


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a finished continual run folder (with results.json)")
    parser.add_argument("--order", default=None, help="a run of the folder (default: its first, e.g. order1)")
    parser.add_argument("--method", default="NCFT", help="the label of an NCFT entry of the run")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)

    run = Path(args.run)
    results = json.loads((run / "results.json").read_text())
    args.order = args.order or next(iter(results["orders"]))
    config = results["config"]
    sequence = next(s for s in resolve_orders(config["orders"], config["data_root"]) if s.name == args.order.split(".")[0])
    tasks = [load_task(spec) for spec in sequence.specs]
    tests = [[task.splits[results["examples"][task.name]["eval"]["split"]][i]
              for i in results["examples"][task.name]["eval"]["indices"]] for task in tasks]
    lm = load_model(config["model"], device=config["device"], dtype=config["dtype"])
    folders = [run / slug(args.order) / slug(args.method) / f"stage{j + 1}" for j in range(len(tasks))]
    losses = lambda i: example_losses(lm, tests[i], args.batch_size, config["max_length"])  # noqa: E731

    before = [losses(i) for i in range(len(tasks))]  # task i's losses after the previous stage (base at first)
    sets, pairs, masters = [], [], {}
    for j, folder in enumerate(folders):
        stage_set, rows = NeuronSet.load(folder / "neurons"), stage_rows(lm, folder)
        without = {}
        for i in range(j):  # stage j on the base of stage j-1, its overlap with task i left out
            with restricted(lm, rows, stage_set - sets[i]) as part:
                part.merge()
                without[i] = losses(i)
                part.unmerge()
        tuner = restricted(lm, rows, stage_set)
        merge(tuner, masters)
        tuner.remove()
        after = [losses(i) for i in range(len(tasks))]
        for i in range(j):
            change, change_without = paired_gap([after[i]], [before[i]]), paired_gap([without[i]], [before[i]])
            pairs.append({"task": tasks[i].name, "stage": j + 1, "stage_task": tasks[j].name,
                          "share_retrained": share(sets[i], stage_set), "jaccard": sets[i].jaccard(stage_set),
                          "loss_before": sum(before[i]) / len(before[i]),
                          "change": change.to_dict(), "change_without_overlap": change_without.to_dict(),
                          "answers": answer_kinds(lm, tests[i], tasks, i, j, args.batch_size, config["max_length"])})
        sets.append(stage_set)
        before = after

    k = sets[0].fraction()
    header = ["task i", "stage j", "share of S_i retrained", "loss before", "Δ loss at stage j [95% CI]",
              "Δ loss, S_i left out [95% CI]", "answers after stage j: own / stage j's / other / none (%)", "n"]
    rows = [[p["task"], f"{p['stage']} ({p['stage_task']})", f"{100 * p['share_retrained']:.1f}%",
             f"{p['loss_before']:.3f}", _gap(p["change"]), _gap(p["change_without_overlap"]),
             " / ".join(f"{v:.0f}" for v in p["answers"].values()), str(p["change"]["n"])]
            for p in pairs]
    found = {"run": str(run), "order": args.order, "method": args.method, "k_fraction": k, "pairs": pairs}
    lines = [f"NCFT's forgetting, {args.method} of {run} ({args.order}): each earlier task's test loss when a later "
             f"stage is merged; a random set of the same size would share about {100 * k:.1f}% of S_i.", "",
             markdown_table(header, rows), ""]
    if len(pairs) >= 3:
        corr = correlate([p["share_retrained"] for p in pairs], [p["change"]["mean"] for p in pairs])
        found["share_vs_change"] = corr.to_dict()
        lines.append(f"Share retrained vs loss change over the {len(pairs)} pairs: Pearson {corr.pearson:+.2f} "
                     f"(permutation p {corr.pearson_perm_p:.3f}), Spearman {corr.spearman:+.2f} "
                     f"(permutation p {corr.spearman_perm_p:.3f}).")
    explained = [1 - p["change_without_overlap"]["mean"] / p["change"]["mean"] for p in pairs if p["change"]["mean"] > 0]
    if explained:
        found["overlap_share_of_change"] = explained
        lines.append(f"Part of the loss increase that leaving the overlap out removes: median "
                     f"{100 * sorted(explained)[len(explained) // 2]:.0f}% over the {len(explained)} pairs that forget.")
    print_table(lines[0], header, rows)
    for line in lines[4:]:
        print(line)
    name = f"ncft_forgetting.{slug(args.order)}.{slug(args.method)}"  # one file per (order, method) diagnosed
    write_json(run / f"{name}.json", found)
    write_text(run / f"{name}.md", "\n".join(lines) + "\n")
    print(f"wrote {run / name}.md")
    return found


def _gap(g: dict) -> str:
    return f"{g['mean']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}] p={g['p']:.3g}"


if __name__ == "__main__":
    main()
