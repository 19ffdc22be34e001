"""General text and the loss on it (beyond the paper, issue 27)."""
import pytest
import torch

from taskneurons.errors import TaskNeuronsError
from taskneurons.evaluation.general import general_loss
from taskneurons.models import load_model
from taskneurons.tasks.general import general_text, passages


def test_the_two_roles_never_share_a_passage_and_draws_are_seeded():
    scored, held_out = set(general_text("score", 200)), set(general_text("eval", 200))
    assert not scored & held_out and len(scored) == len(held_out) == 200
    assert general_text("eval", 5, seed=1) == general_text("eval", 5, seed=1) != general_text("eval", 5, seed=2)
    assert all(":" not in p[:30] or not p[:30].split(":")[0].isupper() for p in passages())  # no speaker tags


def test_asking_for_more_passages_than_exist_is_one_line():
    with pytest.raises(TaskNeuronsError, match=r"general text: 100000 eval passages asked for, between 1 and \d+ exist"):
        general_text("eval", 100000)


def test_each_passage_loss_is_the_models_own_mean_next_token_loss_whatever_the_batch():
    lm = load_model("tiny-llama")
    texts = general_text("eval", 3)
    batched = general_loss(lm, texts, batch_size=3, max_length=24)
    for text, loss in zip(texts, batched["passages"]):
        ids = lm.tokenizer(text, return_tensors="pt", truncation=True, max_length=24)["input_ids"]
        with torch.no_grad():
            expected = lm.model(input_ids=ids, labels=ids).loss.item()  # transformers' own shifted mean
        assert loss == pytest.approx(expected, rel=1e-5)
    assert batched["loss"] == pytest.approx(sum(batched["passages"]) / 3)
