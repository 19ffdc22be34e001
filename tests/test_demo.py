"""The demo end to end on a tiny model: every part runs, and its parts evaluate the same test examples."""
from taskneurons.experiments.demo import run_demo


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
    assert (tmp_path / "index.html").is_file() and all((tmp_path / part / "report.html").is_file()
                                                       for part in ("identify", "generalize", "continual"))
