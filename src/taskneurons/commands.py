"""The bodies of the ``taskneurons`` tool commands (cli.py parses; each of these calls the API and prints).

Imports are inside each function, so that ``taskneurons --help`` and ``taskneurons models list`` stay fast.
"""
from __future__ import annotations

from pathlib import Path

from .errors import TaskNeuronsError
from .io import check_output_file, write_json


def cmd_models_list(args) -> None:
    from .models import families, model_names
    from .report.console import print_table

    print_table("FFN map families", ["family", "model types (config.model_type)"],
                [[name, ", ".join(types)] for name, types in families().items()])
    print("built-in models:", ", ".join(model_names()))


def cmd_tasks_list(args) -> None:
    from .tasks import list_data_tasks, list_demo_tasks
    from .tasks.registry import data_root

    print("demo tasks:", ", ".join(list_demo_tasks()))
    print(f"tasks of the data root {data_root()} (set $TASKNEURONS_DATA or data_root):",
          ", ".join(list_data_tasks()) or "none")
    print("also: any folder, a .jsonl/.json/.csv/.parquet file, or hf:<dataset>")


def cmd_tasks_show(args) -> None:
    from .report.console import print_table
    from .tasks import load_task

    task = load_task(args.task)
    print_table(f"task {task.name} ({task.kind}, metric {task.metric})", ["split", "examples"],
                [[s, len(e)] for s, e in task.splits.items()])
    print(f"source: {task.source}")
    if task.labels:
        print("labels:", " | ".join(task.labels))
    split = task.first_split("test", "dev", "train")
    example = task.split(split)[0]
    print(f"--- one {split} prompt ---\n{example.prompt}\n--- its target ---\n{example.target}")


def cmd_eval(args) -> None:
    import contextlib

    from .evaluation import evaluate
    from .models import load_model
    from .report.console import print_table
    from .tasks import load_task

    if not args.task and not args.harness:
        raise TaskNeuronsError("eval: give --task (a taskneurons task) or --harness (lm-evaluation-harness tasks)")
    if args.limit is not None and args.limit < 1:
        raise TaskNeuronsError(f"--limit {args.limit}: give a number of examples >= 1 (or leave it out for all)")
    out = check_output_file(args.out, "--out") if args.out else None
    tasks = [load_task(t, data_root=args.data_root) for t in args.task or []]
    lm = load_model(args.model, device=args.device, dtype=args.dtype)
    results, harness = [], {}
    with contextlib.ExitStack() as stack:
        state = modified(stack, lm, args.neurons, args.deltas, args.other_model)
        for t in tasks:  # --limit: the experiments' seeded, stratified sample (evaluate's own rule)
            results.append(evaluate(lm, t, split=args.split, limit=args.limit, seed=args.seed, method=args.method,
                                    batch_size=args.batch_size))
        if args.harness:
            from .evaluation.harness import harness_evaluate

            harness = harness_evaluate(lm, args.harness, args.harness_include, args.limit, args.batch_size, args.seed)
    if results:
        print_table(f"{args.model}{state} ({args.split})", ["task", "metric", "score", "n", "method", "seconds"],
                    [[r.task, r.metric, f"{r.score:.1f}", r.n, r.method, f"{r.seconds:.1f}"] for r in results])
    if harness:
        print_table(f"{args.model}{state}: lm-evaluation-harness", ["task", "metric", "value"],
                    [[task, metric, f"{value:.4f}"] for task, metrics in harness.items() for metric, value in metrics.items()])
    if out:
        write_json(out, {"model": args.model, "neurons_off": args.neurons, "deltas": args.deltas,
                         "results": [r.to_dict() for r in results], "harness": harness})
        print(f"wrote {out}")


def modified(stack, lm, neurons: str | None, deltas: str | None, other_model: bool = False) -> str:
    """Switch ``neurons`` off and/or attach tuner ``deltas`` on ``lm`` for the stack's life; says what it did.
    The set is checked against the weights before the deltas change them."""
    from .neurons import NeuronSet, deactivate
    from .neurons.fingerprint import check_made_on, model_identity
    from .tuning import NeuronTuner

    said = []
    neuron_set = NeuronSet.load(neurons) if neurons else None
    if neuron_set:
        check_made_on(neuron_set.provenance, model_identity(lm.model, lm.ffn, lm.name), f"neuron set {neurons}", other_model)
    if deltas:
        stack.callback(NeuronTuner.load(deltas, lm, other_model=other_model).remove)
        said.append(f"tuned by {deltas}")
    if neuron_set:
        stack.enter_context(deactivate((lm.model, lm.ffn), neuron_set))
        said.append(f"neurons of {neurons} off")
    return f" ({', '.join(said)})" if said else ""


def cmd_report(args) -> None:
    from .pages import write_index, write_report

    folders = [Path(d) for d in args.run_dirs]
    if len(folders) == 1:
        print(f"wrote {write_report(folders[0])}")
    else:
        index = write_index(folders, Path(args.index))
        print(f"wrote {', '.join(str(d / 'report.html') for d in folders)} and {index}")


def cmd_runs(args) -> None:
    from .pages import list_runs
    from .report.console import print_table

    rows = list_runs(Path(args.dir))
    if not rows:
        raise TaskNeuronsError(f"no run folders (with a config.yaml) under {args.dir}")
    print_table(f"run folders under {args.dir}", ["folder", "experiment", "state", "wall time", "headline"], rows)


def cmd_fidelity(args) -> None:
    from .neurons.fidelity import VARIANTS, attribution_fidelity, fidelity_table
    from .experiments.kit import ExamplePlan
    from .models import load_model
    from .report.console import print_table
    from .tasks import load_task

    unknown = [v for v in args.variants or [] if v not in VARIANTS]
    if unknown:
        raise TaskNeuronsError(f"--variants: {unknown[0]!r} is not one of {', '.join(VARIANTS)}")
    out = check_output_file(args.out, "--out") if args.out else None
    task = load_task(args.task, data_root=args.data_root)
    lm = load_model(args.model, device=args.device, dtype=args.dtype)
    bad = [layer for layer in args.layers or [] if not 0 <= layer < lm.ffn.n_layers]
    if bad:
        raise TaskNeuronsError(f"--layers: {bad} are not layers of {args.model} (0..{lm.ffn.n_layers - 1})")
    examples = ExamplePlan.make(task, 1, args.n, seed=args.seed).draw("score", args.n)
    result = attribution_fidelity(lm, examples, args.layers, args.per_cell, args.variants, args.batch_size,
                                  args.max_length, args.seed)
    print_table(f"{args.model} on {task.name}: Spearman [95% CI] of each scoring variant with the measured loss change "
                f"of zeroing a neuron ({args.per_cell} neurons per cell, {len(examples)} examples)",
                *fidelity_table(result))
    if out:
        write_json(out, result)
        print(f"wrote {out}")


def cmd_neurons_import(args) -> None:
    from .models import load_model
    from .neurons.importing import import_neurons

    lm = load_model(args.model)
    neurons = import_neurons(Path(args.file), lm.ffn, {"model": args.model})
    print(f"wrote {neurons.save(args.out)}: {neurons}")


def cmd_export(args) -> None:
    from .export import check_export_folder, export_checkpoint, export_lora
    from .models import load_model
    from .neurons import NeuronSet

    if args.lora and not args.deltas:
        raise TaskNeuronsError("export --lora: give the tuner deltas (--deltas PATH) to write as an adapter")
    check_export_folder(args.out)  # before the model is loaded
    neurons = NeuronSet.load(args.neurons) if args.neurons else None
    lm = load_model(args.model, device=args.device, dtype=args.dtype)
    if args.lora:
        print(f"wrote the LoRA adapter {export_lora(lm, Path(args.deltas), Path(args.out), other_model=args.other_model)}")
    else:
        deltas = Path(args.deltas) if args.deltas else None
        print(f"wrote the checkpoint {export_checkpoint(lm, Path(args.out), neurons, deltas, other_model=args.other_model)}")


def cmd_demo(args) -> None:
    from .demo import run_demo

    run_demo(model=args.model, out=Path(args.out), limit=args.limit, device=args.device, dtype=args.dtype)
