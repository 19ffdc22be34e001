"""Attribution fidelity: how well each scoring variant estimates Eq. 2, the loss change when a neuron is zeroed.

For a seeded sample of neurons (``per_cell`` of each chosen (layer, kind)), each neuron's output is set to 0 at
every position (``deactivate``) and the summed target loss over a fixed set of examples is measured again: the
truth is the size of that change, |L(zeroed) - L|, for the whole set ("dataset") and, averaged over examples, per
example ("example"). Every scoring variant then scores the same examples, and its scores of the sampled neurons
are compared with the truth by Pearson and Spearman correlations, with p-values, n and bootstrap intervals
(``analysis.correlate``), per (layer, kind). A first-order estimate can miss saturated neurons: this measures by
how much, on a given model and task (``taskneurons fidelity``; ``benchmarks/bench_attribution_fidelity.py``).
"""
from __future__ import annotations

import statistics

import torch
from tqdm.auto import tqdm

from ..analysis import correlate
from ..errors import TaskNeuronsError
from ..models import LoadedModel
from ..models.ffn import KINDS
from . import NeuronSet, deactivate, score_neurons
from ..tasks import Example
from ..tasks.batching import batches_by_length, training_batch
from ..tasks.loss import target_loss

VARIANTS = {  # name -> (scorer, tokens, scorer options)
    f"{aggregation}/{tokens}": ("grad_x_act", tokens, {"aggregation": aggregation})
    for aggregation in ("abs_sum", "example_abs_sum", "mean_abs") for tokens in ("all", "target")
} | {"fisher/all": ("fisher", "all", {}), "mean_abs_act/all": ("mean_abs_act", "all", {}),
     "act_prob/all": ("act_prob", "all", {})}


def sample_neurons(lm: LoadedModel, layers: list[int], per_cell: int, seed: int = 0) -> list[tuple[int, str, int]]:
    """(layer, kind, index) of ``per_cell`` neurons drawn without replacement from each (layer, kind), seeded."""
    g = torch.Generator().manual_seed(seed)
    return [(layer, kind, int(i)) for layer in layers for kind in KINDS
            for i in torch.randperm(lm.ffn.widths[kind], generator=g)[:per_cell].sort().values]


@torch.no_grad()
def example_losses(lm: LoadedModel, examples: list[Example], batch_size: int, max_length: int) -> torch.Tensor:
    """float64 [examples]: each example's summed target-token loss."""
    out = torch.zeros(len(examples), dtype=torch.float64)
    for idx in batches_by_length(examples, batch_size):
        batch = training_batch(lm.tokenizer, [examples[i] for i in idx], max_length, padding_side="left")
        batch = {k: v.to(lm.device) for k, v in batch.items()}
        per_token = target_loss(lm.model, batch, reduction="none").double().view(len(idx), -1)
        out[torch.tensor(idx)] = per_token.sum(1).cpu()
    return out


def true_changes(lm: LoadedModel, examples: list[Example], neurons: list[tuple[int, str, int]], batch_size: int = 8,
                 max_length: int = 256, progress: bool = True) -> dict[str, list[float]]:
    """Eq. 2 measured: per neuron, |dataset loss change| and the mean over examples of |example loss change|."""
    was_training = lm.model.training
    lm.model.eval()
    base = example_losses(lm, examples, batch_size, max_length)
    dataset, example = [], []
    for layer, kind, index in tqdm(neurons, desc="zeroing neurons", unit="neuron", disable=not progress, leave=False):
        one = NeuronSet.empty(lm.ffn)
        one.masks[kind][layer, index] = True
        with deactivate(lm, one):
            change = example_losses(lm, examples, batch_size, max_length) - base
        dataset.append(abs(float(change.sum())))
        example.append(float(change.abs().mean()))
    lm.model.train(was_training)
    return {"dataset": dataset, "example": example}


def attribution_fidelity(lm: LoadedModel, examples: list[Example], layers: list[int] | None = None,
                         per_cell: int = 20, variants: list[str] | None = None, batch_size: int = 8,
                         max_length: int = 256, seed: int = 0, n_boot: int = 1000, progress: bool = True) -> dict:
    """Every variant's scores against the measured loss changes (module doc). ``layers`` default: the first,
    middle and last. Returns ``{"neurons", "truth", "rows", "summary"}``; a row is one (variant, layer, kind,
    truth) with its correlations; ``summary[variant][truth]`` is the mean Spearman over the (layer, kind)s."""
    if per_cell < 3:
        raise TaskNeuronsError(f"per_cell={per_cell}: a correlation needs at least 3 neurons per (layer, kind)")
    n = lm.ffn.n_layers
    layers = sorted(set(layers if layers is not None else [0, n // 2, n - 1]))
    variants = variants or list(VARIANTS)
    neurons = sample_neurons(lm, layers, per_cell, seed)
    truth = true_changes(lm, examples, neurons, batch_size, max_length, progress)
    rows, summary = [], {}
    for name in variants:
        scorer, tokens, options = VARIANTS[name]
        scores = score_neurons(lm, examples, scorer=scorer, tokens=tokens, batch_size=batch_size,
                               max_length=max_length, progress=False, **options)
        estimate = [float(scores.values[kind][layer, index]) for layer, kind, index in neurons]
        for what, measured in truth.items():
            for layer in layers:
                for kind in KINDS:
                    cell = [i for i, (lay, k, _) in enumerate(neurons) if lay == layer and k == kind]
                    c = correlate([estimate[i] for i in cell], [measured[i] for i in cell], n_boot=n_boot, seed=seed)
                    rows.append({"variant": name, "truth": what, "layer": layer, "kind": kind, **c.to_dict()})
            cells = [r["spearman"] for r in rows if r["variant"] == name and r["truth"] == what]
            summary.setdefault(name, {})[what] = statistics.mean(cells)
    return {"neurons": neurons, "truth": truth, "rows": rows, "summary": summary, "layers": layers,
            "n_examples": len(examples), "per_cell": per_cell}


def fidelity_table(result: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of an ``attribution_fidelity`` result: per variant, Spearman [interval] with the dataset loss
    change in each (layer, kind), their mean, and the mean against the per-example change."""
    cells = [(layer, kind) for layer in result["layers"] for kind in KINDS]
    rows = []
    for variant, means in result["summary"].items():
        found = {(r["layer"], r["kind"]): r for r in result["rows"] if r["variant"] == variant and r["truth"] == "dataset"}
        rows.append([variant, *[f"{found[c]['spearman']:.2f} [{found[c]['spearman_ci'][0]:.2f}, "
                                f"{found[c]['spearman_ci'][1]:.2f}]" for c in cells],
                     f"{means['dataset']:.3f}", f"{means['example']:.3f}"])
    return ["variant", *[f"L{layer} {kind}" for layer, kind in cells], "mean", "mean vs per-example"], rows
