"""The memory planner (models/memory.py) against measured peaks: for each work (label ranking, scoring, a full
fine-tuning step, a neuron-tuner step at k = 10%), the peak above the loaded model, measured in a fresh process
(on CUDA ``max_memory_allocated``; on the CPU the peak resident set, VmHWM reset through /proc/self/clear_refs,
minus the RSS after a no-grad forward pass has touched the memory-mapped weights), beside the estimate less the
weights.

    .venv/bin/python benchmarks/bench_memory.py [--models smollm2-135m gemma3-270m] [--batch 8] [--length 128]
        [--out runs/bench_memory.json]
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from taskneurons.io import write_json

WORKS = {"rank": "label ranking", "score": "scoring (Eq. 3, all positions)", "train": "full fine-tuning step (AdamW)",
         "train_neurons": "neuron-tuner step, k = 10%"}

CHILD = """
import gc, json, sys
from pathlib import Path
import torch
from taskneurons.models import load_model
from taskneurons.models.memory import estimate
from taskneurons.neurons import NeuronSet, score_neurons
from taskneurons.tasks import load_task
from taskneurons.tasks.batching import training_batch
from taskneurons.tasks.loss import target_loss
from taskneurons.tuning import NeuronTuner
from taskneurons.evaluation.predict import rank_labels

model, work, batch, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
status = lambda key: int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) * 1024
cuda = torch.cuda.is_available()
lm = load_model(model, device="cuda" if cuda else "cpu")
task = load_task("agnews")
examples = task.split("train")[:batch]
inputs = {k: v.to(lm.device) for k, v in training_batch(lm.tokenizer, examples, length, padding_side="left").items()}
with torch.no_grad():
    lm.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
targets = int((inputs["labels"][:, 1:] != -100).sum(1).max())
labels = max(len(lm.tokenizer(l, add_special_tokens=False)["input_ids"]) for l in task.labels)
plan = estimate(lm.model, work, batch, length, n_labels=len(task.labels), label_tokens=labels, target_tokens=targets)
if work in ("train", "train_neurons"):
    if work == "train_neurons":
        params = list(NeuronTuner(lm, NeuronSet.random(lm.ffn, 10)).parameters())
    else:
        params = list(lm.model.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    lm.model.train()
gc.collect()
if cuda:
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
else:
    Path("/proc/self/clear_refs").write_text("5"); base = status("VmRSS")
if work == "rank":
    rank_labels(lm, [ex.prompt for ex in examples], task.labels, max_length=length)
elif work == "score":
    score_neurons(lm, examples, tokens="all", batch_size=batch, max_length=length, progress=False)
else:
    for _ in range(2):
        target_loss(lm.model, inputs, reduction="mean").backward(); optimizer.step(); optimizer.zero_grad(set_to_none=True)
peak = torch.cuda.max_memory_allocated() if cuda else status("VmHWM")
print(json.dumps({"measured": peak - base, "estimated": plan.total - plan.parts["weights"], "plan": plan.describe(),
                  "device": "cuda (max_memory_allocated)" if cuda else "cpu (peak resident set)"}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--out", default=None, help="also write the rows as JSON (an evidence file)")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    print(f"{'model':<14}{'work':<15}{'measured MiB':>14}{'estimated MiB':>15}{'ratio':>8}")
    rows, failed = [], []
    for model in args.models:
        for work, label in WORKS.items():
            done = subprocess.run([sys.executable, "-c", CHILD, model, work, str(args.batch), str(args.length)],
                                  capture_output=True, text=True, cwd=root)
            if done.returncode:
                reason = done.stderr.strip().splitlines()[-1]
                failed.append(f"{model} {work}: {reason}")
                print(f"{model:<14}{work:<15} failed: {reason}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"model": model, "work": work, "label": label, **r})
            print(f"{model:<14}{work:<15}{r['measured'] / 2**20:>14.0f}{r['estimated'] / 2**20:>15.0f}"
                  f"{r['estimated'] / max(1, r['measured']):>8.2f}")
    print(json.dumps(rows, indent=1))
    if args.out:
        write_json(Path(args.out), {"batch": args.batch, "length": args.length, "rows": rows, "failed": failed})


if __name__ == "__main__":
    main()
