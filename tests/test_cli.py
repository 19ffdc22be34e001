"""The command line: tables and JSON for good input, one line and exit 2 for bad input."""
import json

from taskneurons.cli import main

from .conftest import SHARED_DATA


def test_models_list(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "gpt2" in out and "bloom" in out and "tiny-llama" in out


def test_eval_writes_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["eval", "--model", "tiny-llama", "--task", str(SHARED_DATA / "sst2"), "--limit", "4", "--out", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())["results"][0]
    assert result["task"] == "sst2" and result["n"] == 4 and result["metric"] == "accuracy"


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    cases = [
        (["tasks", "show", str(tmp_path / "missing")], "no such file or folder"),
        (["tasks", "show", "sst"], "unknown task 'sst'"),
        (["eval", "--model", "./no-model", "--task", "rotten_tomatoes"], "no such model folder"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
