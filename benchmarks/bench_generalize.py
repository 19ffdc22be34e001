"""Generalization evidence on real data: SmolLM2, group (a) (Amazon, QQP, MNLI) against its OOD test tasks.

Runs the ``generalize`` experiment at a CPU-sized scale (a resumable run folder: rerun the same command to
continue), then prints, beside the paper's numbers (Llama-2-7b):

1. the overlap table (Table 8 rows CLS-CLS and CLS-GEN);
2. the ID and OOD scores over p (Figure 2 (a)), with zero-shot;
3. the similarity-by-layer curves (Figure 3 (a), (b)), in layer bins, and their correlation with the OOD
   scores across the fully fine-tuned models (Table 4), with n, bootstrap intervals and permutation p, for the
   reported similarity variant and every other one;
4. which of the paper's claims these numbers agree with, and which not.

Default size (about an hour on 2 CPU cores): 200 training / 100 test examples per task (50 for generation),
64 scoring examples, p in {10, 50, 100}, one fully fine-tuned model per group-(a) task (n = 3 points per
correlation; add ``--similarity-models amazon_yang qqp mnli_yang socialqa e2e xsum`` for the paper's n = 6: 51
minutes with ``--full-lr 1e-4``, docs/generalize.md).

    .venv/bin/python benchmarks/bench_generalize.py [--model smollm2-135m] [--out runs/bench_generalize]
    .venv/bin/python benchmarks/bench_generalize.py --model tiny-llama --n-train 4 --n-test 4 --n-score 4 --out /tmp/b
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from taskneurons.analysis.similarity import mean_curve
from taskneurons.experiments.generalize import Generalize, GeneralizeConfig
from taskneurons.experiments.generalize.groups import PAPER_TABLE8, fmt
from taskneurons.experiments.generalize.report import correlation_rows, variant_rows
from taskneurons.report.console import console, print_table
from taskneurons.report.curves import mean


def config_from(args) -> GeneralizeConfig:
    return GeneralizeConfig(
        model=args.model, device=args.device, dtype=args.dtype, data_root=args.data_dir, groups=["a"],
        proportions=args.proportions, selection={"n_score": args.n_score}, n_eval=args.n_test,
        n_eval_generation=args.n_test_generation,
        batch_size=args.batch_size, max_length=args.max_length, max_new_tokens=args.max_new_tokens,
        training={"n_train": args.n_train, "lr": args.lr, "epochs": 1},
        full_training={"n_train": args.n_train, "lr": args.full_lr, "epochs": 1},
        single_task=False, ablation=False, similarity=not args.no_similarity,
        similarity_models=args.similarity_models, n_boot=2000)


def layer_bins(n_layers: int, bins: int) -> list[range]:
    edges = [round(i * n_layers / bins) for i in range(bins + 1)]
    return [range(edges[i], edges[i + 1]) for i in range(bins) if edges[i + 1] > edges[i]]


def report(results: dict, bins: int) -> list[tuple[str, bool | None, str]]:
    tasks, group = results["tasks"], results["groups"]["a"]
    ps = list(results["sweep"]["a"])
    checks: list[tuple[str, bool | None, str]] = []

    # 1. overlap (Table 8)
    rows, overlap = [], results["overlap"]["groups"]["a"]
    for label in ("CLS-CLS", "CLS-GEN"):
        rows.append([f"ours {label}"] + [fmt(overlap[label][p]) for p in ps])
        rows.append([f"paper {label}"] + [fmt(PAPER_TABLE8[label].get(float(p))) for p in ps])
    print_table("1. Jaccard overlap (%) of the training tasks' and the OOD tasks' top-p% neurons (Table 8)",
                ["", *[f"{p}%" for p in ps]], rows)
    for label in ("CLS-CLS", "CLS-GEN"):
        values = [overlap[label][p] for p in ps]
        checks.append((f"overlap {label} rises with p", all(a < b for a, b in zip(values, values[1:])),
                       " < ".join(fmt(v) for v in values)))
    below = [p for p in ps if float(p) < 100]
    if below:
        checks.append(("CLS-CLS overlap > CLS-GEN overlap below 100%",
                       all(overlap["CLS-CLS"][p] > overlap["CLS-GEN"][p] for p in below),
                       ", ".join(f"{p}%: {fmt(overlap['CLS-CLS'][p])} vs {fmt(overlap['CLS-GEN'][p])}" for p in below)))

    # 2. ID and OOD over p (Figure 2 (a))
    kinds = {k: [t for t in group["ood"] if tasks[t]["kind"] == k] for k in ("classification", "generation")}
    zs = results.get("zero_shot", {})

    def lines(scores):
        return [mean({t: scores[t] for t in group["train"]}), mean({t: scores[t] for t in kinds["classification"]}),
                mean({t: scores[t] for t in kinds["generation"]})]

    rows = [["zero-shot", *map(fmt, lines(zs))]] if zs else []
    curve = {}
    for p in ps:
        point = results["sweep"]["a"][p]
        curve[p] = lines({**point["id"], **point["ood"]})
        rows.append([f"{p}%", *map(fmt, curve[p])])
    print_table("2. mean score after joint training through the union of the top-p% neurons (Figure 2 (a))",
                ["p", "ID-CLS (amazon_yang, qqp, mnli_yang)", "OOD-CLS (sst2_yang, paws, gptnli)", "OOD-GEN (tweetqa, commongen, xsum)"], rows)
    per_task = [[t] + [fmt(({**results["sweep"]["a"][p]["id"], **results["sweep"]["a"][p]["ood"]})[t]) for p in ps]
                + [fmt(zs.get(t))] for t in group["train"] + group["ood"]]
    print_table("   per task", ["task", *[f"{p}%" for p in ps], "zero-shot"], per_task)
    ood_cls = [curve[p][1] for p in ps]
    checks.append(("OOD-CLS (generalization) rises with p",
                   all(a <= b for a, b in zip(ood_cls, ood_cls[1:])) and ood_cls[-1] > ood_cls[0],
                   " -> ".join(fmt(v) for v in ood_cls)))
    id_cls = [curve[p][0] for p in ps]
    below_full = [v for p, v in zip(ps, id_cls) if float(p) < 100]
    if below_full and float(ps[-1]) == 100:
        checks.append(("ID-CLS (specialization) is best below 100% (paper: peak at 70%)", max(below_full) > id_cls[-1],
                       " -> ".join(fmt(v) for v in id_cls)))
    if zs:
        gen = [curve[p][2] for p in ps]
        z = lines(zs)[2]
        checks.append(("no CLS->GEN generalization: OOD-GEN stays near zero-shot (within 2 points)",
                       all(abs(v - z) <= 2 for v in gen), f"zero-shot {fmt(z)}; " + " -> ".join(fmt(v) for v in gen)))
        checks.append(("OOD-CLS above zero-shot at the largest p", curve[ps[-1]][1] > lines(zs)[1],
                       f"{fmt(curve[ps[-1]][1])} vs {fmt(lines(zs)[1])}"))

    # 3. similarity by layer (Figure 3) and correlation (Table 4)
    if "similarity" in results:
        sim = results["similarity"]
        tests = list(sim["correlation"])
        any_curve = next(c for m in sim["models"].values() for c in m["curves"].values() if c)
        groups_of_layers = layer_bins(len(any_curve), bins)
        for which, title in (("curves", "in the fine-tuned models"), ("base_curves", "in the base model")):
            rows = []
            for t in tests:
                c = mean_curve([m[which][t] for m in sim["models"].values() if m[which].get(t)])
                rows.append([t, *[fmt(mean([c[i] for i in r]), 3) for r in groups_of_layers]])
            print_table(f"3. cosine similarity ({sim['variant']}) of the training task's and the test task's top-10% "
                        f"neuron parameters {title}, mean over {len(sim['models'])} models, by layer bin (Figure 3)",
                        ["test task", *[f"L{r.start}-{r.stop - 1}" for r in groups_of_layers]], rows)
        print_table("   correlation across models between layer-averaged similarity and the model's score (Table 4)",
                    *correlation_rows(results))
        print_table("   Spearman rho [interval] (permutation p) for every similarity variant: index pairing pairs unrelated "
                    "rows, shared_first lets shared neurons meet themselves", *variant_rows(results))
        cls_tests = [t for t in tests if tasks[t]["kind"] == "classification"]
        if cls_tests and len(groups_of_layers) >= 3:
            c = mean_curve([m["curves"][t] for m in sim["models"].values() for t in cls_tests if m["curves"].get(t)])
            thirds = layer_bins(len(c), 3)
            low, mid, top = (mean([c[i] for i in r]) for r in thirds)
            checks.append(("CLS similarity: low at the bottom, higher in the middle, lower again at the top",
                           mid > low and mid > top, f"bottom {fmt(low, 3)}, middle {fmt(mid, 3)}, top {fmt(top, 3)}"))
        diffs = [abs(a - b) for m in sim["models"].values() for t in m["curves"] if m["curves"][t] and m["base_curves"][t]
                 for a, b in zip(m["curves"][t], m["base_curves"][t]) if math.isfinite(a) and math.isfinite(b)]
        if diffs:
            checks.append(("(information) fine-tuning moved the similarity away from the base model's", None,
                           f"largest |fine-tuned - base| = {max(diffs):.2g}, mean {sum(diffs) / len(diffs):.2g}"))
        valid = [e for e in sim["correlation"].values() if "error" not in e and math.isfinite(e["pearson"])]
        if valid:
            positive = sum(e["pearson"] > 0 for e in valid)
            checks.append(("similarity correlates positively with the OOD score (Pearson r > 0)", positive == len(valid),
                           f"{positive} of {len(valid)} test tasks; n = {sorted({e['n'] for e in valid})} points each"))
    return checks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", default="runs/bench_generalize")
    parser.add_argument("--n-train", type=int, default=200, help="training examples per task")
    parser.add_argument("--n-test", type=int, default=100, help="test examples per classification task")
    parser.add_argument("--n-test-generation", type=int, default=50, help="test examples per generation task")
    parser.add_argument("--n-score", type=int, default=64, help="scoring examples per task")
    parser.add_argument("--proportions", type=float, nargs="+", default=[10, 50, 100])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=192)
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="default: each generation task's own, from its references (docs/choices.md)")
    parser.add_argument("--lr", type=float, default=5e-4, help="neuron-only training")
    parser.add_argument("--full-lr", type=float, default=2e-5, help="full fine-tuning (similarity models)")
    parser.add_argument("--similarity-models", nargs="+", default=None,
                        help="tasks to fully fine-tune one model on (default: amazon_yang qqp mnli_yang)")
    parser.add_argument("--no-similarity", action="store_true")
    parser.add_argument("--bins", type=int, default=6, help="layer bins in the similarity table")
    args = parser.parse_args()
    start = time.perf_counter()
    results = Generalize(config_from(args), Path(args.out))()
    console.rule("SmolLM2 vs the paper (Llama-2-7b)" if "smollm2" in args.model else f"{args.model} vs the paper")
    checks = report(results, args.bins)
    print_table("4. the paper's claims against these numbers", ["claim", "agrees", "numbers"],
                [[claim, {True: "yes", False: "NO", None: "-"}[ok], numbers] for claim, ok, numbers in checks])
    console.print(f"finished in {time.perf_counter() - start:.0f} s; run folder {args.out} (results.json, summary.md, plots/)")


if __name__ == "__main__":
    main()
