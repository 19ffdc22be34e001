"""Scores and NeuronSet: selection, counts, set algebra, random controls, files, validation, fingerprints."""
import json

import pytest
import torch

import taskneurons
from taskneurons.errors import TaskNeuronsError
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet, Scores, model_fingerprint, pairwise_jaccard
from taskneurons.neurons.neuron_set import n_selected

# 2 layers x (5 inner, 4 outer); ties at inner layer 0 (1, 3) and outer layer 1 (1, 2).
INNER = [[0.1, 0.5, 0.3, 0.5, 0.0], [1.0, 0.2, 0.9, 0.8, 0.7]]
OUTER = [[0.4, 0.1, 0.2, 0.3], [0.0, 0.6, 0.6, 0.5]]
META = {"scorer": "grad_x_act", "options": {"aggregate": "mean_abs"}, "task": "sst2", "n_examples": 8,
        "n_tokens": 120, "model": "tiny-test"}


def scores(meta=META):
    return Scores({"inner": torch.tensor(INNER), "outer": torch.tensor(OUTER)}, dict(meta))


def selected(ns):
    return {kind: [ns.indices(layer, kind).tolist() for layer in range(ns.n_layers)] for kind in ns.masks}


def from_indices(inner, outer, widths=(5, 4), **provenance):
    masks = {"inner": torch.zeros(len(inner), widths[0], dtype=torch.bool),
             "outer": torch.zeros(len(outer), widths[1], dtype=torch.bool)}
    for kind, per_layer in (("inner", inner), ("outer", outer)):
        for layer, idx in enumerate(per_layer):
            masks[kind][layer, idx] = True
    return NeuronSet(masks, provenance)


# selection

def test_n_selected_rounds_half_up_with_at_least_one():
    assert [n_selected(48, 10), n_selected(45, 10), n_selected(44, 10)] == [5, 5, 4]
    assert n_selected(10, 0.01) == 1 and n_selected(5, 100) == 5


def test_per_layer_selection_picks_the_top_and_breaks_ties_by_index():
    assert selected(NeuronSet.from_scores(scores(), 40)) == {
        "inner": [[1, 3], [0, 2]], "outer": [[0, 3], [1, 2]]}
    assert selected(NeuronSet.from_scores(scores(), 20)) == {
        "inner": [[1], [0]], "outer": [[0], [1]]}


def test_global_selection_ranks_each_kind_over_all_layers():
    ns = NeuronSet.from_scores(scores(), 30, scope="global")
    assert selected(ns) == {"inner": [[], [0, 2, 3]], "outer": [[], [1, 2]]}


def test_all_scope_compares_raw_scores_across_kinds():
    ns = NeuronSet.from_scores(scores(), 25, scope="all")  # round(18 * 0.25) = 5; tie at 0.6 -> inner first order
    assert selected(ns) == {"inner": [[], [0, 2, 3, 4]], "outer": [[], [1]]}


def test_selection_provenance():
    ns = NeuronSet.from_scores(scores(), 40, provenance={"seed": 3, "weight_hash": "abc", "ffn_family": "llama"})
    assert ns.provenance == {**META, "seed": 3, "weight_hash": "abc", "ffn_family": "llama", "k": 40,
                             "scope": "layer", "version": taskneurons.__version__}


@pytest.mark.parametrize("k", [0, -1, 100.5])
def test_bad_k(k):
    with pytest.raises(TaskNeuronsError, match=r"k must be a percentage in \(0, 100\]"):
        NeuronSet.from_scores(scores(), k)


def test_bad_scope_and_nan_scores():
    with pytest.raises(TaskNeuronsError, match=r"scope 'module' is not one of \['layer', 'global', 'all'\]"):
        NeuronSet.from_scores(scores(), 10, scope="module")
    s = scores()
    s.values["outer"][1, 2] = float("nan")
    with pytest.raises(TaskNeuronsError, match=r"scores for 'outer' contain NaN or inf in layers \[1\]"):
        NeuronSet.from_scores(s, 10)


def test_malformed_scores_and_masks():
    with pytest.raises(TaskNeuronsError, match="one tensor per kind"):
        Scores({"inner": torch.zeros(2, 5)})
    with pytest.raises(TaskNeuronsError, match="same n_layers"):
        Scores({"inner": torch.zeros(2, 5), "outer": torch.zeros(3, 4)})
    with pytest.raises(TaskNeuronsError, match="must be a float tensor"):
        Scores({"inner": torch.zeros(2, 5, dtype=torch.long), "outer": torch.zeros(2, 4)})
    with pytest.raises(TaskNeuronsError, match="must be a bool tensor"):
        NeuronSet({"inner": torch.zeros(2, 5), "outer": torch.zeros(2, 4)})


# queries and set algebra

A = from_indices([[0, 1], [2]], [[3], []])
B = from_indices([[1], [2, 4]], [[3], [0]])


def test_counts_and_fraction():
    assert (A.count(), A.count("inner"), A.count("outer")) == (4, 3, 1)
    assert A.counts_per_layer() == {"inner": [2, 1], "outer": [1, 0]}
    assert A.fraction() == pytest.approx(4 / 18)
    assert A.indices(0, "inner").dtype == torch.long


def test_set_algebra_and_jaccard_by_hand():
    assert selected(A | B) == {"inner": [[0, 1], [2, 4]], "outer": [[3], [0]]}
    assert selected(A & B) == {"inner": [[1], [2]], "outer": [[3], []]}
    assert selected(A - B) == {"inner": [[0], []], "outer": [[], []]}
    assert A.jaccard(B) == pytest.approx(3 / 6)
    assert A.jaccard(A) == 1.0 and (A - A).is_empty()
    assert (A - A).jaccard(B - B) == 1.0  # two empty sets are equal


def test_pairwise_jaccard():
    names, m = pairwise_jaccard({"a": A, "b": B, "c": A - B})
    assert names == ["a", "b", "c"]
    expected = torch.tensor([[1, 3 / 6, 1 / 4], [3 / 6, 1, 0], [1 / 4, 0, 1]], dtype=torch.float64)
    torch.testing.assert_close(m, expected)


def test_derived_sets_keep_shared_model_provenance():
    a = from_indices([[0], [1]], [[0], [1]], model="m", weight_hash="h1")
    b = from_indices([[0], [1]], [[0], [1]], model="m", weight_hash="h2")
    u = a | b
    assert u.provenance["model"] == "m" and "weight_hash" not in u.provenance
    assert u.provenance["op"] == "|" and u.provenance["operands"] == [a.provenance, b.provenance]


def test_sets_of_different_shapes_do_not_combine():
    other = from_indices([[0], [1], [2]], [[0], [1], [2]])
    with pytest.raises(TaskNeuronsError, match=r"differ in shape: 2 layers x \(5 inner, 4 outer\) and 3 layers"):
        A | other


def test_empty_and_full(tiny):
    ffn = tiny("tiny-llama").ffn
    assert NeuronSet.empty(ffn).is_empty() and NeuronSet.empty(ffn).count() == 0
    full = NeuronSet.full(ffn)
    assert full.count() == ffn.total_neurons() and full.fraction() == 1.0
    assert full.provenance["ffn_family"] == "llama"


# random controls

def _big_set():
    torch.manual_seed(0)
    s = Scores({"inner": torch.rand(4, 100), "outer": torch.rand(4, 60)}, {"model": "m", "task": "t"})
    return NeuronSet.from_scores(s, 10)


def test_random_like_matches_counts_and_is_seeded():
    ns = _big_set()
    r1, r2, r3 = ns.random_like(1), ns.random_like(1), ns.random_like(2)
    assert r1.counts_per_layer() == ns.counts_per_layer()
    assert all(torch.equal(r1.masks[k], r2.masks[k]) for k in ns.masks)
    assert r1 != r3
    assert r1.provenance["seed"] == 1 and r1.provenance["control"] == "random"
    assert r1.provenance["matched_to"] == ns.provenance and r1.provenance["model"] == "m"


def test_random_like_can_exclude_a_set():
    ns = _big_set()
    r = ns.random_like(5, exclude=ns)
    assert r.counts_per_layer() == ns.counts_per_layer() and (r & ns).is_empty()
    with pytest.raises(TaskNeuronsError, match="cannot draw 10 random inner neurons in layer 0: only 0"):
        ns.random_like(0, exclude=NeuronSet({k: torch.ones_like(m) for k, m in ns.masks.items()}))


# files

@pytest.mark.parametrize("name", ["set", "set.safetensors", "set.k10"])
def test_save_load_roundtrip(tmp_path, name):
    ns = NeuronSet.from_scores(scores(), 40, provenance={"seed": 0})
    written = ns.save(tmp_path / name)
    stem = name.removesuffix(".safetensors")
    assert written == tmp_path / f"{stem}.safetensors" and (tmp_path / f"{stem}.json").is_file()
    again = NeuronSet.load(tmp_path / stem)
    assert again == ns and again.provenance == ns.provenance
    assert all(torch.equal(again.masks[k], ns.masks[k]) and again.masks[k].dtype == torch.bool for k in ns.masks)
    header = json.loads((tmp_path / f"{stem}.json").read_text())
    assert header["shapes"] == {"inner": [2, 5], "outer": [2, 4]} and header["counts"] == {"inner": 4, "outer": 4}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{stem}.safetensors", f"{stem}.json"])


def test_scores_roundtrip_and_overwrite(tmp_path):
    s = scores()
    s.save(tmp_path / "s")
    s.values["inner"][0, 0] = 9.0
    s.save(tmp_path / "s.safetensors")  # overwrites in place
    again = Scores.load(tmp_path / "s")
    assert again.meta == META and torch.equal(again.values["inner"], s.values["inner"])
    assert len(list(tmp_path.iterdir())) == 2


def test_load_missing_file(tmp_path):
    with pytest.raises(TaskNeuronsError, match=r"no neuron set at .*nothing\.safetensors: file not found"):
        NeuronSet.load(tmp_path / "nothing")
    A.save(tmp_path / "half")
    (tmp_path / "half.json").unlink()
    with pytest.raises(TaskNeuronsError, match=r"no neuron set at .*half\.json: file not found"):
        NeuronSet.load(tmp_path / "half")


def test_load_corrupt_files(tmp_path):
    A.save(tmp_path / "a")
    (tmp_path / "a.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(TaskNeuronsError, match=r"a\.safetensors: not a readable safetensors file"):
        NeuronSet.load(tmp_path / "a")
    A.save(tmp_path / "b")
    (tmp_path / "b.json").write_text("{broken")
    with pytest.raises(TaskNeuronsError, match=r"b\.json: not valid JSON"):
        NeuronSet.load(tmp_path / "b")
    scores().save(tmp_path / "c")
    with pytest.raises(TaskNeuronsError, match=r"c\.json: field 'format' is 'taskneurons.scores', expected"):
        NeuronSet.load(tmp_path / "c")
    A.save(tmp_path / "d")
    header = json.loads((tmp_path / "d.json").read_text())
    header["shapes"]["inner"] = [3, 5]
    (tmp_path / "d.json").write_text(json.dumps(header))
    with pytest.raises(TaskNeuronsError, match=r"tensor 'inner' has shape \[2, 5\] but d\.json says \[3, 5\]"):
        NeuronSet.load(tmp_path / "d")


# validation against a model

def test_validate_names_expected_and_got(tiny):
    ffn = tiny("tiny-llama").ffn
    big = NeuronSet({"inner": torch.zeros(30, 1536, dtype=torch.bool), "outer": torch.zeros(30, 576, dtype=torch.bool)},
                    {"model": "smollm2-135m"})
    msg = ("neuron set from smollm2-135m has 30 layers x (1536 inner, 576 outer) "
           "but the model has 2 layers x (48 inner, 32 outer)")
    with pytest.raises(TaskNeuronsError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        big.validate(ffn)
    NeuronSet.empty(ffn).validate(ffn)
    with pytest.raises(TaskNeuronsError, match=r"scores from tiny-test cover 2 layers x \(5 inner, 4 outer\) but"):
        scores().validate(ffn)


# fingerprints

def test_model_fingerprint_is_stable_and_sees_weight_changes():
    a, b = load_model("tiny-llama"), load_model("tiny-llama")
    fp = model_fingerprint(a)
    assert len(fp) == 16 and fp == model_fingerprint(b.model)
    assert fp != model_fingerprint(load_model("tiny-qwen2"))
    with torch.no_grad():
        b.ffn.downs[1].weight[3] += 1  # one outer neuron's row
    assert model_fingerprint(b) != fp


def test_a_random_set_holds_k_percent_of_every_layer_and_kind_and_follows_its_seed():
    ffn = load_model("tiny-llama").ffn
    first, again, other = NeuronSet.random(ffn, 10, seed=1), NeuronSet.random(ffn, 10, seed=1), NeuronSet.random(ffn, 10, seed=2)
    for kind, width in ffn.widths.items():
        assert first.masks[kind].sum(1).tolist() == [n_selected(width, 10)] * ffn.n_layers
        assert torch.equal(first.masks[kind], again.masks[kind])
    assert any(not torch.equal(first.masks[kind], other.masks[kind]) for kind in ffn.widths)
    assert first.provenance["control"] == "random" and first.provenance["seed"] == 1 and first.provenance["k"] == 10
