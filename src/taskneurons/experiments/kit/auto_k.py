"""k chosen by the model (beyond the paper, issue 27): ``selection.k: auto``.

The effect of every claim depends on k, and the right k moves with the model: a random 10% of the FFN neurons
costs SmolLM2-135M about 35 points, the paper's Llama-2-7b about 3. ``choose_k`` takes the largest k of a grid at
which a random set (the mean of ``draws`` seeded draws, per (layer, kind)) costs the model at most ``budget``
points on average over the run's tasks (default 3, the paper's regime), measured on ``n_dev`` pool examples per
task (never a test example), and returns its measurements with it, so that the report can say why.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from ...errors import TaskNeuronsError
from ...evaluation import evaluate
from ...models import LoadedModel
from ...neurons import NeuronSet, deactivate
from ...tasks.sampling import derive_seed
from .evaluation import new_tokens
from ...configs import checks
from ...tasks.plans import ExamplePlan
from ...configs.options import option
from .settings import Settings


@dataclass
class AutoKOptions:
    """The options of ``selection.k: auto``, for the experiments that offer it (identify, continual's NCFT)."""

    k_budget: float = option(3.0, "(beyond the paper) with selection.k auto: the most points a random k% may cost")
    k_grid: list = option(factory=lambda: [10, 5, 2, 1, 0.5, 0.2, 0.1], help="(beyond the paper) the ks auto tries")
    n_dev: int = option(32, "(beyond the paper) with selection.k auto: pool examples per task it measures (no test "
                            "one)")

    def check_auto_k(self) -> None:
        checks.number("k_budget", self.k_budget, 0, 100)
        checks.integer("n_dev", self.n_dev)
        if not isinstance(self.k_grid, list) or not self.k_grid:
            raise TaskNeuronsError(f"option k_grid={self.k_grid!r} is not a list of percentages")
        for k in self.k_grid:
            checks.number("k_grid", k, 0, 100)


def choose_k(lm: LoadedModel, plans: list[ExamplePlan], settings: Settings, budget: float, grid: list[float],
             n_dev: int, draws: int = 2, mode: str = "activation") -> dict:
    """``{"k", "within_budget", "budget", "base", "measured": [{"k", "cost", "scores"}, ...]}``: the largest k of
    ``grid`` whose random sets cost at most ``budget`` points (the smallest k, ``within_budget`` False, when none
    does); ``base`` the scores of ``lm`` itself on the dev examples."""
    dev = {plan.task.name: plan.draw("dev", n_dev, at_most=True) for plan in plans}

    def scores() -> dict[str, float]:
        return {plan.task.name: evaluate(lm, plan.task, examples=dev[plan.task.name], method=settings.eval_method,
                                         batch_size=settings.batch_size, max_length=settings.max_length,
                                         max_new_tokens=new_tokens(lm, plan, settings) or 1, progress=False).score
                for plan in plans}

    base, measured = scores(), []
    for k in sorted(grid, reverse=True):
        costs = []
        for draw in range(draws):
            with deactivate(lm, NeuronSet.random(lm.ffn, k, derive_seed(settings.seed, "auto_k", k, draw)), mode=mode):
                found = scores()
            costs.append(statistics.mean(base[name] - found[name] for name in base))
        measured.append({"k": k, "cost": statistics.mean(costs), "costs": costs})
        if measured[-1]["cost"] <= budget:
            return {"k": k, "within_budget": True, "budget": budget, "n_dev": n_dev, "base": base,
                    "measured": measured}
    return {"k": min(grid), "within_budget": False, "budget": budget, "n_dev": n_dev, "base": base,
            "measured": measured}


def chosen_in(run, model, plans: list[ExamplePlan], settings, mode: str = "activation") -> dict:
    """The run's ``auto_k`` step (:func:`choose_k` with the settings' ``k_budget``, ``k_grid`` and ``n_dev``, on
    ``model()``, called only when the step is computed), its sentence printed."""
    from ...report.console import console

    found = run.step("auto_k", lambda: choose_k(model(), plans, settings, settings.k_budget, settings.k_grid,
                                                settings.n_dev, mode=mode))
    console.print(describe(found))
    return found


def describe(chosen: dict) -> str:
    """One sentence: which k ``auto`` chose, and why."""
    tried = ", ".join(f"{m['k']:g}%: {m['cost']:+.1f}" for m in chosen["measured"])
    why = ("the largest k whose random sets cost at most" if chosen["within_budget"] else
           "no k of the grid kept the cost within")
    return (f"k = {chosen['k']:g}% chosen by `auto`: {why} {chosen['budget']:g} points on {chosen['n_dev']} dev "
            f"examples per task (mean cost of random sets by k: {tried})")
