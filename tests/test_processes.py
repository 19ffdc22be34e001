"""Several processes (torchrun, gloo, on the CPU) give what one process gives: training, and every experiment on a
tiny model; only the main process writes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from taskneurons.experiments.continual import Continual, ContinualConfig
from taskneurons.experiments.identify import Identify, IdentifyConfig
from taskneurons.models import load_model
from taskneurons.tasks import Example
from taskneurons.tuning import TrainConfig, train

from .conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]


def launch(code: str, *args: str) -> None:
    """Run ``code`` in 2 processes (torchrun, gloo); an error shows their output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--no-python",
           sys.executable, "-c", code, *args]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])


EXAMPLES = [Example(f"Review {i}: {'good' if i % 2 else 'bad'} {'x' * (i % 5)}", ["no", "yes"][i % 2]) for i in range(16)]
TRAIN = """
import sys, torch
from safetensors.torch import save_file
from taskneurons.models import load_model
from taskneurons.tuning import TrainConfig, train
from tests.test_processes import EXAMPLES
lm = load_model("tiny-llama")
train(lm, EXAMPLES, list(lm.model.parameters()), TrainConfig(lr=1e-3, batch_size=4, max_steps=3), progress=False)
save_file({k: v.contiguous() for k, v in lm.model.state_dict().items()}, sys.argv[1] + f".{torch.distributed.get_rank()}")
"""


def test_two_processes_train_the_same_steps_as_one(tmp_path):
    launch(TRAIN, str(tmp_path / "w"))
    from safetensors.torch import load_file

    ranks = [load_file(tmp_path / f"w.{r}") for r in (0, 1)]
    lm = load_model("tiny-llama")
    train(lm, EXAMPLES, list(lm.model.parameters()), TrainConfig(lr=1e-3, batch_size=4, max_steps=3), progress=False)
    for name, value in lm.model.state_dict().items():
        torch.testing.assert_close(ranks[0][name], ranks[1][name], rtol=0, atol=0)  # DDP keeps them in step
        torch.testing.assert_close(ranks[0][name], value, rtol=1e-4, atol=1e-6)


def identify_config(**changes) -> IdentifyConfig:
    return IdentifyConfig(**{**dict(model="tiny-llama", tasks=[str(SHARED_DATA / "sst2"), str(SHARED_DATA / "commongen")],
                                    selection={"n_score": 4}, n_eval=6, batch_size=2, max_length=64, max_new_tokens=4,
                                    random_controls=2, neuron_training={"n_train": 4, "lr": 1e-2}, finetune_seeds=2,
                                    finetune_random_controls=1, original="multitask",
                                    multitask={"n_train": 4, "lr": 1e-3}, top_neurons=1, n_boot=200), **changes})


def continual_config() -> ContinualConfig:
    return ContinualConfig(model="tiny-llama", orders=[[str(SHARED_DATA / "sst2"), str(SHARED_DATA / "rte")]],
                           methods=["seqft", "ncft"], training={"n_train": 4, "max_steps": 2}, n_eval=4, batch_size=2,
                           max_length=48, method_options={"ncft": {"selection": {"n_score": 2}, "lr": 1e-2},
                                                          "seqft": {"lr": 1e-3}}, n_boot=200)


EXPERIMENT = """
import sys
from tests.test_generalize import _config as generalize_config
from tests.test_processes import continual_config, identify_config
from taskneurons.experiments.continual import Continual
from taskneurons.experiments.generalize import Generalize
from taskneurons.experiments.identify import Identify
run = {"identify": lambda out: Identify(identify_config(), out, progress=False),
       "continual": lambda out: Continual(continual_config(), out, progress=False),
       "generalize": lambda out: Generalize(generalize_config(), out, progress=False)}[sys.argv[1]]
run(sys.argv[2])()
from taskneurons import processes
processes.end(0)  # as the command line ends (processes.end)
"""


def _close(a, b) -> bool:
    """Equal to float rounding (two NaNs are equal: an undefined correlation on both sides; two equal infinities
    too: a t's degrees of freedom without a run term)."""
    return a == b or abs(a - b) <= 1e-6 * max(1.0, abs(b)) or (a != a and b != b)


def _same_outcomes(two, one, path: str = "") -> None:
    """Walking both results: every number equal to float rounding (outcomes, scores, intervals), the rest equal."""
    if isinstance(one, dict):
        assert set(two) == set(one), path
        for key in one:
            if key not in ("seconds", "seconds_per_step", "wall_s", "weights", "final_loss"):
                _same_outcomes(two[key], one[key], f"{path}/{key}")
    elif isinstance(one, list):
        assert len(two) == len(one), path
        for i, (a, b) in enumerate(zip(two, one)):
            _same_outcomes(a, b, f"{path}[{i}]")
    elif isinstance(one, float) and not isinstance(one, bool):
        assert _close(two, one), (path, two, one)
    else:
        assert two == one, path


def test_identify_in_two_processes_equals_one(tmp_path):
    launch(EXPERIMENT, "identify", str(tmp_path / "two"))
    one = Identify(identify_config(), tmp_path / "one", progress=False)()
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    one = json.loads(json.dumps(one))
    for key in ("deactivation", "finetuning", "examples"):
        _same_outcomes(two[key], one[key], key)
    for name in ("original.sst2.neurons.json", "base.commongen.neurons.json"):
        assert json.loads((tmp_path / "two" / "artifacts" / name).read_text())["counts"] == \
            json.loads((tmp_path / "one" / "artifacts" / name).read_text())["counts"]
    assert not list((tmp_path / "two").rglob("*.rank*")) and (tmp_path / "two" / "report.html").is_file()


def test_continual_in_two_processes_equals_one(tmp_path):
    launch(EXPERIMENT, "continual", str(tmp_path / "two"))
    one = json.loads(json.dumps(Continual(continual_config(), tmp_path / "one", progress=False)()))
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    for key in ("by_evaluation", "orders"):
        _same_outcomes(two[key], one[key], key)


def test_generalize_in_two_processes_equals_one(tmp_path):
    from taskneurons.experiments.generalize import Generalize

    from .test_generalize import _config as generalize_config

    launch(EXPERIMENT, "generalize", str(tmp_path / "two"))
    one = json.loads(json.dumps(Generalize(generalize_config(), tmp_path / "one", progress=False)()))
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    for key in ("overlap", "sweep", "single", "ablation", "zero_shot", "similarity"):
        _same_outcomes(two[key], one[key], key)


def test_a_megatron_launch_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    import pytest

    from taskneurons.cli import main
    from taskneurons.errors import TaskNeuronsError

    monkeypatch.setenv("ACCELERATE_USE_MEGATRON_LM", "true")
    out = tmp_path / "run"
    assert main(["eval", "--model", "tiny-llama", "--task", str(SHARED_DATA / "sst2"), "--out", str(out)]) == 2
    message = ("Megatron-LM is not supported yet (ACCELERATE_USE_MEGATRON_LM is set by the launch): shard the model "
               "with FSDP2 or DeepSpeed ZeRO (configs/accelerate/), or launch data parallel (accelerate launch "
               "--num_processes N) (docs/scale.md)")
    assert capsys.readouterr().err.splitlines() == [f"error: {message}"]
    assert not out.exists()
    lm = load_model("tiny-llama")
    with pytest.raises(TaskNeuronsError, match=r"^Megatron-LM is not supported yet \(ACCELERATE_USE_MEGATRON_LM"):
        train(lm, EXAMPLES, list(lm.model.parameters()), TrainConfig(max_steps=1), progress=False)


def test_accelerate_launch_cpu_with_several_processes_says_it_started_one(tmp_path):
    accelerate = Path(sys.executable).parent / "accelerate"
    done = subprocess.run([str(accelerate), "launch", "--cpu", "--num_processes", "2", "-m", "taskneurons.cli",
                           "models", "list"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    ours = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert ours == ["warning: accelerate launch --cpu starts one process whatever --num_processes says (its simple "
                    "launcher): this run is one process; for several on the CPU: torchrun --standalone "
                    "--nproc_per_node N -m taskneurons.cli ... (docs/scale.md)"]
    assert done.stdout.count("FFN map families") == 1  # one process ran


def test_end_leaves_with_the_code_and_the_output_flushed():
    code = "import sys; from taskneurons import processes; print('done', end=''); sys.stderr.write('last'); processes.end(5)"
    for world in ("1", "2"):  # one process: sys.exit; several: os._exit, without the interpreter's finalization
        done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "WORLD_SIZE": world},
                              capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout, done.stderr) == (5, "done", "last"), world
