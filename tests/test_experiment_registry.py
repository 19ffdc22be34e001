"""The experiment registry: every experiment is found through it, and a new one needs one file and one line."""
import json

import pytest

from taskneurons.cli import main
from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.experiment import EXPERIMENTS, Entry, Experiment
from taskneurons.pages import list_runs

from .conftest import SHARED_DATA


@pytest.fixture
def zero_shot(monkeypatch):
    """The example experiment (tests/example_experiment.py), registered for this test only."""
    entry = Entry("zero_shot", "the base model's score on each task", "tests.example_experiment:ZeroShot",
                  "tests.example_experiment")
    monkeypatch.setitem(EXPERIMENTS._items, "zero_shot", entry)
    return entry


def test_the_built_in_experiments_are_registered_lazily():
    import subprocess
    import sys

    code = ("import sys; from taskneurons.experiments.experiment import EXPERIMENTS; "
            "print(list(EXPERIMENTS), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["['identify',", "'continual',", "'generalize']", "False"]
    for entry in EXPERIMENTS.values():
        assert issubclass(entry.load(), Experiment) and entry.load().views == entry.views
        assert {"claims", "headline", "task_cells", "refreshed", "sections", "write", "PAGE_PLOTS"} <= set(dir(entry.view()))


def test_a_wrong_experiment_name_gets_the_closest_one():
    with pytest.raises(TaskNeuronsError, match="unknown experiment 'identfy' \\(did you mean 'identify'\\?\\)"):
        EXPERIMENTS["identfy"]


def test_a_registered_experiment_runs_from_the_command_line_with_its_report(zero_shot, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["zero_shot", "--model", "tiny-llama", "--tasks", "sst2", "rte", "--n-eval", "4", "--out", str(out),
            "--set", f"data_root={SHARED_DATA}"]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["scores"]) == {"sst2", "rte"} and results["scores"]["rte"]["n"] == 4
    assert sorted(results["examples"]) == ["rte", "sst2"]  # every draw, as every experiment keeps them
    page = (out / "report.html").read_text()
    assert "the base model scores above 0 on sst2" in page and "zero-shot run" in page
    (row,) = list_runs(tmp_path)
    assert row[:3] == ["run", "zero_shot", "finished"] and row[4].startswith("sst2 ")
    assert main(argv) == 0  # a rerun resumes: every step cached


def test_a_registered_experiment_has_its_flags_and_option_help(zero_shot, capsys):
    with pytest.raises(SystemExit):
        main(["zero_shot", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the base model's score on each task" in text
    assert "test examples per task; sets n_eval (default: 8)" in text and "--k" not in text


def test_a_folder_whose_run_json_names_no_experiment_is_refused_in_one_line(tmp_path):
    from taskneurons.pages import write_report

    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "run.json").write_text(json.dumps({"experiment": "nope"}))
    with pytest.raises(TaskNeuronsError, match="run.json names no known experiment \\('nope'"):
        write_report(tmp_path)


def test_the_public_names_resolve_and_importing_the_package_stays_light():
    import subprocess
    import sys

    import taskneurons

    assert all(getattr(taskneurons, name) is not None for name in taskneurons.__all__)
    assert taskneurons.Identify is EXPERIMENTS["identify"].load()
    code = "import sys, taskneurons; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        taskneurons.nope
