"""Evaluation: metrics against hand computations, label ranking against a brute-force likelihood."""
import pytest
import torch

from taskneurons.errors import TaskNeuronsError
from taskneurons.evaluation import CLASSIFICATION_METHODS, accuracy, evaluate, generate, normalize_label, rouge_l
from taskneurons.evaluation.predict import label_logprobs, rank_labels
from taskneurons.experiments.kit import Settings
from taskneurons.tasks import Example, Task, load_task
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


def test_normalisation_for_exact_match():
    assert [normalize_label(t) for t in [" Positive.", "positive\nmore", "POSITIVE . ", "Science or Technology"]] == \
        ["positive", "positive", "positive", "science or technology"]
    assert accuracy(["positive sentiment", "pos", "Positive."], ["positive"] * 3) == pytest.approx(100 / 3)


def _brute_force(lm, prompt, label, eos=False):
    """log p(label tokens [, EOS] | prompt) from one forward pass over the whole sequence."""
    p, t = encode_prompt(lm.tokenizer, prompt, 256), encode_target(lm.tokenizer, label)
    t = t + [lm.tokenizer.eos_token_id] if eos else t
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


PROMPTS = ["Hello there, how", "A much longer prompt with more characters in it.", "x"]
LABELS = ["yes", "no way", "maybe so sure"]


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2"])
def test_eos_terminated_ranking_equals_full_sequence_likelihood(tiny, name):
    lm = tiny(name)
    got = label_logprobs(lm, PROMPTS, LABELS, eos=True)
    expected = torch.tensor([[_brute_force(lm, p, lab, eos=True) for lab in LABELS] for p in PROMPTS])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["rank", "rank_mean", "rank_eos"])
@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2", "tiny-opt"])
def test_each_ranking_picks_the_brute_force_best_label(tiny, name, method):
    lm = tiny(name)
    options = CLASSIFICATION_METHODS.get(method).rank
    eos = options.get("eos", False)

    def score(prompt, label):  # summed, or per scored token (label tokens, + EOS for rank_eos)
        total = _brute_force(lm, prompt, label, eos)
        count = len(encode_target(lm.tokenizer, label)) + eos
        return total / count if options.get("length_normalize") else total

    expected = [max(LABELS, key=lambda lab: score(p, lab)) for p in PROMPTS]
    assert rank_labels(lm, PROMPTS, LABELS, **options) == expected


def test_evaluation_methods_are_registered_in_one_place(tiny):
    assert list(CLASSIFICATION_METHODS) == ["generate", "rank", "rank_mean", "rank_eos"]
    lm, task = tiny("tiny-llama"), _classification_task()
    for method in ("rank_mean", "rank_eos"):
        result = evaluate(lm, task, method=method, progress=False)
        ranked = rank_labels(lm, [ex.prompt for ex in task.split("test")], task.labels,
                             **CLASSIFICATION_METHODS.get(method).rank)
        assert result.method == method and result.predictions == ranked
    with pytest.raises(TaskNeuronsError) as e:
        evaluate(lm, task, method="rank_meen", progress=False)
    assert str(e.value) == ("unknown evaluation method 'rank_meen' (did you mean 'rank_mean'?); "
                            "methods: generate, rank, rank_mean, rank_eos")
    with pytest.raises(TaskNeuronsError, match=r"option eval_method='ranked' is not one of \['generate', 'rank'"):
        Settings(model="tiny-llama", eval_method="ranked")


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


def _classification_task():
    prompts = ["p0", "a longer prompt 1", "p2 mid", "the fourth prompt, longest of them all", "p4", "x5"]
    return Task("t", "classification", {"test": [Example(p, lab) for p, lab in zip(prompts, "ababba")]},
                labels=("a", "b"))


def test_ranking_predicts_the_most_likely_label_and_scores_each_example(tiny):
    lm, task = tiny("tiny-llama"), _classification_task()
    ranked = evaluate(lm, task, batch_size=4, progress=False)  # two batches of unequal lengths
    examples = task.split("test")
    expected = [max(task.labels, key=lambda lab: _brute_force(lm, ex.prompt, lab)) for ex in examples]
    assert ranked.predictions == expected
    assert ranked.outcomes == [100.0 * (p == ex.target) for p, ex in zip(expected, examples)]
    assert ranked.score == pytest.approx(sum(ranked.outcomes) / 6) and ranked.n == 6


def test_generation_exact_match_scores_each_greedy_continuation(tiny):
    lm, task = tiny("tiny-llama"), _classification_task()
    generated = evaluate(lm, task, method="generate", batch_size=4, progress=False)
    examples = task.split("test")
    width = max(len(encode_target(lm.tokenizer, lab)) for lab in task.labels) + 1
    one_by_one = [generate(lm, [ex.prompt], max_new_tokens=width)[0] for ex in examples]
    assert generated.predictions == one_by_one and generated.method == "generate"
    hand = [100.0 * (p.strip().split("\n")[0].rstrip(".").strip().casefold() == ex.target) for p, ex in
            zip(one_by_one, examples)]
    assert generated.outcomes == hand and generated.score == pytest.approx(sum(hand) / 6)


def test_rouge_outcomes_are_per_example_rouge_l(tiny):
    lm = tiny("tiny-llama")
    task = Task("g", "generation", {"test": [Example("abc", "the cat sat"), Example("de", "on the mat")]})
    result = evaluate(lm, task, max_new_tokens=4, progress=False)
    assert result.outcomes == [pytest.approx(rouge_l([p], [t])) for p, t in zip(result.predictions, result.targets)]


@pytest.mark.parametrize("name", ["tiny-llama", "tiny-gpt2", "tiny-gemma3"])
def test_labels_ranked_in_chunks_of_repeated_cache_equal_full_sequence_likelihood(tiny, name, monkeypatch):
    from taskneurons.models import memory

    monkeypatch.setattr(memory, "LABEL_CACHE_BYTES", 1)  # one label per chunk: the cache copied for each
    lm = tiny(name)
    got = label_logprobs(lm, PROMPTS, LABELS)
    expected = torch.tensor([[_brute_force(lm, p, lab) for lab in LABELS] for p in PROMPTS])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_evaluate_limit_covers_every_label_of_a_label_sorted_task(tiny):
    from .conftest import SHARED_DATA

    yahoo = load_task("yahoo", data_root=str(SHARED_DATA))
    assert len({ex.target for ex in yahoo.split("test")[:10]}) == 1  # the file is sorted by label
    result = evaluate(tiny("tiny-llama"), yahoo, limit=10, progress=False)
    assert sorted(result.targets) == sorted(yahoo.labels)  # 10 classes of equal share: one example each


def test_evaluate_limit_is_the_sample_of_eval_limit_and_of_the_experiments(tiny, tmp_path):
    import json

    from taskneurons.cli import main
    from taskneurons.evaluation.evaluate import limited
    from taskneurons.experiments.kit import ExamplePlan

    from .conftest import SHARED_DATA

    yahoo = load_task("yahoo", data_root=str(SHARED_DATA))
    ours = evaluate(tiny("tiny-llama"), yahoo, limit=12, seed=3, progress=False)
    out = tmp_path / "r.json"
    assert main(["eval", "--model", "tiny-llama", "--task", str(SHARED_DATA / "yahoo"), "--limit", "12", "--seed", "3",
                 "--out", str(out)]) == 0
    cli = json.loads(out.read_text())["results"][0]
    assert (cli["targets"], cli["predictions"]) == (ours.targets, ours.predictions)
    assert limited(yahoo, "test", 12, 3) == ExamplePlan.make(yahoo, 12, 0, seed=3).evaluated()
