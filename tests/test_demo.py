"""The demo end to end on a tiny model: every part runs, and its parts evaluate the same test examples."""
from taskneurons.demo import run_demo


def test_the_demo_runs_and_deactivates_a_multitask_original_against_five_random_draws(tmp_path):
    results = run_demo("tiny-llama", tmp_path, limit=4)
    identify = results["identify"]
    assert identify["config"]["original"] == "multitask"  # an Original that learnt the tasks: something to lose
    assert (tmp_path / "identify" / "original" / "model.safetensors").is_file()
    for name, n in identify["deactivation"]["n"].items():  # zero-shot on the same test examples: the Original's gain
        assert results["zero_shot"][name]["n"] == n == 8
    gap = identify["deactivation"]["gap"]["average"]  # 5 draws: the two-level interval, run term with 4 df
    assert tuple(gap["runs"]) == (1, 5) and gap["test"].startswith("two-level") and gap["n"] == 24
    assert (tmp_path / "identify" / "plots" / "score_by_layer.png").is_file()  # where the scores sit: it varies
    assert {"identify", "fidelity", "generalize", "continual"} <= set(results) and (tmp_path / "results.json").is_file()
    assert "specificity" in results["identify"]["deactivation"]  # the demo runs the full cross-task matrix
    assert (tmp_path / "export" / "ncft_stage1_lora" / "adapter_config.json").is_file()
    assert results["processes"]["identical"] and results["processes"]["n"] == 4  # 2 processes, the same outcomes
    assert list(results["seconds"]) == ["zero-shot", "identify", "fidelity", "generalize", "continual", "export",
                                        "processes"] and results["seconds"]["identify"] > 0
    assert (tmp_path / "index.html").is_file() and all((tmp_path / part / "report.html").is_file()
                                                       for part in ("identify", "generalize", "continual"))


def test_the_demos_options_are_checked_before_step_1(tmp_path, monkeypatch, capsys):
    import re

    from taskneurons.cli import main
    from taskneurons import demo

    def no_step(*args, **kwargs):
        raise AssertionError("a step ran before the options were checked")

    monkeypatch.setattr(demo, "load_model", no_step)
    cases = {"-1": r"--limit -1: give at least 2 test examples per task", "0": r"--limit 0: give at least 2",
             "1": r"--limit 1: give at least 2", "201": r"--limit 201: a step would evaluate \d+ test examples per "
                                                      r"task, and the demo tasks have 200; give a smaller --limit"}
    for limit, message in cases.items():
        assert main(["demo", "--model", "tiny-llama", "--limit", limit, "--out", str(tmp_path / "demo")]) == 2
        err = capsys.readouterr().err
        assert re.match(f"error: {message}", err) and len(err.splitlines()) == 1, err
    assert not (tmp_path / "demo").exists()
