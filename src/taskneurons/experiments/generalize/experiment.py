"""Generalization through task-specific neurons (paper 2.7-2.10, Tables 3, 4, 8-11, Figures 2, 3, 6).

For groups of training tasks, each with its out-of-domain (OOD) test tasks:

1. **scores**: every task's neurons scored once on the base model; the top-p% sets for any p come from them;
2. **overlap** (Table 8): Jaccard between the union of the training tasks' top-p% sets and the union of the
   OOD tasks' sets of each kind, at every p; pairwise matrices between all tasks;
3. **proportion sweep** (Figure 2): train jointly on the training tasks through only the union of their top-p%
   neurons (the neuron tuner), evaluate in-domain (ID: the training tasks' test splits) and OOD; and the
   single-task variant (Figure 6): each training task alone through its own top-p% neurons, ID only;
4. **overlap-controlled ablation** (Tables 9-11): the same joint training through a random set with a preset
   overlap with the OOD tasks' neurons (``analysis.overlap.overlap_controlled_set``), per (group, OOD kind);
5. **parameter similarity** (Figure 3): one fully fine-tuned model per training task; in each layer the cosine
   between the training task's and each OOD task's neuron parameters in that model; the model is freed
   as soon as its numbers are taken (also kept: the same curves in the base model, for comparison);
6. **correlation** (Table 4): per OOD task, Pearson and Spearman (p-values, n, bootstrap interval) between
   the layer-averaged similarity and the score of each fine-tuned model.

Every training and evaluation is a cached step of the run folder (a rerun resumes); overlap and correlation
are recomputed from cached values. See docs/generalize.md for the data substitutions and every option."""
from __future__ import annotations

import gc
import math
from dataclasses import asdict
from pathlib import Path

from ...analysis import (
    correlate,
    overlap_by_proportion,
    overlap_controlled_set,
    overlap_matrix,
    proportion_counts,
    share,
    union,
)
from ...analysis.similarity import MATRICES, PAIRINGS, VECTORS, aggregate, layer_similarity
from ...errors import TaskNeuronsError
from ...evaluation import evaluate
from ...models import LoadedModel, load_model
from ...models.ffn import FFN, KINDS
from ...neurons import NeuronSet, Scores, score_neurons
from ...neurons.neuron_set import SCOPES
from ...report.console import console
from ...report.curves import mean
from ...report.io import write_json, write_text
from ...tasks import Task, load_task
from ...tuning import NeuronTuner, train
from ..run import Run
from .config import GeneralizeConfig
from .groups import (
    BUILTIN_TASKS,
    GROUPS,
    KIND_OF,
    POOLS,
    RATE_DEFINITIONS,
    SHORT,
    SIMILARITY_NEURONS,
    TOTALS,
    Group,
    pct,
)
from .report import plot, show_ablation, show_overlap, show_similarity, show_single, show_sweep, summary


def _check(values, allowed, what: str) -> None:
    if values not in allowed:
        raise TaskNeuronsError(f"option {what}={values!r} is not one of {list(allowed)}")



def neuron_weights(ffn: FFN) -> dict[int, dict[str, list]]:
    """layer -> kind -> the weight tensors with one row per neuron (views, no copies; biases left out)."""
    out = {}
    for layer in range(ffn.n_layers):
        out[layer] = {}
        for kind in KINDS:
            tensors = []
            for sl in ffn.slices(layer, kind):
                if sl.param.dim() < 2:
                    continue
                w = sl.param.detach().narrow(sl.dim, sl.offset, ffn.widths[kind])
                tensors.append(w if sl.dim == 0 else w.transpose(0, 1))
            out[layer][kind] = tensors
    return out



class Generalize:
    def __init__(self, config: GeneralizeConfig, out: Path, progress: bool = True):
        self.config, self.progress = config, progress
        self._validate_options()
        self.tasks: dict[str, Task] = {}
        self.sources: dict[str, dict] = {}
        self.groups = [self._group(g) for g in config.groups]
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise TaskNeuronsError(f"option groups: group names must differ, got {names}")
        for g in self.groups:
            for key in g.train:
                if not self.tasks[key].splits.get("train"):
                    raise TaskNeuronsError(f"training task {key!r} ({self.sources[key]['data']}) has no train split; "
                                           f"use a substitute with one (see ../shared/data/MANIFEST.md)")
        self._validate_against_groups()
        self.run = Run(out, asdict(config))
        self._base: LoadedModel | None = None
        self._scores: dict[str, Scores] = {}
        self._sets: dict[tuple[str, float], NeuronSet] = {}

    # --- configuration ------------------------------------------------------------------------------------
    def _validate_options(self) -> None:
        c = self.config
        if not c.groups:
            raise TaskNeuronsError("option groups is empty: give 'a', 'b' or {name, train: [...], ood: [...]}")
        for name in ("proportions", "ablation_proportions"):
            values = getattr(c, name)
            if not values or not all(isinstance(p, (int, float)) and 0 < p <= 100 for p in values):
                raise TaskNeuronsError(f"option {name} must be a non-empty list of percentages in (0, 100], got {values}")
        if c.single_proportions is not None and not all(0 < p <= 100 for p in c.single_proportions):
            raise TaskNeuronsError(f"option single_proportions must be percentages in (0, 100], got {c.single_proportions}")
        if not c.ablation_rates or not all(isinstance(r, (int, float)) and 0 <= r <= 100 for r in c.ablation_rates):
            raise TaskNeuronsError(f"option ablation_rates must be percentages in [0, 100], got {c.ablation_rates}")
        if not 0 < c.similarity_k <= 100:
            raise TaskNeuronsError(f"option similarity_k must be a percentage in (0, 100], got {c.similarity_k}")
        _check(c.scope, SCOPES, "scope")
        _check(c.ablation_total, TOTALS, "ablation_total")
        _check(c.ablation_rate, RATE_DEFINITIONS, "ablation_rate")
        _check(c.ablation_pool, POOLS, "ablation_pool")
        _check(c.similarity_matrices, MATRICES, "similarity_matrices")
        _check(c.similarity_vector, VECTORS, "similarity_vector")
        _check(c.similarity_pairing, PAIRINGS, "similarity_pairing")
        _check(c.similarity_neurons, SIMILARITY_NEURONS, "similarity_neurons")
        if c.similarity and c.similarity_vector == "flatten" and c.scope != "layer":
            raise TaskNeuronsError(f"similarity_vector 'flatten' needs equal neuron counts per layer, i.e. scope 'layer' "
                                   f"(got scope {c.scope!r}); set similarity_vector=mean or scope=layer")
        for name in ("n_score", "n_eval", "batch_size", "max_length", "max_new_tokens", "n_boot"):
            if not isinstance(getattr(c, name), int) or getattr(c, name) < 1:
                raise TaskNeuronsError(f"option {name} must be a positive integer, got {getattr(c, name)!r}")
        if c.n_eval_generation is not None and (not isinstance(c.n_eval_generation, int) or c.n_eval_generation < 1):
            raise TaskNeuronsError(f"option n_eval_generation must be a positive integer, got {c.n_eval_generation!r}")
        if not c.ablation_seeds:
            raise TaskNeuronsError("option ablation_seeds is empty: give at least one seed")
        for name in ("training", "full_training"):
            spec = getattr(c, name)
            if not isinstance(spec, dict):
                raise TaskNeuronsError(f"option {name} must be a mapping (n_train, lr, epochs, ...), got {spec!r}")
            c.train_config(spec, f"option {name}")
            if not isinstance(spec.get("n_train", 1), int) or spec.get("n_train", 1) < 1:
                raise TaskNeuronsError(f"option {name}.n_train must be a positive integer, got {spec.get('n_train')!r}")

    def _group(self, spec) -> Group:
        if isinstance(spec, str):
            if spec not in GROUPS:
                raise TaskNeuronsError(f"unknown group {spec!r}; built-in groups: {', '.join(GROUPS)} "
                                       f"(or give {{name, train: [...], ood: [...]}})")
            group = GROUPS[spec]
            for key in group.train + group.ood:
                self._load(key)
            return group
        if not isinstance(spec, dict) or not {"name", "train", "ood"} <= set(spec) or set(spec) - {"name", "train", "ood"}:
            raise TaskNeuronsError(f"a group must be 'a', 'b' or a mapping with exactly name, train and ood; got {spec!r}")
        if not isinstance(spec["train"], list) or not isinstance(spec["ood"], list) or not spec["train"] or not spec["ood"]:
            raise TaskNeuronsError(f"group {spec['name']!r}: train and ood must be non-empty lists of tasks")
        train, ood = tuple(self._load(str(t)) for t in spec["train"]), tuple(self._load(str(t)) for t in spec["ood"])
        if len(set(train + ood)) != len(train + ood):
            raise TaskNeuronsError(f"group {spec['name']!r} lists a task twice: train {list(train)}, ood {list(ood)}")
        return Group(str(spec["name"]), train, ood)

    def _load(self, spec: str) -> str:
        """Load a task (a built-in key, or any spec ``load_task`` takes); returns its key (the task's name)."""
        key = spec
        if spec in BUILTIN_TASKS:
            src = BUILTIN_TASKS[key]
            if key in self.tasks:
                if self.sources[key]["data"] != src.folder:
                    raise TaskNeuronsError(f"two tasks are named {key!r} ({self.sources[key]['data']} and the built-in "
                                           f"{src.folder}); rename one")
                return key
            folder = Path(self.config.data_dir).expanduser() / src.folder
            if not folder.is_dir():
                raise TaskNeuronsError(f"task {key!r}: no folder {folder} (set option data_dir to the folder of "
                                       f"../shared/data)")
            task = load_task(folder, name=key)
            info = {"paper": src.paper, "data": src.folder, "note": src.note}
        else:
            task = load_task(spec)
            key = task.name
            if key in self.tasks and self.sources[key]["data"] != spec:
                raise TaskNeuronsError(f"two tasks are named {key!r} ({self.sources[key]['data']} and {spec}); "
                                       f"rename one")
            info = {"paper": None, "data": spec, "note": ""}
        self.tasks[key] = task
        self.sources[key] = {**info, "kind": task.kind, "metric": task.metric,
                             "splits": {s: len(e) for s, e in task.splits.items()}}
        return key

    def _validate_against_groups(self) -> None:
        c = self.config
        groups = {g.name: g for g in self.groups}
        if c.ablation:
            for pair in c.ablation_pairs:
                if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                    raise TaskNeuronsError(f"option ablation_pairs: each entry is [group, kind], got {pair!r}")
                g, kind = str(pair[0]), KIND_OF.get(str(pair[1]))
                if g not in groups:
                    raise TaskNeuronsError(f"option ablation_pairs: group {g!r} is not among the groups {list(groups)}")
                if kind is None or not self.ood_of_kind(groups[g], kind):
                    raise TaskNeuronsError(f"option ablation_pairs: group {g!r} has no OOD tasks of kind {pair[1]!r}")
        # similarity models and tests may be any tasks, not only the groups' (e.g. group (b)'s models only)
        self.similarity_models = self.similarity_tests = None
        if c.similarity:
            self.similarity_models = [self._load(str(t)) for t in c.similarity_models or []] or None
            self.similarity_tests = [self._load(str(t)) for t in c.similarity_tests or []] or None
            for key in self.similarity_models or []:
                if not self.tasks[key].splits.get("train"):
                    raise TaskNeuronsError(f"option similarity_models: {key!r} has no train split to fine-tune on")

    # --- building blocks ----------------------------------------------------------------------------------
    @property
    def base(self) -> LoadedModel:
        """The base model, loaded on first use (a rerun with every step cached loads nothing)."""
        if self._base is None:
            c = self.config
            self._base = load_model(c.model, device=c.device, dtype=c.dtype)
        return self._base

    def n_eval(self, task: Task) -> int:
        c = self.config
        return (c.n_eval_generation or c.n_eval) if task.kind == "generation" else c.n_eval

    def scoring_examples(self, task: Task) -> tuple[list, str]:
        """Examples to score a task on: its train split, else dev, else the tail of its test split (disjoint from
        the first n_eval test examples that are evaluated, when the split is long enough)."""
        n = self.config.n_score
        for split in ("train", "dev"):
            if task.splits.get(split):
                return task.split(split, n), split
        test = task.split("test")
        start = max(len(test) - n, min(self.n_eval(task), len(test)))
        if start < len(test):
            return test[start:], f"test[{start}:]"
        return test[-n:], f"test[-{n}:] (overlaps the evaluated examples)"

    def scores(self, key: str) -> Scores:
        """The task's neuron scores on the base model (an artifact of the run folder, reused when present)."""
        if key not in self._scores:
            c = self.config
            path = self.run.path("artifacts", f"base.{key}.scores")
            if Path(f"{path}.json").is_file():
                self._scores[key] = Scores.load(path)
            else:
                examples, _ = self.scoring_examples(self.tasks[key])
                scores = score_neurons(self.base, examples, scorer=c.scorer, tokens=c.tokens, batch_size=c.batch_size,
                                       max_length=c.max_length, task=key, progress=self.progress,
                                       checkpoint=self.run.path("checkpoints", f"base.{key}"), **c.scorer_options)
                scores.save(path)
                self._scores[key] = scores
        return self._scores[key]

    def neuron_set(self, key: str, p: float) -> NeuronSet:
        if (key, p) not in self._sets:
            self._sets[(key, p)] = NeuronSet.from_scores(self.scores(key), p, self.config.scope,
                                                         provenance={"model_role": "base", "seed": self.config.seed})
        return self._sets[(key, p)]

    def ood_of_kind(self, group: Group, kind: str) -> list[str]:
        return [t for t in group.ood if self.tasks[t].kind == kind]

    def train_kind(self, group: Group) -> str:
        kinds = {SHORT[self.tasks[t].kind] for t in group.train}
        return kinds.pop() if len(kinds) == 1 else "MIX"

    def evaluate(self, lm: LoadedModel, key: str) -> float:
        c, task = self.config, self.tasks[key]
        return evaluate(lm, task, split="test", limit=self.n_eval(task), method=c.eval_method, batch_size=c.batch_size,
                        max_length=c.max_length, max_new_tokens=c.max_new_tokens, progress=self.progress).score

    def training_examples(self, keys, spec: dict) -> list:
        n = spec.get("n_train", 200)
        return [ex for key in keys for ex in self.tasks[key].split("train", n)]

    def train_and_evaluate(self, neurons: NeuronSet, train_keys, eval_keys) -> dict:
        """Train the base model jointly on ``train_keys`` through ``neurons`` only; evaluate; the model is left as
        it was (the tuner is removed)."""
        c, lm = self.config, self.base
        examples = self.training_examples(train_keys, c.training)
        with NeuronTuner(lm, None, neurons) as tuner:
            result = train(lm, examples, tuner.parameters(), c.train_config(c.training, "training"), progress=self.progress)
            scores = {key: self.evaluate(lm, key) for key in eval_keys}
            trainable = tuner.num_trainable()
        return {"scores": scores, "neurons": neurons.count(), "fraction": neurons.fraction(), "trainable": trainable,
                "n_train": len(examples), "steps": result.steps, "final_loss": result.losses[-1] if result.losses else None,
                "seconds": result.seconds}

    # --- the parts ----------------------------------------------------------------------------------------
    def overlap(self) -> dict:
        c = self.config
        out = {"groups": {}, "pairwise": {}}
        for g in self.groups:
            tk = self.train_kind(g)
            rows = {}
            for kind in ("classification", "generation"):
                tests = self.ood_of_kind(g, kind)
                if tests:
                    j = overlap_by_proportion({t: self.scores(t) for t in g.train}, {t: self.scores(t) for t in tests},
                                              c.proportions, c.scope)
                    rows[f"{tk}-{SHORT[kind]}"] = {pct(p): 100 * v for p, v in j.items()}
            j = overlap_by_proportion({t: self.scores(t) for t in g.train}, {t: self.scores(t) for t in g.ood},
                                      c.proportions, c.scope)
            rows[f"{tk}-OOD"] = {pct(p): 100 * v for p, v in j.items()}
            out["groups"][g.name] = rows
        for p in c.proportions:
            names, matrix = overlap_matrix({key: self.neuron_set(key, p) for key in self.tasks})
            out["pairwise"][pct(p)] = {"tasks": names, "jaccard": matrix.tolist()}
        return out

    def zero_shot(self) -> dict:
        keys = dict.fromkeys(t for g in self.groups for t in g.train + g.ood)
        return {key: self.run.step(f"zero_shot/{key}", lambda key=key: {"score": self.evaluate(self.base, key)})["score"]
                for key in keys}

    def sweep_point(self, g: Group, p: float) -> dict:
        def compute():
            trained = union(self.neuron_set(t, p) for t in g.train)
            return self.train_and_evaluate(trained, g.train, list(g.train) + list(g.ood))
        return self.run.step(f"sweep/{g.name}/p={pct(p)}", compute)

    def sweep(self) -> dict:
        out = {}
        for g in self.groups:
            out[g.name] = {}
            for p in self.config.proportions:
                step = self.sweep_point(g, p)
                out[g.name][pct(p)] = {"id": {t: step["scores"][t] for t in g.train},
                                        "ood": {t: step["scores"][t] for t in g.ood},
                                        **{k: step[k] for k in ("neurons", "fraction", "final_loss", "steps")}}
        return out

    def single(self) -> dict:
        c = self.config
        out = {}
        for g in self.groups:
            out[g.name] = {}
            for t in g.train:
                out[g.name][t] = {}
                for p in c.single_proportions or c.proportions:
                    step = self.run.step(f"single/{t}/p={pct(p)}",
                                         lambda t=t, p=p: self.train_and_evaluate(self.neuron_set(t, p), [t], [t]))
                    out[g.name][t][pct(p)] = step["scores"][t]
        return out

    def ablation(self) -> dict:
        c = self.config
        groups = {g.name: g for g in self.groups}
        out = {}
        for group_name, kind_name in c.ablation_pairs:
            g, kind = groups[str(group_name)], KIND_OF[str(kind_name)]
            tests = self.ood_of_kind(g, kind)
            label = f"{self.train_kind(g)}-{SHORT[kind]}"
            grid, realized, original, impossible = {}, {}, {}, {}
            for p in c.ablation_proportions:
                target = union(self.neuron_set(t, p) for t in tests)
                train_union = union(self.neuron_set(t, p) for t in g.train)
                counts = (proportion_counts(target, p) if c.ablation_total == "proportion"
                          else train_union.counts_per_layer())
                pool = None if c.ablation_pool == "complement" else train_union | target
                for rate in c.ablation_rates:
                    runs = []
                    for seed in c.ablation_seeds:
                        try:  # cheap and seeded: rebuilt on a rerun, only the training is cached
                            trained = overlap_controlled_set(target, counts, rate / 100, seed, c.ablation_rate, pool)
                        except TaskNeuronsError as e:  # this (rate, p) cannot be built: the paper's "-"
                            impossible.setdefault(pct(rate), {})[pct(p)] = str(e)
                            break

                        def compute(trained=trained):
                            result = self.train_and_evaluate(trained, g.train, tests)
                            return {**result, "share": 100 * share(trained, target),
                                    "jaccard": 100 * trained.jaccard(target)}
                        step = self.run.step(f"ablation/{g.name}/{kind}/p={pct(p)}/rate={pct(rate)}/seed={seed}", compute)
                        runs.append(step)
                    if not runs:
                        grid.setdefault(pct(rate), {})[pct(p)] = None
                        continue
                    grid.setdefault(pct(rate), {})[pct(p)] = mean([mean(r["scores"]) for r in runs])
                    realized.setdefault(pct(rate), {})[pct(p)] = {"share": mean([r["share"] for r in runs]),
                                                                    "jaccard": mean([r["jaccard"] for r in runs]),
                                                                    "neurons": runs[0]["neurons"]}
                natural = self.sweep_point(g, p)
                original[pct(p)] = {"jaccard": 100 * train_union.jaccard(target), "share": 100 * share(train_union, target),
                                     "score": mean({t: natural["scores"][t] for t in tests}), "neurons": natural["neurons"]}
            out[f"{g.name}:{kind}"] = {"label": label, "group": g.name, "kind": kind, "tests": tests, "grid": grid,
                                       "realized": realized, "original": original, "impossible": impossible}
        return out

    def similarity_model(self, key: str, tests: list[str]) -> dict:
        """One fully fine-tuned model on ``key``: its scores on ``key`` and the tests, and the per-layer similarity
        curves (every matrices/vector variant) between ``key``'s and each test's neurons in it and in the base."""
        c = self.config

        def curves(weights, sets: dict[str, NeuronSet]) -> dict:
            out = {}
            for test in tests:
                variants = {}
                for matrices in MATRICES:
                    for vector in VECTORS:
                        try:
                            variants[f"{matrices}/{vector}"] = layer_similarity(
                                weights, sets[key], sets[test], matrices, vector, c.similarity_pairing)
                        except TaskNeuronsError:  # flatten with unequal counts: that variant does not exist
                            if vector != "flatten":
                                raise
                            variants[f"{matrices}/{vector}"] = None
                out[test] = variants
            return out

        def compute():
            lm = load_model(c.model, device=c.device, dtype=c.dtype)
            base_sets = {t: self.neuron_set(t, c.similarity_k) for t in [key, *tests]}
            base_curves = curves(neuron_weights(lm.ffn), base_sets)
            examples = self.training_examples([key], c.full_training)
            result = train(lm, examples, list(lm.model.parameters()), c.train_config(c.full_training, "full_training"),
                           progress=self.progress)
            scores = {t: self.evaluate(lm, t) for t in [key, *tests]}
            if c.similarity_neurons == "finetuned":
                sets = {}
                for t in [key, *tests]:
                    examples_t, _ = self.scoring_examples(self.tasks[t])
                    s = score_neurons(lm, examples_t, scorer=c.scorer, tokens=c.tokens, batch_size=c.batch_size,
                                      max_length=c.max_length, task=t, progress=self.progress, **c.scorer_options)
                    sets[t] = NeuronSet.from_scores(s, c.similarity_k, c.scope, provenance={"model_role": f"finetuned:{key}"})
            else:
                sets = base_sets
            tuned_curves = curves(neuron_weights(lm.ffn), sets)
            del lm
            gc.collect()
            return {"scores": scores, "curves": tuned_curves, "base_curves": base_curves, "n_train": len(examples),
                    "steps": result.steps, "final_loss": result.losses[-1] if result.losses else None,
                    "seconds": result.seconds, "neurons": c.similarity_neurons}
        return self.run.step(f"similarity/{key}", compute)

    def similarity(self) -> dict:
        c = self.config
        models = self.similarity_models or list(dict.fromkeys(t for g in self.groups for t in g.train))
        tests_all = self.similarity_tests or list(dict.fromkeys(t for g in self.groups for t in g.ood))
        variant = f"{c.similarity_matrices}/{c.similarity_vector}"
        n_layers = self.scores(models[0]).n_layers
        bad = [i for i in c.similarity_layers or [] if not (isinstance(i, int) and 0 <= i < n_layers)]
        if bad:
            raise TaskNeuronsError(f"option similarity_layers: {bad} are not layers of the model (0..{n_layers - 1})")
        per_model = {}
        for m in models:
            tests = [t for t in tests_all if t != m]  # a model's own training data is not an OOD test
            step = self.similarity_model(m, tests)
            per_model[m] = {"kind": self.tasks[m].kind, "scores": step["scores"],
                            "curves": {t: step["curves"][t][variant] for t in tests},
                            "base_curves": {t: step["base_curves"][t][variant] for t in tests},
                            "all_variants": step["curves"], "final_loss": step["final_loss"]}
        correlation = {}
        for t in tests_all:
            points = [(m, aggregate(per_model[m]["curves"][t], c.similarity_layers), per_model[m]["scores"][t])
                      for m in models if per_model[m]["curves"].get(t) is not None]
            points = [pt for pt in points if math.isfinite(pt[1])]
            entry = {"points": [{"model": m, "similarity": s, "score": y} for m, s, y in points], "n": len(points)}
            try:
                entry.update(correlate([s for _, s, _ in points], [y for _, _, y in points], n_boot=c.n_boot,
                                       confidence=c.confidence, seed=c.seed).to_dict())
            except TaskNeuronsError as e:
                entry["error"] = str(e)
            correlation[t] = entry
        return {"variant": variant, "pairing": c.similarity_pairing, "neurons": c.similarity_neurons,
                "layers": c.similarity_layers, "models": per_model, "correlation": correlation}

    # --- the whole experiment -----------------------------------------------------------------------------
    def __call__(self) -> dict:
        c = self.config
        results = {"config": asdict(c), "tasks": {}, "groups": {}}
        for key, task in self.tasks.items():
            _, split = self.scoring_examples(task)
            results["tasks"][key] = {**self.sources[key], "scored_on": split, "n_eval": self.n_eval(task)}
        for g in self.groups:
            results["groups"][g.name] = {"train": list(g.train), "ood": list(g.ood), "train_kind": self.train_kind(g),
                                         "stands_for": g.paper, "notes": list(g.notes)}
        console.rule("overlap of task-specific neurons (Table 8)")
        results["overlap"] = self.overlap()
        show_overlap(results)
        if c.zero_shot:
            console.rule("zero-shot")
            results["zero_shot"] = self.zero_shot()
        if c.sweep:
            console.rule("proportion sweep: joint training through the union of the top-p% neurons (Figure 2)")
            results["sweep"] = self.sweep()
            show_sweep(results)
        if c.single_task:
            console.rule("single-task proportion sweep (Figure 6)")
            results["single"] = self.single()
            show_single(results)
        if c.ablation:
            console.rule("overlap-controlled ablation (Tables 9-11)")
            results["ablation"] = self.ablation()
            show_ablation(results)
        if c.similarity:
            console.rule("parameter similarity (Figure 3) and its correlation with transfer (Table 4)")
            results["similarity"] = self.similarity()
            show_similarity(results)
        write_json(self.run.path("results.json"), results)
        plot(results, self.run)
        write_text(self.run.path("summary.md"), summary(results))
        console.print(f"wrote {self.run.out}/results.json, summary.md and plots/")
        return results


# --- tables, plots, summary ---------------------------------------------------------------------------------------
