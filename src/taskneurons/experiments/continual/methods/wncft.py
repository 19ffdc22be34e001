"""W-NCFT, weighted NCFT (paper 2.12, Appendix A.2): NCFT training, and at inference on task j each earlier
task's neurons reweighted by how similar task j is to that task.

Task vectors: for each task, the mean over ``n_vector`` random training samples (the paper: 1000) of the
*base* model's last-layer hidden state averaged over the prompt's tokens (Eq. 10's fea). After stage i, on a
learnt task j (j <= i): Sim_j = softmax_k(cos(fea_j, fea_k) / temperature) over the learnt tasks k (Eq. 11), and
the FFN becomes Eq. 12's W' in one of two readings (option ``reading``; the default is ``snapshot``, beyond the
paper's text, because the literal ``scale`` measured 0.0 on every task of every run on SmolLM2, docs/continual.md):

- ``scale`` (the literal one): the *activation* of every neuron of task k is multiplied by Sim_j[k]
  (inner neuron j: the j-th input of the down projection; outer neuron m: the FFN's output channel m, i.e. the
  output of ``FFN.outers``, after Gemma-2/3's post-FFN norm), by forward hooks (``neurons.deactivate.scaled``);
  the weights are not touched. A neuron of several tasks gets ``shared: sum`` (this reading's default; the literal
  "combine by columns") the sum of their weights, or ``shared: mean`` their mean. Since softmax weights sum to 1,
  a neuron owned by one task is scaled by about 1/i, and one owned by every learnt task is unchanged: after four
  tasks that switches off most of what NCFT taught (AA 0.2 +- 0.2 over orders 1-3).
- ``snapshot`` (default; beyond the paper's text: PAPER.md 2.12's alternative reading): W'[n] = sum_k Sim_j[k]
  P_k[n] over the tasks k that own neuron n, where P_k is a copy of task k's tuned neuron slices (what NCFT
  trains: gate and up rows, or GPT-2's c_fc column, and bias entries for inner neurons; the down row and bias
  entry for outer ones) taken right after stage k. It is applied as
  ``total x mean``: the slices become the weighted mean sum_k Sim_j[k] P_k[n] / total (total = sum_k Sim_j[k]
  over the owners; a neuron of one task gets its snapshot exactly), and the activation is multiplied by total
  (``shared: sum``) or left alone (``shared: mean``, this reading's default: a weighted mean, so a neuron of one
  task keeps its trained values; the measured W-NCFT (snapshot) rows).

Why on the activation. Scaling *every* slice of a neuron by c, as a plain weight reading does, moves a gated
neuron's activation silu(c g) (c u) by about c^2 (c = 0.25 gave 0.062 on tiny-llama), GPT-2's gelu(c z) by a
factor that depends on z, and a Gemma-2/3 outer neuron by about c but every other channel of its layer too (its
down row feeds the post-FFN norm, whose RMS then changes). Applied to the activation, Eq. 12's weight reaches each neuron exactly once, in every
family. Where a weight-only reading exists it is the same thing: for a gated inner neuron (Llama, Mistral,
Qwen, Gemma, Phi-3) the up row summed sum_k Sim_j[k] P_k and the gate row the weighted mean; for a down-row outer
neuron without a norm behind it (Llama..., GPT-2) the down row and bias summed. GPT-2's inner neuron
(gelu of its c_fc column) and Gemma-2/3's outer neuron (behind the norm) have none, hence the hooks.

Neurons owned by no learnt task are left as they are; so are tasks not learnt yet (evaluated as trained).
W-NCFT needs the identity of the test task (task-incremental inference). When the evaluation ends (also on
error) the hooks are removed and the weights restored bit for bit.
"""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .... import processes
from ....errors import TaskNeuronsError
from ....io import atomic_path
from ....models import FFN, KINDS, LoadedModel
from ....neurons import NeuronSet
from ....neurons.deactivate import scaled
from ....tasks import Example, Task
from ....configs.options import option
from ..state import load_tensors, save_tensors
from .base import register
from .features import prompt_features
from .ncft import NCFT, NCFTOptions

READINGS = ("scale", "snapshot")
SHARED = ("sum", "mean")
SHARED_DEFAULT = {"scale": "sum", "snapshot": "mean"}  # each reading's own: the literal sum, the measured mean


@dataclass
class WNCFTOptions(NCFTOptions):
    reading: str = option("snapshot",
        '"snapshot" (beyond the paper: per-task snapshots) | "scale" (literal Eq. 12, measured 0)')
    shared: str | None = option(None,
        'neurons of several tasks: "sum" | "mean" of their weights (null: scale sum, snapshot mean)')
    n_vector: int = option(1000, "training samples per task vector (paper: 1000)")
    temperature: float = option(1.0, "softmax temperature on the cosine similarities (paper: none, i.e. 1)")

    def __post_init__(self):
        super().__post_init__()
        if self.reading not in READINGS:
            raise TaskNeuronsError(f"reading {self.reading!r} is not one of {list(READINGS)}")
        self.shared = SHARED_DEFAULT[self.reading] if self.shared is None else self.shared
        if self.shared not in SHARED:
            raise TaskNeuronsError(f"shared {self.shared!r} is not one of {list(SHARED)}")
        if not self.n_vector >= 1:
            raise TaskNeuronsError(f"n_vector must be at least 1, got {self.n_vector}")
        if not self.temperature > 0:
            raise TaskNeuronsError(f"temperature must be > 0, got {self.temperature}")


def task_vector(lm: LoadedModel, examples: Sequence[Example], batch_size: int = 8, max_length: int = 256) -> torch.Tensor:
    """Mean over examples of the last hidden state averaged over each prompt's tokens: float32 [d_model]."""
    return prompt_features(lm, examples, batch_size, max_length).mean(0).float()


def similarity_weights(vectors: torch.Tensor, query: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Eq. 10-11: softmax over the rows of ``vectors`` [i, d] of their cosine similarity to ``query`` [d]."""
    cos = torch.nn.functional.cosine_similarity(vectors.double(), query.double().unsqueeze(0), dim=-1)
    return torch.softmax(cos / temperature, dim=0)


def _along(values: torch.Tensor, like: torch.Tensor, dim: int) -> torch.Tensor:
    shape = [1] * like.dim()
    shape[dim] = -1
    return values.view(shape)


def neuron_rows(ffn: FFN, neurons: NeuronSet) -> dict[str, torch.Tensor]:
    """Copies of the weight slices of ``neurons``: key ``layer.kind.n`` for the n-th slice (``FFN.slices``)."""
    rows = {}
    with torch.no_grad():
        for layer in range(ffn.n_layers):
            for kind in KINDS:
                idx = neurons.indices(layer, kind)
                if len(idx):
                    for n, s in enumerate(ffn.slices(layer, kind)):
                        if s.tuned:  # what NCFT trains (not, e.g., a Gemma norm's gain entry)
                            rows[f"{layer}.{kind}.{n}"] = s.read(idx).clone()
    return rows


def _owners(sets: Sequence[NeuronSet], weights: torch.Tensor, layer: int, kind: str):
    """The neurons of one (layer, kind) that some set owns: their indices [m], the owner mask [tasks, m] (float64)
    and each neuron's summed owner weight [m]."""
    owners = torch.stack([s.masks[kind][layer] for s in sets])  # [tasks, width]
    idx = owners.any(0).nonzero().flatten()
    own = owners[:, idx].double()
    return idx, own, (own * weights.double().cpu().unsqueeze(1)).sum(0)


def activation_factors(ffn: FFN, sets: Sequence[NeuronSet], weights: torch.Tensor, reading: str,
                       shared: str) -> dict[str, torch.Tensor]:
    """Each neuron's activation factor (kind -> float32 [n_layers, width], 1 for neurons of no set): the summed
    weight of its owners (``shared: sum``), in the ``scale`` reading with ``shared: mean`` their mean weight, and
    1 in the ``snapshot`` reading with ``shared: mean`` (its weighted mean of snapshots is already a mean)."""
    factors = {kind: torch.ones(ffn.n_layers, ffn.widths[kind], dtype=torch.float64) for kind in KINDS}
    for layer in range(ffn.n_layers):
        for kind in KINDS:
            idx, own, total = _owners(sets, weights, layer, kind)
            if len(idx) and not (reading == "snapshot" and shared == "mean"):
                factors[kind][layer, idx] = total if shared == "sum" else total / own.sum(0)
    return {kind: f.float() for kind, f in factors.items()}


@contextlib.contextmanager
def _snapshot_weights(ffn: FFN, sets: Sequence[NeuronSet], weights: torch.Tensor,
                      snapshots: Sequence[dict[str, torch.Tensor]]):
    """Every owned neuron's tuned slices set to sum_k Sim_j[k] P_k / sum_k Sim_j[k] over its owners k (a weighted
    mean: a neuron of one task gets that task's snapshot exactly), then put back bit for bit."""
    saved = []
    try:
        with torch.no_grad():
            for layer in range(ffn.n_layers):
                for kind in KINDS:
                    idx, own, total = _owners(sets, weights, layer, kind)
                    if not len(idx):
                        continue
                    if not bool((total > 0).all()):
                        raise TaskNeuronsError("the snapshot reading needs a positive summed weight for every "
                                               f"owned neuron; got the task weights {weights.tolist()}")
                    share = own * weights.double().cpu().unsqueeze(1) / total  # [tasks, m]: each owner's part
                    for n, s in enumerate(ffn.slices(layer, kind)):
                        if not s.tuned:  # not trained, not snapshotted (a Gemma norm's gain)
                            continue
                        rows = s.read(idx).clone()
                        saved.append((s, idx, rows))
                        new = torch.zeros(rows.shape, dtype=torch.float64, device=rows.device)
                        for k, snap in enumerate(snapshots):
                            mine = sets[k].indices(layer, kind)
                            if len(mine):
                                pos = torch.searchsorted(idx, mine)
                                part = snap[f"{layer}.{kind}.{n}"].to(rows.device).double()
                                new.index_add_(s.dim, pos.to(rows.device),
                                               part * _along(share[k, pos].to(rows.device), part, s.dim))
                        s.write_(idx, new.to(rows.dtype))
        yield
    finally:
        with torch.no_grad():
            for s, idx, rows in reversed(saved):
                s.write_(idx, rows)


@contextlib.contextmanager
def reweighted(ffn: FFN, sets: Sequence[NeuronSet], weights: torch.Tensor, reading: str, shared: str,
               snapshots: Sequence[dict[str, torch.Tensor]] | None = None):
    """The FFN as Eq. 12 makes it for task weights ``weights`` [len(sets)] (see the module docstring), for the
    duration of the ``with`` block: activation hooks (``neurons.deactivate.scaled``) with the factors of
    :func:`activation_factors`, and in the ``snapshot`` reading the owners' weighted mean snapshot in the
    neurons' tuned slices. Hooks removed and weights put back bit for bit afterwards, also on error."""
    if reading not in READINGS or shared not in SHARED:
        raise TaskNeuronsError(f"reading must be one of {list(READINGS)} and shared one of {list(SHARED)}")
    if len(weights) != len(sets) or (reading == "snapshot" and (snapshots is None or len(snapshots) != len(sets))):
        raise TaskNeuronsError(f"{len(sets)} neuron sets need as many weights (got {len(weights)})"
                               + (" and snapshots" if reading == "snapshot" else ""))
    with contextlib.ExitStack() as stack:
        if reading == "snapshot":
            stack.enter_context(_snapshot_weights(ffn, sets, weights, snapshots))
        stack.enter_context(scaled(ffn, activation_factors(ffn, sets, weights, reading, shared)))
        yield


@register
class WNCFT(NCFT):
    name = "wncft"
    title = "W-NCFT"
    Options = WNCFTOptions
    trains_as = "ncft"  # NCFT's training, stage for stage: adopted from an NCFT of the run with the same options

    def __init__(self, options, ctx):
        super().__init__(options, ctx)
        self.snapshots: list[dict[str, torch.Tensor]] = []
        self.vectors: torch.Tensor | None = None  # [tasks of the sequence, d_model], from the base model

    @classmethod
    def draws(cls, options) -> list[tuple]:
        return super().draws(options) + [("vector", options.n_vector, True)]  # at most the whole pool

    def setup(self, lm: LoadedModel, tasks: list[Task]) -> None:
        super().setup(lm, tasks)
        self.vectors = torch.stack([self._vector(lm, t) for t in tasks])

    def _vector(self, lm: LoadedModel, task: Task) -> torch.Tensor:
        """The task's vector on the base model, cached in the run's shared folder (same for every order)."""
        o, c = self.options, self.ctx.config
        tag = hashlib.sha256(f"{task.source}|{task.name}".encode()).hexdigest()[:8]
        path = self.ctx.shared / "task_vectors" / f"{task.name}.{tag}.n{o.n_vector}.len{c.max_length}.seed{c.seed}.safetensors"
        if processes.broadcast(path.is_file()):  # as the main process sees it: every process takes one path
            return load_tensors(path)["vector"]
        examples = self.ctx.draw(task, "vector", o.n_vector, at_most=True)  # pool examples: never a test prompt
        vector = task_vector(lm, examples, c.eval_batch_size or c.batch_size, c.max_length)
        with atomic_path(path) as tmp:
            save_tensors({"vector": vector}, tmp)
        return vector

    def train_stage(self, lm: LoadedModel, stage: int, task: Task) -> dict:
        info = super().train_stage(lm, stage, task)
        self.snapshots.append(neuron_rows(lm.ffn, self.sets[-1]))
        return info

    def adopt(self, lm: LoadedModel, folder: Path) -> None:
        super().adopt(lm, folder)
        self.snapshots.append(neuron_rows(lm.ffn, self.sets[-1]))  # as train_stage takes it

    def save(self, lm: LoadedModel, folder: Path) -> None:
        super().save(lm, folder)
        save_tensors(self.snapshots[-1], folder / "snapshot.safetensors")

    def restore(self, lm: LoadedModel, folders: list[Path]) -> None:
        super().restore(lm, folders)
        self.snapshots = [load_tensors(f / "snapshot.safetensors", lm.device) for f in folders]

    def weights(self, stage: int, index: int) -> torch.Tensor:
        """Sim_j over the tasks learnt up to ``stage`` for task ``index`` (Eq. 11)."""
        return similarity_weights(self.vectors[:stage + 1], self.vectors[index], self.options.temperature)

    def evaluation(self, lm: LoadedModel, stage: int, index: int):
        if index > stage:
            return contextlib.nullcontext()
        o = self.options
        return reweighted(lm.ffn, self.sets[:stage + 1], self.weights(stage, index), o.reading, o.shared,
                          self.snapshots[:stage + 1])

    def describe(self) -> dict:
        """The cosine similarities between the sequence's task vectors, and the final stage's weights."""
        if self.vectors is None:
            return {}
        v = torch.nn.functional.normalize(self.vectors.double(), dim=-1)
        n = len(self.tasks)
        return {"task_cosine": (v @ v.T).tolist(),
                "final_weights": [self.weights(n - 1, j).tolist() for j in range(n)]}
