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
