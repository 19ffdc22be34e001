"""The ``taskneurons`` command: parses arguments, calls the Python API, prints. Bad input is one line on stderr."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import NoReturn

from . import commands, processes
from .errors import TaskNeuronsError, TaskNeuronsWarning
from .experiments.experiment import EXPERIMENTS


def _show_our_warnings() -> None:
    """Our warnings shown once each, as one line (``warning: ...``); the libraries' user and future warnings
    hidden."""
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("default", category=TaskNeuronsWarning)  # ours: shown, once each, as one line
    library_show = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if issubclass(category, TaskNeuronsWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            library_show(message, category, *args, **kwargs)

    warnings.showwarning = show


def _quiet_libraries() -> None:
    """transformers' logging and progress bars off (importing transformers takes seconds: after the name checks)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


class Parser(argparse.ArgumentParser):
    """argparse, with an unrecognized option answered by the closest right one (``registry.suggest``, as every
    wrong name is) and, for an experiment, by the option it sets or was renamed to."""

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}{self.hint(parsed, extras)}")
        return parsed

    def hint(self, parsed, extras: list[str]) -> str:
        """Where the first unrecognized ``--flag`` belongs: a flag of the command, or an option to --set."""
        from .registry import suggest

        flag = next((e.split("=")[0] for e in extras if e.startswith("--")), None)
        command = self.command_parser(parsed)
        if flag is None or command is None:
            return ""
        config, key = getattr(command, "config_class", None), flag[2:].replace("-", "_")
        if config is not None:
            from .configs.files import renamed

            if key in {f.name for f in dataclasses.fields(config)}:
                return f" ({key} has no flag: --set {key}=VALUE)"
            moved = renamed(config, key, flag)
            if moved:
                return f" ({moved})"
        return suggest(flag, [o for o in command._option_string_actions if o.startswith("--")])

    def command_parser(self, parsed):
        """The parser of the (sub)command that ``parsed`` ran, or None."""
        subparsers = [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]
        chosen = getattr(parsed, subparsers[0].dest, None) if subparsers else None
        return subparsers[0].choices.get(chosen) if chosen else None


def _add_model_args(p: argparse.ArgumentParser, default: str | None = None) -> None:
    from .models import DEFAULT_MODEL

    p.add_argument("--model", default=default or DEFAULT_MODEL, help="hub id, local folder, .gguf file, or a built-in name")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])


OTHER_MODEL = "apply a neuron set or deltas made on a model of another type on purpose (a warning, not an error)"


def cmd_experiment(args) -> None:
    from .configs.files import load_config
    from .flags import flag_values

    experiment = EXPERIMENTS[args.command].load()
    experiment(load_config(experiment.Config, args.config, args.set, flag_values(args)), Path(args.out))()


def add_experiment(sub, entry, details: bool) -> None:
    """The experiment's subcommand; with ``details`` (the command being run) its flags, built from its config
    class, and the list of every option (importing the config means importing torch: only when needed)."""
    command = entry.name
    p = sub.add_parser(command, help=entry.help, description=entry.help,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, help="YAML file of options (listed below)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one option (repeatable; nested ones by dots: selection.k=2)")
    p.add_argument("--out", default=f"runs/{command}", help="run folder (rerun the same command to resume)")
    if details:
        from .flags import add_flags, options_epilog

        config = entry.config_class()
        add_flags(p, config)
        p.config_class = config  # for Parser.hint
        p.epilog = options_epilog(config)
    p.set_defaults(func=cmd_experiment)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``argv`` (default: sys.argv) says which experiment's flags to build."""
    from .evaluation.evaluate import CLASSIFICATION_METHODS

    argv = sys.argv[1:] if argv is None else argv
    wanted = next((a for a in argv if not a.startswith("-")), None)

    parser = Parser(prog="taskneurons", description="Task-specific neurons of language models.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    models = sub.add_parser("models", help="supported model families").add_subparsers(dest="what", required=True)
    models.add_parser("list", help="list FFN-map families and built-in models").set_defaults(func=commands.cmd_models_list)

    tasks = sub.add_parser("tasks", help="inspect tasks").add_subparsers(dest="what", required=True)
    tasks.add_parser("list", help="list built-in tasks").set_defaults(func=commands.cmd_tasks_list)
    show = tasks.add_parser("show", help="counts per split, labels and one rendered prompt")
    show.add_argument("task")
    show.set_defaults(func=commands.cmd_tasks_show)

    ev = sub.add_parser("eval", help="evaluate a model on tasks")
    _add_model_args(ev)
    ev.add_argument("--task", action="append", help="task name, folder or file (repeatable)")
    ev.add_argument("--harness", nargs="+", default=None, metavar="TASK",
                    help="lm-evaluation-harness tasks, run in process on the model as it is (pip install "
                         "'taskneurons[harness]')")
    ev.add_argument("--harness-include", default=None, metavar="DIR", help="a folder of your own harness task YAMLs")
    ev.add_argument("--neurons", default=None, help="a neuron set (path) to switch off while evaluating")
    ev.add_argument("--deltas", default=None, help="neuron-tuner deltas (path) to apply while evaluating")
    ev.add_argument("--other-model", action="store_true", help=OTHER_MODEL)
    ev.add_argument("--split", default="test")
    ev.add_argument("--limit", type=int, default=None,
                    help="N examples of the split: a seeded, stratified sample (the experiments' test examples)")
    ev.add_argument("--seed", type=int, default=0, help="the sample's seed (an experiment's seed option)")
    ev.add_argument("--data-root", default=None, help="where built-in task names are folders")
    ev.add_argument("--method", default="rank", choices=list(CLASSIFICATION_METHODS),
                    help="classification: generate + exact match (the paper), or rank the labels by log-likelihood: "
                         "summed (rank), per token (rank_mean), or followed by EOS (rank_eos)")
    ev.add_argument("--batch-size", type=int, default=8)
    ev.add_argument("--out", default=None, help="write results JSON here")
    ev.set_defaults(func=commands.cmd_eval)

    for entry in EXPERIMENTS.values():
        add_experiment(sub, entry, details=entry.name == wanted)

    rep = sub.add_parser("report", help="rebuild the HTML report of finished run folders (no model needed)")
    rep.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    rep.add_argument("--index", default="runs/index.html", help="with several folders: the comparison page")
    rep.set_defaults(func=commands.cmd_report)

    runs = sub.add_parser("runs", help="list run folders with their state and headline numbers")
    runs.add_argument("dir", nargs="?", default="runs")
    runs.set_defaults(func=commands.cmd_runs)

    fid = sub.add_parser("fidelity", help="spot-check how well each scoring variant estimates the loss change of "
                                          "zeroing a neuron, on your model and task")
    _add_model_args(fid)
    fid.add_argument("--task", required=True)
    fid.add_argument("--data-root", default=None)
    fid.add_argument("--n", type=int, default=24, help="examples from the task's pool")
    fid.add_argument("--per-cell", type=int, default=20, help="neurons sampled per (layer, kind)")
    fid.add_argument("--layers", type=int, nargs="+", default=None, help="default: first, middle, last")
    fid.add_argument("--variants", nargs="+", default=None, help="default: all (scorer aggregation/tokens)")
    fid.add_argument("--batch-size", type=int, default=8)
    fid.add_argument("--max-length", type=int, default=128)
    fid.add_argument("--seed", type=int, default=0)
    fid.add_argument("--out", default=None, help="write the results JSON here")
    fid.set_defaults(func=commands.cmd_fidelity)

    neurons = sub.add_parser("neurons", help="neuron sets").add_subparsers(dest="what", required=True)
    imp = neurons.add_parser("import", help="a neuron set from another tool's masks (.safetensors/.pt [layers, "
                                            "width], named inner/outer) or index lists (.json)")
    imp.add_argument("file")
    imp.add_argument("--model", required=True, help="the model the masks are for (checked against its shape)")
    imp.add_argument("--out", required=True, help="the neuron set to write (X -> X.safetensors + X.json)")
    imp.set_defaults(func=commands.cmd_neurons_import)

    exp = sub.add_parser("export", help="a standard Hugging Face checkpoint (neurons switched off and/or tuner "
                                        "deltas merged) or the deltas as a PEFT LoRA adapter")
    _add_model_args(exp)
    exp.add_argument("--neurons", default=None, help="a neuron set (path without .json) to switch off")
    exp.add_argument("--deltas", default=None, help="neuron-tuner deltas (path without .json) to merge")
    exp.add_argument("--lora", action="store_true", help="write --deltas as a LoRA adapter instead")
    exp.add_argument("--other-model", action="store_true", help=OTHER_MODEL)
    exp.add_argument("--out", required=True, help="the folder to write: a new or empty one, or an earlier export "
                                                "(replaced as a whole; a folder holding other files is refused)")
    exp.set_defaults(func=commands.cmd_export)

    demo = sub.add_parser("demo", help="everything end to end on the default model and the demo tasks")
    _add_model_args(demo)
    demo.add_argument("--limit", type=int, default=16, help="test examples per classification task")
    demo.add_argument("--out", default="runs/demo")
    demo.set_defaults(func=commands.cmd_demo)
    return parser


def check_names(argv: list[str]) -> None:
    """The model and task names of a command, checked before torch and transformers are imported (seconds), so
    that a typo is answered at once. Only exact flags are read here, and the hub is not asked about a hub id;
    the full parse and every other check come after (and check these names again)."""
    from .configs.files import config_values
    from .flags import COMMON, flag_values
    from .models.spec import check_model_name
    from .tasks.registry import check_task_name

    command = next((a for a in argv if not a.startswith("-")), None)
    if command is None or {"-h", "--help"} & set(argv):
        return
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for names, key in COMMON.items():
        if key in ("model", "tasks"):
            p.add_argument(*names, dest=f"flag:{key}", nargs="+" if key == "tasks" else None)
    for flag, action in [("--task", "append"), ("--config", None), ("--set", "append"), ("--data-root", None)]:
        p.add_argument(flag, action=action)
    try:
        args = p.parse_known_args(argv)[0]
    except argparse.ArgumentError:
        return  # the full parse says what is wrong
    if command in EXPERIMENTS:
        values = config_values(args.config, args.set, flag_values(args))
        model, tasks, root, name = values.get("model"), values.get("tasks"), values.get("data_root"), "option model"
    else:
        model, tasks, root, name = vars(args)["flag:model"], args.task, args.data_root, "--model"
    if model is not None:
        check_model_name(model, name, ask_hub=False)
    for task in tasks if isinstance(tasks, list) else []:
        if isinstance(task, str):
            check_task_name(task, root if isinstance(root, str) else None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _show_our_warnings()
    try:
        processes.check_launch()
        check_names(argv)  # before torch and transformers are imported
        args = build_parser(argv).parse_args(argv)
        _quiet_libraries()
        args.func(args)
    except TaskNeuronsError as e:
        if "--debug" in argv:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM during a run (runs.state)
        print(str(e) or "interrupted", file=sys.stderr)
        return 130
    return 0


def run() -> NoReturn:
    """The ``taskneurons`` command: :func:`main`, then the process ends with its code (``processes.end``)."""
    processes.end(main())


if __name__ == "__main__":
    run()
