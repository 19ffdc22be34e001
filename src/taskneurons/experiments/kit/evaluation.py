"""The experiments' one evaluation call: a plan's evaluated examples, the settings' method and sizes, and a
record with the score, n and the per-example outcomes (what paired statistics need)."""
from __future__ import annotations

from ...evaluation import EvalResult, evaluate
from ...models import LoadedModel
from ...tasks.plans import ExamplePlan
from .settings import Settings


def new_tokens(lm: LoadedModel, plan: ExamplePlan, settings: Settings) -> int | None:
    """Tokens a generation task generates (its own length, recorded in its plan); None for classification."""
    return settings.generation_length(plan, lm.tokenizer) if plan.task.kind == "generation" else None


def plan_result(lm: LoadedModel, plan: ExamplePlan, settings: Settings, progress: bool = True,
                batch_size: int | None = None, method: str | None = None) -> EvalResult:
    """``lm`` evaluated on ``plan``'s evaluated examples by ``method`` (default: the settings' ``eval_method``; a
    generation task is always generated, to its own length, and scored by its metric), predictions included."""
    return evaluate(lm, plan.task, split=plan.eval.split, examples=plan.evaluated(),
                    method=method or settings.eval_method, batch_size=batch_size or settings.batch_size,
                    max_length=settings.max_length, max_new_tokens=new_tokens(lm, plan, settings) or 1,
                    progress=progress)


def evaluate_plan(lm: LoadedModel, plan: ExamplePlan, settings: Settings, progress: bool = True,
                  batch_size: int | None = None, method: str | None = None) -> dict:
    """``{"score", "n", "outcomes"}`` of :func:`plan_result` (a step result)."""
    result = plan_result(lm, plan, settings, progress, batch_size, method)
    return {"score": result.score, "n": result.n, "outcomes": result.outcomes,
            "max_new_tokens": new_tokens(lm, plan, settings)}


def evaluate_plan_methods(lm: LoadedModel, plan: ExamplePlan, settings: Settings, also: list[str],
                          progress: bool = True, batch_size: int | None = None) -> dict:
    """``evaluate_plan`` by the settings' method, plus ``"also": {method: {"score", "n", "outcomes"}}`` for each
    method of ``also`` (when given). A generation task is scored once: every method's record is the same."""
    record = evaluate_plan(lm, plan, settings, progress, batch_size)
    if not also:
        return record
    main = {k: record[k] for k in ("score", "n", "outcomes")}
    record["also"] = {m: main if plan.task.kind == "generation" or m == settings.eval_method else
                      {k: v for k, v in evaluate_plan(lm, plan, settings, progress, batch_size, m).items()
                       if k in main} for m in also}
    return record


def merge_records(parts: list[tuple[list[int], dict]], n: int) -> dict:
    """One task's record from records of disjoint subsets of its evaluated examples (``(positions, record)``
    pairs covering 0..n-1): the outcomes back in their places, the score their mean; ``also`` the same way."""
    def merged(records: list[tuple[list[int], dict]]) -> dict:
        outcomes = [None] * n
        for positions, record in records:
            for position, outcome in zip(positions, record["outcomes"]):
                outcomes[position] = outcome
        if any(o is None for o in outcomes):
            raise ValueError("merge_records: the parts do not cover every evaluated example")
        return {"score": sum(outcomes) / n, "n": n, "outcomes": outcomes}

    record = {**merged(parts), "max_new_tokens": parts[0][1].get("max_new_tokens")}
    if "also" in parts[0][1]:
        record["also"] = {m: merged([(pos, r["also"][m]) for pos, r in parts]) for m in parts[0][1]["also"]}
    return record
