"""A rerun rewrites nothing that differs (results.json byte for byte), and a run killed near its end and resumed
writes the uninterrupted run's results (but for measured training times), for identify, generalize and continual
(tiny configs of their own tests)."""
import json

import pytest

from taskneurons.experiments.continual import Continual
from taskneurons.experiments.generalize import Generalize
from taskneurons.experiments.identify import Identify
from taskneurons.runs import Run

from .test_continual import config as continual_config
from .test_generalize import _config as generalize_config
from .test_identify import _config as identify_config

EXPERIMENTS = {
    "identify": lambda out: Identify(identify_config(finetune_matrix=False, finetune_seeds=1, random_controls=1,
                                                     finetune_random_controls=1), out, progress=False),
    "generalize": lambda out: Generalize(generalize_config(single_task=False, ablation=False, proportions=[50]), out,
                                         progress=False),
    "continual": lambda out: Continual(continual_config(methods=["seqft", "ncft"], reference="diagonal"), out,
                                       progress=False),
}


MEASURED = {"seconds", "seconds_per_step"}  # wall-clock times of a training: a property of the session that ran it


def without_times(value):
    """``value`` (parsed results.json) without the measured times."""
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in MEASURED}
    return [without_times(v) for v in value] if isinstance(value, list) else value


def steps_done(out) -> int:
    return len(list((out / "steps").glob("*.json"))) if (out / "steps").is_dir() else 0


def killed_before_steps(monkeypatch, numbers: set[int]) -> None:
    """Interrupt (as Ctrl-C does) each time the folder is about to get its n-th step, n in ``numbers``: once each."""
    real_step, killed = Run.step, set()

    def step(self, key, compute):
        number = steps_done(self.out) + 1
        if not self.has(key) and number in numbers - killed:
            killed.add(number)
            raise KeyboardInterrupt
        return real_step(self, key, compute)

    monkeypatch.setattr(Run, "step", step)


@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_a_rerun_of_a_finished_run_rewrites_the_same_results(experiment, tmp_path):
    make = EXPERIMENTS[experiment]
    make(tmp_path)()
    first = (tmp_path / "results.json").read_bytes()
    lengths = {task: plan["lengths"] for task, plan in json.loads(first)["examples"].items()}
    assert any(lengths.values())  # the target lengths are recorded...
    make(tmp_path)()
    assert (tmp_path / "results.json").read_bytes() == first  # ...and kept by a run that computed nothing


@pytest.mark.parametrize("experiment", list(EXPERIMENTS))
def test_a_run_killed_near_its_end_and_resumed_writes_the_uninterrupted_results(experiment, tmp_path, monkeypatch):
    make = EXPERIMENTS[experiment]
    make(tmp_path / "whole")()
    total = steps_done(tmp_path / "whole")
    killed_before_steps(monkeypatch, {total - 2, total})  # two sessions killed, the third finishes
    for _ in range(3):
        try:
            make(tmp_path / "killed")()
            break
        except KeyboardInterrupt:
            continue
    assert steps_done(tmp_path / "killed") == total
    resumed, whole = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("killed", "whole"))
    assert without_times(resumed) == without_times(whole)
