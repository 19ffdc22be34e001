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
