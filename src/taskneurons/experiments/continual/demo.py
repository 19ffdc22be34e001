"""The continual-learning part of the demo: NCFT and W-NCFT against SeqFT, EPI and random-neuron NCFT (its control,
beyond the paper) on a short sequence of the built-in demo tasks, with the claims of the paper's Table 5 that the
run can test.

Sizes keep it to a few minutes on a 2-core CPU with SmolLM2-135M: 32 training examples per task (4 steps of 8,
float32: bf16 matmuls are slow on CPUs without AVX512-BF16), 8 scored examples for the neurons, 16 for W-NCFT's
task vectors, the demo's --limit test examples (16 by default), prompts cut to 128
tokens, and after each stage only the tasks seen so far are evaluated (so no forward transfer; the forgetting
rate is taken against a[i][i], the score right after learning task i), by greedy generation + exact match (the
continual default; label ranking would hide a forgotten label format). Like every run, it resumes.
"""
from __future__ import annotations

from pathlib import Path

from ...report.console import console
from .config import ContinualConfig
from .experiment import Continual

SEQUENCE = ["rotten_tomatoes", "bbc_news", "tweet_sentiment"]


def demo_config(model: str, device: str = "cpu", dtype: str = "float32", n_train: int = 32, n_eval: int = 32) -> ContinualConfig:
    return ContinualConfig(
        model=model, device=device, dtype=dtype, orders=[{"name": "demo", "tasks": SEQUENCE}],
        methods=["seqft", "epi", "ncft", "random_ncft", "wncft"],
        method_options={"seqft": {"lr": 1e-4}, "epi": {"lr": 8e-3}, "ncft": {"lr": 1e-3, "selection": {"n_score": 8}},
                        "random_ncft": {"lr": 1e-3},
                        "wncft": {"lr": 1e-3, "selection": {"n_score": 8}, "n_vector": 16}},
        training={"n_train": n_train}, n_eval=n_eval, batch_size=8, max_length=128, evaluate_unseen=False,
        reference="diagonal")


def run_continual_demo(model: str, out: Path, device: str = "cpu", dtype: str = "float32", n_train: int = 32,
                       n_eval: int = 32, progress: bool = True) -> dict:
    """Run (or resume) the demo sequence with its five methods in the folder ``out / "continual"``; prints the
    accuracy matrices and the metrics table, and returns the results (as ``Continual`` does)."""
    console.rule(f"continual learning: NCFT, W-NCFT, SeqFT, EPI and random NCFT on {' -> '.join(SEQUENCE)}")
    config = demo_config(model, device, dtype, n_train, n_eval)
    return Continual(config, Path(out) / "continual", progress=progress)()
