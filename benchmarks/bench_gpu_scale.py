"""The scale check (issue 13): a random-initialised model built from Llama-2-7b's config (no weights needed), in
bfloat16 on CUDA, median of ``--repeats`` runs of each: a no-grad forward pass; scoring (Eq. 3) of one batch;
a neuron-tuner step at k = 10% and a full fine-tuning step (float32 master copies), with their peak memory; label
ranking and greedy generation throughput; and the memory planner's estimate beside every measured peak.

    .venv/bin/python benchmarks/bench_gpu_scale.py [--batch 8] [--length 256] [--repeats 3] [--out gpu_scale.json]

About 5 minutes on one H200. ``--small`` runs the same code on a scaled-down config (on the CPU in the tests).
Its sharded counterpart, in several processes (FSDP2, ZeRO-3): ``bench_sharded.py``.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from taskneurons.evaluation.predict import generate, rank_labels
from taskneurons.models import FFN, LoadedModel
from taskneurons.models.memory import GiB, estimate
from taskneurons.models.tiny import tiny_tokenizer
from taskneurons.neurons import NeuronSet, score_neurons
from taskneurons.tasks import Example
from taskneurons.tasks.batching import training_batch
from taskneurons.tasks.loss import target_loss
from taskneurons.tuning import NeuronTuner
from taskneurons.tuning.master import MasterWeights

LLAMA2_7B = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, rms_norm_eps=1e-5)
SMALL = dict(LLAMA2_7B, hidden_size=64, intermediate_size=172, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=4)
LABELS = ("World", "Sports", "Business", "Science or Technology")


def build(small: bool, device: str, dtype: torch.dtype) -> LoadedModel:
    config = AutoConfig.for_model("llama", **(SMALL if small else LLAMA2_7B))
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    tokenizer = tiny_tokenizer()  # byte-level: every id < 259 is a valid Llama id; the text is random anyway
    return LoadedModel(model.eval(), tokenizer, "llama-2-7b (random)" if not small else "small llama (random)", FFN(model))


def measured(fn, repeats: int, device: str) -> dict:
    """Median seconds of ``fn`` over ``repeats`` runs after one warm-up, and its peak memory above the start."""
    cuda = device.startswith("cuda")
    fn()
    times = []
    gc.collect()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() if cuda else 0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() - base) if cuda else None
    return {"seconds": statistics.median(times), "peak_bytes": peak}


def run(small: bool, batch: int, length: int, repeats: int, device: str) -> dict:
    lm = build(small, device, torch.bfloat16 if device.startswith("cuda") else torch.float32)
    g = torch.Generator().manual_seed(0)
    text = lambda i: "".join(chr(97 + int(c)) for c in torch.randint(0, 26, (length - 8,), generator=g))  # noqa: E731
    examples = [Example(f"{text(i)} Topic:", LABELS[i % len(LABELS)]) for i in range(batch)]
    inputs = {k: v.to(lm.device) for k, v in training_batch(lm.tokenizer, examples, length, padding_side="left").items()}
    labels = max(len(lm.tokenizer(label, add_special_tokens=False)["input_ids"]) for label in LABELS)
    targets = int((inputs["labels"] != -100).sum(1).max())
    results = {}

    def plan(work, **extra):
        return estimate(lm.model, work, batch, length, n_labels=len(LABELS), label_tokens=labels, target_tokens=targets,
                        **extra)

    with torch.no_grad():
        results["forward (no grad)"] = measured(lambda: lm.model(input_ids=inputs["input_ids"],
                                                                 attention_mask=inputs["attention_mask"]), repeats, device)
    results["scoring"] = {**measured(lambda: score_neurons(lm, examples, tokens="all", batch_size=batch,
                                                           max_length=length, progress=False), repeats, device),
                          "plan": plan("score")}
    lm.model.train()
    with NeuronTuner(lm, NeuronSet.random(lm.ffn, 10)) as tuner:
        adamw = torch.optim.AdamW(tuner.parameters(), lr=1e-5)

        def tuner_step():
            target_loss(lm.model, inputs, reduction="mean").backward()
            adamw.step()
            adamw.zero_grad(set_to_none=True)
        results["neuron tuner step, k = 10%"] = {**measured(tuner_step, repeats, device), "plan": plan("train_neurons")}
    del adamw
    masters = MasterWeights(list(lm.model.parameters()))
    full = torch.optim.AdamW(masters.optimized(), lr=1e-5)

    def full_step():
        target_loss(lm.model, inputs, reduction="mean").backward()
        masters.take_grads()
        full.step()
        full.zero_grad(set_to_none=True)
        masters.put_weights()
        lm.model.zero_grad(set_to_none=True)
    results["full fine-tuning step"] = {**measured(full_step, repeats, device), "plan": plan("train")}
    del masters, full
    gc.collect()
    lm.model.eval()
    prompts = [ex.prompt for ex in examples]
    results["label ranking"] = {**measured(lambda: rank_labels(lm, prompts, LABELS, max_length=length), repeats, device),
                                "plan": plan("rank")}
    results["generation, 32 tokens"] = {**measured(lambda: generate(lm, prompts, 32, max_length=length), repeats, device),
                                        "plan": plan("generate", new_tokens=32)}
    for entry in results.values():
        if "plan" in entry:
            entry["estimated_bytes"] = entry["plan"].total - entry["plan"].parts["weights"]
            entry["plan"] = entry["plan"].describe()
    return {"model": lm.name, "device": device, "batch": batch, "length": length, "repeats": repeats,
            "parameters": sum(p.numel() for p in lm.model.parameters()), "results": results}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--small", action="store_true", help="a scaled-down config (a CPU check of the script)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    found = run(args.small, args.batch, args.length, args.repeats, args.device)
    forward = found["results"]["forward (no grad)"]["seconds"]
    print(f"{found['model']}, {found['parameters'] / 1e9:.2f}B parameters, {args.device}, batch {args.batch} x "
          f"{args.length}, median of {args.repeats}")
    print(f"{'work':<28}{'seconds':>9}{'x forward':>11}{'peak GiB':>10}{'planned GiB':>13}")
    for work, r in found["results"].items():
        peak = "-" if r["peak_bytes"] is None else f"{r['peak_bytes'] / GiB:.2f}"
        planned = f"{r['estimated_bytes'] / GiB:.2f}" if "estimated_bytes" in r else "-"
        print(f"{work:<28}{r['seconds']:>9.3f}{r['seconds'] / forward:>11.2f}{peak:>10}{planned:>13}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(found, f, indent=1)
    return found


if __name__ == "__main__":
    main()
