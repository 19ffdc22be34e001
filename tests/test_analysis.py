"""analysis: overlap (hand-computed Jaccard), the overlap-controlled sampler, similarity (hand-computed cosines),
correlation (against scipy and known values). No model is loaded here."""
import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from taskneurons.analysis import (apportion, correlate, cross_overlap, group_overlap, layer_similarity, mean_curve,
                                  n_from_target, overlap_by_proportion, overlap_controlled_set, overlap_matrix,
                                  proportion_counts, share, union)
from taskneurons.analysis.similarity import aggregate
from taskneurons.errors import TaskNeuronsError
from taskneurons.neurons import NeuronSet, Scores


def nset(inner, outer, layers=2, widths=(6, 4), task=None):
    """A NeuronSet from lists of (layer, index) pairs."""
    masks = {"inner": torch.zeros(layers, widths[0], dtype=torch.bool), "outer": torch.zeros(layers, widths[1], dtype=torch.bool)}
    for kind, pairs in (("inner", inner), ("outer", outer)):
        for layer, i in pairs:
            masks[kind][layer, i] = True
    return NeuronSet(masks, {"task": task} if task else {})


# --- overlap --------------------------------------------------------------------------------------------------

def test_group_overlap_is_the_jaccard_of_the_unions():
    a1 = nset([(0, 0), (0, 1)], [(1, 0)])
    a2 = nset([(0, 1), (1, 2)], [])
    b1 = nset([(0, 1), (1, 5)], [(1, 0)])
    b2 = nset([(1, 2)], [(0, 3)])
    # union A = {i00, i01, i12, o10} (4); union B = {i01, i15, o10, i12, o03} (5); A ∩ B = {i01, i12, o10} (3); A ∪ B = 6
    assert group_overlap([a1, a2], [b1, b2]) == pytest.approx(3 / 6)
    assert union([a1, a2]).count() == 4
    assert share(union([a1, a2]), union([b1, b2])) == pytest.approx(3 / 4)
    with pytest.raises(TaskNeuronsError, match="at least one set"):
        union([])


def test_pairwise_and_cross_overlap_matrices():
    a = nset([(0, 0), (0, 1)], [])
    b = nset([(0, 1), (0, 2)], [])
    c = nset([(1, 0)], [(0, 0)])
    names, m = overlap_matrix({"a": a, "b": b, "c": c})
    assert names == ["a", "b", "c"]
    assert m.tolist() == [[1.0, 1 / 3, 0.0], [1 / 3, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert cross_overlap({"a": a}, {"b": b, "c": c}).tolist() == [[1 / 3, 0.0]]


def test_overlap_by_proportion_from_scores():
    # one layer, 4 inner + 2 outer neurons; top-50% per (layer, kind) = 2 inner + 1 outer
    train = Scores({"inner": torch.tensor([[4.0, 3.0, 2.0, 1.0]]), "outer": torch.tensor([[1.0, 2.0]])})
    test = Scores({"inner": torch.tensor([[1.0, 3.0, 4.0, 2.0]]), "outer": torch.tensor([[1.0, 2.0]])})
    result = overlap_by_proportion({"t": train}, [test], [50, 100])
    # 50%: train {i0, i1, o1}, test {i2, i1, o1}: ∩ 2, ∪ 4
    assert result == {50: pytest.approx(0.5), 100: 1.0}


# --- the overlap-controlled sampler ---------------------------------------------------------------------------

def test_apportion_is_exact_proportional_and_bounded():
    assert apportion(10, [1, 1, 2], [0, 0, 0], [10, 10, 10]) == [3, 2, 5]  # 2.5, 2.5, 5: the tie to the earlier cell
    x = apportion(7, [5, 5], [0, 0], [2, 10])
    assert x == [2, 5]
    x = apportion(100, [3.0, 1.0, 1.0, 1.0], [0, 10, 0, 0], [40, 30, 30, 30])
    assert sum(x) == 100 and x[0] == 40 and x[1] >= 10 and all(v <= 30 for v in x[1:])
    with pytest.raises(TaskNeuronsError, match="cannot place 11"):
        apportion(11, [1, 1], [0, 0], [5, 5])


def _target(layers=3, width_inner=40, width_outer=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    masks = {"inner": torch.rand(layers, width_inner, generator=g) < 0.3,
             "outer": torch.rand(layers, width_outer, generator=g) < 0.3}
    return NeuronSet(masks, {"task": "test"})


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3, 0.5, 0.7, 1.0])
def test_sampler_hits_the_share_and_the_counts_exactly(rate):
    target = _target()
    counts = proportion_counts(target, 20)  # 20% of every (layer, kind): 8 inner + 4 outer per layer
    assert counts == {"inner": [8, 8, 8], "outer": [4, 4, 4]}
    trained = overlap_controlled_set(target, counts, rate, seed=3)
    n = 36
    assert trained.counts_per_layer() == counts
    assert (trained & target).count() == math.floor(rate * n + 0.5)
    assert share(trained, target) == pytest.approx(math.floor(rate * n + 0.5) / n)
    assert trained.provenance["n_from_target"] == math.floor(rate * n + 0.5)


def test_sampler_is_seeded_and_spreads_the_target_share_over_cells():
    target = _target()
    a = overlap_controlled_set(target, 60, 0.5, seed=1)
    assert a == overlap_controlled_set(target, 60, 0.5, seed=1)
    assert a != overlap_controlled_set(target, 60, 0.5, seed=2)
    assert a.count() == 60 and (a & target).count() == 30
    # an int total is spread over (layer, kind) in proportion to the widths (40 : 20 per layer)
    assert a.counts_per_layer() == {"inner": [13, 13, 13], "outer": [7, 7, 7]}  # 13.3 x 3 and 6.7 x 3, largest remainders
    per_cell = [(a.masks[k][layer] & target.masks[k][layer]).sum().item() for k in ("inner", "outer") for layer in range(3)]
    cell_totals = [a.masks[k][layer].sum().item() for k in ("inner", "outer") for layer in range(3)]
    assert all(abs(x - t / 2) <= 1 for x, t in zip(per_cell, cell_totals))


def test_sampler_jaccard_reading_and_pool():
    target = _target()
    n_target = target.count()
    trained = overlap_controlled_set(target, n_target, 0.5, seed=0, definition="jaccard")
    assert trained.jaccard(target) == pytest.approx(0.5, abs=1.5 / n_target)
    # a Jaccard of 100% is the target itself, which needs the target's own count in every (layer, kind)
    assert overlap_controlled_set(target, target.counts_per_layer(), 1.0, seed=0, definition="jaccard") == target
    other = _target(seed=5) - target
    trained = overlap_controlled_set(target, 10, 0.2, seed=0, pool=other)
    assert (trained - target - other).count() == 0 and (trained & target).count() == 2


def test_sampler_bad_inputs_are_one_line_errors():
    target = _target()
    for bad, match in [(dict(rate=1.5), "fraction in \\[0, 1\\]"), (dict(definition="dice"), "not one of"),
                       (dict(counts=10 ** 6), "total count must be in"), (dict(counts={"inner": [1, 2]}), "has 2 layers"),
                       (dict(counts=3 * 60, rate=1.0), "cannot draw")]:
        kwargs = {"counts": 30, "rate": 0.5, "seed": 0, **bad}
        with pytest.raises(TaskNeuronsError, match=match) as e:
            overlap_controlled_set(target, **kwargs)
        assert "\n" not in str(e.value)
    with pytest.raises(TaskNeuronsError, match="out of reach"):
        n_from_target(10, 30, 0.9, "jaccard")
    with pytest.raises(TaskNeuronsError, match="percentage"):
        proportion_counts(target, 0)


# --- similarity -----------------------------------------------------------------------------------------------

def _weights():
    # one layer; inner: 3 neurons with rows in gate (2 dims) and up (1 dim); outer: 2 neurons with 3-dim rows
    gate = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    up = torch.tensor([[2.0], [0.0], [1.0]])
    down = torch.tensor([[1.0, 2.0, 2.0], [0.0, 0.0, 3.0]])
    return {0: {"inner": [gate, up], "outer": [down]}}


def _set(inner, outer, width=3):
    return {"inner": torch.tensor([[i in inner for i in range(width)]]),
            "outer": torch.tensor([[i in outer for i in range(2)]])}


def test_cosine_by_hand():
    w = _weights()
    a, b = _set({0}, {0}), _set({2}, {1})
    # inner: neuron 0 = (1, 0, 2), neuron 2 = (1, 1, 1): cos = 3 / (sqrt5 sqrt3)
    assert layer_similarity(w, a, b, "inner") == [pytest.approx(3 / math.sqrt(15))]
    # outer: (1, 2, 2) vs (0, 0, 3): 6 / (3 * 3)
    assert layer_similarity(w, a, b, "outer") == [pytest.approx(6 / 9)]
    # both, flattened: (1, 0, 2, 1, 2, 2) vs (1, 1, 1, 0, 0, 3): 9 / (sqrt14 sqrt12)
    assert layer_similarity(w, a, b, "both") == [pytest.approx(9 / math.sqrt(14 * 12))]
    # mean vectors: a = {0, 1} inner -> mean (0.5, 0.5, 1); b = {2} -> (1, 1, 1): 2 / (sqrt1.5 sqrt3)
    assert layer_similarity(w, _set({0, 1}, set()), _set({2}, set()), "inner", "mean") == [pytest.approx(2 / math.sqrt(4.5))]


def test_flatten_pairing_and_unequal_counts():
    w = {0: {"inner": [torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])], "outer": [torch.zeros(2, 1)]}}
    a, b = _set({0, 1}, set()), _set({1, 2}, set())
    # index order: (1,0,0,1) vs (0,1,1,1): 1 / (sqrt2 sqrt3); shared first (the default): (0,1,1,0) vs (0,1,1,1)
    assert layer_similarity(w, a, b, "inner", pairing="index") == [pytest.approx(1 / math.sqrt(6))]
    assert layer_similarity(w, a, b, "inner") == [pytest.approx(2 / math.sqrt(6))]
    with pytest.raises(TaskNeuronsError, match="equal neuron counts per \\(layer, kind\\).*vector='mean'"):
        layer_similarity(w, _set({0, 1}, set()), _set({2}, set()), "inner")
    assert math.isnan(layer_similarity(w, a, b, "outer", "mean")[0])  # no outer neurons selected


def test_the_default_similarity_grows_with_overlap_from_the_random_level_to_1():
    """50 of 400 neurons (rows: a common direction plus noise, as in trained weights, so random sets are not at 0):
    sets sharing 0, 10, ..., 50 of their 50 neurons go from the mean over random disjoint pairs (brute force) up to
    1, strictly; sharing 49 (Jaccard 0.96) is near 1."""
    g = torch.Generator().manual_seed(0)
    rows = 0.3 * torch.randn(1, 128, generator=g) + torch.randn(400, 128, generator=g)
    weights = {0: {"inner": [rows], "outer": [torch.zeros(2, 1)]}}
    order = torch.randperm(400, generator=g).tolist()

    def similarity(a, b):
        return layer_similarity(weights, _set(a, set(), 400), _set(b, set(), 400), "inner")[0]

    a = set(order[:50])
    curve = [similarity(a, set(order[:shared]) | set(order[50:100 - shared])) for shared in range(0, 51, 10)]
    baseline = sum(similarity(set(order[i:i + 50]), set(order[i + 50:i + 100])) for i in range(0, 300, 15)) / 20
    assert 0.03 < baseline < 0.2 and abs(curve[0] - baseline) < 0.03, (baseline, curve)
    assert all(x < y for x, y in zip(curve, curve[1:])) and curve[-1] == pytest.approx(1.0), curve
    assert similarity(a, set(order[:49]) | {order[50]}) > 0.95


def test_similarity_with_neuron_sets_over_layers_and_bad_options():
    g = torch.Generator().manual_seed(0)
    weights = {layer: {"inner": [torch.randn(6, 5, generator=g)], "outer": [torch.randn(4, 6, generator=g)]} for layer in range(2)}
    a = nset([(0, 0), (1, 1)], [(0, 1), (1, 2)])
    assert layer_similarity(weights, a, a) == [pytest.approx(1.0), pytest.approx(1.0)]
    b = nset([(0, 2), (1, 3)], [(0, 0), (1, 3)])
    curve = layer_similarity(weights, a, b, layers=[1])
    assert len(curve) == 1 and -1 <= curve[0] <= 1
    with pytest.raises(TaskNeuronsError, match="matrices='rows' is not one of"):
        layer_similarity(weights, a, b, "rows")
    with pytest.raises(TaskNeuronsError, match="layer 5 is out of range"):
        layer_similarity(weights, a, b, layers=[5])
    with pytest.raises(TaskNeuronsError, match="neurons along dim 0"):
        layer_similarity({0: {"inner": [torch.zeros(5, 6)], "outer": [torch.zeros(4, 6)]}, 1: weights[1]}, a, b)


def test_aggregate_and_mean_curve_skip_nan():
    assert aggregate([1.0, float("nan"), 3.0]) == 2.0
    assert aggregate([1.0, 2.0, 4.0], layers=[1, 2]) == 3.0
    assert mean_curve([[1.0, float("nan")], [3.0, 2.0]]) == [2.0, 2.0]
    with pytest.raises(TaskNeuronsError, match="different lengths"):
        mean_curve([[1.0], [1.0, 2.0]])


# --- correlation ----------------------------------------------------------------------------------------------

def test_correlation_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=8)
    y = x + rng.normal(scale=0.5, size=8)
    c = correlate(x, y, n_boot=500, seed=1)
    p, s = stats.pearsonr(x, y), stats.spearmanr(x, y)
    assert (c.pearson, c.pearson_p) == (pytest.approx(p.statistic), pytest.approx(p.pvalue))
    assert (c.spearman, c.spearman_p) == (pytest.approx(s.statistic), pytest.approx(s.pvalue))
    assert c.n == 8 and c.n_boot == 500 and c.pearson_ci[0] <= c.pearson <= c.pearson_ci[1]
    assert c.to_dict() == correlate(x, y, n_boot=500, seed=1).to_dict()  # seeded bootstrap
    assert c.to_dict() != correlate(x, y, n_boot=500, seed=2).to_dict()


def test_permutation_p_values_are_the_exact_share_of_pairings():
    # n = 6 is the paper's n; its 720 pairings are all enumerated (not a sample of shuffles)
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [2.0, 1.0, 4.0, 3.0, 6.0, 5.0]
    c = correlate(x, y, n_boot=100)
    rho = stats.spearmanr(x, y).statistic
    as_extreme = [abs(stats.spearmanr(x, list(p)).statistic) >= abs(rho) - 1e-12 for p in itertools.permutations(y)]
    assert c.spearman_perm_p == pytest.approx(sum(as_extreme) / len(as_extreme))
    r = stats.pearsonr(x, y).statistic
    as_extreme = [abs(stats.pearsonr(x, list(p)).statistic) >= abs(r) - 1e-12 for p in itertools.permutations(y)]
    assert c.pearson_perm_p == pytest.approx(sum(as_extreme) / len(as_extreme))


def test_correlation_known_values():
    # r = 0.5 with n = 3: t = 0.5 / sqrt(0.75) with 1 degree of freedom, p = 1 - (2/pi) atan(t) = 2/3
    c = correlate([1, 2, 3], [1, 3, 2])
    assert c.pearson == pytest.approx(0.5) and c.pearson_p == pytest.approx(2 / 3)
    assert c.spearman == pytest.approx(0.5)
    perfect = correlate([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert perfect.pearson == pytest.approx(1.0) and perfect.spearman == pytest.approx(1.0)
    assert perfect.pearson_ci == (pytest.approx(1.0), pytest.approx(1.0))
    constant = correlate([1, 2, 3], [5, 5, 5])
    assert math.isnan(constant.pearson) and constant.n_boot_valid == 0


def test_correlation_bad_inputs():
    with pytest.raises(TaskNeuronsError, match="at least 3 points, got 2"):
        correlate([1, 2], [3, 4])
    with pytest.raises(TaskNeuronsError, match="equally long"):
        correlate([1, 2, 3], [3, 4])
    with pytest.raises(TaskNeuronsError, match="NaN"):
        correlate([1, 2, float("nan")], [3, 4, 5])
