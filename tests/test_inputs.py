"""Run folders that cannot lie: changed inputs are refused, damaged files are one line, artifacts check the model
they are applied to, and a torn pair of files is never read as one artifact."""
import json
import shutil
import subprocess
import time
import warnings

import pytest
import torch

from taskneurons import hub
from taskneurons.cli import main
from taskneurons.errors import TaskNeuronsError, TaskNeuronsWarning
from taskneurons.experiments.identify import Identify, IdentifyConfig
from taskneurons.runs import read_state
from taskneurons.neurons import NeuronSet, deactivate, model_fingerprint
from taskneurons.neurons import artifact as artifact_module
from taskneurons.tuning import NeuronTuner

from .conftest import SHARED_DATA


def _identify(tmp_path, task, model="tiny-llama", k=10.0, out="run"):
    config = IdentifyConfig(model=model, tasks=[str(task)], selection={"n_score": 4, "k": k}, n_eval=4, batch_size=4,
                            max_length=64, random_controls=1, deactivate_matrix=False, finetune=False, top_neurons=0,
                            n_boot=200, original="base")  # the inputs are under test, not the Original
    return Identify(config, tmp_path / out, progress=False)


def _one_line_error(argv, capsys) -> str:
    """The one error line of a command that must fail with exit code 2 (progress bars may precede it)."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err
    return lines[0]


def test_editing_a_tasks_data_refuses_the_resume_and_keeps_the_results(tmp_path):
    task = tmp_path / "sst2"
    shutil.copytree(SHARED_DATA / "sst2", task)
    (task / "test.json").chmod(0o644)
    _identify(tmp_path, task)()
    before = (tmp_path / "run" / "results.json").read_bytes()
    records = json.loads((task / "test.json").read_text())
    records[0]["label"] = "Good" if records[0]["label"] == "Bad" else "Bad"
    (task / "test.json").write_text(json.dumps(records))
    with pytest.raises(TaskNeuronsError, match=r"was made on other inputs: data of task sst2 \(fingerprint"):
        _identify(tmp_path, task)
    assert (tmp_path / "run" / "results.json").read_bytes() == before


def test_other_weights_under_the_same_model_path_are_refused(tmp_path, tiny):
    folder = tmp_path / "model"
    lm = tiny("tiny-llama")
    lm.model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    _identify(tmp_path, SHARED_DATA / "sst2", model=str(folder))()
    changed = type(lm.model).from_pretrained(folder)
    with torch.no_grad():
        changed.model.layers[0].mlp.up_proj.weight.mul_(1.5)
    changed.save_pretrained(folder)
    with pytest.raises(TaskNeuronsError, match=r"was made on other inputs: weights of model .*model \(fingerprint"):
        _identify(tmp_path, SHARED_DATA / "sst2", model=str(folder))()


def test_artifacts_of_another_selection_are_refused_not_reused(tmp_path):
    _identify(tmp_path, SHARED_DATA / "sst2", k=10.0)()
    shutil.copytree(tmp_path / "run" / "artifacts", tmp_path / "other" / "artifacts")
    with pytest.raises(TaskNeuronsError, match=r"base.sst2.neurons.json was selected with .*'k': 10.0.*, this run "
                                               r"selects with .*'k': 50.0"):
        _identify(tmp_path, SHARED_DATA / "sst2", k=50.0, out="other")()


def test_a_damaged_step_or_config_is_one_line_and_stays_as_it_was(tmp_path):
    _identify(tmp_path, SHARED_DATA / "sst2")()
    step = next((tmp_path / "run" / "steps").glob("deact_original_*.json"))
    step.write_text('{"outcomes": [1, 0')
    with pytest.raises(TaskNeuronsError, match=r"deact_original_sst2.json: damaged or unreadable .*delete that file"):
        _identify(tmp_path, SHARED_DATA / "sst2")()
    assert step.read_text() == '{"outcomes": [1, 0'
    (tmp_path / "run" / "config.yaml").write_text("- a list\n- not options\n")
    with pytest.raises(TaskNeuronsError, match=r"config.yaml is not a mapping of options"):
        _identify(tmp_path, SHARED_DATA / "sst2")


def _neuron_set(lm, seed=0) -> NeuronSet:
    g = torch.Generator().manual_seed(seed)
    masks = {kind: torch.rand(lm.ffn.n_layers, width, generator=g) < 0.2 for kind, width in lm.ffn.widths.items()}
    return NeuronSet(masks, {"model": lm.name, "model_type": lm.model.config.model_type,
                             "ffn_family": lm.ffn.map.family, "weight_hash": "0" * 16})


def test_a_set_made_on_another_model_type_is_refused_unless_asked_for(tiny):
    llama, qwen = tiny("tiny-llama"), tiny("tiny-qwen2")
    neurons = _neuron_set(llama)
    with pytest.raises(TaskNeuronsError, match=r"was made on tiny-llama \(model_type llama\), not on a model like "
                                               r"tiny-qwen2 \(model_type qwen2\)"):
        with deactivate(qwen, neurons):
            pass
    with pytest.warns(TaskNeuronsWarning, match="applied to other weights"):
        with deactivate(qwen, neurons, other_model=True):
            pass


def test_a_set_made_on_other_weights_of_the_same_type_is_a_warning(tiny):
    lm = tiny("tiny-llama")
    with pytest.warns(TaskNeuronsWarning, match=r"made on tiny-llama \(0000000000000000\), applied to other weights"):
        with deactivate(lm, _neuron_set(lm)):
            pass
    same = _neuron_set(lm)
    same.provenance["weight_hash"] = model_fingerprint(lm)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with deactivate(lm, same):
            pass


def test_a_pair_torn_by_a_kill_between_its_writes_is_refused(tmp_path, tiny, monkeypatch):
    lm = tiny("tiny-llama")
    _neuron_set(lm, seed=0).save(tmp_path / "set")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after the tensors are replaced, before the JSON is
    monkeypatch.setattr(artifact_module, "write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        _neuron_set(lm, seed=1).save(tmp_path / "set")
    monkeypatch.undo()
    with pytest.raises(TaskNeuronsError, match=r"set.safetensors and its .json were not written together"):
        NeuronSet.load(tmp_path / "set")


def test_hand_edited_counts_k_and_a_list_provenance_are_refused(tmp_path, tiny):
    neurons = _neuron_set(tiny("tiny-llama"))
    neurons.save(tmp_path / "set")
    header = json.loads((tmp_path / "set.json").read_text())
    (tmp_path / "set.json").write_text(json.dumps({**header, "counts": {"inner": 1, "outer": 1}}))
    with pytest.raises(TaskNeuronsError, match=r"set.json: field 'counts' is \{'inner': 1, 'outer': 1\} but the masks"):
        NeuronSet.load(tmp_path / "set")
    (tmp_path / "set.json").write_text(json.dumps({**header, "provenance": {"k": 50.0, "scope": "layer"}}))
    with pytest.raises(TaskNeuronsError, match=r"set.json: provenance says the top k=50.0% of each layer, but layer 0"):
        NeuronSet.load(tmp_path / "set")
    (tmp_path / "set.json").write_text(json.dumps({**header, "provenance": ["tiny-llama"]}))
    with pytest.raises(TaskNeuronsError, match=r"set.json: field 'provenance' is a list, expected a mapping"):
        NeuronSet.load(tmp_path / "set")


def test_tuner_deltas_record_the_weights_they_were_trained_on(tmp_path, tiny):
    lm = tiny("tiny-llama")
    with NeuronTuner(lm, _neuron_set(lm)) as tuner:
        tuner.save(tmp_path / "deltas")
    header = json.loads((tmp_path / "deltas.json").read_text())
    assert header["weight_hash"] == model_fingerprint(lm) and header["model_type"] == "llama"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same weights: no warning
        NeuronTuner.load(tmp_path / "deltas", lm).remove()


def test_damaged_model_files_and_bad_devices_are_one_line(tmp_path, capsys):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(b"not a safetensors file" * 4)
    (tmp_path / "g.gguf").write_bytes(b"GGUF" + bytes(64))
    sst2 = str(SHARED_DATA / "sst2")
    assert "cannot load model" in _one_line_error(["eval", "--model", str(folder), "--task", sst2, "--limit", "2"], capsys)
    assert "cannot load model" in _one_line_error(["eval", "--model", str(tmp_path / "g.gguf"), "--task", sst2], capsys)
    assert "device 'gpu0' is not one of cpu, cuda, cuda:N, mps, auto" in _one_line_error(
        ["eval", "--model", "tiny-llama", "--device", "gpu0", "--task", sst2], capsys)


def test_an_output_that_cannot_be_a_file_is_refused_before_the_work(tmp_path, capsys):
    argv = ["eval", "--model", "no-such-org/no-such-model", "--task", str(SHARED_DATA / "sst2"), "--out", str(tmp_path)]
    assert f"--out {tmp_path}: is a folder; give a file path" in _one_line_error(argv, capsys)


def test_a_hub_id_neither_cached_nor_reachable_fails_within_seconds(monkeypatch, capsys):
    monkeypatch.setattr(hub, "reachable", lambda: False)
    started = time.monotonic()
    err = _one_line_error(["eval", "--model", "no-such-org/no-such-model", "--task", str(SHARED_DATA / "sst2")], capsys)
    assert "not in the local hub cache, and the Hugging Face hub cannot be reached from here" in err
    assert time.monotonic() - started < 5
    assert "did you mean 'tiny-llama'" in _one_line_error(["eval", "--model", "tiny-lama", "--task", "sst2"], capsys)


def test_the_hub_probe_answers_within_its_timeout():
    hub.reachable.cache_clear()
    started = time.monotonic()
    hub.reachable()
    assert time.monotonic() - started < hub.PROBE_TIMEOUT_S + 2


@pytest.fixture
def mount(tmp_path):
    """mount(options) -> a new folder with a tmpfs mounted there with ``options`` (skipped where this machine does
    not let the tests mount one); unmounted after the test."""
    mounted = []

    def make(options: str):
        folder = tmp_path / f"mount{len(mounted)}"
        folder.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode:
            pytest.skip("cannot mount a tmpfs here")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_is_one_line_and_keeps_the_earlier_file(mount, capsys):
    disk = mount("size=64k")
    out = disk / "result.json"
    out.write_text('{"earlier": true}')
    (disk / "filler").write_bytes(bytes(60 * 1024))
    argv = ["eval", "--model", "tiny-llama", "--task", str(SHARED_DATA / "sst2"), "--limit", "2", "--out", str(out)]
    assert f"cannot write {out} (No space left on device)" in _one_line_error(argv, capsys)
    assert out.read_text() == '{"earlier": true}'
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "result.json"]  # no temporary file left


def test_a_read_only_place_is_refused_before_the_work(mount, capsys):
    read_only = mount("ro")
    sst2 = str(SHARED_DATA / "sst2")
    assert f"--out {read_only}/run: cannot write there (Read-only file system)" in _one_line_error(
        ["identify", "--model", "tiny-llama", "--tasks", sst2, "--out", str(read_only / "run")], capsys)
    assert f"--out {read_only}/r.json: cannot" in _one_line_error(
        ["eval", "--model", "tiny-llama", "--task", sst2, "--out", str(read_only / "r.json")], capsys)


def test_a_gguf_file_cut_short_is_one_line(tmp_path, capsys):
    import struct

    cut = tmp_path / "cut.gguf"  # the magic, version 3, one tensor, five keys: then the file ends mid-key
    cut.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 5) + b"\x05\x00")
    error = _one_line_error(["eval", "--model", str(cut), "--task", str(SHARED_DATA / "sst2")], capsys)
    assert error.startswith(f"error: cannot load model '{cut}' (a file cut short or damaged: ")


def test_a_damaged_artifact_says_how_to_fix_it_and_the_fix_works(tmp_path):
    _identify(tmp_path, SHARED_DATA / "sst2")()
    tensors = tmp_path / "run" / "artifacts" / "base.sst2.neurons.safetensors"
    tensors.write_bytes(b"damaged")
    fix = "delete base.sst2.neurons.safetensors and base.sst2.neurons.json together, then rerun"
    with pytest.raises(TaskNeuronsError, match=rf"^{tensors}: not a readable safetensors file \(.*\); {fix}"):
        _identify(tmp_path, SHARED_DATA / "sst2")()
    tensors.unlink()  # the named file only
    with pytest.raises(TaskNeuronsError, match=rf"^no neuron set at {tensors}: file not found; base.sst2.neurons.json "
                                               rf"is there without it \(half an artifact\): {fix}"):
        _identify(tmp_path, SHARED_DATA / "sst2")()
    tensors.with_suffix(".json").unlink()
    _identify(tmp_path, SHARED_DATA / "sst2")()
    assert tensors.is_file() and read_state(tmp_path / "run")["state"] == "finished"
