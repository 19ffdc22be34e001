"""What an experiment is, and the registry of experiments.

An experiment is one package under ``experiments/`` with the same files:

- ``config.py``: its options (a dataclass extending ``kit.Settings``, each field with its help), checked before
  the run folder exists;
- ``experiment.py``: an :class:`Experiment` subclass: ``Config``, ``__init__`` (tasks, example plans, the run
  folder, in that order) and :meth:`Experiment.parts` (what it computes, step by step, resumably);
- ``views.py``: what the report and ``taskneurons runs`` show of a finished run: ``claims``, ``headline``,
  ``task_cells``, ``refreshed`` (the results restated from their outcomes, and the summary written from them),
  ``sections`` (pages beyond the summary) and ``PAGE_PLOTS`` (the plots they draw); ``write`` (results.json,
  plots, summary.md).

and one line below (:func:`register_experiment`). Entries name their classes as ``"module:attribute"`` strings,
imported only when used (as lm-evaluation-harness's registry does), so ``taskneurons --help`` lists every
experiment without importing torch. ``cli.py``, ``page.py`` and ``pages.py`` iterate :data:`EXPERIMENTS`; none names an
experiment. ``docs/architecture.md`` shows a new experiment step by step.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from ..registry import Registry


def load(target: str) -> Any:
    """The object named by ``"package.module:attribute"`` (or the module itself, without ``:``)."""
    module, _, attribute = target.partition(":")
    found = importlib.import_module(module)
    return getattr(found, attribute) if attribute else found


@dataclass(frozen=True)
class Entry:
    """A registered experiment: its command name, one line of help, and where its class and views are."""

    name: str
    help: str
    experiment: str  # "module:Class" of its Experiment subclass
    views: str  # module of its views (claims, headline, task_cells, refreshed, sections, PAGE_PLOTS, write)

    def load(self) -> type[Experiment]:
        return load(self.experiment)

    def config_class(self) -> type:
        return self.load().Config

    def view(self) -> ModuleType:
        return load(self.views)


EXPERIMENTS: Registry[Entry] = Registry("experiment")


def register_experiment(name: str, help: str, experiment: str, views: str) -> Entry:
    """Add an experiment (see the module's docstring); the command ``taskneurons <name>`` runs it."""
    return EXPERIMENTS.register(Entry(name, help, experiment, views))


class Experiment:
    """``SomeExperiment(config, out)()`` runs (or resumes) every part and returns the results dict.

    A subclass sets ``Config`` and ``views`` (its module, as in its entry), and in ``__init__`` checks every input
    before it creates ``self.run`` (a ``runs.Run``) and ``self.plans`` (task name -> ``kit.ExamplePlan``); it
    names its parts in :meth:`parts`. Each part's value lands under its key of the results, and its table prints
    as soon as it is done (:meth:`record`); then :meth:`conclude` adds what needs every part, and the views write
    results.json, the plots and summary.md, and the run folder the report page.

    Args:
        config: the experiment's config (its ``Config``; every option with its help in ``taskneurons <name>
            --help``), checked when made: a bad value fails before the run folder exists.
        out: the run folder (created; a folder of the same config resumes where it stopped).
        progress: show progress bars.

    Returns:
        Called: the results dict (the schema in the experiment's ``records.py``), also written to ``out``
        (results.json, summary.md, plots/, report.html).
    """

    Config: ClassVar[type]
    views: ClassVar[str]
    version: ClassVar[int] = 1  # of its results.json layout (its records module's schema)

    config: Any
    run: Any
    plans: dict

    def __call__(self) -> dict:
        from .page import write_report  # imported when a run ends

        return self.run.complete(self.results, write_report)

    def results(self) -> dict:
        from ..report.console import console

        results = {"version": self.version, "config": asdict(self.config), **self.header()}
        for key, title, compute in self.parts():
            console.rule(title)
            self.record(results, key, title, compute())
        results["examples"] = {name: plan.to_dict() for name, plan in self.plans.items()}  # every draw made
        self.conclude(results)
        load(self.views).write(results, self.run)
        return results

    def header(self) -> dict:
        """What the results say before any part: the tasks, the methods..."""
        return {}

    def parts(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        """(results key, title, compute) of each part, in order."""
        raise NotImplementedError

    def record(self, results: dict, key: str, title: str, value: Any) -> None:
        """Put a finished part's ``value`` into the results (and print its table)."""
        results[key] = value

    def conclude(self, results: dict) -> None:
        """Add what needs every part (e.g. statistics across orders)."""


def folder_experiment(out: Path, state: dict) -> Entry:
    """The entry of the experiment that wrote run folder ``out`` (``state``: its run.json)."""
    from ..errors import TaskNeuronsError

    name = state.get("experiment")
    if name not in EXPERIMENTS:
        raise TaskNeuronsError(f"{out}: run.json names no known experiment ({name!r}; experiments: "
                               f"{', '.join(EXPERIMENTS)}); rerun its command to rewrite it")
    return EXPERIMENTS[name]


register_experiment("identify", "find task-specific neurons; deactivation and fine-tuning evidence",
                    "taskneurons.experiments.identify.experiment:Identify", "taskneurons.experiments.identify.views")
register_experiment("continual", "continual learning: NCFT, W-NCFT and the baselines on task sequences",
                    "taskneurons.experiments.continual.experiment:Continual",
                    "taskneurons.experiments.continual.views")
register_experiment("generalize", "overlap, parameter similarity and transfer of task-specific neurons",
                    "taskneurons.experiments.generalize.experiment:Generalize",
                    "taskneurons.experiments.generalize.views")
