"""The overlap part (Table 8): Jaccard between the union of the training tasks' top-p% sets and the OOD tasks' sets
of each kind, at every p; pairwise matrices between all tasks. And the zero-shot scores, for reference."""
from __future__ import annotations

from ...analysis import overlap_by_proportion, overlap_matrix
from .groups import SHORT, pct
from .lab import Lab


def overlap(lab: Lab) -> dict:
    c = lab.config
    out = {"groups": {}, "pairwise": {}}
    for g in lab.groups:
        tk, train = lab.train_kind(g), {t: lab.scores(t) for t in g.train}
        rows = {}
        for kind in ("classification", "generation"):
            tests = lab.ood_of_kind(g, kind)
            if tests:
                j = overlap_by_proportion(train, {t: lab.scores(t) for t in tests}, c.proportions, c.selection.scope)
                rows[f"{tk}-{SHORT[kind]}"] = {pct(p): 100 * v for p, v in j.items()}
        j = overlap_by_proportion(train, {t: lab.scores(t) for t in g.ood}, c.proportions, c.selection.scope)
        rows[f"{tk}-OOD"] = {pct(p): 100 * v for p, v in j.items()}
        out["groups"][g.name] = rows
    for p in c.proportions:
        names, matrix = overlap_matrix({key: lab.neuron_set(key, p) for key in lab.tasks})
        out["pairwise"][pct(p)] = {"tasks": names, "jaccard": matrix.tolist()}
    return out


def zero_shot(lab: Lab) -> dict:
    keys = dict.fromkeys(t for g in lab.groups for t in g.train + g.ood)
    return {key: lab.run.step(f"zero_shot/{key}", lambda key=key: lab.evaluate(lab.base, key))["score"] for key in keys}
