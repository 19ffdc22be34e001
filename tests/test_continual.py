"""Continual learning on tiny models: every method end to end, NCFT's neuron-only updates, W-NCFT's reweighting,
O-LoRA's regulariser, resuming after a kill, and one-line errors for bad input."""
import json

import pytest
import torch
import yaml

from taskneurons.cli import main
from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.continual import Continual, ContinualConfig
from taskneurons.experiments.continual.methods import Context, get_method
from taskneurons.experiments.continual.methods.base import make_options
from taskneurons.experiments.continual.methods.olora import orthogonality_loss
from taskneurons.models import load_model
from taskneurons.neurons import NeuronSet
from taskneurons.tasks import load_task

from .conftest import SHARED_DATA

SEQ = [str(SHARED_DATA / "sst2"), str(SHARED_DATA / "rte")]
TINY = dict(model="tiny-llama", training={"n_train": 4, "max_steps": 2}, n_eval=4, batch_size=2, max_length=48,
            method_options={"ncft": {"selection": {"n_score": 2}, "lr": 1e-2},
                            "wncft": {"selection": {"n_score": 2}, "n_vector": 2, "lr": 1e-2},
                            "ewc": {"n_fisher": 2}, "replay": {"per_task": 2}, "seqlora": {"r": 2}, "olora": {"r": 2},
                            "seqft": {"lr": 1e-3}})
SEQUENTIAL = ["seqft", "seqlora", "olora", "replay", "ewc", "ncft", "wncft"]


def config(**changes) -> ContinualConfig:
    return ContinualConfig(**{**TINY, "orders": [SEQ], **changes})


def context(tmp_path, **changes) -> Context:
    return Context(config(**changes), tmp_path / "shared", progress=False)


def build(name, ctx, **options):
    cls = get_method(name)
    return cls(make_options(cls, {**TINY["method_options"].get(name, {}), **options}), ctx)


def params(lm) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in lm.model.named_parameters()}


def neuron_mask(lm, neurons: NeuronSet) -> dict[int, torch.Tensor]:
    """id(param) -> bool mask of the entries that belong to ``neurons`` (from FFN.slices)."""
    masks = {}
    for layer in range(lm.ffn.n_layers):
        for kind in neurons.masks:
            for s in lm.ffn.slices(layer, kind):
                mask = masks.setdefault(id(s.param), torch.zeros_like(s.param, dtype=torch.bool))
                mask[s.index(neurons.indices(layer, kind))] = True
    return masks


# --- every method, through the command line ------------------------------------------------------------

def test_every_method_runs_through_the_command(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**TINY, "orders": [SEQ], "also_evaluate": ["rank"]}))
    assert main(["continual", "--config", str(path), "--out", str(tmp_path / "run"), "--set", "seed=0"]) == 0
    out = tmp_path / "run"
    results = json.loads((out / "results.json").read_text())
    order = results["orders"]["custom1"]
    methods = order["methods"]
    assert list(methods) == ["SeqFT", "SeqLoRA", "O-LoRA", "EPI", "Replay", "EWC", "NCFT", "W-NCFT", "Per-Task FT",
                             "Multi-Task FT"]
    assert order["tasks"] == ["sst2", "rte"] and len(order["by_evaluation"]["generate"]["zero_shot"]) == 2
    assert order["evaluation"] == "generate" and list(order["by_evaluation"]) == ["generate", "rank"]
    assert results["version"] == 2 and list(results["by_evaluation"]) == ["generate", "rank"]
    for evaluation in ("generate", "rank"):  # the main scores, and those of also_evaluate, each its own peer
        scores = order["by_evaluation"][evaluation]
        for label, result in methods.items():
            assert list(result["by_evaluation"]) == ["generate", "rank"], label
            view = result["by_evaluation"][evaluation]
            if result["kind"] == "joint":
                assert len(view["final"]) == 2 and view["metrics"]["average_accuracy"] == sum(view["final"]) / 2
                assert view["n"] == [4, 4]
                continue
            a = view["matrix"]
            assert len(a) == 2 and all(isinstance(v, float) for row in a for v in row)
            assert view["n"] == [[4, 4], [4, 4]] and list(view["final_outcomes"]) == ["sst2", "rte"]
            assert [sum(o) / len(o) for o in view["final_outcomes"].values()] == [a[0][1], a[1][1]]
            m = view["metrics"]
            assert m["average_accuracy"] == (a[0][1] + a[1][1]) / 2 and m["backward_transfer"] == a[0][1] - a[0][0]
            assert m["forward_transfer"] == a[1][0] - scores["zero_shot"][1]
            expected_fg = None if scores["reference"][0] == 0 else pytest.approx(a[0][1] / scores["reference"][0] * 100)
            assert m["forgetting_rates"][1] == expected_fg
            ci = view["intervals"]["average_accuracy"]
            assert ci["low"] <= m["average_accuracy"] <= ci["high"] and ci["n"] == {"sst2": 4, "rte": 4}
        per_task = methods["Per-Task FT"]["by_evaluation"][evaluation]["matrix"]
        assert scores["reference"] == [per_task[0][0], per_task[1][1]] and per_task[1][0] == scores["zero_shot"][1]
    gaps = results["by_evaluation"]["rank"]["gaps"]["NCFT"]["average_accuracy"]
    ncft = methods["NCFT"]["by_evaluation"]
    assert gaps["per_order"] == [ncft["rank"]["metrics"]["average_accuracy"] - ncft["generate"]["metrics"]["average_accuracy"]]
    assert "gaps" not in results["by_evaluation"]["generate"]
    assert gaps["low"] is None and "fewer than 3" in gaps["test"]  # one order: no interval over orders
    stage = json.loads((out / "steps" / "custom1_NCFT_stage2_eval.json").read_text())
    assert stage["by_evaluation"]["rank"]["scores"]["sst2"] == ncft["rank"]["matrix"][0][1]
    assert len(stage["by_evaluation"]["generate"]["outcomes"]["rte"]) == len(stage["by_evaluation"]["rank"]["outcomes"]["rte"]) == 4
    ncft, seqft = methods["NCFT"]["train"], methods["SeqFT"]["train"]
    assert ncft[0]["trainable"] < seqft[0]["trainable"] and ncft[0]["steps"] == 2
    assert 0.05 < ncft[0]["neuron_fraction"] < 0.15
    assert methods["Replay"]["train"][1]["replayed"] == 2 and methods["O-LoRA"]["train"][1]["adapters"] == 2
    for label, result in methods.items():  # one budget: 2 steps a stage, Replay too; Multi-Task FT 2 stages' worth
        assert [stage["steps"] for stage in result["train"]] == ([4] if result["kind"] == "joint" else [2, 2]), label
    cos = methods["W-NCFT"]["describe"]["task_cosine"]
    assert cos[0][0] == pytest.approx(1.0) and len(methods["W-NCFT"]["describe"]["final_weights"]) == 2
    # state folders: every stage for NCFT (restoring replays them), the last one for the others
    assert sorted(p.name for p in (out / "custom1" / "NCFT").iterdir()) == ["stage1", "stage2"]
    assert sorted(p.name for p in (out / "custom1" / "SeqFT").iterdir()) == ["stage2"]
    assert json.loads((out / "custom1" / "O-LoRA" / "stage2" / "adapters.json").read_text())["adapters"] == ["default", "task2"]
    plots = ["NCFT.matrix.png", "seen_accuracy.png", "NCFT.rank.matrix.png", "seen_accuracy.rank.png"]
    for evaluation, suffix in (("generate", ""), ("rank", ".rank")):  # FG curves where some FG_j is defined
        views = [r["by_evaluation"][evaluation] for r in methods.values()]
        plots += [f"fg_curves{suffix}.png"] * any(v["metrics"].get("forgetting_rates", [None, None])[1] is not None
                                                    for v in views)
    for name in plots:
        assert (out / "plots" / "custom1" / name).stat().st_size > 1000
    summary = (out / "summary.md").read_text()
    assert "| NCFT |" in summary and "AA mean ± std" in summary and "AA 95% CI (examples)" in summary
    assert "CI (runs): none, 1 run(s)" in summary and "n per task: sst2 4, rte 4" in summary
    assert "Δ AA (rank − generate)" in summary and (out / "plots" / "custom1" / "NCFT.rank.matrix.png").is_file()
    for name, plan in results["examples"].items():  # nothing scored, trained or replayed is ever evaluated
        evaluated = {(plan["eval"]["split"], i) for i in plan["eval"]["indices"]}
        drawn = [key for key in plan if key.split(":")[0] in ("train", "score", "vector")]
        assert {"train:4", "score:2", "vector:2"} <= set(drawn), drawn
        for key in drawn:
            assert not evaluated & {(plan[key]["split"], i) for i in plan[key]["indices"]}, (name, key)
    assert "custom1: continual-learning metrics" in capsys.readouterr().out


def test_every_method_gets_the_same_optimizer_steps_per_stage():
    c = config(training={"n_train": 10, "epochs": 2}, batch_size=4)
    assert c.stage_spec(1e-3).max_steps == 2 * 3  # epochs x ceil(10 / 4)
    assert c.stage_spec(1e-3, stages=3).max_steps == 18
    assert c.stage_spec(1e-3, {"grad_accum": 3}).max_steps == 2 * 3  # a method's override of the batching
    assert c.stage_spec(1e-3, {"max_steps": 5}).max_steps == 5  # a method's own budget, on purpose


def test_a_test_only_task_is_trained_on_a_part_of_its_test_split_never_on_evaluated_examples(tmp_path):
    run = Continual(config(orders=[["sst2_yang", SEQ[1]]], data_root=str(SHARED_DATA), methods=["ncft"],
                           reference="diagonal", evaluate_unseen=False), tmp_path, progress=False)
    results = run()
    plan = results["examples"]["sst2_yang"]
    assert plan["eval"]["split"] == plan["pool"]["split"] == "test"
    assert not set(plan["eval"]["indices"]) & (set(plan["train:4"]["indices"]) | set(plan["score:2"]["indices"]))


# --- NCFT ----------------------------------------------------------------------------------------------

def test_ncft_trains_only_the_current_tasks_neurons(tmp_path):
    lm = load_model("tiny-llama")
    tasks = [load_task(s) for s in SEQ]
    method = build("ncft", context(tmp_path), exclude_claimed=True)
    method.setup(lm, tasks)
    for stage, task in enumerate(tasks):
        before = params(lm)
        info = method.train_stage(lm, stage, task)
        inside = neuron_mask(lm, method.sets[-1])
        changed_any = False
        for name, p in lm.model.named_parameters():
            changed = p.detach() != before[name]
            outside = ~inside.get(id(p), torch.zeros_like(changed))
            assert not (changed & outside).any(), f"stage {stage}: {name} changed outside the task's neuron slices"
            changed_any |= bool(changed.any())
        assert changed_any and info["trainable"] > 0
        assert not any("neuron_delta" in n for n, _ in lm.model.named_parameters())  # the tuner is gone, merged
    first, second = method.sets
    assert (first & second).is_empty() and first.count() == second.count()  # exclude_claimed: the next k% instead


def test_random_ncft_trains_random_sets_of_ncfts_counts_drawn_afresh_per_stage_order_and_seed(tmp_path):
    lm = load_model("tiny-llama")
    tasks = [load_task(s) for s in SEQ]
    ncft, random = build("ncft", context(tmp_path)), build("random_ncft", context(tmp_path))
    assert type(random).draws(random.options) == []  # scope "layer": nothing scored
    ncft.setup(lm, tasks)
    random.setup(lm, tasks)
    chosen = random.select(lm, 0, tasks[0])
    wanted = ncft.select(lm, 0, tasks[0])
    for kind in wanted.masks:  # NCFT's count in every (layer, kind), other neurons
        assert torch.equal(chosen.masks[kind].sum(1), wanted.masks[kind].sum(1))
    assert chosen != wanted and chosen == random.select(lm, 0, tasks[0])  # seeded: the same draw again
    assert chosen != random.select(lm, 1, tasks[0])  # each stage its own draw
    other_order = build("random_ncft", context(tmp_path))
    other_order.setup(lm, tasks[::-1])
    assert chosen != other_order.select(lm, 0, tasks[0])  # each order its own draw
    other_seed = build("random_ncft", context(tmp_path))
    other_seed.setup(lm, tasks)
    other_seed.ctx.training_seed = 1
    assert chosen != other_seed.select(lm, 0, tasks[0])  # each training seed its own draw
    before = params(lm)
    random.train_stage(lm, 0, tasks[0])
    inside = neuron_mask(lm, random.sets[-1])
    for name, p in lm.model.named_parameters():  # trained: its own neurons' slices, nothing else
        changed = p.detach() != before[name]
        assert not (changed & ~inside.get(id(p), torch.zeros_like(changed))).any(), name


def test_ncft_and_wncft_against_their_random_sets_are_claims_of_the_run_in_aa_and_bwt(tmp_path):
    options = {**TINY["method_options"], "random_wncft": TINY["method_options"]["wncft"]}
    run = Continual(config(methods=["ncft", "random_ncft", "wncft", "random_wncft"], method_options=options),
                    tmp_path / "run", progress=False)
    run()
    summary = (tmp_path / "run" / "summary.md").read_text()
    for high, low in (("NCFT", "Random NCFT"), ("W-NCFT", "Random W-NCFT")):
        for what in ("AA", "BWT"):
            assert f"{high}'s {what} above {low}'s (a control beyond the paper)" in summary


def test_wncft_adopts_ncfts_stages_and_equals_wncft_trained_alone(tmp_path):
    options = {**TINY["method_options"], "random_ncft": TINY["method_options"]["ncft"],
               "random_wncft": TINY["method_options"]["wncft"]}
    methods = ["ncft", "random_ncft", "wncft", "random_wncft", {"method": "wncft", "label": "W-NCFT lr", "lr": 5e-3}]
    together = Continual(config(methods=methods, method_options=options), tmp_path / "together", progress=False)()
    scale = {"method": "wncft", "label": "W-NCFT scale", "reading": "scale"}  # another reading: NCFT's training
    alone = Continual(config(methods=["wncft", "random_wncft", scale], method_options=options), tmp_path / "alone",
                      progress=False)()
    ran, by_itself = together["orders"]["custom1"]["methods"], alone["orders"]["custom1"]["methods"]
    for label, twin in (("W-NCFT", "NCFT"), ("Random W-NCFT", "Random NCFT")):
        assert [stage["adopted_from"] for stage in ran[label]["train"]] == [twin, twin]
        assert [stage["weights"] for stage in ran[label]["train"]] == [stage["weights"] for stage in ran[twin]["train"]]
        assert [stage["weights"] for stage in ran[label]["train"]] == [stage["weights"] for stage in by_itself[label]["train"]]
        assert ran[label]["by_evaluation"] == by_itself[label]["by_evaluation"]
        assert not any("adopted_from" in stage for stage in by_itself[label]["train"])
    assert not any("adopted_from" in stage for stage in ran["W-NCFT lr"]["train"])  # other training: its own
    assert [stage["adopted_from"] for stage in by_itself["W-NCFT scale"]["train"]] == ["W-NCFT", "W-NCFT"]


def test_general_ability_is_measured_after_each_stage_and_tabled(tmp_path):
    Continual(config(methods=["ncft"], general_passages=2), tmp_path / "run", progress=False)()
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    losses = [stage["general_loss"] for stage in results["orders"]["custom1"]["methods"]["NCFT"]["train"]]
    assert len(losses) == 2 and all(loss > 0 for loss in losses) and losses[0] != losses[1]  # the model moved
    assert "General ability (beyond the paper)" in (tmp_path / "run" / "summary.md").read_text()


# --- W-NCFT --------------------------------------------------------------------------------------------

def hand_sets(lm):
    """Task A: inner 0, 1 of layer 0 and outer 3 of layer 1; task B: inner 1, 2 and outer 3, 4."""
    def make(inner, outer):
        masks = {kind: torch.zeros(lm.ffn.n_layers, w, dtype=torch.bool) for kind, w in lm.ffn.widths.items()}
        masks["inner"][0, inner] = True
        masks["outer"][1, outer] = True
        return NeuronSet(masks)
    return make([0, 1], [3]), make([1, 2], [3, 4])


# --- O-LoRA --------------------------------------------------------------------------------------------

def test_orthogonality_loss_by_hand():
    old = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    new = torch.tensor([[1.0, -2.0, 3.0]])
    assert float(orthogonality_loss([old], new, "abs")) == 3.0  # |1| + |-2|
    assert float(orthogonality_loss([old], new, "squared")) == 5.0
    also = torch.tensor([[0.0, 0.0, 1.0]])
    assert float(orthogonality_loss([old, also], new, "abs")) == 6.0
    assert float(orthogonality_loss([], new)) == 0.0


def test_olora_regulariser_and_frozen_earlier_adapters(tmp_path):
    lm = load_model("tiny-llama")
    tasks = [load_task(s) for s in SEQ]
    method = build("olora", context(tmp_path), lambda_orth=0.5, lambda_l2=0.1)
    method.setup(lm, tasks)
    method.train_stage(lm, 0, tasks[0])
    first = {n: p.detach().clone() for n, p in lm.model.named_parameters() if ".default." in n}
    assert any(not torch.equal(p, torch.zeros_like(p)) for n, p in first.items() if "lora_B" in n)
    method.train_stage(lm, 1, tasks[1])
    assert method.peft.active_adapters == ["default", "task2"]
    assert all(torch.equal(p, first[n]) for n, p in lm.model.named_parameters() if ".default." in n)
    named = {n: p.detach() for n, p in lm.model.named_parameters()}
    expected = 0.0
    for n, p in named.items():
        if "lora_A.default." in n:
            new_a, new_b = named[n.replace(".default.", ".task2.")], named[n.replace("lora_A.default", "lora_B.task2")]
            expected += 0.5 * float((p @ new_a.T).abs().sum()) + 0.1 * float(new_a.norm() + new_b.norm())
    assert float(method.regularizer(lm, "task2")(lm.model)) == pytest.approx(expected, rel=1e-5)


# --- bad input -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    (dict(methods=["ncfx"]), "unknown continual-learning method 'ncfx' (did you mean 'ncft'?); methods: ncft, wncft, random_ncft, random_wncft, seqft"),
    (dict(methods=[{"method": "ncft", "selectoin": {}}]), "method 'ncft' has no option 'selectoin' (did you mean 'selection'?)"),
    (dict(methods=[{"method": "ncft", "selection": {"k": 0}}]), "method 'ncft': option selection.k=0 is not a number in (0, 100]"),
    (dict(methods=["ncft", {"method": "ncft"}]), "two methods entries have the label 'NCFT'"),
    (dict(methods=[{"method": "wncft", "reading": "literal"}]), "reading 'literal' is not one of ['scale', 'snapshot']"),
    (dict(method_options={"ewx": {}}), "unknown continual-learning method 'ewx'"),
    (dict(reference="multitask_ft"), "reference 'multitask_ft' trains all tasks jointly"),
    (dict(orders=[7]), "unknown order 7"),
    (dict(orders=[[]]), "sequence 'custom1' is empty"),
    (dict(methods=[]), "option methods=[] is not a non-empty list of method names"),
    (dict(training={"options": {"weight_decay": 1}, "weight_decay": 0}), "option training.options.weight_decay is also set"),
    (dict(training={"lr_rate": 1}), "option training has no field 'lr_rate'"),
    (dict(methods=[{"method": "seqft", "train": {"n_train": 5}}]), "method 'seqft': train option(s) ['n_train'] cannot"),
    (dict(n_eval=0), "option n_eval=0 is not an integer >= 1"),
    (dict(seed="abc"), "option seed='abc' is not an integer >= 0"),
    (dict(methods=[{"method": "replay", "per_task": "5"}]), "method 'replay': option per_task='5' is not an integer"),
    (dict(methods=[{"method": "ewc", "lam": "x"}]), "method 'ewc': option lam='x' is not a number"),
    (dict(methods=[{"method": "seqft", "train": {"schedule": "bogus"}}]), "schedule 'bogus' is not one of"),
    (dict(methods=["seqft"], method_options={"ncft": {"lr": -1}}), "method 'ncft': option lr=-1 is not a number in"),
    (dict(method_options={"ncft": 5}), "option method_options.ncft=5 is not a mapping"),
    (dict(training={"n_train": 4, "lr": 1e-3}), "option training.lr is not used here"),
    (dict(orders=[["sst2_yang"]], data_root=str(SHARED_DATA), n_eval=500),
     "task 'sst2_yang' is too small: its 'test' split has 500 examples, the run asks for 500 test examples"),
    (dict(methods=[{"method": "ncft", "train": {"lr": 1}}]), "method 'ncft': train option(s) ['lr'] cannot be set per method"),
    (dict(orders=[["no_such_task"]]), "unknown task 'no_such_task'"),
    (dict(eval_method="rank_meen"), "option eval_method='rank_meen' is not one of ['generate', 'rank', 'rank_mean', "
                                   "'rank_eos'] (did you mean 'rank_mean'?)"),
    (dict(also_evaluate=["rnak"]), "option also_evaluate='rnak' is not one of"),
    (dict(also_evaluate="rank"), "option also_evaluate='rank' is not a list of names"),
    (dict(also_evaluate=["generate"]), "option also_evaluate=['generate'] repeats a method or eval_method ('generate')"),
    (dict(also_evaluate=["rank", "rank"]), "option also_evaluate=['rank', 'rank'] repeats a method"),
])
def test_bad_input_is_one_line_and_leaves_no_run_folder(tmp_path, changes, message):
    with pytest.raises(TaskNeuronsError) as e:
        Continual(config(**changes), tmp_path / "run", progress=False)  # the config fails in __post_init__, or here
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()


def test_continual_evaluates_by_exact_match_by_default_the_other_experiments_by_ranking():
    from taskneurons.experiments.generalize import GeneralizeConfig
    from taskneurons.experiments.identify import IdentifyConfig

    assert ContinualConfig(model="tiny-llama").eval_method == "generate"
    assert ContinualConfig(model="tiny-llama").also_evaluate == []
    assert IdentifyConfig.eval_method == GeneralizeConfig.eval_method == "rank"


def test_bad_input_on_the_command_line(tmp_path, capsys):
    for override, message in [("methods=[sgd]", "unknown continual-learning method 'sgd'"),
                              ("orders=[12]", "unknown order 12"), ("orders=[[]]", "is empty")]:
        assert main(["continual", "--set", "model=tiny-llama", "--set", override, "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


# --- the demo ------------------------------------------------------------------------------------------

def test_demo_compares_ncft_and_wncft_with_seqft_epi_and_random_ncft_and_writes_the_claims(tmp_path):
    from taskneurons.experiments.continual import run_continual_demo

    results = run_continual_demo("tiny-llama", tmp_path, n_train=8, n_eval=4, progress=False)
    order = results["orders"]["demo"]
    assert order["tasks"] == ["rotten_tomatoes", "bbc_news", "tweet_sentiment"]
    assert list(order["methods"]) == ["SeqFT", "EPI", "NCFT", "Random NCFT", "W-NCFT"]
    text = (tmp_path / "continual" / "summary.md").read_text()
    assert all(claim in text for claim in ("NCFT's AA above SeqFT's", "NCFT's AA above EPI's", "W-NCFT's AA above "
                                           "NCFT's", "NCFT's BWT above SeqFT's", "NCFT's AA above Random NCFT's"))
    ncft = order["methods"]["NCFT"]["by_evaluation"][order["evaluation"]]
    matrix = ncft["matrix"]
    assert matrix[2][0] is None and matrix[0][2] is not None  # only the tasks seen so far are evaluated
    fg = ncft["metrics"]["forgetting_rates"]  # against a[i][i]: no Per-Task FT in the demo
    assert len(fg) == 3 and fg[0] is None and order["by_evaluation"][order["evaluation"]]["reference"] is None
    assert (tmp_path / "continual" / "results.json").is_file()


def test_ewc_penalty_is_the_normalised_formula_with_anchors_in_the_weights_dtype(tmp_path):
    lm = load_model("tiny-llama", dtype="bfloat16")
    method = build("ewc", context(tmp_path), lam=3.0)
    g = torch.Generator().manual_seed(0)
    method.fisher = {n: torch.rand(p.shape, generator=g) for n, p in lm.model.named_parameters()}
    terms = method._terms(lm)
    assert all(anchor.dtype == torch.bfloat16 for _, _, anchor in terms)
    weight = dict(lm.model.named_parameters())["model.layers.0.mlp.up_proj.weight"]
    anchor = weight.detach().float().clone()
    with torch.no_grad():
        weight.add_(0.5)
    fisher = method.fisher["model.layers.0.mlp.up_proj.weight"]
    mean = sum(float(f.sum()) for f in method.fisher.values()) / sum(f.numel() for f in method.fisher.values())
    expected = 0.5 * 3.0 / mean * float(((weight.float() - anchor) ** 2 * fisher).sum())
    from taskneurons.experiments.continual.methods.ewc import ewc_penalty

    assert float(ewc_penalty(terms, 3.0 * method._scale())) == pytest.approx(expected, rel=1e-4)


def test_training_seeds_give_paired_runs_of_each_order(tmp_path):
    """Seed 0 is the run as it was; seed 1 trains the same examples in another order and tests the same ones."""
    one = Continual(config(methods=["seqft", "per_task_ft"]), tmp_path / "one", progress=False)()
    both = Continual(config(methods=["seqft", "per_task_ft"], training_seeds=[0, 1]), tmp_path / "both", progress=False)()
    assert list(both["orders"]) == ["custom1", "custom1.seed1"]
    first, second = (both["orders"][name]["methods"]["SeqFT"] for name in ("custom1", "custom1.seed1"))
    ev = both["config"]["eval_method"]
    assert first["by_evaluation"][ev]["matrix"] == one["orders"]["custom1"]["methods"]["SeqFT"]["by_evaluation"][ev]["matrix"]
    assert [t["weights"] for t in first["train"]] != [t["weights"] for t in second["train"]]  # another training
    assert both["examples"] == one["examples"]  # the same examples trained and tested: the runs are paired
    assert len(both["by_evaluation"][ev]["summary"]["SeqFT"]["average_accuracy"]) == 2  # one value per run
    with pytest.raises(TaskNeuronsError, match=r"option training_seeds=\[1, 1\] is not a non-empty list of distinct"):
        config(training_seeds=[1, 1])


def test_ncft_with_k_auto_trains_at_the_k_the_run_chose_on_dev_examples(tmp_path):
    methods = [{"method": "ncft", "selection": {"k": "auto", "n_score": 2}}]
    c = config(methods=methods, reference=None, evaluate_unseen=False, k_grid=[50, 10], k_budget=100.0, n_dev=3)
    results = Continual(c, tmp_path / "run", progress=False)()
    assert results["auto_k"]["k"] == 50 and results["auto_k"]["within_budget"]  # the grid's largest within budget
    expected = NeuronSet.random(load_model("tiny-llama").ffn, 50, 0, "layer")  # 50% of every (layer, kind)
    sets = NeuronSet.load(tmp_path / "run" / "custom1" / "NCFT" / "stage2" / "neurons")  # the last stage's set
    assert sets.provenance["k"] == 50 and sets.count() == expected.count()
    for plan in results["examples"].values():  # the dev examples that chose k are never evaluated
        assert not set(plan["dev:3"]["indices"]) & set(plan["eval"]["indices"]) or \
            plan["dev:3"]["split"] != plan["eval"]["split"]
    assert "k = 50% chosen by `auto`" in (tmp_path / "run" / "summary.md").read_text()
