"""The proportion sweeps: joint training through the union of the training tasks' top-p% neurons, tested in and
out of domain (Figure 2); each training task alone through its own top-p% (Figure 6)."""
from __future__ import annotations

from ...analysis import union
from ..kit.stats import mean_interval, task_means_interval
from .groups import SHORT, Group, pct
from .lab import Lab


def sweep_point(lab: Lab, g: Group, p: float) -> dict:
    def compute():
        trained = union(lab.neuron_set(t, p) for t in g.train)
        return lab.train_and_evaluate(trained, g.train, list(g.train) + list(g.ood))
    return lab.run.step(f"sweep/{g.name}/p={pct(p)}", compute)


def sweep(lab: Lab) -> dict:
    c = lab.config
    out = {}
    for g in lab.groups:
        out[g.name] = {}
        for p in lab.config.proportions:
            step = sweep_point(lab, g, p)
            out[g.name][pct(p)] = {"id": {t: step["scores"][t] for t in g.train},
                                    "ood": {t: step["scores"][t] for t in g.ood},
                                    "intervals": {t: mean_interval(step["outcomes"][t], c.n_boot, c.confidence, c.seed)
                                                  for t in step["outcomes"]},
                                    "lines": lines(lab, g, step["outcomes"]),
                                    **{k: step[k] for k in ("neurons", "fraction", "final_loss", "steps")}}
    return out


def lines(lab: Lab, g: Group, outcomes: dict[str, list[float]]) -> dict:
    """Figure 2's lines at one point, each the mean over its tasks with a bootstrap interval over their test
    examples (each task's resampled on its own): "ID", and "OOD-CLS" / "OOD-GEN" for the OOD tasks of each kind."""
    c = lab.config
    groups = {"ID": list(g.train), **{f"OOD-{short}": [t for t in g.ood if lab.tasks[t].kind == kind]
                                      for kind, short in SHORT.items()}}
    return {name: task_means_interval([{t: outcomes[t] for t in tasks}], c.n_boot, c.confidence, c.seed)
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
