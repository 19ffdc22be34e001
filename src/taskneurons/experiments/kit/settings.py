"""Settings: what every experiment needs (model, device, dtype, sizes, evaluation, seed, data root).

The three experiment configs extend this dataclass. ``__post_init__`` checks every value, and the model spec,
before an experiment creates its run folder, so a wrong value leaves nothing behind.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import TaskNeuronsError
from ...evaluation.evaluate import CLASSIFICATION_METHODS
from ...models.loading import DEFAULT_MODEL, DTYPES
from ...models.spec import check_model_spec
from . import checks

DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


@dataclass
class Settings:
    model: str = DEFAULT_MODEL  # a built-in name, a local folder, a .gguf file or a hub id (owner/name)
    device: str = "cpu"  # cpu | cuda | cuda:N | mps
    dtype: str = "float32"
    batch_size: int = 8
    max_length: int = 256  # prompt + target tokens
    max_new_tokens: int = 32  # greedy generation of generation tasks (classification: the longest label)
    eval_method: str = "rank"  # classification: "rank" (label likelihood) | "generate" (greedy + exact match)
    seed: int = 0  # every sample and random control derives its seed from this one
    data_root: str | None = None  # where built-in task names are folders (null: $TASKNEURONS_DATA, else ../shared/data)

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model:
            raise TaskNeuronsError(f"option model={self.model!r} is not a model name, folder, .gguf file or hub id")
        if not isinstance(self.device, str) or not DEVICE.match(self.device):
            raise TaskNeuronsError(f"option device={self.device!r} is not one of cpu, cuda, cuda:N, mps")
        checks.choice("dtype", self.dtype, DTYPES)
        checks.choice("eval_method", self.eval_method, CLASSIFICATION_METHODS)
        for name in ("batch_size", "max_length", "max_new_tokens"):
            checks.integer(name, getattr(self, name))
        checks.integer("seed", self.seed, minimum=0)
        if self.data_root is not None and not isinstance(self.data_root, str):
            raise TaskNeuronsError(f"option data_root={self.data_root!r} is not a folder path (or null)")
        check_model_spec(self.model, self.device)
