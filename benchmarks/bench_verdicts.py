"""How often is a verdict wrong? The two-level interval against the examples-only one, on simulated outcomes.

Each replicate simulates a claim "a above b" on per-example outcomes (0 or 100) with a known gap. An example i
has a difficulty u_i ~ U(0, 1), shared by both conditions and every run (the same test examples); run r of a
condition moves its accuracy by d_r ~ N(0, spread) points (the run-to-run spread: another random draw, seed or
order); each (run, example) gets a little noise e_ri ~ N(0, 0.1). The outcome is 100 when
u_i + e_ri < base + gap + d_r (base 0.6, gap in a only). With several tasks, each has its own examples and runs,
and the claim is on the mean over tasks.

It prints, per cell (spread, runs a vs b, tasks), the false-verdict rate at gap 0 (a verdict of "holds" or
"does not hold" when the truth is "no gap"; target <= 5%) and the power at gaps 5 and 10 (share of "holds"),
for the two-level interval (kit.stats.paired_gap) beside the examples-only interval (the bootstrap over
examples of each example's mean over runs: what the toolkit did before).

    .venv/bin/python benchmarks/bench_verdicts.py                 # the full grid, 1000 replicates a cell
    .venv/bin/python benchmarks/bench_verdicts.py --replicates 200 --spreads 5 --designs 3v3 --tasks 1
"""
import argparse
import json
import time

import numpy as np

from taskneurons.experiments.kit.stats import examples_only_gap, paired_gap, per_example


def simulate(rng: np.random.Generator, gap: float, spread: float, runs: tuple[int, int], tasks: int,
             n: int = 200, base: float = 0.6) -> tuple[list, list]:
    """(tasks_a, tasks_b): per task, each condition's [runs, n] outcomes (module doc)."""
    tasks_a, tasks_b = [], []
    for _ in range(tasks):
        difficulty = rng.uniform(0, 1, n)
        for arm, (count, shift) in enumerate(((runs[0], gap), (runs[1], 0.0))):
            level = base + shift / 100 + rng.normal(0, spread / 100, (count, 1))
            outcomes = 100.0 * (difficulty + rng.normal(0, 0.1, (count, n)) < level)
            (tasks_a if arm == 0 else tasks_b).append(outcomes)
    return tasks_a, tasks_b


def verdicts(gap: float, spread: float, runs: tuple[int, int], tasks: int, replicates: int, seed: int = 0,
             n_boot: int = 1000) -> dict:
    """Shares of "holds" and "does not hold" for "a above b", two-level and examples-only."""
    rng = np.random.default_rng(seed)
    counts = {"two_level": {"holds": 0, "does not hold": 0}, "examples_only": {"holds": 0, "does not hold": 0}}
    for i in range(replicates):
        a, b = simulate(rng, gap, spread, runs, tasks)
        found = {"two_level": paired_gap(a, b, n_boot=n_boot, seed=i, n_perm=200),
                 "examples_only": examples_only_gap([per_example(x) - per_example(y) for x, y in zip(a, b)],
                                                    n_boot, 0.95, i, 200)}
        for method, result in found.items():
            verdict = result.verdict("greater")
            if verdict in counts[method]:
                counts[method][verdict] += 1
    return {method: {k: v / replicates for k, v in c.items()} for method, c in counts.items()}


def cell(spread: float, runs: tuple[int, int], tasks: int, replicates: int, seed: int) -> dict:
    """False-verdict rate at gap 0 and power at gaps 5 and 10, for both intervals."""
    null = verdicts(0.0, spread, runs, tasks, replicates, seed)
    out = {method: {"false": sum(v.values())} for method, v in null.items()}
    for gap in (5.0, 10.0):
        for method, v in verdicts(gap, spread, runs, tasks, replicates, seed + 1).items():
            out[method][f"power_{gap:g}"] = v["holds"]
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--spreads", type=float, nargs="+", default=[0, 2, 5, 8])
    parser.add_argument("--designs", nargs="+", default=["3v3", "1v5"], help="runs of a 'v' runs of b")
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 6])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write the table as JSON here")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'spread':>6} {'runs':>5} {'tasks':>5} | {'two-level: false  power5  power10':>34} | "
          f"{'examples only: false  power5  power10':>38}")
    for spread in args.spreads:
        for design in args.designs:
            runs = tuple(int(x) for x in design.split("v"))
            for tasks in args.tasks:
                start = time.perf_counter()
                found = cell(spread, runs, tasks, args.replicates, args.seed)
                rows.append({"spread": spread, "runs": list(runs), "tasks": tasks, **found,
                             "seconds": time.perf_counter() - start})
                two, ex = found["two_level"], found["examples_only"]
                print(f"{spread:6g} {design:>5} {tasks:5d} | {two['false']:17.3f} {two['power_5']:7.3f} "
                      f"{two['power_10']:8.3f} | {ex['false']:21.3f} {ex['power_5']:7.3f} {ex['power_10']:8.3f}",
                      flush=True)
    result = {"replicates": args.replicates, "n_examples": 200, "rows": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
