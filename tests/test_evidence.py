"""The docs' evidence tables: generated from evidence/, in step with it, statistics recomputed from outcomes."""
import json

from .test_bench_scripts import _script
from .test_identify import _config


def test_the_docs_tables_agree_with_the_evidence_kept_in_the_repository():
    assert _script("evidence_tables").main(["--check"]) == 0


def test_a_stale_table_is_named_by_check_and_rewritten(tmp_path, monkeypatch, capsys):
    tables = _script("evidence_tables")
    docs = tmp_path / "docs"
    docs.mkdir()
    (tmp_path / "README.md").write_text("")
    (tmp_path / "evidence" / "calibration").mkdir(parents=True)
    row = {"spread": 5, "design": "3v3", "tasks": 1, "noise": 0.1,
           "two_level": {"false": 0.05, "power_5": 0.1, "power_10": 0.4},
           "examples_only": {"false": 0.5, "power_5": 0.7, "power_10": 0.9}}
    (tmp_path / "evidence" / "calibration" / "b.json").write_text(json.dumps({"replicates": 3, "n_examples": 200,
                                                                             "rows": [row]}))
    page = docs / "page.md"
    page.write_text("before\n<!-- evidence: calibration/b.json calibration -->\nold\n<!-- /evidence -->\nafter\n")
    monkeypatch.setattr(tables, "ROOT", tmp_path)
    assert tables.main(["--check"]) == 1 and "out of date: docs/page.md: calibration/b.json" in capsys.readouterr().out
    assert tables.main([]) == 0 and tables.main(["--check"]) == 0
    text = page.read_text()
    assert text.startswith("before\n") and text.endswith("<!-- /evidence -->\nafter\n") and "old" not in text
    assert "| 3v3 | 1 | 0.1 | 5 | 0.050 | 0.100 | 0.400 | 0.500 | 0.700 | 0.900 |" in text


def test_an_identify_table_is_recomputed_from_the_run_outcomes(tmp_path):
    from taskneurons.experiments.identify import Identify

    Identify(_config(finetune=False), tmp_path, progress=False)()
    results = json.loads((tmp_path / "results.json").read_text())
    gap = results["deactivation"]["gap"]["average"]
    results["deactivation"]["gap"]["average"] = {**gap, "mean": 99.0}  # a stale statistic is not read
    (tmp_path / "results.json").write_text(json.dumps(results))
    text = _script("evidence_tables").identify(tmp_path)
    assert f"{gap['mean']:+.1f} [{gap['low']:+.1f}, {gap['high']:+.1f}]" in text and "+99.0" not in text
    assert "Deactivate-Task lowers the score more than Deactivate-Random on average over tasks" in text


def test_a_continual_runs_table_reads_each_runs_metrics_and_its_diagonal(tmp_path):
    from taskneurons.experiments.continual.records import VERSION

    def method(matrix, aa, bwt, loss):
        found = {"matrix": matrix, "metrics": {"average_accuracy": aa, "backward_transfer": bwt}}
        return {"train": [{"general_loss": 9.0}, {"general_loss": loss}], "by_evaluation": {"generate": found}}
    order = {"tasks": ["a", "b"], "evaluation": "generate",
             "methods": {"NCFT": method([[60.0, 10.0], [None, 80.0]], 45.0, -20.0, 3.456),
                         "SeqFT": method([[90.0, 0.0], [None, 50.0]], 25.0, -90.0, 4.0)}}
    (tmp_path / "results.json").write_text(json.dumps({"version": VERSION, "methods": ["NCFT", "SeqFT"],
                                                       "orders": {"order1.seed1": order}}))
    text = _script("evidence_tables").continual_runs(tmp_path)
    assert "| order1.seed1 (a, b) | 45.0; -20.0; 70.0; 3.46 | 25.0; -90.0; 70.0; 4.00 |" in text  # a_ii: (60+80)/2
    assert "general-text loss after the last stage" in text


def test_a_generalize_table_shows_the_runs_lines_models_and_claims_without_its_plots(tmp_path):
    from taskneurons.experiments.generalize import Generalize

    from .test_generalize import _config as generalize_config

    results = Generalize(generalize_config(ablation=False, single_task=False), tmp_path, progress=False)()
    text = _script("evidence_tables").generalize(tmp_path)
    lines = results["sweep"]["a"]["50"]["lines"]
    cells = [f"{e['mean']:.1f} [{e['low']:.1f}, {e['high']:.1f}]" for e in (lines[n] for n in ("ID", "OOD-CLS", "OOD-GEN"))]
    assert f"| 50% (1 training) | {' | '.join(cells)} |" in text
    model = results["similarity"]["models"]["e2e"]
    assert f"| e2e | {model['scores']['sst2_yang']:.1f} (" in text
    assert "**Overlap (Table 8)" in text and "similarity correlates" in text and "![" not in text


def test_a_fidelity_table_shows_each_cells_spearman_interval_and_the_means(tmp_path):
    cells = [(layer, kind) for layer in (0, 1) for kind in ("inner", "outer")]
    rows = [{"variant": "abs_sum/all", "truth": truth, "layer": layer, "kind": kind, "spearman": rho,
             "spearman_ci": [rho - 0.1, rho + 0.05]}
            for truth, base in (("dataset", 0.6), ("example", 0.1)) for (layer, kind), rho in
            zip(cells, (base, base + 0.1, base + 0.2, base + 0.3))]
    result = {"layers": [0, 1], "rows": rows, "summary": {"abs_sum/all": {"dataset": 0.75, "example": 0.25}},
              "per_cell": 5, "n_examples": 8, "seconds": 12.3}
    (tmp_path / "f.json").write_text(json.dumps({"tiny-llama/amazon_yang": result}))
    text = _script("evidence_tables").fidelity(tmp_path / "f.json")
    assert "**tiny-llama, amazon_yang** (5 neurons per (layer, kind), 8 examples, 12 s)" in text
    assert "| L0 inner | L0 outer | L1 inner | L1 outer | mean | mean vs per-example |" in text
    assert "| abs_sum/all | 0.60 [0.50, 0.65] | 0.70 [0.60, 0.75] | 0.80 [0.70, 0.85] | 0.90 [0.80, 0.95] | 0.750 | 0.250 |" in text


def test_a_memory_table_shows_the_measured_and_estimated_peaks_their_ratio_and_what_failed(tmp_path):
    rows = [{"model": "m", "work": "train", "label": "full fine-tuning step (AdamW)", "measured": 100 * 2 ** 20,
             "estimated": 125 * 2 ** 20, "device": "cpu (peak resident set)"}]
    (tmp_path / "m.json").write_text(json.dumps({"batch": 8, "length": 128, "rows": rows, "failed": ["m rank: boom"]}))
    text = _script("evidence_tables").memory(tmp_path / "m.json")
    assert "| m | full fine-tuning step (AdamW) | 100 | 125 | 1.25 |" in text
    assert "Batch 8 x 128 tokens on cpu (peak resident set)" in text and "Failed: m rank: boom." in text
