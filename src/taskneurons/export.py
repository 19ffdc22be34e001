"""Take the neurons elsewhere: a standard Hugging Face checkpoint, a PEFT LoRA adapter, a model card.

- :func:`export_checkpoint`: ``save_pretrained`` of the model with a neuron set switched off in its weights (the
  slices and bias entries the FFN map names, as ``deactivate(mode="weights")`` zeroes them) and/or neuron-tuner
  deltas merged, plus the tokenizer and a README.md model card. Plain ``AutoModelForCausalLM.from_pretrained``
  then gives the logits taskneurons gives with its hooks or tuner.
- :func:`export_lora`: neuron-tuner deltas as a PEFT LoRA adapter. A delta on output features S of a weight is
  exactly a rank-|S| LoRA: B = the one-hot columns of S, A = the delta rows, scaling 1 (lora_alpha = r per
  module through ``rank_pattern``/``alpha_pattern``); bias deltas go to ``lora_B``'s bias (``lora_bias``).
  ``PeftModel.from_pretrained`` reproduces the tuned model, and engines that serve LoRA adapters serve it.

Either writes its folder atomically and as a whole (beside it, then swapped in), so it never deletes what it
did not write (:func:`check_export_folder`): the folder must be new, empty, or an earlier export that holds
only the files its ``taskneurons-export.json`` lists.
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import __version__, processes
from .errors import TaskNeuronsError
from .io import atomic_folder, write_json, write_text
from .models import LoadedModel, sharding
from .neurons import NeuronSet, deactivate
from .neurons.fingerprint import check_made_on, model_fingerprint, model_identity
from .tuning import NeuronTuner
from .tuning.neuron_tuner import DELTA

MARKER = "taskneurons-export.json"  # what an export folder holds, written last: how a later export knows its own


def check_export_folder(out) -> Path:
    """``out`` as a Path when an export may replace it (new, empty, or an earlier export holding only what it
    wrote); else one line saying why and what to do. Called before any work."""
    out = Path(out)
    if out.is_symlink():
        raise TaskNeuronsError(f"export: {out} is a symbolic link; give the folder it points to, or a new path")
    if out.exists() and not out.is_dir():
        raise TaskNeuronsError(f"export: {out} is a file; give a folder for the checkpoint or adapter")
    if out.exists() and out.resolve() in [Path.cwd().resolve(), *Path.cwd().resolve().parents]:
        raise TaskNeuronsError(f"export: {out} is the current folder or one above it; give the path of a new folder")
    foreign = _foreign_entries(out, show=3) if out.is_dir() else []
    if foreign:
        raise TaskNeuronsError(f"export: {out} holds files taskneurons did not write ({', '.join(foreign)}); it "
                               f"replaces its folder as a whole: give a new or empty folder, or move those files away")
    return out


def _foreign_entries(folder: Path, show: int) -> list[str]:
    """The first ``show`` entries of ``folder`` (relative, sorted, "..." after them when there are more) that
    its export marker does not list: all of them when it has none."""
    written = {MARKER}
    try:
        for name in json.loads((folder / MARKER).read_text(encoding="utf-8"))["files"]:
            written.update([name, *(str(p) for p in Path(name).parents if str(p) != ".")])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no marker (or a damaged one): nothing in the folder is known to be an export's
    found = []
    for entry in _entries(folder):
        if entry not in written:
            found.append(entry)
            if len(found) > show:
                return found[:show] + ["..."]
    return found


def _entries(folder: Path, prefix: str = "") -> Iterator[str]:
    """Every file and folder under ``folder`` (relative paths, depth first, sorted; links not followed)."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        yield prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from _entries(Path(entry.path), prefix + entry.name + "/")


@contextlib.contextmanager
def export_folder(out: Path, kind: str) -> Iterator[Path]:
    """A temporary folder to fill, swapped in for ``out`` (checked first) with a marker listing what it holds."""
    with atomic_folder(check_export_folder(out)) as tmp:
        yield tmp
        files = [name for name in _entries(tmp) if (tmp / name).is_file()]
        write_json(tmp / MARKER, {"written_by": f"taskneurons {__version__}", "kind": kind, "files": files})


def export_checkpoint(lm: LoadedModel, out: Path, neurons: NeuronSet | None = None, deltas: Path | None = None,
                      headline: str = "", other_model: bool = False) -> Path:
    """Write ``out/`` (atomically, as a whole): the model's weights with ``neurons`` switched off and/or the
    tuner deltas saved at ``deltas`` merged, its config, tokenizer and model card. ``lm`` is left as it was.
    ``other_model``: apply a set or deltas made on a model of another type on purpose."""
    if neurons is None and deltas is None:
        raise TaskNeuronsError("export: give a neuron set to switch off, tuner deltas to merge, or both")
    check_export_folder(out)
    base_fingerprint = model_fingerprint(lm)
    if neurons is not None:  # checked against the weights as they are, before any delta is merged
        neurons.validate(lm.ffn)
        check_made_on(neurons.provenance, model_identity(lm.model, lm.ffn, lm.name), "neuron set", other_model)
    with contextlib.ExitStack() as stack:
        done = []
        if deltas is not None:
            tuner = NeuronTuner.load(deltas, lm, other_model=other_model)
            stack.callback(tuner.remove)
            tuner.merge()
            stack.callback(tuner.unmerge)
            done.append(f"neuron-tuner deltas merged ({tuner.num_trainable():,} trained values; {deltas})")
        if neurons is not None:
            stack.enter_context(deactivate((lm.model, lm.ffn), neurons, mode="weights"))
            done.append(f"{neurons.count():,} neurons switched off ({100 * neurons.fraction():.2f}% of the FFN "
                        f"neurons; their weight slices and bias entries set to their off value)")
        state = {k: v for k, v in sharding.full_state_dict(lm.model).items() if f".{DELTA}." not in k}
        with export_folder(out, "checkpoint") as tmp:
            if processes.is_main():  # sharded weights are whole on the main process only
                lm.model.save_pretrained(tmp, state_dict=state, safe_serialization=True)
                sharding.unwrapped_config(lm.model).save_pretrained(tmp)
            lm.tokenizer.save_pretrained(tmp)
            provenance = {"neurons": neurons.provenance if neurons is not None else None,
                          "deltas": str(deltas) if deltas is not None else None}
            write_text(tmp / "README.md", model_card(lm, base_fingerprint, done, provenance, headline))
    return Path(out)


def export_lora(lm: LoadedModel, deltas: Path, out: Path, headline: str = "", other_model: bool = False) -> Path:
    """Write the tuner deltas saved at ``deltas`` as a PEFT LoRA adapter folder ``out/`` (atomically)."""
    from peft import LoraConfig

    check_export_folder(out)
    names = {id(m): name for name, m in lm.model.named_modules()}
    tensors, ranks, targets, transposed, biased = {}, {}, [], set(), False
    tuner = NeuronTuner.load(deltas, lm, other_model=other_model)
    try:
        for proj, delta in tuner.deltas.values():
            name = names[id(proj.module)]
            rank, out_features = len(delta.index), proj.shape[0]
            b = torch.zeros(out_features, rank)
            b[delta.index.cpu(), torch.arange(rank)] = 1.0
            tensors[f"base_model.model.{name}.lora_A.weight"] = delta.weight.detach().float().cpu().contiguous()
            tensors[f"base_model.model.{name}.lora_B.weight"] = b.to(torch.bfloat16)  # 0/1: exact, half the size
            if delta.bias is not None:
                bias = torch.zeros(out_features)
                bias[delta.index.cpu()] = delta.bias.detach().float().cpu()
                tensors[f"base_model.model.{name}.lora_B.bias"] = bias
                biased = True
            ranks[name], targets = rank, targets + [name]
            transposed.add(proj.transposed)
        provenance = tuner.neuron_set.provenance
    finally:
        tuner.remove()
    if len(transposed) > 1:
        raise TaskNeuronsError("export --lora: the tuned modules mix Linear and Conv1D storage; one adapter cannot")
    if biased:  # every lora_B of a biased adapter has a bias: the modules without a bias delta get zeros
        for name in targets:
            key = f"base_model.model.{name}.lora_B.bias"
            tensors.setdefault(key, torch.zeros(tensors[f"base_model.model.{name}.lora_B.weight"].shape[0]))
    config = LoraConfig(r=1, lora_alpha=1, target_modules=targets, rank_pattern=ranks, alpha_pattern=dict(ranks),
                        lora_dropout=0.0, bias="none", lora_bias=biased, fan_in_fan_out=transposed == {True},
                        base_model_name_or_path=lm.name, task_type="CAUSAL_LM")
    with export_folder(out, "lora") as tmp:
        config.save_pretrained(tmp)
        save_file(tensors, str(tmp / "adapter_model.safetensors"))
        write_text(tmp / "README.md", model_card(lm, model_fingerprint(lm), [
            f"a LoRA adapter of rank |S| per module holding neuron-tuner deltas ({deltas})"],
            {"neurons": provenance, "deltas": str(deltas)}, headline))
    return Path(out)


def model_card(lm: LoadedModel, fingerprint: str, done: list[str], provenance: dict, headline: str) -> str:
    """README.md: what the folder is, the base model and its weight fingerprint, what was done, where from."""
    lines = ["---", "library_name: " + ("peft" if any("LoRA" in d for d in done) else "transformers"),
             "tags: [taskneurons, task-specific-neurons]", "---", "",
             f"# {lm.name}, exported by taskneurons {__version__}", "",
             f"- base model: `{lm.name}` (weight fingerprint `{fingerprint}`, FFN family `{lm.ffn.map.family}`)"]
    lines += [f"- {d}" for d in done]
    if headline:
        lines.append(f"- run: {headline}")
    lines += ["", "Provenance (the neuron set's: task, scorer, k, scored examples, model):", "", "```json",
              json.dumps(provenance, indent=2, default=str), "```", ""]
    return "\n".join(lines)
