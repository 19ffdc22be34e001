"""A new experiment in one file and one registration (docs/architecture.md): the base model's score on each task
with its interval. It is its own views module too; a real one splits config.py, experiment.py, claims.py, views.py."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from taskneurons.experiments.experiment import Experiment
from taskneurons.configs import checks
from taskneurons.experiments.kit import Settings, evaluate_plan, make_plans
from taskneurons.configs.options import option
from taskneurons.analysis.stats import interval_verdict, mean_interval
from taskneurons.runs import Run, option_defaults
from taskneurons.io import write_json, write_text
from taskneurons.report.html import Claim
from taskneurons.report.markdown import markdown_table
from taskneurons.tasks import load_task


@dataclass
class ZeroShotConfig(Settings):
    tasks: list = option(factory=lambda: ["sst2"], help="task names, folders or files")
    n_eval: int = option(8, "test examples per task")

    def __post_init__(self):
        super().__post_init__()
        checks.string_list("tasks", self.tasks)
        checks.integer("n_eval", self.n_eval, minimum=2)


class ZeroShot(Experiment):
    Config, views = ZeroShotConfig, __name__

    def __init__(self, config: ZeroShotConfig, out: Path, progress: bool = True):
        self.config, self.progress = config, progress
        self.tasks = [load_task(name, data_root=config.data_root) for name in config.tasks]
        self.plans = make_plans(self.tasks, config.seed, lambda t: config.n_eval, lambda t: [])
        self.run = Run(out, asdict(config), "zero_shot", self.tasks, option_defaults(ZeroShotConfig))

    def parts(self):
        yield "scores", "the base model's scores", self.scores

    def scores(self) -> dict:
        lm = self.run.load_model()
        return {t.name: self.run.step(f"zero_shot/{t.name}", lambda t=t: evaluate_plan(
            lm, self.plans[t.name], self.config, self.progress)) for t in self.tasks}


# --- its views ----------------------------------------------------------------------------------------------
def claims(results: dict) -> list[Claim]:
    c = results["config"]
    return [Claim(f"the base model scores above 0 on {task}", interval_verdict(*interval), f"{interval}")
            for task, r in results["scores"].items()
            for interval in [mean_interval(r["outcomes"], c["n_boot"], c["confidence"], c["seed"])]]


def headline(results: dict) -> str:
    return ", ".join(f"{task} {r['score']:.1f}" for task, r in results["scores"].items())


def task_cells(results: dict) -> dict[str, str]:
    return {task: f"{r['score']:.1f}" for task, r in results["scores"].items()}


def summary(results: dict) -> str:
    rows = [[task, f"{r['score']:.1f}", r["n"]] for task, r in results["scores"].items()]
    return "# zero-shot run\n\n" + markdown_table(["task", "score", "n"], rows) + "\n"


def refreshed(results: dict, out: Path) -> tuple[dict, str]:
    return results, summary(results)


def sections(out: Path, results: dict) -> list:
    return []


PAGE_PLOTS = ()  # plots that ``sections`` draws


def write(results: dict, run: Run) -> None:
    write_json(run.path("results.json"), results)
    write_text(run.path("summary.md"), summary(results))
