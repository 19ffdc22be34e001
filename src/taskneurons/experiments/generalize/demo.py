"""The demo's generalization step."""
from __future__ import annotations

from pathlib import Path

from .config import GeneralizeConfig
from .experiment import Generalize


def demo_config(model: str, device: str = "cpu", dtype: str = "float32") -> GeneralizeConfig:
    """A small slice for the demo, on the built-in demo tasks (no data folder needed): train on two of them,
    test out of domain on the other two; overlap, and the sweep at 10% and 100% (no zero-shot, single-task sweep,
    ablation or similarity).

    Its work: 4 scoring batches (8 x <=128 tokens), 4 training steps (8 x <=128), 8 evaluations of 16 examples
    (label ranking). On SmolLM2 and 2 CPU cores that is about 45-70 s."""
    return GeneralizeConfig(model=model, device=device, dtype=dtype,
                            groups=[{"name": "demo", "train": ["rotten_tomatoes", "bbc_news"],
                                     "ood": ["tweet_sentiment", "bbc_headline"]}],
                            proportions=[10, 100], selection={"n_score": 8}, n_eval=8, max_length=128,
                            training={"n_train": 8, "lr": 5e-4, "epochs": 1}, zero_shot=False, single_task=False,
                            ablation=False, similarity=False)


def run_generalize_demo(model: str, out: Path, device: str = "cpu", dtype: str = "float32") -> dict:
    """The demo's generalization step (resumable like every run): see :func:`demo_config`."""
    return Generalize(demo_config(model, device, dtype), Path(out))()
