"""The proportion sweeps: joint training through the union of the training tasks' top-p% neurons, tested in and
out of domain (Figure 2); each training task alone through its own top-p% (Figure 6)."""
from __future__ import annotations

from ...analysis import union
from ..kit.seeds import training_seed
from ...analysis.stats import mean_interval, task_means_interval
from .groups import SHORT, Group, pct
from .lab import Lab


def sweep_point(lab: Lab, g: Group, p: float) -> list[dict]:
    """The point's trainings, one per sweep seed (the first with the run's seed, under the step key it always had)."""
    def compute(seed: int):
        trained = union(lab.neuron_set(t, p) for t in g.train)
        return lab.train_and_evaluate(trained, g.train, list(g.train) + list(g.ood),
                                      training_seed(lab.config.seed, "sweep", seed) if seed else None)
    return [lab.run.step(f"sweep/{g.name}/p={pct(p)}" + (f"/seed{seed}" if seed else ""), lambda seed=seed: compute(seed))
            for seed in range(lab.config.sweep_seeds)]


def sweep(lab: Lab) -> dict:
    """Per group and p: each task's score (the mean over the point's trainings), its interval (over examples, and
    over the trainings when there are several) and Figure 2's lines."""
    c = lab.config
    out = {}
    for g in lab.groups:
        out[g.name] = {}
        for p in lab.config.proportions:
            steps = sweep_point(lab, g, p)
            runs = [step["outcomes"] for step in steps]
            scores = {t: sum(step["scores"][t] for step in steps) / len(steps) for t in runs[0]}
            out[g.name][pct(p)] = {"id": {t: scores[t] for t in g.train}, "ood": {t: scores[t] for t in g.ood},
                                    "intervals": {t: mean_interval([run[t] for run in runs], c.n_boot, c.confidence,
                                                                   c.seed) for t in runs[0]},
                                    "lines": lines(lab, g, runs), "runs": len(steps),
                                    **{k: steps[0][k] for k in ("neurons", "fraction", "final_loss", "steps")}}
    return out


def lines(lab: Lab, g: Group, runs: list[dict[str, list[float]]]) -> dict:
    """Figure 2's lines at one point, each the mean over its tasks with its interval (``task_means_interval``: over
    their test examples, each task's resampled on its own; and over the trainings when there are several): "ID",
    and "OOD-CLS" / "OOD-GEN" for the OOD tasks of each kind."""
    c = lab.config
    groups = {"ID": list(g.train), **{f"OOD-{short}": [t for t in g.ood if lab.tasks[t].kind == kind]
                                      for kind, short in SHORT.items()}}
    return {name: task_means_interval([{t: run[t] for t in tasks} for run in runs], c.n_boot, c.confidence, c.seed)
            for name, tasks in groups.items() if tasks}


def single(lab: Lab) -> dict:
    c = lab.config
    out = {}
    for g in lab.groups:
        out[g.name] = {}
        for t in g.train:
            out[g.name][t] = {}
            for p in c.single_proportions or c.proportions:
                step = lab.run.step(f"single/{t}/p={pct(p)}",
                                    lambda t=t, p=p: lab.train_and_evaluate(lab.neuron_set(t, p), [t], [t]))
                out[g.name][t][pct(p)] = step["scores"][t]
    return out
