"""One training step on SmolLM2-135M: the neuron tuner (a random k% of every (layer, kind)) vs full fine-tuning.

Each arm runs in a fresh process. A step is what ``train()`` does per batch: forward, backward of the target-token loss, AdamW step, on a
real classification batch (``--task``).
Reported per arm: trainable parameters, median seconds over the timed steps (after one warm-up step, which also
allocates the AdamW state), and the peak memory above the loaded model and its trainable parameters: on CUDA
``max_memory_allocated``, on CPU the peak resident set size (VmHWM, reset through /proc/self/clear_refs) minus the
RSS at the start, after one no-grad forward pass (the cached weights are memory-mapped and load lazily).

    .venv/bin/python benchmarks/bench_tuner_step.py [--k 10] [--steps 5] [--batch 8] [--length 128]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ARMS = ("tuner", "full")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def run_arm(arm: str, k: float, steps: int, batch: int, length: int, task: str) -> dict:
    import torch

    from taskneurons.models import load_model
    from taskneurons.neurons import NeuronSet
    from taskneurons.tasks import load_task
    from taskneurons.tasks.batching import training_batch
    from taskneurons.tasks.loss import target_loss
    from taskneurons.tuning import NeuronTuner

    cuda = torch.cuda.is_available()
    lm = load_model("smollm2-135m", device="cuda" if cuda else "cpu")
    examples = load_task(task).split("train", batch)  # a real classification batch, as train() builds it
    inputs = {k: v.to(lm.device) for k, v in training_batch(lm.tokenizer, examples, length, padding_side="left").items()}
    with torch.no_grad():  # the cached weights are memory-mapped: touch them all before measuring
        lm.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
    if arm == "tuner":
        tuner = NeuronTuner(lm, NeuronSet.random(lm.ffn, k))
        params = list(tuner.parameters())
    else:
        params = list(lm.model.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    lm.model.train()

    gc.collect()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        base = _status_kb("VmRSS") * 1024

    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        target_loss(lm.model, inputs, reduction="mean").backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if cuda else _status_kb("VmHWM") * 1024
    return {"arm": arm, "device": "cuda" if cuda else "cpu", "trainable": sum(p.numel() for p in params),
            "total": sum(p.numel() for n, p in lm.model.named_parameters() if "neuron_delta" not in n),
            "step_s": statistics.median(times[1:]), "steps_s": times, "peak_mib": (peak - base) / 2**20,
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=float, default=10.0, help="percent of each (layer, kind) the tuner trains")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--task", default="bbc_news", help="whose training examples make the batch")
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)  # internal: run one arm, print JSON
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.k, args.steps, args.batch, args.length, args.task)))
        return

    results = {}
    for arm in ARMS:
        cmd = [sys.executable, __file__, "--arm", arm, "--k", str(args.k), "--steps", str(args.steps),
               "--batch", str(args.batch), "--length", str(args.length), "--task", args.task]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ).stdout
        results[arm] = json.loads(out.strip().splitlines()[-1])
    t, f = results["tuner"], results["full"]
    print(f"SmolLM2-135M on {t['device']} ({t['threads']} threads), batch {args.batch} x {args.length} tokens, "
          f"median of {args.steps} steps, load average {os.getloadavg()[0]:.2f}")
    print(f"{'arm':<22}{'trainable':>14}{'s/step':>10}{'peak MiB':>11}   steps (s)")
    for name, r in ((f"neuron tuner k={args.k:g}%", t), ("full fine-tuning", f)):
        steps = " ".join(f"{s:.2f}" for s in r["steps_s"])
        print(f"{name:<22}{r['trainable']:>14,}{r['step_s']:>10.2f}{r['peak_mib']:>11.0f}   {steps}")
    print(f"tuner / full: trainable {t['trainable'] / f['trainable']:.4f}, time {t['step_s'] / f['step_s']:.2f}, "
          f"peak memory {t['peak_mib'] / f['peak_mib']:.2f}")


if __name__ == "__main__":
    main()
