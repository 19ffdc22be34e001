"""The overlap-controlled ablation (Tables 9-11): joint training through a random set with a preset overlap with the
OOD tasks' neurons (``analysis.overlap.overlap_controlled_set``), per (group, OOD kind); each cell's random sets
are drawn from seeds derived from the run seed and the cell.

The "orig." row is the training tasks' own neurons at the same total as the cells, so that it is comparable:
with ``ablation_total: proportion`` the top-p% per (layer, kind) of the training tasks' combined scores (each
task's (layer, kind) row divided by its mean, then summed), with ``train_union`` the union of their top-p% sets
(what the sweep trains). Its natural overlap is reported in the cells' definition (``ablation_rate``).

Each cell's mean OOD score has an interval over its draws and the test examples (``analysis.stats``: two-level with
several draws, a bootstrap over examples for one)."""
from __future__ import annotations

from ...analysis import overlap_controlled_set, proportion_counts, share, union
from ...errors import TaskNeuronsError
from ...models.ffn import KINDS
from ...neurons import NeuronSet, Scores
from ..kit import control_seed
from ...analysis.stats import task_means_interval
from .groups import KIND_OF, SHORT, mean, pct
from .lab import Lab
from .sweep import sweep_point


def combined_top(lab: Lab, tasks, p: float) -> NeuronSet:
    """The top-p% (selection scope) of the tasks' scores, each (layer, kind) row over its mean, summed."""
    values = {kind: sum(lab.scores(t).values[kind] / lab.scores(t).values[kind].mean(1, keepdim=True).clamp(min=1e-30)
                        for t in tasks) for kind in KINDS}
    return lab.config.selection.neurons(Scores(values, {"tasks": list(tasks), "combined": "row-mean normalised sum"}), p)


def ablation(lab: Lab) -> dict:
    c = lab.config
    groups = {g.name: g for g in lab.groups}
    out = {}
    for group_name, kind_name in c.ablation_pairs:
        g, kind = groups[str(group_name)], KIND_OF[str(kind_name)]
        tests = lab.ood_of_kind(g, kind)
        grid, intervals, realized, original, impossible = {}, {}, {}, {}, {}
        for p in c.ablation_proportions:
            target = union(lab.neuron_set(t, p) for t in tests)
            train_union = union(lab.neuron_set(t, p) for t in g.train)
            counts = proportion_counts(target, p) if c.ablation_total == "proportion" else train_union.counts_per_layer()
            pool = None if c.ablation_pool == "complement" else train_union | target
            for rate in c.ablation_rates:
                cell = f"ablation/{g.name}/{kind}/p={pct(p)}/rate={pct(rate)}"
                runs = []
                for index in range(c.ablation_draws):
                    seed = control_seed(c.seed, cell, index, "overlap")
                    try:  # cheap and seeded: rebuilt on a rerun, only the training is cached
                        trained = overlap_controlled_set(target, counts, rate / 100, seed, c.ablation_rate, pool)
                    except TaskNeuronsError as e:  # this (rate, p) cannot be built: the paper's "-"
                        impossible.setdefault(pct(rate), {})[pct(p)] = str(e)
                        break

                    def compute(trained=trained):
                        result = lab.train_and_evaluate(trained, g.train, tests)
                        return {**result, "share": 100 * share(trained, target), "jaccard": 100 * trained.jaccard(target)}
                    runs.append(lab.run.step(f"{cell}/draw={index}", compute))
                if not runs:
                    grid.setdefault(pct(rate), {})[pct(p)] = None
                    continue
                grid.setdefault(pct(rate), {})[pct(p)] = mean([mean(r["scores"]) for r in runs])
                intervals.setdefault(pct(rate), {})[pct(p)] = task_means_interval(
                    [{t: r["outcomes"][t] for t in tests} for r in runs], c.n_boot, c.confidence, c.seed)
                realized.setdefault(pct(rate), {})[pct(p)] = {"share": mean([r["share"] for r in runs]),
                                                                "jaccard": mean([r["jaccard"] for r in runs]),
                                                                "neurons": runs[0]["neurons"]}
            if c.ablation_total == "proportion":
                own = combined_top(lab, g.train, p)
                natural = lab.run.step(f"ablation/{g.name}/{kind}/p={pct(p)}/own",
                                       lambda own=own: lab.train_and_evaluate(own, g.train, tests))
            else:
                own, natural = train_union, sweep_point(lab, g, p)[0]  # the run's seed, as every cell
            original[pct(p)] = {"jaccard": 100 * own.jaccard(target), "share": 100 * share(own, target),
                                 "score": mean({t: natural["scores"][t] for t in tests}), "neurons": natural["neurons"],
                                 "set": "combined top-p%" if c.ablation_total == "proportion" else "union of top-p%"}
        out[f"{g.name}:{kind}"] = {"label": f"{lab.train_kind(g)}-{SHORT[kind]}", "group": g.name, "kind": kind,
                                   "tests": tests, "grid": grid, "intervals": intervals, "realized": realized,
                                   "original": original,
                                   "impossible": impossible}
    return out
