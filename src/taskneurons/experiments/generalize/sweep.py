"""The proportion sweeps: joint training through the union of the training tasks' top-p% neurons, tested in and
out of domain (Figure 2); each training task alone through its own top-p% (Figure 6)."""
from __future__ import annotations

from ...analysis import union
from ..kit.stats import mean_interval
from .groups import Group, pct
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
                                    **{k: step[k] for k in ("neurons", "fraction", "final_loss", "steps")}}
    return out


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
