"""Specificity: rescoring tasks' neurons by how specific they are, and the specificity index of a deactivation matrix."""
import math

import pytest
import torch

from taskneurons.errors import TaskNeuronsError
from taskneurons.neurons import NeuronSet, Scores
from taskneurons.neurons.specificity import (SPECIFICITY_METHODS, specific_scores, specificity_index,
                                             specificity_index_from_outcomes)

WIDTH, OUTER = 20, 6
SPECIFIC = {"A": 5, "B": 6, "C": 7}  # the neuron of inner layer 0 that only this task uses
SCALE = {"A": 1.0, "B": 100.0, "C": 0.01}  # tasks' loss scales differ
METHOD_OPTIONS = {"relative": {}, "entropy": {}, "exclude_common": {"k": 20}}


def planted():
    """3 tasks x 2 layers: inner neurons 0-3 of layer 0 are large for every task (common); 5/6/7 only for A/B/C."""
    out = {}
    for i, (task, own) in enumerate(SPECIFIC.items()):
        noise = 0.01 * (1 + (torch.arange(2 * WIDTH).view(2, WIDTH) * (i + 3)) % 7)
        inner = noise.clone()
        inner[0, :4] = 10.0
        inner[0, own] = 5.0
        outer = 0.01 * (1 + (torch.arange(2 * OUTER).view(2, OUTER) * (i + 2)) % 5)
        out[task] = Scores({"inner": inner * SCALE[task], "outer": outer.float() * SCALE[task]},
                           {"task": task, "scorer": "grad_x_act"})
    return out


def two_tasks():
    """2 tasks x 1 layer x (2 inner, 2 outer), for hand-computed values."""
    return {"A": Scores({"inner": torch.tensor([[3.0, 1.0]]), "outer": torch.tensor([[1.0, 1.0]])}, {"task": "A"}),
            "B": Scores({"inner": torch.tensor([[2.0, 6.0]]), "outer": torch.tensor([[1.0, 1.0]])}, {"task": "B"})}


def top_inner(scores, k=5):  # k=5% of 20 is 1 neuron per (layer, kind)
    return NeuronSet.from_scores(scores, k, "layer").indices(0, "inner").tolist()


# the planted structure

def test_plain_top_k_picks_a_common_neuron_for_every_task():
    assert {task: top_inner(s) for task, s in planted().items()} == {"A": [0], "B": [0], "C": [0]}


@pytest.mark.parametrize("method", ["relative", "entropy", "exclude_common"])
def test_every_method_picks_each_tasks_own_neuron(method):
    result = specific_scores(planted(), method, **METHOD_OPTIONS[method])
    assert {task: top_inner(s) for task, s in result.items()} == {t: [n] for t, n in SPECIFIC.items()}


def test_relative_ignores_a_tasks_loss_scale():
    scores = planted()
    rescaled = dict(scores, B=Scores({k: v * 1000 for k, v in scores["B"].values.items()}, scores["B"].meta))
    a, b = specific_scores(scores, "relative")["A"], specific_scores(rescaled, "relative")["A"]
    assert all(torch.allclose(a.values[k], b.values[k]) for k in a.values)


def test_exclude_common_demotes_neurons_in_every_tasks_top_set():
    scores = planted()
    result = specific_scores(scores, "exclude_common", k=20)  # top 4 of 20: the common block, in every task
    for task, s in result.items():
        inner, original = s.values["inner"][0], scores[task].values["inner"][0]
        assert inner[:4].max() < torch.cat([inner[4:], s.values["outer"].flatten()]).min()
        assert torch.equal(inner[4:], original[4:])  # the rest unchanged
        assert inner[:4].argsort().tolist() == original[:4].argsort().tolist()


def test_exclude_common_demotes_at_max_tasks_sets_and_keeps_fewer():
    scores = planted()
    for task in ("A", "B"):  # neuron 8 joins the top 5 (k=25) of A and B, not of C
        scores[task].values["inner"][0, 8] = 10.0 * SCALE[task]
    default = specific_scores(scores, "exclude_common", k=25)["A"].values["inner"][0]  # max_tasks 3 // 2 + 1 = 2
    strict = specific_scores(scores, "exclude_common", k=25, max_tasks=3)["A"].values["inner"][0]
    assert default[8] < default[4:8].min()
    assert strict[8] == 10.0 and strict[:4].max() < strict[4:].min()


# hand-computed formulas (2 tasks, 1 layer; rows normalised by their mean: A inner [1.5, 0.5], B inner [0.5, 1.5])

def test_relative_formula_by_hand():
    result = specific_scores(two_tasks(), "relative")  # default eps 0.1
    assert torch.allclose(result["A"].values["inner"], torch.tensor([[1.5 / 0.6, 0.5 / 1.6]]))
    assert torch.allclose(result["B"].values["inner"], torch.tensor([[0.5 / 1.6, 1.5 / 0.6]]))
    assert torch.allclose(result["A"].values["outer"], torch.tensor([[1 / 1.1, 1 / 1.1]]))


def test_entropy_formula_by_hand():
    result = specific_scores(two_tasks(), "entropy", min_score=0.0)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    spec = 1 - h / math.log(2)
    assert torch.allclose(result["A"].values["inner"], torch.tensor([[0.75 * spec, 0.25 * spec]]))
    assert torch.allclose(result["A"].values["outer"], torch.zeros(1, 2), atol=1e-7)  # equal shares: entropy log 2


def test_entropy_weights_neurons_below_min_score_by_their_size():
    result = specific_scores(two_tasks(), "entropy")  # A's inner neuron 1 has n = 0.5 < 1: weight 0.5
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    spec = 1 - h / math.log(2)
    assert torch.allclose(result["A"].values["inner"], torch.tensor([[0.75 * spec, 0.25 * spec * 0.5]]))


def test_entropy_never_prefers_a_neuron_large_for_every_task():
    """Inner neurons 0-2 are large for all three tasks (so above every row mean), 3-5 large for A alone but below
    A's row mean (the shared ones inflate it): every pair, brute force, ranks A's own neuron first, and A's
    top 10% (2 of 20) are its own neurons."""
    noise = [0.01 * (1 + (3 * j + i) % 5) for i in range(3) for j in range(14)]
    rows = {t: [200.0, 100.0, 50.0] + [0.0] * 3 + noise[14 * i:14 * (i + 1)] for i, t in enumerate("ABC")}
    rows["A"][3:6] = [5.0, 2.0, 0.5]
    scores = {t: Scores({"inner": torch.tensor([r]), "outer": torch.ones(1, 4)}, {"task": t}) for t, r in rows.items()}
    assert all(min(r[:3]) > sum(r) / len(r) > max(rows["A"][3:6]) for r in rows.values())  # the setting
    a = specific_scores(scores, "entropy")["A"].values["inner"][0]
    assert all(a[own] > a[shared] for own in (3, 4, 5) for shared in (0, 1, 2)), a[:6].tolist()
    assert NeuronSet.from_scores(specific_scores(scores, "entropy")["A"], 10, "layer").indices(0, "inner").tolist() == [3, 4]


def test_exclude_common_by_hand():
    result = specific_scores(two_tasks(), "exclude_common", k=50)  # 1 per row; outer neuron 0 tops both tasks
    assert result["A"].values["inner"].tolist() == [[3.0, 1.0]]
    assert result["A"].values["outer"].tolist() == [[1.0 - 3.0, 1.0]]  # shifted by max - min + 1 over both kinds
    assert result["B"].values["outer"].tolist() == [[1.0 - 6.0, 1.0]]


# records, errors, finiteness

def test_meta_records_method_and_options_and_keeps_the_tasks_own():
    meta = specific_scores(two_tasks(), "relative", eps=0.5)["B"].meta
    assert meta["task"] == "B"
    assert meta["specificity"] == {"method": "relative", "options": {"eps": 0.5}, "tasks": ["A", "B"]}


def test_none_returns_the_scores_unchanged():
    scores = two_tasks()
    assert all(specific_scores(scores, "none")[t] is scores[t] for t in scores)


def test_a_wrong_method_lists_the_right_ones():
    with pytest.raises(TaskNeuronsError) as e:
        specific_scores(two_tasks(), "lape")
    assert str(e.value) == "unknown specificity method 'lape'; methods: none, relative, entropy, exclude_common"
    assert SPECIFICITY_METHODS == ("none", "relative", "entropy", "exclude_common")


def test_an_unknown_option_is_an_error():
    with pytest.raises(TaskNeuronsError, match=r"takes options \['eps'\], got \['k'\]"):
        specific_scores(two_tasks(), "relative", k=10)


def test_exclude_common_needs_k():
    with pytest.raises(TaskNeuronsError, match="needs option k"):
        specific_scores(two_tasks(), "exclude_common")


@pytest.mark.parametrize("method", ["relative", "entropy", "exclude_common"])
def test_a_single_task_is_an_error(method):
    with pytest.raises(TaskNeuronsError, match="at least 2 tasks"):
        specific_scores({"A": two_tasks()["A"]}, method, **METHOD_OPTIONS[method])


def test_tasks_in_different_layouts_are_an_error():
    scores = two_tasks()
    scores["B"] = planted()["B"]
    with pytest.raises(TaskNeuronsError, match="one layout"):
        specific_scores(scores, "relative")


@pytest.mark.parametrize("method", ["relative", "entropy"])
def test_values_stay_finite_with_all_zero_rows(method):
    scores = two_tasks()
    scores["B"] = Scores({k: torch.zeros_like(v) for k, v in scores["B"].values.items()}, {})
    result = specific_scores(scores, method)
    assert all(torch.isfinite(v).all() for s in result.values() for v in s.values.values())


# specificity index

def test_specificity_index_of_a_hand_written_matrix():
    change = {"A": {"A": -20.0, "B": -5.0}, "B": {"A": -3.0, "B": -10.0}}
    assert specificity_index(change) == pytest.approx((20 + 10) / 2 - (5 + 3) / 2)


def test_specificity_index_is_zero_without_a_diagonal():
    assert specificity_index({"A": {"A": -8.0, "B": -8.0}, "B": {"A": -8.0, "B": -8.0}}) == 0.0


def test_specificity_index_from_outcomes_matches_the_means():
    original = {"A": [100, 0, 100, 100], "B": [50, 50]}  # means 75, 50
    deactivated = {"A": {"A": [0, 0, 100, 100], "B": [50, 40]},  # changes -25, -5
                   "B": {"A": [100, 0, 100, 100], "B": [0, 50]}}  # changes 0, -25
    assert specificity_index_from_outcomes(original, deactivated) == pytest.approx((25 + 25) / 2 - (5 + 0) / 2)


def test_specificity_index_needs_a_square_matrix():
    with pytest.raises(TaskNeuronsError, match="square matrix"):
        specificity_index({"A": {"A": -1.0, "B": -2.0}, "B": {"B": -1.0}})
