"""Resuming a continual-learning run: killed at any stage (after training, before its state is saved; after
saving, before evaluating) and rerun, every method ends with the matrix and the bit-identical weights of an
uninterrupted run."""
import pytest

from taskneurons import io as io_module
from taskneurons.experiments.continual import Continual

from .conftest import SHARED_DATA
from .test_continual import SEQ, SEQUENTIAL, config


def rerun_until_finished(changes: dict, out, attempts: int) -> dict:
    """Run the same command again after each interrupt, as a user would, until it finishes."""
    for _ in range(attempts):
        try:
            return Continual(config(**changes), out, progress=False)()
        except KeyboardInterrupt:
            continue
    pytest.fail("the run never finished")


def test_killed_and_rerun_equals_uninterrupted(tmp_path, monkeypatch):
    seq = SEQ + [str(SHARED_DATA / "qqp")]
    changes = dict(orders=[seq], methods=SEQUENTIAL, evaluate_unseen=False, reference="diagonal")
    whole = Continual(config(**changes), tmp_path / "whole", progress=False)()

    killed = set()
    real_evaluate, real_replace = Continual.evaluate_stage, io_module.replace_folder

    def evaluate_then_die(self, method, lm, tasks, stage):
        if stage == 1 and ("eval", method.name) not in killed:  # stage 2 trained and saved, not evaluated
            killed.add(("eval", method.name))
            raise KeyboardInterrupt
        return real_evaluate(self, method, lm, tasks, stage)

    def die_before_saving(tmp, final):
        if final.name == "stage3" and ("save", final.parent.name) not in killed:  # stage 3 trained, state unsaved
            killed.add(("save", final.parent.name))
            raise KeyboardInterrupt
        return real_replace(tmp, final)

    monkeypatch.setattr(Continual, "evaluate_stage", evaluate_then_die)
    monkeypatch.setattr(io_module, "replace_folder", die_before_saving)  # the stage folder's last rename
    resumed = rerun_until_finished(changes, tmp_path / "killed", 2 * len(SEQUENTIAL) + 1)
    assert len(killed) == 2 * len(SEQUENTIAL)
    for label, result in whole["orders"]["custom1"]["methods"].items():
        again = resumed["orders"]["custom1"]["methods"][label]
        assert again["by_evaluation"] == result["by_evaluation"], label
        assert [t["weights"] for t in again["train"]] == [t["weights"] for t in result["train"]], label


def test_resumed_run_keeps_every_evaluation_methods_scores(tmp_path, monkeypatch):
    changes = dict(methods=["seqft", "ncft"], also_evaluate=["rank", "rank_eos"], reference="diagonal")
    whole = Continual(config(**changes), tmp_path / "whole", progress=False)()
    real_evaluate, killed = Continual.evaluate_stage, set()

    def evaluate_then_die(self, method, lm, tasks, stage):
        if stage == 1 and method.name not in killed:
            killed.add(method.name)
            raise KeyboardInterrupt
        return real_evaluate(self, method, lm, tasks, stage)

    monkeypatch.setattr(Continual, "evaluate_stage", evaluate_then_die)
    resumed = rerun_until_finished(changes, tmp_path / "killed", 3)
    assert killed == {"seqft", "ncft"}
    for label, result in whole["orders"]["custom1"]["methods"].items():
        again = resumed["orders"]["custom1"]["methods"][label]
        assert list(again["by_evaluation"]) == [whole["config"]["eval_method"], "rank", "rank_eos"], label
        assert again["by_evaluation"] == result["by_evaluation"], label
    assert resumed["by_evaluation"] == whole["by_evaluation"]


def test_a_resumed_wncft_adopts_only_after_stages_with_ncfts_weights(tmp_path, monkeypatch):
    """W-NCFT killed after training its own first stage (as older code did): it adopts NCFT's second stage when its
    first stage's weights are NCFT's, and trains it itself when they are not (non-deterministic kernels)."""
    from taskneurons.experiments.continual import experiment
    from taskneurons.experiments.continual.methods.wncft import WNCFT

    changes = dict(methods=["ncft", "wncft"], evaluate_unseen=False)
    real_train = WNCFT.train_stage

    def train_then_die(self, lm, stage, task):
        if stage == 1:
            raise KeyboardInterrupt
        return real_train(self, lm, stage, task)

    for case in ("same", "other"):
        out = tmp_path / case
        with monkeypatch.context() as patch:
            patch.setattr(experiment, "adopted_from", lambda spec, earlier: None)  # W-NCFT trains, as before adoption
            patch.setattr(WNCFT, "train_stage", train_then_die)
            with pytest.raises(KeyboardInterrupt):
                Continual(config(**changes), out, progress=False)()
        if case == "other":
            first = out / "steps" / "custom1_W-NCFT_stage1_train.json"
            first.write_text(first.read_text().replace('"weights": "', '"weights": "other-'))
        train = Continual(config(**changes), out, progress=False)()["orders"]["custom1"]["methods"]["W-NCFT"]["train"]
        assert "adopted_from" not in train[0] and (train[1].get("adopted_from") == "NCFT") is (case == "same")
