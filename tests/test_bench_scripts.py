"""The GPU scale check's script, on a scaled-down config on the CPU: every measurement runs and has its plan."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_scale_check_runs_scaled_down_on_the_cpu(tmp_path):
    found = _script("bench_gpu_scale").main(["--small", "--batch", "2", "--length", "32", "--repeats", "1",
                                             "--device", "cpu", "--out", str(tmp_path / "scale.json")])
    works = found["results"]
    assert list(works) == ["forward (no grad)", "scoring", "neuron tuner step, k = 10%", "full fine-tuning step",
                           "label ranking", "generation, 32 tokens"]
    assert all(r["seconds"] > 0 for r in works.values()) and all("estimated_bytes" in r for w, r in works.items()
                                                                 if w != "forward (no grad)")
    assert (tmp_path / "scale.json").is_file()


def test_the_sharded_training_check_runs_scaled_down_in_two_cpu_processes(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TASKNEURONS_SHARDING": "fsdp2"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(BENCHMARKS / "bench_sharded.py"), "--small", "--device", "cpu", "--batch", "4",
                           "--length", "32", "--out", str(tmp_path / "sharded.json")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = json.loads((tmp_path / "sharded.json").read_text())["ranks"]
    assert [r["processes"] for r in ranks] == [2, 2]
    for work in ("neuron tuner, k=10%", "full fine-tuning"):  # both processes took the same steps
        assert ranks[0][work]["losses"] == ranks[1][work]["losses"] and len(ranks[0][work]["losses"]) == 2
        assert "gathered blocks" in ranks[0][work]["plan"]


def test_the_ncft_forgetting_diagnosis_leaves_out_nothing_when_the_stages_share_no_neuron(tmp_path):
    from taskneurons.experiments.continual import Continual, ContinualConfig

    from .test_continual import SEQ, TINY

    options = {**TINY, "orders": [SEQ], "reference": None, "eval_method": "rank",
               "methods": [{"method": "ncft", "label": "NCFT", "exclude_claimed": True}]}
    Continual(ContinualConfig(**options), tmp_path / "run", progress=False)()
    found = _script("diagnose_ncft_forgetting").main(["--run", str(tmp_path / "run"), "--batch-size", "2"])
    [pair] = found["pairs"]  # two tasks: the first, when the second is merged
    assert pair["stage"] == 2 and pair["share_retrained"] == 0.0 and pair["change"]["n"] == TINY["n_eval"]
    assert pair["change_without_overlap"]["mean"] == pair["change"]["mean"] != 0
    assert (tmp_path / "run" / "ncft_forgetting.custom1.NCFT.md").is_file()
    assert sum(pair["answers"].values()) == 100.0


def test_the_diagnosis_sorts_answers_into_own_later_other_and_none(monkeypatch):
    from types import SimpleNamespace

    script = _script("diagnose_ncft_forgetting")
    answers = iter(["Yes.", "positive", "x", "maybe", " NO"])  # one per prompt, in order
    monkeypatch.setattr(script, "generate", lambda lm, prompts, max_new_tokens, max_length: [next(answers) for _ in prompts])
    lm = SimpleNamespace(tokenizer=lambda text, add_special_tokens: {"input_ids": text.split()})
    tasks = [SimpleNamespace(labels=labels) for labels in (["yes", "no"], ["x"], ["positive", "negative"])]
    examples = [SimpleNamespace(prompt=str(n)) for n in range(5)]
    got = script.answer_kinds(lm, examples, tasks, i=0, j=2, batch_size=2, max_length=16)
    assert got == {"own": 40.0, "stage": 20.0, "other": 20.0, "none": 20.0}


def test_comparing_two_runs_gives_the_differences_of_their_aa_and_bwt(tmp_path):
    import json

    from taskneurons.experiments.continual import Continual, ContinualConfig

    from .test_continual import SEQ, TINY

    options = {**TINY, "orders": [SEQ], "reference": None, "eval_method": "rank",
               "methods": [{"method": "ncft", "label": "NCFT"}, {"method": "ncft", "label": "NCFT-50", "selection": {"k": 50}}]}
    Continual(ContinualConfig(**options), tmp_path / "run", progress=False)()
    run = tmp_path / "run"
    found = _script("compare_continual_runs").main([f"{run}:NCFT-50", f"{run}:NCFT"])
    summary = json.loads((run / "results.json").read_text())["by_evaluation"]["rank"]["summary"]
    for gap, metric in (("aa_gap", "average_accuracy"), ("bwt_gap", "backward_transfer")):
        expected = summary["NCFT-50"][metric][0] - summary["NCFT"][metric][0]
        assert abs(found[gap]["mean"] - expected) < 1e-9, (gap, found[gap], expected)
    assert _script("compare_continual_runs").main([f"{run}:NCFT", f"{run}:NCFT"])["aa_gap"]["mean"] == 0


def test_two_runs_of_one_setting_combine_into_the_run_of_both_orders(tmp_path):
    import json

    from taskneurons.experiments.continual import Continual, ContinualConfig

    from .test_continual import SEQ, TINY

    orders = [{"name": "order1", "tasks": SEQ}, {"name": "order2", "tasks": SEQ[::-1]}]
    options = {**TINY, "reference": None, "eval_method": "rank", "methods": ["ncft", "seqft"]}
    for name, chosen in (("both", orders), ("first", orders[:1]), ("second", orders[1:])):
        Continual(ContinualConfig(**options, orders=chosen), tmp_path / name, progress=False)()
    _script("bench_continual").main(["--combine", str(tmp_path / "first"), str(tmp_path / "second"),
                                     "--out", str(tmp_path / "combined")])
    combined = json.loads((tmp_path / "combined" / "combined.json").read_text())
    both = json.loads((tmp_path / "both" / "results.json").read_text())
    assert combined["by_evaluation"] == both["by_evaluation"]
    text = (tmp_path / "combined" / "benchmark.md").read_text()
    assert "NCFT's AA above SeqFT's" in text and "of 2 task(s) in 2 run(s) (2 order(s) x 1 training seed(s)) (two-level" in text


def test_combining_a_folder_without_results_is_one_line_and_exit_2(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit) as stop:
        _script("bench_continual").main(["--combine", str(tmp_path / "none"), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2 and not (tmp_path / "out").exists()
    assert capsys.readouterr().err == f"error: {tmp_path / 'none'} has no results.json: combine finished continual runs\n"


def test_the_answers_diagnosis_retrains_the_similarity_model_as_the_run_did(tmp_path):
    from taskneurons.experiments.generalize import Generalize

    from .test_generalize import _config

    config = _config(groups=[{"name": "g", "train": ["amazon_yang"], "ood": ["sst2_yang", "tweetqa"]}], sweep=False,
                     zero_shot=False, single_task=False, ablation=False, full_training={"n_train": 8, "lr": 3e-2})
    results = Generalize(config, tmp_path / "run", progress=False)()
    found = _script("diagnose_generalize_answers").main(["--run", str(tmp_path / "run"), "--model-task", "amazon_yang",
                                                          "--test", "sst2_yang"])
    # the same examples, seed and settings: the fine-tuned model scores what the run's did, and training changed it
    assert found["scores"]["finetuned"] == results["similarity"]["models"]["amazon_yang"]["scores"]["sst2_yang"]
    assert found["base"] != found["finetuned"] and len(found["finetuned"]) == config.n_eval
    assert (tmp_path / "run" / "answers.amazon_yang.sst2_yang.json").is_file()


def test_the_answers_diagnosis_describes_texts_by_hand():
    described = _script("diagnose_generalize_answers").describe(["Who won?", "", "the cat sat", "why not ?"])
    assert described == {"questions_percent": 50.0, "empty_percent": 25.0, "mean_words": 8 / 4}


def test_the_fidelity_benchmark_keeps_what_it_computed_with_the_same_settings(tmp_path, monkeypatch):
    import json

    bench = _script("bench_attribution_fidelity")
    args = ["--models", "tiny-llama", "--tasks", "amazon_yang", "--n", "4", "--per-cell", "3", "--max-length", "32",
            "--out", str(tmp_path / "f.json")]
    bench.main(args)
    first = json.loads((tmp_path / "f.json").read_text())["tiny-llama/amazon_yang"]
    assert first["per_cell"] == 3 and first["settings"]["max_length"] == 32

    def no_more_work(*a, **k):
        raise AssertionError("a kept (model, task) was computed again")
    real = bench.attribution_fidelity
    monkeypatch.setattr(bench, "attribution_fidelity", no_more_work)
    bench.main(args)  # the same settings: kept
    monkeypatch.setattr(bench, "attribution_fidelity", real)
    bench.main([*args, "--per-cell", "4"])  # other settings (the last --per-cell counts): computed again
    assert json.loads((tmp_path / "f.json").read_text())["tiny-llama/amazon_yang"]["per_cell"] == 4
