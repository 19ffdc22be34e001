"""The HTML report, the comparison page and `taskneurons runs`: pages that parse, reference only what exists,
show every table of the run, and verdicts that follow the intervals."""
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from taskneurons.cli import main
from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.continual import views as continual_views
from taskneurons.experiments.continual import claims as continual_claims
from taskneurons.experiments.identify import Identify, IdentifyConfig
from taskneurons.experiments.identify import views as identify_views
from taskneurons.pages import list_runs, write_index, write_report
from taskneurons.runs import Run

from .conftest import SHARED_DATA


class Page(HTMLParser):
    """Every tag (checks nesting), image source and link target of a page."""
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self, text: str):
        super().__init__()
        self.open, self.images, self.links, self.text = [], [], [], []
        self.feed(text)
        self.close()
        assert self.open == [], f"unclosed tags {self.open}"

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs["href"])
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):  # <img ... />
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.open.pop()

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def identify_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("identify")
    config = IdentifyConfig(model="tiny-llama", tasks=[str(SHARED_DATA / "sst2"), str(SHARED_DATA / "commongen")],
                            selection={"n_score": 4}, n_eval=4, batch_size=4, max_length=64, max_new_tokens=4,
                            random_controls=2, neuron_training={"n_train": 4, "lr": 1e-2}, finetune_seeds=1,
                            finetune_random_controls=1, n_boot=200, top_neurons=2, multitask={"n_train": 4, "lr": 1e-3})
    return out, Identify(config, out, progress=False)()


def test_identify_report_parses_references_what_exists_and_shows_every_table(identify_run):
    out, results = identify_run
    page = Page((out / "report.html").read_text())
    text = " ".join(page.text)
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.links and all((out / href).is_file() for href in page.links)
    for part in ("deactivation", "finetuning"):
        for condition, scores in results[part]["table"].items():
            assert condition in text
            for task, value in scores.items():
                assert task in text and f"{value:.1f}" in text
    assert "tiny-llama" in text and "wall time" in text and "finished" in text
    for neuron in results["deactivation"]["top_neurons"]["sst2"]:
        assert f"L{neuron['layer']} {neuron['kind']} #{neuron['index']}" in text
    assert json.loads((out / "run.json").read_text())["state"] == "finished"
    html = (out / "report.html").read_text()  # each plot once: the placement heatmap in its section, not again below
    assert html.count('alt="share of the task') == 1 and 'alt="score_by_layer"' not in html


def test_top_neurons_are_the_highest_ranked_and_their_examples_the_most_active(identify_run):
    out, results = identify_run
    from taskneurons.neurons.scores import Scores

    scores = Scores.load(out / "artifacts" / "original.sst2.scores")  # the default Original's (multi-task)
    best = max((float(v), layer, kind, i) for kind, values in scores.values.items()
               for layer, row in enumerate(values) for i, v in enumerate(row))
    top = results["deactivation"]["top_neurons"]["sst2"]
    assert len(top) == 2 and (top[0]["layer"], top[0]["kind"], top[0]["index"]) == best[1:]
    values = [hit["activation"] for hit in top[0]["examples"]]
    assert values == sorted(values, reverse=True) and values[0] >= top[0]["median"]


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_the_placement_plot_shows_each_tasks_score_share_per_layer(tmp_path, monkeypatch, scope):
    import torch

    from taskneurons.neurons import NeuronSet
    from taskneurons.neurons.scores import Scores

    artifacts = tmp_path / "artifacts"
    # |inner| per layer 1 + 2 = 3 and 3 + 4 = 7 (30%, 70%); outer 1 and 4 (20%, 80%)
    Scores({"inner": torch.tensor([[1.0, -2.0], [3.0, 4.0]]), "outer": torch.tensor([[1.0], [4.0]])}).save(
        artifacts / "original.a.scores")
    Scores({"inner": torch.ones(2, 2), "outer": torch.ones(2, 1)}).save(artifacts / "base.a.scores")  # not Original
    NeuronSet({"inner": torch.tensor([[True, False], [True, True]]), "outer": torch.tensor([[False], [True]])}).save(
        artifacts / "original.a.neurons")
    plotted, heatmap = {}, identify_views.heatmap

    def spy(matrix, rows, *args, **kwargs):
        path = heatmap(matrix, rows, *args, **kwargs)
        plotted[path.name] = (matrix, rows)
        return path

    monkeypatch.setattr(identify_views, "heatmap", spy)
    results = {"config": {"original": "multitask", "selection": {"scope": scope}}, "tasks": {"a": {}}}
    section = identify_views.sections(tmp_path, results)[0]
    matrix, rows = plotted["score_by_layer.png"]
    assert rows == ["a inner", "a outer"] and [pytest.approx(row) for row in ([30.0, 70.0], [20.0, 80.0])] == matrix
    if scope == "layer":  # k% of every layer: a flat picture, not drawn
        assert list(plotted) == ["score_by_layer.png"] and section.html.count("<img") == 1
    else:  # the selected share of each layer's neurons: 1 of 2 and 2 of 2 inner, 0 of 1 and 1 of 1 outer
        assert plotted["neurons_by_layer.png"] == ([[50.0, 100.0], [0.0, 100.0]], rows)
        assert section.html.count("<img") == 2


def gap(mean, low, high, verdict):
    return {"mean": mean, "low": low, "high": high, "p": 0.01, "n": 200, "tasks": 1, "test": "paired bootstrap",
            "verdict": verdict}


@pytest.mark.parametrize("low, high, verdict", [(-9.0, -2.0, "holds"), (1.0, 4.0, "does not hold"),
                                                (-3.0, 2.0, "undecided at this n")])
def test_identify_claims_follow_the_intervals(low, high, verdict):
    from taskneurons.analysis.stats import Gap

    computed = Gap((low + high) / 2, low, high, 0.01, 200, 1, (5, 1), 0.95).verdict("less")
    results = {"deactivation": {"claim": "Deactivate-Task lowers the score more than Deactivate-Random",
                                "gap": {"t": gap((low + high) / 2, low, high, computed)},
                                "specificity": {"index": (low + high) / 2, "low": -high, "high": -low}}}
    claims = identify_views.claims(results)
    assert [c.verdict for c in claims] == [verdict, verdict]  # the index's claim is "above 0": mirrored interval


def _final(outcomes: dict, learnt: dict | None = None) -> dict:
    """A continual method's result by exact match (records.MethodResult): its final outcomes per task (and each
    task's right after its own stage)."""
    return {"by_evaluation": {"generate": {"final_outcomes": outcomes, **({"learnt_outcomes": learnt} if learnt else {})}}}


def test_continual_claims_are_paired_over_the_final_test_examples():
    better = [100.0] * 30 + [0.0] * 10
    worse = [100.0] * 10 + [0.0] * 30
    results = {"config": {"eval_method": "generate", "n_boot": 500, "confidence": 0.95, "seed": 0},
               "methods": {"NCFT": {"method": "ncft"}, "SeqFT": {"method": "seqft"}},
               "orders": {"order1": {"methods": {"NCFT": _final({"a": better, "b": better}),
                                                 "SeqFT": _final({"a": worse, "b": better})}}}}
    (claim,) = continual_views.claims(results)
    assert claim.text == "NCFT's AA above SeqFT's" and claim.verdict == "holds"
    assert "+25.0" in claim.evidence and "80 test examples of 2 task(s) in 1 run(s) (1 order(s) x 1 training seed(s)): for this order" in claim.evidence
    results["orders"]["order1"]["methods"]["SeqFT"]["by_evaluation"]["generate"]["final_outcomes"]["a"] = better
    (claim,) = continual_views.claims(results)
    assert claim.verdict == "undecided at this n"


def test_continual_claims_draw_an_example_in_every_order_at_once():
    # task a's examples in two orders: NCFT's outcomes reversed between them, SeqFT's all 0. Each example's gap
    # averaged over the orders is 50, so one draw for both orders gives the point; independent draws would spread.
    x = [100.0] * 20 + [0.0] * 20
    results = {"config": {"eval_method": "generate", "n_boot": 500, "confidence": 0.95, "seed": 0},
               "methods": {"NCFT": {"method": "ncft"}, "SeqFT": {"method": "seqft"}},
               "orders": {name: {"methods": {"NCFT": _final({"a": ncft}),
                                             "SeqFT": _final({"a": [0.0] * 40})}}
                          for name, ncft in (("order1", x), ("order2", x[::-1]))}}
    (claim,) = continual_views.claims(results)
    assert claim.evidence.startswith("+50.0 [+50.0, +50.0]")
    assert "40 test examples of 1 task(s) in 2 run(s) (2 order(s) x 1 training seed(s)) (two-level" in claim.evidence


def test_the_bwt_claim_pairs_each_example_from_its_learning_to_the_end():
    learnt, kept, lost = [100.0] * 40, [100.0] * 36 + [0.0] * 4, [100.0] * 10 + [0.0] * 30
    results = {"config": {"eval_method": "generate", "n_boot": 500, "confidence": 0.95, "seed": 0},
               "methods": {"NCFT": {"method": "ncft"}, "SeqFT": {"method": "seqft"}},
               "orders": {"order1": {"methods": {  # the last task (b) has nothing to forget: left out of BWT
                   "NCFT": _final({"a": kept, "b": lost}, {"a": learnt, "b": learnt}),
                   "SeqFT": _final({"a": lost, "b": kept}, {"a": learnt, "b": kept})}}}}
    aa, bwt = continual_views.claims(results)
    assert aa.text == "NCFT's AA above SeqFT's" and aa.verdict == "undecided at this n"  # the same 50.0 each
    assert bwt.text == "NCFT's BWT above SeqFT's" and bwt.verdict == "holds"
    assert "+65.0" in bwt.evidence and "40 test examples of 1 task(s) in 1 run(s) (1 order(s) x 1 training seed(s)): for this order" in bwt.evidence  # -10 vs -75


def test_report_command_rebuilds_pages_and_an_index_of_several_runs(identify_run, tmp_path, capsys):
    out, _ = identify_run
    (out / "report.html").unlink()
    index = tmp_path / "index.html"
    assert main(["report", str(out), str(out), "--index", str(index)]) == 0
    assert (out / "report.html").is_file()
    page = Page(index.read_text())
    assert all((index.parent / href).resolve().is_file() for href in page.links)
    assert "sst2" in " ".join(page.text) and "gap" in " ".join(page.text)
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_runs_lists_finished_failed_and_interrupted_folders(identify_run, tmp_path):
    out, _ = identify_run
    failed = Run(tmp_path / "failed", {"a": 1}, "identify")
    with pytest.raises(TaskNeuronsError), failed.recording():
        raise TaskNeuronsError("option k=abc is not a number")
    killed = Run(tmp_path / "killed", {"a": 1}, "continual")
    with killed.recording():
        state = json.loads((tmp_path / "killed" / "run.json").read_text())
    (tmp_path / "killed" / "run.json").write_text(json.dumps({**state, "state": "running", "pid": 2 ** 22 + 12345}))
    rows = {row[0]: row for row in list_runs(tmp_path)}
    assert rows["failed"][2] == "failed" and rows["failed"][4] == "option k=abc is not a number"
    assert rows["killed"][2] == "interrupted (resumable)"
    finished = {row[0]: row for row in list_runs(out.parent)}[out.name]
    assert finished[1] == "identify" and finished[2] == "finished" and "deact gap" in finished[4]


def test_index_needs_finished_runs(tmp_path):
    Run(tmp_path / "half", {"a": 1}, "identify")
    with pytest.raises(TaskNeuronsError, match="has not finished"):
        write_index([tmp_path / "half"], tmp_path / "index.html")
    with pytest.raises(TaskNeuronsError, match="has not finished"):
        write_report(Path(tmp_path / "half"))



def test_the_budget_check_says_whether_per_task_ft_learnt_each_task_by_the_margin():
    learnt, zero = [100.0] * 36 + [0.0] * 4, [100.0] * 20 + [0.0] * 20  # +40 points
    results = {"config": {"eval_method": "generate", "n_boot": 500, "confidence": 0.95, "seed": 0, "learn_margin": 5.0},
               "methods": {"Per-Task FT": {"method": "per_task_ft"}},
               "orders": {"order1": {"zero_shot_outcomes": {"a": zero, "b": zero},
                                     "methods": {"Per-Task FT": _final({"a": learnt, "b": zero})}}}}
    a, b = continual_claims.budget_check(results)
    assert a.verdict == "holds" and "teaches a" in a.text and "+40.0" in a.evidence
    assert b.verdict == "does not hold"  # exactly zero-shot: the interval is the point 0, below the margin


def test_a_results_file_todays_claims_cannot_read_is_refused_in_one_line(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"config": {"eval_method": "generate"}}))  # no orders
    (tmp_path / "run.json").write_text(json.dumps({"experiment": "continual", "version": "0.0.1"}))
    with pytest.raises(TaskNeuronsError, match=r"results.json was written by a version of taskneurons whose results "
                                               r"this one cannot read \(KeyError: 'orders'\).*\(0.0.1\)$"):
        write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()
