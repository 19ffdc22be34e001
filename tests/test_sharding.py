"""Sharded weights (FSDP2, ``models/sharding.py``) in two CPU processes (torchrun, gloo) give what one unsharded
process gives; every test also checks that the weights really were sharded (a DTensor holding half of the rows in
each process), so a silent fallback to whole weights fails it."""
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from taskneurons.experiments.continual import Continual
from taskneurons.experiments.identify import Identify
from taskneurons.models import load_model

from .test_processes import EXAMPLES, ROOT, _same_outcomes, continual_config, identify_config

ADOPTING = {"method": "wncft", "label": "W-NCFT adopting", "selection": {"n_score": 2}, "lr": 1e-2}  # NCFT's options
METHODS = {"fsdp2": ["ncft", "wncft", ADOPTING, "ewc", "olora"], "zero3": ["ncft", "wncft", ADOPTING, "seqlora", "epi"],
           "zero2": ["ncft", "ewc", "olora"]}

SHARDED = """
import os
import sys
from dataclasses import replace
import taskneurons.models.loading as loading
loaded = []
_load = loading.load_model
loading.load_model = lambda *a, **k: loaded.append(_load(*a, **k)) or loaded[-1]
import taskneurons.models.zero as zero
engines = []  # the DeepSpeed trainings (ZeRO-2 keeps whole weights: that DeepSpeed trained is what shows it)
_training = zero.training
zero.training = lambda *a, **k: engines.append(1) or _training(*a, **k)
from tests.test_sharding import METHODS, export_after_training, load_saved_weights, longer_config
from tests.test_processes import continual_config, identify_config
from taskneurons.experiments.continual import Continual
from taskneurons.experiments.identify import Identify
kind, out = sys.argv[1:]
if kind == "identify":
    Identify(identify_config(), out, progress=False)()
elif kind == "continual":
    Continual(replace(continual_config(), methods=METHODS[os.environ["TASKNEURONS_SHARDING"]]), out, progress=False)()
elif kind == "longer":
    Continual(longer_config(), out, progress=False)()
elif kind == "load":
    load_saved_weights(out)
else:
    export_after_training(out)
from taskneurons import processes
from taskneurons.models import sharding
for lm in loaded if processes.is_main() else []:  # one process prints (their lines would interleave)
    w = lm.model.model.layers[0].mlp.down_proj.weight
    mine = w.to_local() if hasattr(w, "to_local") else getattr(w, "ds_tensor", w)  # this process's elements
    print("down_proj", type(w).__name__, mine.numel(), "of", tuple(sharding.shape(w)), "data", w.data.numel())
if processes.is_main():
    print("deepspeed trainings", len(engines))
processes.end(0)  # as the command line ends (processes.end)
"""
HALF = {"fsdp2": "down_proj DTensor 768 of (32, 48) data 1536",  # a DTensor's data is the whole, logically
        "zero3": "down_proj Parameter 768 of (32, 48) data 0",  # released outside the forward
        "zero2": "down_proj Parameter 1536 of (32, 48) data 1536"}  # whole weights; gradients, moments: half


def launch_sharded(kind: str, out, sharding: str = "fsdp2") -> list[str]:
    """Run ``kind`` in 2 processes sharded by ``sharding``; the printed shapes of layer 0's down_proj weight."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TASKNEURONS_SHARDING": sharding}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--no-python",
           sys.executable, "-c", SHARDED, kind, str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    shapes = [line for line in done.stdout.splitlines() if line.startswith("down_proj")]
    assert shapes and all(line == HALF[sharding] for line in shapes), shapes
    trainings = int(done.stdout.split("deepspeed trainings ")[1].split()[0])
    assert (trainings > 0) == sharding.startswith("zero") or kind == "load", trainings
    return shapes


def export_after_training(out: str) -> None:
    """Train neuron-tuner deltas on tiny-llama, save them, export the model with them merged (``out/model``)."""
    from taskneurons.export import export_checkpoint
    from taskneurons.neurons import NeuronSet
    from taskneurons.tuning import NeuronTuner, TrainConfig, train

    lm = load_model("tiny-llama")
    masks = {kind: torch.zeros(lm.ffn.n_layers, width, dtype=torch.bool) for kind, width in lm.ffn.widths.items()}
    masks["inner"][0, [1, 5, 7]] = masks["outer"][1, [2, 30]] = True
    with NeuronTuner(lm, NeuronSet(masks, {})) as tuner:  # mixed requires_grad: frozen base, trained deltas
        train(lm, EXAMPLES, tuner.parameters(), TrainConfig(lr=1e-2, batch_size=4, max_steps=3), progress=False)
        tuner.save(f"{out}/deltas")
    export_checkpoint(lm, f"{out}/model", deltas=f"{out}/deltas")


def longer_config():
    """Two stages in bfloat16, the last one generated (synced_gpus): NCFT's float32 masters, O-LoRA's frozen
    earlier adapter back-propagated through (under ZeRO-3, which refuses O-LoRA: SeqFT, DeepSpeed's bfloat16 mode
    with its float32 masters)."""
    from tests.conftest import SHARED_DATA

    two = [[str(SHARED_DATA / name) for name in ("sst2", "commongen")]]
    other = "seqft" if os.environ.get("TASKNEURONS_SHARDING") == "zero3" else "olora"
    return replace(continual_config(), orders=two, methods=["ncft", other], dtype="bfloat16")


def load_saved_weights(out: str) -> None:
    """Load ``out/w.safetensors`` into tiny-gemma (tied embeddings) and write its fingerprint to ``out/fp``."""
    from pathlib import Path

    from taskneurons.models.weights import load_weights
    from taskneurons.neurons.fingerprint import model_fingerprint

    lm = load_model("tiny-gemma")
    load_weights(lm.model, Path(out) / "w.safetensors")
    fingerprint = model_fingerprint(lm)
    from taskneurons import processes

    if processes.is_main():
        (Path(out) / "fp").write_text(fingerprint)


@pytest.mark.parametrize("sharding", ["fsdp2", "zero3"])
def test_identify_with_sharded_weights_in_two_processes_equals_one(tmp_path, sharding):
    launch_sharded("identify", tmp_path / "two", sharding)
    one = json.loads(json.dumps(Identify(identify_config(), tmp_path / "one", progress=False)()))
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    for key in ("deactivation", "finetuning", "examples"):  # weight-mode deactivation, full and neuron-only training
        _same_outcomes(two[key], one[key], key)


@pytest.mark.parametrize("sharding", ["fsdp2", "zero3", "zero2"])
def test_continual_with_sharded_weights_in_two_processes_equals_one(tmp_path, sharding):
    launch_sharded("continual", tmp_path / "two", sharding)
    config = replace(continual_config(), methods=METHODS[sharding])
    one = json.loads(json.dumps(Continual(config, tmp_path / "one", progress=False)()))
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    for key in ("by_evaluation", "orders"):  # NCFT's merges, W-NCFT's snapshots, EWC's Fisher, O-LoRA's regulariser
        _same_outcomes(two[key], one[key], key)
    if ADOPTING in METHODS[sharding]:  # NCFT's stages adopted by W-NCFT in sharded processes too
        assert all(t["adopted_from"] == "NCFT" for t in two["orders"]["custom1"]["methods"]["W-NCFT adopting"]["train"])


@pytest.mark.parametrize("sharding", ["fsdp2", "zero3"])
def test_an_export_from_sharded_training_loads_with_from_pretrained_and_equals_one_process(tmp_path, sharding):
    from transformers import AutoModelForCausalLM

    launch_sharded("export", tmp_path / "two", sharding)
    export_after_training(str(tmp_path / "one"))
    config = json.loads((tmp_path / "two" / "model" / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    two, one = (AutoModelForCausalLM.from_pretrained(tmp_path / name / "model") for name in ("two", "one"))
    base = load_model("tiny-llama").model.state_dict()
    changed = 0
    for name, value in one.state_dict().items():
        torch.testing.assert_close(two.state_dict()[name], value, rtol=1e-5, atol=1e-6)
        changed += not torch.equal(value, base[name])
    assert changed == 3  # gate and up rows of layer 0, down rows of layer 1: the merged deltas, nothing else


@pytest.mark.parametrize("sharding", ["fsdp2", "zero3"])
def test_bfloat16_stages_run_sharded(tmp_path, sharding):
    launch_sharded("longer", tmp_path / "two", sharding)
    stages = json.loads((tmp_path / "two" / "results.json").read_text())["orders"]
    assert stages  # ran to the end: merges through float32 masters, two adapters / DeepSpeed's bfloat16 steps


@pytest.mark.parametrize("sharding", ["fsdp2", "zero3"])
def test_weights_saved_whole_with_tied_embeddings_load_into_sharded_processes(tmp_path, sharding):
    from taskneurons.models.weights import save_weights
    from taskneurons.neurons.fingerprint import model_fingerprint

    lm = load_model("tiny-gemma")  # tied: save_model keeps the embeddings under one of their two names
    with torch.no_grad():
        for p in lm.model.parameters():
            p.add_(0.01)
    (tmp_path / "two").mkdir()
    save_weights(lm.model, tmp_path / "two" / "w.safetensors")
    launch_sharded("load", tmp_path / "two", sharding)
    assert (tmp_path / "two" / "fp").read_text() == model_fingerprint(lm)


@pytest.mark.parametrize("env, message", [
    ({"TASKNEURONS_SHARDING": "zero9"}, "error: TASKNEURONS_SHARDING='zero9' is not one of ['fsdp2', 'zero2', "
                                        "'zero3'] (or unset: every process holds the whole model)"),
    ({"TASKNEURONS_SHARDING": "zero3"}, "error: sharding (zero3) needs several processes: launch with torchrun "
                                        "--nproc_per_node N or accelerate launch (docs/scale.md), or unset "
                                        "TASKNEURONS_SHARDING"),
    ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "1"},
     "error: ZeRO stage '1' (accelerate launch) is not 2 or 3"),
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "1"},
     "error: FSDP version 1 is not supported: launch with --fsdp_version 2 (or fsdp_version: 2 in the accelerate "
     "config; configs/accelerate/fsdp2.yaml, docs/scale.md)"),
])
def test_a_sharding_that_cannot_run_is_refused_in_one_line(tmp_path, monkeypatch, capsys, env, message):
    from taskneurons.cli import main
    from tests.conftest import SHARED_DATA

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "run"
    assert main(["eval", "--model", "tiny-llama", "--task", str(SHARED_DATA / "sst2"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [message]
    assert not out.exists()


def test_a_method_that_reads_whole_weights_in_its_loss_is_refused_under_zero3(tmp_path, monkeypatch, capsys):
    from taskneurons.cli import main
    from tests.conftest import SHARED_DATA

    monkeypatch.setenv("TASKNEURONS_SHARDING", "zero3")
    monkeypatch.setenv("WORLD_SIZE", "2")  # refused before any process group is joined
    out = tmp_path / "run"
    code = main(["continual", "--model", "tiny-llama", "--orders", "1", "--methods", "ncft",
                 "ewc", "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: EWC cannot run under DeepSpeed ZeRO-3 yet (its loss reads whole weights outside the forward pass): "
        "shard with FSDP2 or ZeRO-2, or leave it out"]
    assert not out.exists()


@pytest.mark.parametrize("env, sharding", [
    ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}, "zero3"),
    ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_CONFIG_FILE": "ds.json"}, "zero2"),  # its stage
    ({"ACCELERATE_USE_FSDP": "true"}, "fsdp2"),
    ({"TASKNEURONS_SHARDING": " ZeRO3 "}, "zero3"),
    ({}, None),
])
def test_the_launch_says_how_the_model_is_shared_out(tmp_path, monkeypatch, env, sharding):
    from taskneurons import processes

    (tmp_path / "ds.json").write_text('{"zero_optimization": {"stage": 2}, "train_batch_size": "auto"}')
    monkeypatch.chdir(tmp_path)
    for key in ("TASKNEURONS_SHARDING", "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert processes.sharding() == sharding
    assert processes.sharded() == (sharding in ("fsdp2", "zero3"))
