"""The experiments' common options as command-line flags, built from the config dataclass so they cannot drift.

A flag is a shorthand for ``--set KEY=VALUE``: its value is read as YAML, as ``--set`` reads it, and lands on the
same (possibly nested) key, so ``--k 2`` and ``--set selection.k=2`` give the same config. A flag exists for an
experiment only when its key is an option of that experiment's config. Each option's meaning is the help in its
field's metadata (``options.option``), shown by ``--help`` with the default.
"""
from __future__ import annotations

import argparse
import dataclasses

from .configs.options import default_of, resolve

# flag (and aliases) -> the dotted config key it sets
COMMON = {("--model",): "model", ("--tasks",): "tasks", ("--k",): "selection.k", ("--scorer",): "selection.scorer",
          ("--n-eval", "--limit"): "n_eval", ("--methods",): "methods", ("--orders",): "orders",
          ("--device",): "device", ("--dtype",): "dtype", ("--seed",): "seed", ("--batch-size",): "batch_size"}


def add_flags(parser: argparse.ArgumentParser, cls) -> None:
    """Add every common flag whose key is an option of ``cls``; its value goes to ``args.flag_values[key]``."""
    from .configs.options import meanings

    for names, key in COMMON.items():
        found = resolve(cls, key)
        if found is None:
            continue
        owner, field = found
        default = default_of(field)
        many = isinstance(default, list) or key == "tasks"
        meaning = meanings(owner)[field.name].replace("%", "%%")  # argparse formats help with %
        parser.add_argument(*names, dest=f"flag:{key}", nargs="+" if many else None, default=None,
                            metavar=field.name.upper(),
                            help=f"{meaning + '; ' if meaning else ''}sets {key} (default: {default!r})")


def flag_values(args: argparse.Namespace) -> dict:
    """The flags given, as dotted key -> value, each value read as YAML (as ``--set`` reads it)."""
    import yaml

    from .errors import TaskNeuronsError
    from .configs.files import parse

    values = {}
    for name, raw in vars(args).items():
        if name.startswith("flag:") and raw is not None:
            try:
                values[name[len("flag:"):]] = [parse(item) for item in raw] if isinstance(raw, list) else parse(raw)
            except yaml.YAMLError as e:
                raise TaskNeuronsError(f"flag for {name[5:]}: {raw!r} is not a valid YAML value "
                                       f"({str(e).splitlines()[0]})") from None
    return values


def options_epilog(cls) -> str:
    """Every option of ``cls`` (nested ones by dots) with its default and meaning, for ``--set``."""
    from .configs.options import meanings

    lines = ["options for --config and --set KEY=VALUE (nested ones by dots, values as YAML):"]
    for field in dataclasses.fields(cls):
        default = default_of(field)
        lines.append(f"  {field.name} = {default!r}  # {meanings(cls)[field.name]}")
        if dataclasses.is_dataclass(default):
            lines += [f"    {field.name}.{sub.name} = {getattr(default, sub.name)!r}  # {text}"
                      for sub, text in zip(dataclasses.fields(default), meanings(type(default)).values())]
    return "\n".join(lines)
