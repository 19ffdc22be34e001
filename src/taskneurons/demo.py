"""The demo: every capability end to end on the default model and the built-in demo tasks, offline.

Sizes are small so that the whole demo stays within minutes on a 2-core CPU; the run folder keeps every
step, so rerunning the demo resumes (and is instant once done).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .errors import TaskNeuronsError
from .models import load_model
from .report.console import console, print_table
from .io import write_json
from .tasks import list_demo_tasks, load_task
from .tasks.demo import N_TEST
from .neurons.fidelity import attribution_fidelity
from .experiments.identify import Identify, IdentifyConfig
from .experiments.kit import ExamplePlan, Settings, evaluate_plan

EVAL_MAX_LENGTH = 128
IDENTIFY_TASKS = ["rotten_tomatoes", "tweet_sentiment", "bbc_news"]


def identify_n_eval(limit: int) -> int:
    """Test examples per identify task: twice the demo's ``limit``, for an interval narrow enough to decide."""
    return 2 * limit


def identify_config(model: str, device: str, dtype: str, limit: int) -> IdentifyConfig:
    """The identify step, sized so that its average claim can be decided: an Original with something to lose
    (the paper's: the multi-task fine-tuned model; 24 examples per task, 9 steps at lr 2e-4), k = 0.5% (calibrated
    to a 135M model: a random 0.5% costs it a few points, as a random 10% costs the paper's 7B one,
    docs/identify.md), 5 random draws per task (the two-level interval's run term gets 4 degrees of freedom; 2
    gave 1), 2 importance-matched draws and the loss on 8 general-text passages (both beyond the paper) and
    ``identify_n_eval`` test examples per task."""
    return IdentifyConfig(model=model, tasks=IDENTIFY_TASKS, device=device, dtype=dtype,
                          selection={"k": 0.5, "n_score": 16}, n_eval=identify_n_eval(limit),
                          max_length=EVAL_MAX_LENGTH, random_controls=5, matched_controls=2, general_passages=8,
                          original="multitask",
                          multitask={"n_train": 24, "lr": 2e-4}, finetune=False)


def zero_shot_size(task, limit: int) -> int:
    """Test examples of the zero-shot step: identify's for its tasks (so that the Original's gain is read on the
    same examples), ``limit`` for another classification task, a third of it for a generation task."""
    if task.name in IDENTIFY_TASKS:
        return identify_n_eval(limit)
    return limit if task.kind == "classification" else max(1, limit // 3)


def print_original_gain(zero_shot: dict, identify: dict) -> None:
    """What multi-task fine-tuning taught the Original: its score against the base model's, same test examples."""
    original = identify["deactivation"]["table"]["Original"]
    console.print("the Original (multi-task fine-tuned) against the base model, same test examples: " + ", ".join(
        f"{name} {zero_shot[name]['score']:.1f} -> {score:.1f}" for name, score in original.items()))


def fidelity_check(model: str, device: str, dtype: str) -> dict:
    """The default score (|sum of g a| over every position) and the old one (mean |g a| over target positions)
    against the measured loss change of zeroing 6 neurons of each kind of the middle layer, on 8 examples."""
    lm = load_model(model, device=device, dtype=dtype)
    task = load_task(IDENTIFY_TASKS[0])
    examples = ExamplePlan.make(task, 1, 8, seed=0).draw("score", 8)
    result = attribution_fidelity(lm, examples, [lm.ffn.n_layers // 2], per_cell=6,
                                  variants=["abs_sum/all", "mean_abs/target"], max_length=EVAL_MAX_LENGTH, n_boot=200)
    rows = [[r["variant"], r["kind"], f"{r['spearman']:+.2f} [{r['spearman_ci'][0]:+.2f}, {r['spearman_ci'][1]:+.2f}]"]
            for r in result["rows"] if r["truth"] == "dataset"]
    print_table(f"Spearman with the measured loss change, layer {result['layers'][0]}, 6 neurons per kind (a small "
                f"sample: `taskneurons fidelity` for a real check)", ["score", "kind", "Spearman [95% CI]"], rows)
    return {"summary": result["summary"], "rows": rows}


def processes_check(model: str, out: Path, limit: int, device: str, dtype: str) -> dict:
    """``taskneurons eval`` of one demo task in 1 process, in 2 (each holding the whole model, scoring half the
    batches), in 2 with sharded weights (FSDP2: each holding half of every block) and in 2 under DeepSpeed ZeRO-3
    (each holding half of every parameter; when deepspeed is installed); the outcomes are gathered, so they must be
    the same, example for example."""
    import importlib.util
    import os
    import subprocess
    import sys

    runs = [(1, None), (2, None), (2, "fsdp2")] + [(2, "zero3")] * bool(importlib.util.find_spec("deepspeed"))
    found = {}
    for n, sharding in runs:
        name = f"{n} process{'es' if n > 1 else ''}{f', {sharding}' if sharding else ''}"
        path = out / f"eval_{n}_processes{f'_{sharding}' if sharding else ''}.json"
        command = ["-m", "taskneurons.cli", "eval", "--model", model, "--task", IDENTIFY_TASKS[0], "--limit", str(limit),
                   "--device", device, "--dtype", dtype, "--out", str(path)]
        launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n)] if n > 1 else []
        env = {**os.environ, **({"TASKNEURONS_SHARDING": sharding} if sharding else {})}
        subprocess.run([sys.executable, *launcher, *command], check=True, capture_output=True, env=env)
        found[name] = json.loads(path.read_text())["results"][0]
    first = next(iter(found.values()))
    same = all(r["outcomes"] == first["outcomes"] for r in found.values())
    print_table(f"{IDENTIFY_TASKS[0]}, {limit} test examples", ["processes", "score", "seconds"],
                [[name, f"{r['score']:.1f}", f"{r['seconds']:.1f}"] for name, r in found.items()])
    console.print(f"outcomes {'identical' if same else 'DIFFERENT'} in {', '.join(found)}"
                  + ("" if len(runs) == 4 else " (ZeRO-3: pip install 'taskneurons[deepspeed]')"))
    if not same:
        raise TaskNeuronsError("a several-process evaluation differs from the 1-process one (a bug: please report it)")
    return {"identical": same, "score": first["score"], "n": first["n"], "runs": list(found)}


MIN_LIMIT = 2  # test examples per task: a paired interval needs two (as identify's n_eval)


def check_options(model: str, limit: int, device: str, dtype: str) -> None:
    """The demo's options, before step 1 runs (one line each): ``limit`` test examples per task, at least
    :data:`MIN_LIMIT`, and no step drawing more than the demo tasks' ``N_TEST``; the identify step's config is
    built, so its own checks (model, device, dtype) run too."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < MIN_LIMIT:
        raise TaskNeuronsError(f"--limit {limit}: give at least {MIN_LIMIT} test examples per task (every step's "
                               f"intervals pair two or more)")
    largest = max(limit, identify_config(model, device, dtype, limit).n_eval)
    if largest > N_TEST:
        raise TaskNeuronsError(f"--limit {limit}: a step would evaluate {largest} test examples per task, and the "
                               f"demo tasks have {N_TEST}; give a smaller --limit")


def zero_shot_scores(model: str, tasks, limit: int, device: str, dtype: str) -> dict:
    """The base model on every demo task: the test examples the experiments below evaluate (tasks.plans:
    seeded, stratified), a table, and each task's record with its outcomes."""
    lm = load_model(model, device=device, dtype=dtype)
    console.print(f"model: {lm.ffn.describe()}")
    settings = Settings(model=model, device=device, dtype=dtype, max_length=EVAL_MAX_LENGTH, max_new_tokens=24)
    scores = {}
    for t in tasks:
        plan = ExamplePlan.make(t, zero_shot_size(t, limit), 0, settings.seed)
        scores[t.name] = {"metric": t.metric, **evaluate_plan(lm, plan, settings)}
    print_table("zero-shot, test split", ["task", "metric", "score", "n"],
                [[name, r["metric"], f"{r['score']:.1f}", r["n"]] for name, r in scores.items()])
    return scores


def export_check(model: str, out: Path, device: str, dtype: str) -> dict:
    """NCFT's first-stage deltas of the continual step, written as a PEFT LoRA adapter."""
    from .export import export_lora

    deltas = out / "continual" / "demo" / "NCFT" / "stage1" / "deltas"
    adapter = export_lora(load_model(model, device=device, dtype=dtype), deltas, out / "export" / "ncft_stage1_lora")
    size = sum(p.stat().st_size for p in adapter.iterdir())
    console.print(f"wrote {adapter}/ ({size / 2 ** 20:.1f} MiB): PeftModel.from_pretrained(base, that folder)")
    return {"adapter": str(adapter), "bytes": size}


def run_demo(model: str, out: Path, limit: int = 16, device: str = "cpu", dtype: str = "float32") -> dict:
    check_options(model, limit, device, dtype)  # a bad option is one line before step 1, not after it
    start = time.perf_counter()
    seconds: dict[str, float] = {}  # each step's wall time: where the demo's minutes go

    def step(name: str, title: str, compute):
        console.rule(title)
        began = time.perf_counter()
        value = compute()
        seconds[name] = round(time.perf_counter() - began, 1)
        return value

    console.rule(f"taskneurons demo: {model}")
    tasks = [load_task(name) for name in list_demo_tasks()]
    for t in tasks:
        console.print(f"task {t.name}: {t.kind}, {', '.join(f'{s} {len(e)}' for s, e in t.splits.items())}"
                      + (f", labels {list(t.labels)}" if t.labels else ""))
    zero_shot = step("zero-shot", "1. zero-shot evaluation",
                     lambda: zero_shot_scores(model, tasks, limit, device, dtype))
    results = {"model": model, "zero_shot": {name: {k: v for k, v in r.items() if k != "outcomes"}
                                             for name, r in zero_shot.items()}}
    results["identify"] = step("identify", "2. task-specific neurons: identify, then deactivate them against "
                               "random controls", lambda: Identify(identify_config(model, device, dtype, limit),
                                                                   out / "identify")())
    print_original_gain(results["zero_shot"], results["identify"])
    results["fidelity"] = step("fidelity", "2b. does the score estimate the loss change of zeroing a neuron? "
                               "(a spot check)", lambda: fidelity_check(model, device, dtype))
    from .experiments.continual.demo import run_continual_demo
    from .experiments.generalize import run_generalize_demo

    results["generalize"] = step("generalize", "3. generalization: neuron overlap and training only the union of "
                                 "top-p% neurons", lambda: run_generalize_demo(model, out / "generalize",
                                                                                device=device, dtype=dtype))
    results["continual"] = step("continual", "4. continual learning: NCFT (train only the current task's "
                                "neurons), W-NCFT, SeqFT and EPI",
                                lambda: run_continual_demo(model, out, device=device, dtype=dtype, n_eval=limit))
    results["export"] = step("export", "5. export: NCFT's first-stage neuron deltas as a PEFT LoRA adapter (any "
                             "LoRA-serving engine)", lambda: export_check(model, out, device, dtype))
    results["processes"] = step("processes", "6. several processes (torchrun, gloo on the CPU), whole or sharded "
                                "weights: the outcomes of one",
                                lambda: processes_check(model, out / "processes", limit, device, dtype))
    results["seconds"] = seconds
    write_json(out / "results.json", results)
    from .pages import write_index

    index = write_index([out / "identify", out / "generalize", out / "continual"], out / "index.html")
    print_table("seconds per step (a resumed step takes what its cached parts leave)", list(seconds),
                [[f"{v:.0f}" for v in seconds.values()]])
    console.print(f"demo finished in {time.perf_counter() - start:.0f} s; everything is in {out}/")
    console.print(f"open the report: {index.resolve()} (each run's own page: {out}/<run>/report.html)")
    return results
