"""Importance-matched controls (``neurons/controls.py``), against counts made by hand."""
import pytest
import torch

from taskneurons.errors import TaskNeuronsError
from taskneurons.neurons import NeuronSet, Scores
from taskneurons.neurons.controls import general_importance, matched_like

LAYERS, WIDTH = 3, 40


def a_set(chosen: dict[int, list[int]]) -> NeuronSet:
    masks = {kind: torch.zeros(LAYERS, WIDTH, dtype=torch.bool) for kind in ("inner", "outer")}
    for layer, neurons in chosen.items():
        for kind in masks:
            masks[kind][layer, neurons] = True
    return NeuronSet(masks, {"ffn_family": "llama"})


def by_index() -> dict[str, torch.Tensor]:
    """Importance = the neuron's index: bin b (of 10) holds neurons 4b .. 4b + 3."""
    return {kind: torch.arange(WIDTH).float().expand(LAYERS, WIDTH).clone() for kind in ("inner", "outer")}


def test_each_neuron_is_matched_by_an_outside_neuron_of_its_own_importance_bin():
    neurons = a_set({0: [36, 37, 20, 1], 2: [39]})  # bins 9, 9, 5, 0 | 9
    control = matched_like(neurons, by_index(), seed=3)
    for kind in ("inner", "outer"):
        assert not (control.masks[kind] & neurons.masks[kind]).any()
        assert torch.equal(control.masks[kind].sum(1), neurons.masks[kind].sum(1))
        layer0 = control.indices(0, kind).tolist()
        assert sorted(i // 4 for i in layer0) == [0, 5, 9, 9] and {38, 39} == {i for i in layer0 if i >= 36}
        assert control.indices(2, kind).tolist()[0] in (36, 37, 38)
    assert control == matched_like(neurons, by_index(), seed=3) and control != matched_like(neurons, by_index(), 4)


def test_a_bin_that_runs_out_borrows_from_the_nearest_one():
    neurons = a_set({1: [36, 37, 38, 39]})  # the whole of bin 9: its matches come from bin 8
    control = matched_like(neurons, by_index(), seed=0)
    assert control.indices(1, "inner").tolist() == [32, 33, 34, 35]


def test_a_set_with_too_few_neurons_outside_it_is_refused_in_one_line():
    with pytest.raises(TaskNeuronsError, match="cannot match 30 inner neurons of layer 0: only 10 lie outside"):
        matched_like(a_set({0: list(range(30))}), by_index(), seed=0)


def test_general_importance_is_the_mean_rank_fraction_over_the_given_scores():
    first = torch.tensor([[3.0, 1.0, 2.0]]), torch.tensor([[10.0, 30.0, 20.0]])
    scores = [Scores({"inner": v, "outer": v}, {}) for v in first]
    importance = general_importance(scores)["inner"]  # ranks 2, 0, 1 and 0, 2, 1, as fractions of 2
    assert importance.tolist() == [[0.5, 0.5, 0.5]]
