"""Attribution fidelity on a tiny model: the default scorer estimates Eq. 2 (the loss change of zeroing a neuron)."""
import torch

from taskneurons.neurons.fidelity import attribution_fidelity, sample_neurons, true_changes
from taskneurons.experiments.kit import Selection
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet, deactivate
from taskneurons.tasks import Example

EXAMPLES = [Example(f"Review {i}: {'good' if i % 2 else 'bad'} film {'!' * i}", ["negative", "positive"][i % 2])
            for i in range(10)]


def test_the_default_scorer_ranks_neurons_as_zeroing_them_does():
    lm = load_model("tiny-llama")
    lm.model.double()
    default = Selection()
    variant = f"{default.scorer_options.get('aggregation', 'abs_sum')}/{default.tokens}"
    result = attribution_fidelity(lm, EXAMPLES, per_cell=12, variants=[variant, "mean_abs/target"], batch_size=4,
                                  progress=False, n_boot=100)
    cells = [r for r in result["rows"] if r["variant"] == variant and r["truth"] == "dataset"]
    assert len(cells) == 4 and all(r["spearman"] >= 0.9 for r in cells), [r["spearman"] for r in cells]


def test_true_changes_are_the_loss_differences_of_zeroing_one_neuron():
    lm = load_model("tiny-gpt2")
    neurons = sample_neurons(lm, [1], per_cell=2, seed=3)
    truth = true_changes(lm, EXAMPLES[:3], neurons, batch_size=2, progress=False)
    from taskneurons.tasks.batching import training_batch
    from taskneurons.tasks.loss import target_loss

    def loss():  # all three examples in one batch, summed target loss
        with torch.no_grad():
            return float(target_loss(lm.model, training_batch(lm.tokenizer, EXAMPLES[:3], padding_side="left")))
    base = loss()
    for (layer, kind, index), measured in zip(neurons, truth["dataset"]):
        one = NeuronSet.empty(lm.ffn)
        one.masks[kind][layer, index] = True
        with deactivate(lm, one):
            assert abs(abs(loss() - base) - measured) < 1e-4


def test_the_fidelity_command_prints_the_table_and_refuses_a_bad_layer(tmp_path, capsys):
    from taskneurons.cli import main

    assert main(["fidelity", "--model", "tiny-llama", "--task", "rotten_tomatoes", "--n", "4", "--per-cell", "3",
                 "--variants", "abs_sum/all", "--layers", "1", "--out", str(tmp_path / "f.json")]) == 0
    out = capsys.readouterr().out
    assert "abs_sum/all" in out and "L1 inner" in out and (tmp_path / "f.json").is_file()
    assert main(["fidelity", "--model", "tiny-llama", "--task", "rotten_tomatoes", "--layers", "7"]) == 2
    assert capsys.readouterr().err.strip() == "error: --layers: [7] are not layers of tiny-llama (0..1)"
