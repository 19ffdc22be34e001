"""The sharded-training check (issue 25): a random-initialised model from Llama-2-7b's config, sharded over the
processes with FSDP2 or DeepSpeed ZeRO (``models/sharding.py``, ``models/zero.py``), trains a neuron-tuner step at
k = 10% and a full fine-tuning step through ``train``; per process: seconds per step, the peak memory, and the
memory planner's per-process estimate beside it.

    TASKNEURONS_SHARDING=fsdp2 torchrun --standalone --nproc_per_node 8 benchmarks/bench_sharded.py [--out sharded.json]
    TASKNEURONS_SHARDING=zero3 torchrun --standalone --nproc_per_node 8 benchmarks/bench_sharded.py [--out zero3.json]

``--small`` runs the same code on a scaled-down config (on the CPU over gloo: ``--device cpu``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from taskneurons import processes
from taskneurons.models import FFN, LoadedModel, sharding
from taskneurons.models.memory import GiB, estimate
from taskneurons.models.tiny import tiny_tokenizer
from taskneurons.neurons import NeuronSet
from taskneurons.tasks import Example
from taskneurons.tuning import NeuronTuner, TrainConfig, train

LLAMA2_7B = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5)
SMALL = dict(LLAMA2_7B, hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=4)


def peak_gib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / GiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GiB  # the process's peak resident memory


def run(small: bool, batch: int, length: int, device: str) -> dict:
    if not processes.sharding():
        raise SystemExit("run under TASKNEURONS_SHARDING=fsdp2, zero3 or zero2 (and torchrun --nproc_per_node N)")
    device = processes.device(device)
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", **(SMALL if small else LLAMA2_7B)),
                                             dtype=dtype).to(device).eval()
    ffn = FFN(model)
    sharding.shard(model, ffn.blocks)
    lm = LoadedModel(model, tiny_tokenizer(), "llama2-7b-random", ffn)
    words = " ".join(f"w{i}" for i in range(length))
    examples = [Example(f"{words} {i}", "yes") for i in range(2 * batch)]
    config = TrainConfig(lr=1e-5, batch_size=batch, max_length=length, max_steps=2, log_every=1)
    out = {"sharding": processes.sharding(), "processes": processes.world(), "batch": batch, "length": length,
           "dtype": str(dtype)}
    generator = torch.Generator().manual_seed(0)
    masks = {kind: torch.rand(ffn.n_layers, width, generator=generator) < 0.1 for kind, width in ffn.widths.items()}
    with NeuronTuner(lm, NeuronSet(masks, {})) as tuner:
        params = list(tuner.parameters())
        plan = estimate(model, "train", batch // processes.world(), length, trained=params)
        out["neuron tuner, k=10%"] = timed(lambda: train(lm, examples, params, config, progress=False), plan, device)
    params = list(model.parameters())
    plan = estimate(model, "train", batch // processes.world(), length, trained=params)
    out["full fine-tuning"] = timed(lambda: train(lm, examples, params, config, progress=False), plan, device)
    return out


def timed(step, plan, device: str) -> dict:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = step()
    return {"seconds_per_step": (time.perf_counter() - start) / result.steps, "losses": result.losses,
            "peak_gib": peak_gib(device), "planned_gib": plan.total / GiB, "plan": plan.describe()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="the whole step's batch, over all processes")
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--small", action="store_true", help="a scaled-down config (a CPU check of the script)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    found = run(args.small, args.batch, args.length, args.device)
    every = processes.gather([found])
    if processes.is_main():
        text = json.dumps({"ranks": every}, indent=2)
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
    return found


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
    processes.end(0)  # without the interpreter's finalization, where gloo's threads can abort a finished run
