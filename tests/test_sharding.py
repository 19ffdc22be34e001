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

METHODS = ["ncft", "wncft", "ewc", "olora"]

SHARDED = """
import sys
from dataclasses import replace
import taskneurons.models.loading as loading
loaded = []
_load = loading.load_model
loading.load_model = lambda *a, **k: loaded.append(_load(*a, **k)) or loaded[-1]
from tests.test_sharding import METHODS, export_after_training, load_saved_weights, longer_config
from tests.test_processes import continual_config, identify_config
from taskneurons.experiments.continual import Continual
from taskneurons.experiments.identify import Identify
kind, out = sys.argv[1:]
if kind == "identify":
    Identify(identify_config(), out, progress=False)()
elif kind == "continual":
    Continual(replace(continual_config(), methods=METHODS), out, progress=False)()
elif kind == "longer":
    Continual(longer_config(), out, progress=False)()
elif kind == "load":
    load_saved_weights(out)
else:
    export_after_training(out)
from taskneurons import processes
for lm in loaded if processes.is_main() else []:  # one process prints (their lines would interleave)
    w = lm.model.model.layers[0].mlp.down_proj.weight
    print("down_proj", type(w).__name__, tuple(w.to_local().shape), tuple(w.shape))
"""


def launch_sharded(kind: str, out) -> list[str]:
    """Run ``kind`` in 2 processes with sharded weights; the printed shapes of layer 0's down_proj weight."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TASKNEURONS_SHARDING": "fsdp2"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--no-python",
           sys.executable, "-c", SHARDED, kind, str(out)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    shapes = [line for line in done.stdout.splitlines() if line.startswith("down_proj")]
    assert shapes and all(line == "down_proj DTensor (16, 48) (32, 48)" for line in shapes), shapes  # half each
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
    """Three stages in bfloat16, the last one generated (synced_gpus): NCFT's float32 masters, O-LoRA's frozen
    earlier adapters back-propagated through."""
    from tests.conftest import SHARED_DATA

    three = [[str(SHARED_DATA / name) for name in ("sst2", "rte", "commongen")]]
    return replace(continual_config(), orders=three, methods=["ncft", "olora"], dtype="bfloat16")


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


def test_identify_with_sharded_weights_in_two_processes_equals_one(tmp_path):
    launch_sharded("identify", tmp_path / "two")
    one = json.loads(json.dumps(Identify(identify_config(), tmp_path / "one", progress=False)()))
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    for key in ("deactivation", "finetuning", "examples"):  # weight-mode deactivation, full and neuron-only training
        _same_outcomes(two[key], one[key], key)


def test_continual_with_sharded_weights_in_two_processes_equals_one(tmp_path):
    launch_sharded("continual", tmp_path / "two")
    config = replace(continual_config(), methods=METHODS)
    one = json.loads(json.dumps(Continual(config, tmp_path / "one", progress=False)()))
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    for key in ("summary", "orders"):  # NCFT's merges, W-NCFT's snapshots, EWC's Fisher, O-LoRA's regulariser
        _same_outcomes(two[key], one[key], key)


def test_an_export_from_sharded_training_loads_with_from_pretrained_and_equals_one_process(tmp_path):
    from transformers import AutoModelForCausalLM

    launch_sharded("export", tmp_path / "two")
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


def test_three_bfloat16_stages_of_ncft_and_olora_run_sharded(tmp_path):
    launch_sharded("longer", tmp_path / "two")
    stages = json.loads((tmp_path / "two" / "results.json").read_text())["orders"]
    assert stages  # ran to the end: merges through float32 masters, three adapters


def test_weights_saved_whole_with_tied_embeddings_load_into_sharded_processes(tmp_path):
    from taskneurons.models.weights import save_weights
    from taskneurons.neurons.fingerprint import model_fingerprint

    lm = load_model("tiny-gemma")  # tied: save_model keeps the embeddings under one of their two names
    with torch.no_grad():
        for p in lm.model.parameters():
            p.add_(0.01)
    (tmp_path / "two").mkdir()
    save_weights(lm.model, tmp_path / "two" / "w.safetensors")
    launch_sharded("load", tmp_path / "two")
    assert (tmp_path / "two" / "fp").read_text() == model_fingerprint(lm)


@pytest.mark.parametrize("env, message", [
    ({"TASKNEURONS_SHARDING": "zero9"}, "error: TASKNEURONS_SHARDING='zero9' is not one of ['fsdp2'] (or unset: "
                                        "every process holds the whole model)"),
    ({"TASKNEURONS_SHARDING": "fsdp2"}, "error: sharded weights need several processes: launch with torchrun "
                                        "--nproc_per_node N or accelerate launch (docs/scale.md), or unset "
                                        "TASKNEURONS_SHARDING"),
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
