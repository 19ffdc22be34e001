"""How often is a verdict wrong? The two-level interval against the examples-only one, on simulated outcomes.

Each replicate simulates a claim "a above b" on per-example outcomes (0 or 100) with a known gap. An example i
has a difficulty u_i ~ U(0, 1), shared by both conditions and every run (the same test examples); run r of a
condition moves its accuracy by d_r ~ N(0, spread) points (the run-to-run spread: another random draw, seed or
order); each (run, example) gets noise e_ri ~ N(0, noise) (0.1: an example mostly keeps its outcome between
runs; 0.3: outcomes flip often, as with random neuron draws). The outcome is 100 when
u_i + e_ri < base + gap + d_r (base 0.6, gap in a only). Designs:

- ``3v3``, ``2v2``, ``1v5``: independent runs of a and b (identify's draws and seeds), each task its own runs,
  decided by ``paired_gap``;
- ``3o``, ``5o``: both methods ran the same 3 (5) orders; an order moves a's gap by d_r in every task at once
  (what an order does to both methods cancels), decided by ``order_gap`` (continual's claims).

With several tasks each has its own examples and the claim is on the mean over tasks. It prints, per cell, the
false-verdict rate at gap 0 (a verdict of "holds" or "does not hold" when the truth is "no gap"; target <= 5%)
and the power at gaps 5 and 10 (share of "holds"), for the two-level interval beside the examples-only interval
(the bootstrap over examples of each example's mean over runs: what the toolkit did before).

    .venv/bin/python benchmarks/bench_verdicts.py --jobs 2      # the full grid, 1000 replicates a cell, noise 0.1
    .venv/bin/python benchmarks/bench_verdicts.py --replicates 200 --spreads 5 --designs 3v3 --tasks 1
"""
import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext

import numpy as np

from taskneurons.analysis.stats import examples_only_gap, order_gap, paired_gap, per_example


def simulate(rng: np.random.Generator, gap: float, spread: float, runs: tuple[int, int], tasks: int,
             n: int = 200, base: float = 0.6, noise: float = 0.1, orders: bool = False) -> tuple[list, list]:
    """(tasks_a, tasks_b): per task, each condition's [runs, n] outcomes (module doc). ``orders``: the runs are
    orders shared by both conditions and every task; d_r moves a's gap only."""
    shared = rng.normal(0, spread / 100, (runs[0], 1))
    tasks_a, tasks_b = [], []
    for _ in range(tasks):
        difficulty = rng.uniform(0, 1, n)
        for arm, (count, shift) in enumerate(((runs[0], gap), (runs[1], 0.0))):
            moves = (shared if arm == 0 else 0.0) if orders else rng.normal(0, spread / 100, (count, 1))
            level = base + shift / 100 + moves
            outcomes = 100.0 * (difficulty + rng.normal(0, noise, (count, n)) < level)
            (tasks_a if arm == 0 else tasks_b).append(outcomes)
    return tasks_a, tasks_b


def decide(a: list, b: list, orders: bool, seed: int, n_boot: int) -> dict:
    """The two-level gap (``paired_gap``, or ``order_gap`` for orders) and the examples-only one."""
    if orders:
        per_order = [[{t: x[r] for t, x in enumerate(arm)} for r in range(len(arm[0]))] for arm in (a, b)]
        two_level = order_gap(*per_order, n_boot=n_boot, seed=seed, n_perm=200)
    else:
        two_level = paired_gap(a, b, n_boot=n_boot, seed=seed, n_perm=200)
    diffs = [per_example(x) - per_example(y) for x, y in zip(a, b)]
    return {"two_level": two_level, "examples_only": examples_only_gap(diffs, n_boot, 0.95, seed, 200)}


def verdicts(gap: float, spread: float, design: str, tasks: int, replicates: int, seed: int = 0,
             n_boot: int = 1000, noise: float = 0.1) -> dict:
    """Shares of "holds" and "does not hold" for "a above b", two-level and examples-only."""
    orders = design.endswith("o")
    runs = (int(design[:-1]),) * 2 if orders else tuple(int(x) for x in design.split("v"))
    rng = np.random.default_rng(seed)
    counts = {"two_level": {"holds": 0, "does not hold": 0}, "examples_only": {"holds": 0, "does not hold": 0}}
    for i in range(replicates):
        a, b = simulate(rng, gap, spread, runs, tasks, noise=noise, orders=orders)
        for method, result in decide(a, b, orders, i, n_boot).items():
            verdict = result.verdict("greater")
            if verdict in counts[method]:
                counts[method][verdict] += 1
    return {method: {k: v / replicates for k, v in c.items()} for method, c in counts.items()}


def cell_seed(seed: int, spread: float, design: str, tasks: int, noise: float, gap: float) -> int:
    """An independent stream per (cell, gap): cells drawn from one stream would share their d_r and examples, so a
    stream that happens to be unlucky would move every cell of the table at once."""
    key = [seed, round(spread * 100), round(noise * 100), tasks, round(gap * 100), *design.encode()]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def cell(spread: float, design: str, tasks: int, replicates: int, seed: int, noise: float) -> dict:
    """False-verdict rate at gap 0 and power at gaps 5 and 10, for both intervals."""
    def at(gap: float) -> dict:
        return verdicts(gap, spread, design, tasks, replicates, cell_seed(seed, spread, design, tasks, noise, gap),
                        noise=noise)
    out = {method: {"false": sum(v.values())} for method, v in at(0.0).items()}
    for gap in (5.0, 10.0):
        for method, v in at(gap).items():
            out[method][f"power_{gap:g}"] = v["holds"]
    return out


def timed_cell(spec: tuple) -> dict:
    """One row of the table: a cell's rates and its seconds (a top-level function, so that a pool can run it)."""
    spread, design, tasks, noise, replicates, seed = spec
    start = time.perf_counter()
    found = cell(spread, design, tasks, replicates, seed, noise)
    return {"spread": spread, "design": design, "tasks": tasks, "noise": noise, **found,
            "seconds": time.perf_counter() - start}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--spreads", type=float, nargs="+", default=[0, 2, 5, 8])
    parser.add_argument("--designs", nargs="+", default=["3v3", "2v2", "1v5", "3o", "5o"],
                        help="independent runs 'a'v'b', or paired orders 'No'")
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 6])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="cells computed at once, one process each")
    parser.add_argument("--out", help="write the table as JSON here")
    args = parser.parse_args(argv)
    specs = [(spread, design, tasks, noise, args.replicates, args.seed) for noise in args.noise
             for spread in args.spreads for design in args.designs for tasks in args.tasks]
    print(f"{'spread':>6} {'design':>6} {'tasks':>5} {'noise':>5} | {'two-level: false  power5  power10':>34} | "
          f"{'examples only: false  power5  power10':>38}")
    rows = []
    with ProcessPoolExecutor(args.jobs) if args.jobs > 1 else nullcontext() as pool:
        for row in (pool.map(timed_cell, specs) if pool else map(timed_cell, specs)):
            rows.append(row)
            two, ex = row["two_level"], row["examples_only"]
            print(f"{row['spread']:6g} {row['design']:>6} {row['tasks']:5d} {row['noise']:5g} | "
                  f"{two['false']:17.3f} {two['power_5']:7.3f} {two['power_10']:8.3f} | {ex['false']:21.3f} "
                  f"{ex['power_5']:7.3f} {ex['power_10']:8.3f}", flush=True)
    result = {"replicates": args.replicates, "n_examples": 200, "seed": args.seed, "rows": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
