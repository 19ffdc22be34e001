"""The parameter-similarity part (Figure 3) and its correlation with transfer (Table 4).

One fully fine-tuned model per training task; in each layer the cosine between the training task's and each test
task's neuron parameters in that model (and, for comparison, in the base model); the model is freed as soon as
its numbers are taken. Per test task, Pearson and Spearman (p-values, n, bootstrap interval) between the
layer-averaged similarity and the score of each fine-tuned model: for the configured variant (``correlation``) and
for every other one (``by_variant``), since flattening with index pairing pairs unrelated rows and only
``shared_first`` lets the neurons two sets share meet themselves."""
from __future__ import annotations

import gc
import math

from ...analysis import correlate
from ...analysis.similarity import MATRICES, PAIRINGS, VECTORS, aggregate, layer_similarity
from ...errors import TaskNeuronsError
from ...models import LoadedModel
from ...models.ffn import KINDS
from ...neurons import NeuronSet
from ...tuning import train
from .lab import Lab


def neuron_weights(lm: LoadedModel) -> dict[int, dict[str, list]]:
    """layer -> kind -> the weight tensors with one row per neuron (from the FFN map)."""
    return {layer: {kind: lm.ffn.neuron_rows(layer, kind) for kind in KINDS} for layer in range(lm.ffn.n_layers)}


def variant_name(matrices: str, vector: str, pairing: str) -> str:
    """"both/flatten/index", "both/flatten/shared_first", "both/mean": pairing means something only when flattening."""
    return f"{matrices}/{vector}/{pairing}" if vector == "flatten" else f"{matrices}/{vector}"


VARIANTS = [variant_name(m, v, p) for m in MATRICES for v in VECTORS for p in (PAIRINGS if v == "flatten" else PAIRINGS[:1])]


def variant_of(config) -> str:
    return variant_name(config.similarity_matrices, config.similarity_vector, config.similarity_pairing)


def curves(weights, sets: dict[str, NeuronSet], key: str, tests: list[str]) -> dict:
    """test -> variant name -> per-layer cosines between ``key``'s and the test's neurons (every variant)."""
    out = {}
    for test in tests:
        variants = {}
        for name in VARIANTS:
            matrices, vector, *pairing = name.split("/")
            try:
                variants[name] = layer_similarity(weights, sets[key], sets[test], matrices, vector, *pairing)
            except TaskNeuronsError:  # flatten with unequal counts: that variant does not exist
                if vector != "flatten":
                    raise
                variants[name] = None
        out[test] = variants
    return out


def full_finetune(lab: Lab, lm: LoadedModel, key: str):
    """Fine-tune every parameter of ``lm`` on ``key``'s training examples (``full_training``): the similarity
    model of ``key``. Returns the examples and the training result."""
    c = lab.config
    examples = lab.training_examples([key], c.full_training.n_train)
    spec = c.full_training.for_settings(c, c.target_length([lab.plans[key]], lm.tokenizer))
    return examples, train(lm, examples, list(lm.model.parameters()), spec, progress=lab.progress)


def similarity_model(lab: Lab, key: str, tests: list[str]) -> dict:
    """One fully fine-tuned model on ``key``: its scores on ``key`` and the tests, and the similarity curves in it
    and in the base model."""
    c = lab.config

    def compute():
        base_sets = {t: lab.neuron_set(t, c.selection.k) for t in [key, *tests]}
        lab.release_base()  # one model in memory at a time: the base is loaded again when next needed
        lm = lab.run.load_model()
        base_curves = curves(neuron_weights(lm), base_sets, key, tests)
        examples, result = full_finetune(lab, lm, key)
        records = {t: lab.evaluate(lm, t) for t in [key, *tests]}
        sets = base_sets
        if c.similarity_neurons == "finetuned":
            sets = {}
            for t in [key, *tests]:
                scores = c.selection.scores(lm, lab.plans[t], c, progress=lab.progress)
                sets[t] = c.selection.neurons(scores, provenance={"model_role": f"finetuned:{key}"})
        tuned_curves = curves(neuron_weights(lm), sets, key, tests)
        del lm
        gc.collect()
        return {"scores": {t: r["score"] for t, r in records.items()},
                "outcomes": {t: r["outcomes"] for t, r in records.items()}, "curves": tuned_curves,
                "base_curves": base_curves, "n_train": len(examples), "steps": result.steps,
                "final_loss": result.losses[-1] if result.losses else None, "seconds": result.seconds,
                "neurons": c.similarity_neurons}
    return lab.run.step(f"similarity/{key}", compute)


def correlations(lab: Lab, per_model: dict, variant: str) -> dict:
    """test -> the correlation across models between the layer-averaged ``variant`` similarity and the score."""
    c, out = lab.config, {}
    for t in lab.test_tasks():
        points = []
        for m, v in per_model.items():
            curve = v["all_variants"].get(t, {}).get(variant)
            if curve is not None and math.isfinite(s := aggregate(curve, c.similarity_layers)):
                points.append((m, s, v["scores"][t]))
        entry = {"points": [{"model": m, "similarity": s, "score": y} for m, s, y in points], "n": len(points)}
        try:
            entry.update(correlate([s for _, s, _ in points], [y for _, _, y in points], n_boot=c.n_boot,
                                   confidence=c.confidence, seed=c.seed).to_dict())
        except TaskNeuronsError as e:
            entry["error"] = str(e)
        out[t] = entry
    return out


def similarity(lab: Lab) -> dict:
    c = lab.config
    tests_all, variant = lab.test_tasks(), variant_of(c)
    per_model = {}
    for m in lab.model_tasks():
        tests = [t for t in tests_all if t != m]  # a model's own training data is not an OOD test
        step = similarity_model(lab, m, tests)
        missing = sorted({v for t in tests for v in VARIANTS if v not in step["curves"][t]})
        if missing:
            raise TaskNeuronsError(f"{lab.run.path('steps')}: the similarity step of {m} was written by an older "
                                   f"version (it has no {missing[0]!r} similarity); delete its "
                                   f"steps/similarity_*.json to compute them again, or choose another --out")
        per_model[m] = {"kind": lab.tasks[m].kind, "scores": step["scores"],
                        "curves": {t: step["curves"][t][variant] for t in tests},
                        "base_curves": {t: step["base_curves"][t][variant] for t in tests},
                        "all_variants": step["curves"], "final_loss": step["final_loss"]}
    by_variant = {name: correlations(lab, per_model, name) for name in VARIANTS}
    return {"variant": variant, "pairing": c.similarity_pairing, "neurons": c.similarity_neurons,
            "layers": c.similarity_layers, "models": per_model, "correlation": by_variant[variant],
            "by_variant": by_variant}
