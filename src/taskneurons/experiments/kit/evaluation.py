"""The experiments' one evaluation call: a plan's evaluated examples, the settings' method and sizes, and a
record with the score, n and the per-example outcomes (what paired statistics need)."""
from __future__ import annotations

from ...evaluation import evaluate
from ...models import LoadedModel
from .examples import ExamplePlan
from .settings import Settings


def evaluate_plan(lm: LoadedModel, plan: ExamplePlan, settings: Settings, progress: bool = True,
                  batch_size: int | None = None) -> dict:
    """``{"score", "n", "outcomes"}`` of ``lm`` on ``plan``'s evaluated examples (a step result)."""
    new_tokens = settings.generation_length(plan, lm.tokenizer) if plan.task.kind == "generation" else None
    result = evaluate(lm, plan.task, split=plan.eval.split, examples=plan.evaluated(), method=settings.eval_method,
                      batch_size=batch_size or settings.batch_size, max_length=settings.max_length,
                      max_new_tokens=new_tokens or 1, progress=progress)
    return {"score": result.score, "n": result.n, "outcomes": result.outcomes, "max_new_tokens": new_tokens}
