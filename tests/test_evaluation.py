"""Evaluation: metrics against hand computations, label ranking against a brute-force likelihood."""
import pytest
import torch

from taskneurons.evaluation import accuracy, evaluate, generate, rouge_l
from taskneurons.evaluation.predict import label_logprobs
from taskneurons.tasks import Example, Task
from taskneurons.tasks.batching import IGNORE, encode_prompt, encode_target, training_batch


def test_accuracy_exact_match_after_normalisation():
    preds = ["positive", " Negative.\nmore text", "neutral", "pos"]
    targets = ["positive", "negative", "positive", "positive"]
    assert accuracy(preds, targets) == 50.0


def test_rouge_l_against_hand_computed_lcs():
    # "the cat sat on the mat" vs "the cat is on the mat": LCS = the cat on the mat = 5 tokens of 6 and 6.
    assert rouge_l(["the cat sat on the mat"], ["the cat is on the mat"]) == pytest.approx(100 * 5 / 6)
    # LCS 2 ("a c"): precision 2/3, recall 2/4 -> F = 2PR/(P+R) = 4/7
    assert rouge_l(["a b c"], ["a x c y"]) == pytest.approx(100 * 4 / 7)
    assert rouge_l(["same text", "nothing"], ["same text", "else"]) == pytest.approx(50.0)


def _brute_force(lm, prompt, label):
    p, t = encode_prompt(lm.tokenizer, prompt, 256), encode_target(lm.tokenizer, label)
    with torch.no_grad():
        logp = lm.model(torch.tensor([p + t])).logits[0].log_softmax(-1)
    return sum(logp[len(p) - 1 + k, t[k]].item() for k in range(len(t)))


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2", "tiny-bloom", "tiny-opt", "tiny-gpt-neox", "tiny-gemma3"])
def test_label_ranking_equals_full_sequence_likelihood(tiny, name):
    lm = tiny(name)
    prompts = ["Hello there, how", "A much longer prompt with more characters in it.", "x"]
    labels = ["yes", "no way", "maybe so sure"]
    got = label_logprobs(lm, prompts, labels)
    expected = torch.tensor([[_brute_force(lm, p, lab) for lab in labels] for p in prompts])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_batched_generation_equals_one_by_one(tiny):
    lm = tiny("tiny-llama")
    prompts = ["short", "a somewhat longer prompt", "mid length"]
    batched = generate(lm, prompts, max_new_tokens=6)
    assert batched == [generate(lm, [p], max_new_tokens=6)[0] for p in prompts]


def test_training_batch_puts_loss_on_target_and_eos_only(tiny):
    lm = tiny("tiny-llama")
    batch = training_batch(lm.tokenizer, [Example("ab", "cd"), Example("long prompt", "x")])
    labels, ids = batch["labels"], batch["input_ids"]
    # byte tokenizer: target " cd" is 3 tokens, then EOS; the prompt "ab" is 2 tokens
    assert labels[0].tolist()[:6] == [IGNORE, IGNORE, *ids[0, 2:5].tolist(), lm.tokenizer.eos_token_id]
    assert (labels[1] != IGNORE).sum() == 3 and batch["attention_mask"][0].sum() == 6


def test_evaluate_classification_both_methods(tiny):
    lm = tiny("tiny-llama")
    task = Task("t", "classification", {"test": [Example(f"p{i}", lab) for i, lab in enumerate("abab")]}, labels=("a", "b"))
    ranked = evaluate(lm, task, progress=False)
    generated = evaluate(lm, task, method="generate", progress=False)
    assert ranked.n == 4 and ranked.metric == "accuracy" and 0 <= ranked.score <= 100
    assert ranked.score == accuracy(ranked.predictions, ranked.targets)
    assert generated.method == "generate" and len(generated.predictions) == 4
