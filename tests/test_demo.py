"""The demo end to end on a tiny model: every part runs, and its parts evaluate the same test examples."""
from taskneurons.experiments.demo import run_demo


def test_the_demo_runs_and_its_zero_shot_scores_are_identifys_original(tmp_path):
    results = run_demo("tiny-llama", tmp_path, limit=4)
    original = results["identify"]["deactivation"]["table"]["Original"]
    for name, score in original.items():  # the base model on the same seeded, stratified test examples
        assert results["zero_shot"][name]["score"] == score and results["zero_shot"][name]["n"] == 4
    assert {"identify", "fidelity", "generalize", "continual"} <= set(results) and (tmp_path / "results.json").is_file()
    assert "specificity" in results["identify"]["deactivation"]  # the demo runs the full cross-task matrix
    assert (tmp_path / "export" / "ncft_stage1_lora" / "adapter_config.json").is_file()
    assert results["processes"]["identical"] and results["processes"]["n"] == 4  # 2 processes, the same outcomes
    assert (tmp_path / "index.html").is_file() and all((tmp_path / part / "report.html").is_file()
                                                       for part in ("identify", "generalize", "continual"))
