"""lm-evaluation-harness in process: the model as it is now (deactivated, tuned) on the field's benchmarks.

The harness wraps the loaded module itself (``HFLM(pretrained=<model>, tokenizer=...)``), so hooks and neuron
deltas active on it are active in the harness too. Optional: ``pip install taskneurons[harness]``. Harness tasks
are the harness's own names, or YAML task files of your own (``include``: a folder of them, e.g. a task on
local JSON files, which needs no network).
"""
from __future__ import annotations

import functools
from pathlib import Path

from ..errors import TaskNeuronsError
from ..models import LoadedModel
from ..registry import suggest


def harness_evaluate(lm: LoadedModel, tasks: list[str], include: str | None = None, limit: int | None = None,
                     batch_size: int = 8, seed: int = 0) -> dict[str, dict[str, float]]:
    """task -> {metric: value} (the harness's metrics, "acc,none" style keys, stderr included), scored by the
    harness on ``lm`` as it is now."""
    if limit is not None and limit < 1:
        raise TaskNeuronsError(f"harness limit {limit}: give a number of examples >= 1 (or none for all)")
    check_harness_tasks(tasks, include)
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    manager = task_manager(include)
    model = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size, device=str(lm.device))
    results = simple_evaluate(model=model, tasks=list(tasks), task_manager=manager, limit=limit, log_samples=False,
                              random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed)
    return {task: {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and k != "sample_len"}
            for task, metrics in results["results"].items()}


def check_harness_tasks(tasks: list[str], include: str | None = None) -> None:
    """One line unless lm-evaluation-harness is installed, ``include`` is a folder and every one of ``tasks`` is a
    harness task (the closest name suggested): checked before a run folder exists, so a typo found late never
    leaves a folder that the corrected command cannot resume. Building the harness's index takes seconds."""
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        raise TaskNeuronsError("harness tasks need lm-evaluation-harness: pip install 'taskneurons[harness]'") from None
    if include is not None and not Path(include).expanduser().is_dir():
        raise TaskNeuronsError(f"harness include {include!r}: no such folder (expected a folder of task YAMLs)")
    manager = task_manager(include)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise TaskNeuronsError(f"harness task {unknown[0]!r} is not known to lm-evaluation-harness"
                               f"{suggest(unknown[0], manager.all_tasks)}" + ("" if include else
                               " (your own task files: --harness-include DIR)"))


@functools.lru_cache(maxsize=4)
def task_manager(include: str | None):
    """The harness's index of its tasks (and those under ``include``): built once per process, it reads
    thousands of task files."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include) if include else TaskManager()
