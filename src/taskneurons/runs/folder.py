"""A run folder: the resolved config, one JSON file per finished step (so a rerun resumes), artifacts, plots.

A step is anything worth not redoing (an evaluation, a training); its result is written atomically when it
finishes, so an interrupted run loses at most the step in progress. ``run.json`` says what the folder holds
(the experiment, its state, the code version, the wall time summed over its sessions), so that ``taskneurons
runs`` and the HTML report can tell a finished run from one to resume.
"""
from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from .. import processes
from ..errors import TaskNeuronsError
from ..io import load_yaml, write_json, write_text
from .state import (code_version, config_differences, first_line, lock, read_folder_file, read_state, record_ending,
                    sigterm_interrupts)


class Run:
    """One run folder. ``tasks``: the loaded tasks the run reads, whose data fingerprints the folder records
    (with the model's weights, :meth:`load_model`), so that a resumed run on changed inputs is refused."""

    def __init__(self, out: Path, config: dict, experiment: str, tasks=(), defaults: dict | None = None,
                 tuned_k: float | None = None):
        """``defaults``: the config class's defaults (:func:`option_defaults`): a folder made before an option
        existed resumes when the option is at its default (the run computes what it computed then). ``tuned_k``:
        the largest percent of neurons the run trains through the neuron tuner (None: none), for the memory plan."""
        self.out = Path(out)
        self._defaults, self.tuned_k = defaults or {}, tuned_k
        self.config, self.experiment = config, experiment
        self._lock, problem, self._planned = None, None, False
        if processes.is_main():  # of several processes of one run, the main one holds the folder for all
            try:
                self._lock = lock(self.out)  # held while this object lives: one run per folder
                self._check_config(config)
            except TaskNeuronsError as e:
                problem = str(e)
        problem = processes.broadcast(problem)
        if problem:
            raise TaskNeuronsError(problem)
        self.check_inputs({f"data of task {t.name}": t.fingerprint() for t in tasks})

    def _check_config(self, config: dict) -> None:
        """Write config.yaml in a new folder; in an existing one, refuse another config."""
        saved = self.out / "config.yaml"
        if saved.is_file():
            previous = read_folder_file(saved, load_yaml, "move the folder aside or choose another --out")
            if not isinstance(previous, dict):
                raise TaskNeuronsError(f"run folder {self.out}: config.yaml is not a mapping of options (damaged?); "
                                       f"move the folder aside or choose another --out")
            if previous != config:
                changed = config_differences(previous, config, self._defaults)
                if changed:
                    raise TaskNeuronsError(f"run folder {self.out} was made with another config (differs in "
                                           f"{', '.join(changed)}); rerun with the same config to resume, or choose "
                                           f"another --out")
                write_text(saved, yaml.safe_dump(config, sort_keys=False))  # the options added since, at their defaults
        else:
            write_text(saved, yaml.safe_dump(config, sort_keys=False))

    def check_inputs(self, fingerprints: dict[str, str]) -> None:
        """Record in ``inputs.json`` the fingerprint of each input seen for the first time; refuse, before any
        cached step is reused, an input whose fingerprint changed since (edited data, other weights)."""
        path = self.out / "inputs.json"
        recorded = read_folder_file(path, json.loads, "delete it to record the inputs again") if path.is_file() else {}
        changed = [f"{name} (fingerprint {recorded[name]}, now {value})" for name, value in fingerprints.items()
                   if recorded.get(name, value) != value]
        if changed:
            raise TaskNeuronsError(f"run folder {self.out} was made on other inputs: {'; '.join(changed)}; its cached "
                                   f"steps are not this input's: choose another --out, or delete the folder to start over")
        if any(name not in recorded for name in fingerprints):
            write_json(path, {**recorded, **fingerprints})

    def load_model(self):
        """The run's model (config keys model, device, dtype), its weights checked against the folder's record."""
        from ..models import load_model, memory
        from ..neurons.fingerprint import model_fingerprint
        from ..report.console import console

        lm = load_model(self.config["model"], device=self.config["device"], dtype=self.config["dtype"])
        self.check_inputs({f"weights of model {lm.name}": model_fingerprint(lm)})
        if not self._planned:
            console.print(memory.summary(lm.model, self.config["batch_size"], self.config["max_length"], self.tuned_k))
            self._planned = True
        return lm

    def path(self, *parts: str) -> Path:
        p = self.out.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def _file(self, key: str) -> Path:
        return self.out / "steps" / (re.sub(r"[^A-Za-z0-9_.=-]+", "_", key) + ".json")

    def has(self, key: str) -> bool:
        """Whether step ``key`` is finished (as the main process sees it: every process takes the same path)."""
        return processes.broadcast(self._file(key).is_file())

    def load(self, key: str) -> dict:
        """The result of the finished step ``key`` (an error naming the step when it is not)."""
        if not self.has(key):
            raise TaskNeuronsError(f"run folder {self.out}: step {key!r} has no result; rerun the experiment")
        return read_folder_file(self._file(key), json.loads, "delete that file to compute the step again")

    def step(self, key: str, compute: Callable[[], dict]) -> dict:
        """The cached result of step ``key``, computing and saving it first if this run has not done it yet."""
        if self.has(key):
            return self.load(key)
        result = compute()
        write_json(self.path("steps", self._file(key).name), result)
        processes.barrier()  # written before any process can look for it
        return result

    # --- what the folder holds --------------------------------------------------------------------------
    def state(self) -> dict:
        return read_state(self.out)

    def complete(self, compute: Callable[[], dict], write_page: Callable[[Path], Path]) -> dict:
        """The experiment's ``compute`` (which writes results.json and summary.md), then its report page
        (``write_page(out)``), while :meth:`recording`: the run is finished only once every file of
        :data:`RUN_FILES` exists."""
        from ..report.console import console

        with self.recording(promised=RUN_FILES):
            results = compute()
            page = write_page(self.out)
        console.print(f"wrote {self.out}/results.json, summary.md, plots/ and {page}")
        return results

    @contextmanager
    def recording(self, promised: tuple[str, ...] = ()) -> Iterator[None]:
        """Mark the run running while the body works; then finished, when every ``promised`` file of the folder
        exists (else failed, naming the missing ones); failed with the error's line; or interrupted (Ctrl-C, or
        SIGTERM: a launcher stopping the other processes when one dies, a scheduler's time limit, ``kill``).
        Adds this session's wall time to the folder's."""
        before = self.state()
        wall, started = before.get("wall_s", 0.0), time.time()
        state = {"experiment": self.experiment, "version": code_version(), "pid": os.getpid(),
                 "host": socket.gethostname(), "first_started": before.get("first_started", started),
                 "started": started, "sessions": before.get("sessions", 0) + 1}

        def ended(**fields) -> dict:
            return {**state, **fields, "wall_s": wall + time.time() - started}

        write_json(self.out / "run.json", {**state, "state": "running", "wall_s": wall})
        try:
            with sigterm_interrupts():
                yield
            missing = processes.broadcast([name for name in promised if not (self.out / name).is_file()])
            if missing:
                raise TaskNeuronsError(f"run folder {self.out}: {', '.join(missing)} not written; rerun the same "
                                       f"command to write them (every finished step is kept)")
        except BaseException as e:
            failed = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
            record_ending(self.out, ended(state=failed, error=first_line(e)))
            raise
        write_json(self.out / "run.json", ended(state="finished", finished=time.time()))


RUN_FILES = ("results.json", "summary.md", "report.html")  # what a finished experiment's folder holds
