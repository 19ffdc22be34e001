"""lm-evaluation-harness in process: the model as it is now (deactivated, tuned) on the field's benchmarks.

The harness wraps the loaded module itself (``HFLM(pretrained=<model>, tokenizer=...)``), so hooks and neuron
deltas active on it are active in the harness too. Optional: ``pip install taskneurons[harness]``. Harness tasks
are the harness's own names, or YAML task files of your own (``include``: a folder of them, e.g. a task on
local JSON files, which needs no network).
"""
from __future__ import annotations

import functools

from ..errors import TaskNeuronsError
from ..models import LoadedModel


def harness_evaluate(lm: LoadedModel, tasks: list[str], include: str | None = None, limit: int | None = None,
                     batch_size: int = 8, seed: int = 0) -> dict[str, dict[str, float]]:
    """task -> {metric: value} (the harness's metrics, "acc,none" style keys, stderr included), scored by the
    harness on ``lm`` as it is now."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        raise TaskNeuronsError("harness tasks need lm-evaluation-harness: pip install 'taskneurons[harness]'") from None
    if limit is not None and limit < 1:
        raise TaskNeuronsError(f"harness limit {limit}: give a number of examples >= 1 (or none for all)")
    manager = task_manager(include)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        from ..registry import suggest

        raise TaskNeuronsError(f"harness task {unknown[0]!r} is not known to lm-evaluation-harness"
                               f"{suggest(unknown[0], manager.all_tasks)}" + ("" if include else
                               " (your own task files: --harness-include DIR)"))
    model = HFLM(pretrained=lm.model, tokenizer=lm.tokenizer, batch_size=batch_size, device=str(lm.device))
    results = simple_evaluate(model=model, tasks=list(tasks), task_manager=manager, limit=limit, log_samples=False,
                              random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed)
    return {task: {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and k != "sample_len"}
            for task, metrics in results["results"].items()}


@functools.lru_cache(maxsize=4)
def task_manager(include: str | None):
    """The harness's index of its tasks (and those under ``include``): built once per process, it reads
    thousands of task files."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include) if include else TaskManager()
