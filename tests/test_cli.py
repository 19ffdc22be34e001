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


# --- names answered at once, before torch is imported (issue 24) ------------------------------------------------
FIRST_IMPORTS = """
import sys
from taskneurons.cli import main
code = main(sys.argv[1:])
print("heavy:", sorted(m for m in ("torch", "transformers", "datasets") if m in sys.modules))
sys.exit(code)
"""


def _refused(argv: list[str]) -> tuple[str, float]:
    """(stderr, seconds) of the command in a fresh interpreter, which must exit 2 without importing torch."""
    import subprocess
    import sys
    import time

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", FIRST_IMPORTS, *argv], capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    assert done.returncode == 2 and "heavy: []" in done.stdout, (done.stdout, done.stderr)
    return done.stderr, seconds


def test_a_model_or_task_name_typo_is_answered_before_torch_is_imported(tmp_path):
    sst2 = str(SHARED_DATA / "sst2")
    cases = [(["eval", "--model", "tiny-lama", "--task", sst2], "--model='tiny-lama' is not a built-in model "
                                                                "(did you mean 'tiny-llama'?)"),
             (["eval", "--model", "tiny-llama", "--task", "sst"], "unknown task 'sst' (did you mean 'sst2'?)"),
             (["identify", "--model", "tiny-lama", "--out", str(tmp_path / "r")], "option model='tiny-lama' is not"),
             (["identify", "--set", "model=tiny-lama", "--out", str(tmp_path / "r")], "option model='tiny-lama' is not"),
             (["identify", "--tasks", "sst2", "sst", "--out", str(tmp_path / "r")], "unknown task 'sst'"),
             (["continual", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "r")], "no such model folder"),
             (["fidelity", "--model", "tiny-llama", "--task", str(tmp_path / "none.jsonl")], "no such file or folder"),
             (["eval", "--model", "tiny-llama", "--task", "hf:parquet"], "hf:parquet: the parquet builder reads the "
                                                                          "files it is given")]
    for argv, message in cases:
        err, seconds = _refused(argv)
        assert message in err and len(err.splitlines()) == 1, (argv, err)
        assert seconds < 5, (argv, seconds)  # under 2 s on an idle machine; a loaded one gets some slack
    assert not (tmp_path / "r").exists()


def test_an_unknown_flag_gets_the_closest_and_a_renamed_option_its_new_name(tmp_path, capsys):
    import pytest

    def refused(argv) -> str:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
        return capsys.readouterr().err.splitlines()[-1]

    assert refused(["identify", "--n-evl", "3"]).endswith("unrecognized arguments: --n-evl 3 (did you mean '--n-eval'?)")
    assert refused(["demo", "--limt", "3"]).endswith("(did you mean '--limit'?)")
    assert refused(["identify", "--n-eval-generation", "3"]).endswith(
        "(n_eval_generation has no flag: --set n_eval_generation=VALUE)")
    assert "option 'random_seeds' was renamed random_controls" in refused(["identify", "--random-seeds", "3"])

    renamed = [("identify", "k: 2\n", "option 'k' was renamed selection.k; write selection: {k: ...} in YAML "
                                      "(--set selection.k=... on the command line)"),
               ("identify", "random_seeds: [0, 1, 2]\n", "option 'random_seeds' was renamed random_controls (a number "
                                                         "of draws now: [0, 1, 2] is 3)"),
               ("generalize", "n_score: 8\n", "option 'n_score' was renamed selection.n_score"),
               ("generalize", "similarity_k: 5\n", "option 'similarity_k' was renamed selection.k"),
               ("continual", "n_test: 8\n", "option 'n_test' was renamed n_eval"),
               ("continual", "n_train: 8\n", "option 'n_train' was renamed training.n_train")]
    for command, text, message in renamed:
        config = tmp_path / f"{command}.yaml"
        config.write_text(text)
        assert main([command, "--config", str(config), "--out", str(tmp_path / "r")]) == 2
        assert capsys.readouterr().err.startswith(f"error: {config}: {message}")
    assert main(["identify", "--set", "scorer=fisher", "--out", str(tmp_path / "r")]) == 2
    assert "the overrides: option 'scorer' was renamed selection.scorer" in capsys.readouterr().err
    assert main(["identify", "--set", "n_evl=3", "--out", str(tmp_path / "r")]) == 2
    assert "unknown option 'n_evl' (did you mean 'n_eval'?)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
