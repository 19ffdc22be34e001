"""The public API: each name's docstring says its arguments, what it returns and shows an example, and every
example runs as written (doctest, on the tiny model and a built-in task; an experiment's example builds its
config, whose run the experiment tests cover; the experiments' Args and Returns are those of ``Experiment``)."""
import doctest

import pytest

import taskneurons
from taskneurons.experiments.experiment import Experiment

NAMES = ["load_model", "load_task", "evaluate", "score_neurons", "NeuronSet", "deactivate", "NeuronTuner", "train",
         "Identify", "Generalize", "Continual"]


@pytest.mark.parametrize("name", NAMES)
def test_docstring_says_args_returns_and_an_example_that_runs(name, tmp_path, monkeypatch):
    obj = getattr(taskneurons, name)
    shared = isinstance(obj, type) and issubclass(obj, Experiment)  # an experiment's Args, Returns: Experiment's
    text = (obj.__doc__ or "") + (Experiment.__doc__ if shared else "")
    assert "Args:" in text and "Example:" in text and ("Returns:" in text or isinstance(obj, type)), name
    monkeypatch.chdir(tmp_path)  # where an example would write
    tests = doctest.DocTestFinder(recurse=False).find(obj, name, globs={})
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    found = runner.summarize(verbose=False)
    assert found.attempted >= 2 and found.failed == 0, found
