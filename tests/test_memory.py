"""The memory planner: its parts against a hand computation, and a refusal that names a batch size that fits."""
import pytest

from taskneurons.errors import TaskNeuronsError
from taskneurons.models import load_model
from taskneurons.models.memory import check_fits, estimate


def test_ranking_plan_is_the_hand_computation():
    lm = load_model("tiny-llama")  # 2 layers, hidden 32, FFN 48, 2 KV heads of 8, vocabulary 259, float32
    plan = estimate(lm.model, "rank", batch_size=4, max_length=10, n_labels=3, label_tokens=2)
    weights = sum(p.numel() for p in lm.model.parameters()) * 4
    cache = 2 * 2 * 4 * 10 * (2 * 8) * 4  # keys and values x layers x batch x tokens x KV width x bytes
    assert plan.parts == {"weights": weights, "kv cache": cache * (1 + 3), "logits": 4 * 4 * 259 * (1 + 2 * 3 * 2),
                          "activations": 4 * 10 * (32 + 48) * 4}
    assert plan.per_example == sum(estimate(lm.model, "rank", 5, 10, n_labels=3, label_tokens=2).parts.values()) - plan.total


def test_full_fine_tuning_holds_gradients_and_two_moments_the_tuner_far_less():
    lm = load_model("tiny-llama")
    n = sum(p.numel() for p in lm.model.parameters())
    full = estimate(lm.model, "train", 4, 32)
    assert full.parts["gradients"] == 4 * n and full.parts["optimizer"] == 8 * n
    tuner = estimate(lm.model, "train_neurons", 4, 32, k=10)
    deltas = 2 * (5 * 2 * 32 + 4 * 48)  # per layer: ceil(4.8) inner x (gate + up rows of 32) + ceil(3.2) outer x 48
    assert tuner.parts["deltas, gradients, optimizer"] == 16 * deltas
    assert tuner.parts["activations"] == full.parts["activations"]
    assert estimate(lm.model, "train", 4, 32, gradient_checkpointing=True).parts["activations"] < full.parts["activations"]


def test_a_plan_that_does_not_fit_is_one_line_with_the_batch_size_that_does():
    lm = load_model("tiny-llama")
    plan = estimate(lm.model, "train", 8, 64)
    beyond = plan.total - plan.parts["weights"]
    free = beyond - 5 * plan.per_example  # room for 3 of the 8 examples
    with pytest.raises(TaskNeuronsError, match=r"train needs about .* GiB beyond the weights at batch_size 8 .* "
                                               r"batch_size 3 fits"):
        check_fits(plan, 8, "cuda:0", free=free)
    check_fits(plan, 8, "cuda:0", free=beyond)  # exactly enough: no error
    check_fits(plan, 8, "cpu")  # the host is not checked


def test_sharded_plans_divide_weights_and_training_state_and_add_two_whole_blocks():
    lm = load_model("tiny-llama")
    whole, half = estimate(lm.model, "train", 4, 32), estimate(lm.model, "train", 4, 32, shards=2)
    block = sum(p.numel() * 4 for p in lm.ffn.blocks[0].parameters())
    for name in ("weights", "gradients", "optimizer"):
        assert half.parts[name] == -(-whole.parts[name] // 2)
    assert half.parts["activations"] == whole.parts["activations"]  # each process its own batch
    assert half.parts["gathered blocks"] == 2 * block and "gathered blocks" not in whole.parts
    assert half.sharded == whole.parts["gradients"] + whole.parts["optimizer"]


def test_a_zero2_plan_keeps_whole_weights_and_divides_the_training_state():
    lm = load_model("tiny-llama")
    whole = estimate(lm.model, "train", 4, 32)
    zero2 = estimate(lm.model, "train", 4, 32, shards=2, whole_weights=True)
    assert zero2.parts["weights"] == whole.parts["weights"] and "gathered blocks" not in zero2.parts
    for name in ("gradients", "optimizer"):
        assert zero2.parts[name] == -(-whole.parts[name] // 2)


def test_a_sharded_plan_that_does_not_fit_names_the_process_count_that_does():
    lm = load_model("tiny-llama")
    plan = estimate(lm.model, "train", 4, 32, shards=2)
    rest = plan.total - plan.parts["weights"] - plan.parts["gradients"] - plan.parts["optimizer"]
    free = rest + int(plan.sharded / 3.5)  # the training state fits over 4 processes, not over 2 or 3
    with pytest.raises(TaskNeuronsError, match=r"; or shard over 4 processes \(FSDP2, ZeRO-3\)$"):
        check_fits(plan, 4, "cuda:0", free=free)
