"""IdentifyConfig: every option of the identification experiment, checked before the run folder exists."""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import TaskNeuronsError
from ...neurons.deactivate import MODES
from ...configs import checks
from ...configs.checks import nested
from ..kit import Selection, Settings, TrainingSpec
from ..kit.auto_k import AutoKOptions
from ...configs.options import option

ORIGINALS = ("base", "multitask")


def deactivation_tag(original: str) -> str:
    """The artifacts' tag (``artifacts/<tag>.<task>.scores``, ``.neurons``) of the model the deactivation part
    scores: "original" for the multi-task fine-tuned model, "base" for the base model (whose sets the neuron-only
    fine-tuning part shares)."""
    return "original" if original == "multitask" else "base"


@dataclass
class IdentifyConfig(AutoKOptions, Settings):
    tasks: list[str] = option(factory=lambda: ["rotten_tomatoes", "bbc_news", "tweet_sentiment", "bbc_headline"],
                              help="task names, folders or files (taskneurons tasks list)")
    selection: Selection = option(factory=Selection, help="scorer, tokens, n_score, k, scope")
    n_eval: int = option(100, "test examples per task")
    n_eval_generation: int | None = option(None,
        "test examples per generation task (None: n_eval); generating is slower")
    random_controls: int = option(5, "Deactivate-Random draws per task (each task its own, see kit.seeds)")
    matched_controls: int = option(0, "(beyond the paper) Deactivate-Matched draws per task (neurons/controls.py)")
    matched_bins: int = option(10,
        "(beyond the paper) quantile bins of general importance that a matched control follows")
    deactivation_mode: str = option("activation", '"activation" (hooks) | "weights" (zeroed slices)')
    deactivate_matrix: bool = option(True,
        "the full matrix: every task's set switched off on every task (the specificity index needs it)")
    exclude_general: float = option(0.0, "(beyond the paper) top % of general-text neurons kept out of each set")
    general_passages: int = option(0,
        "(beyond the paper) held-out general-text passages whose loss each deactivation costs")
    harness_tasks: list = option(factory=list, help="lm-evaluation-harness tasks added to the deactivation table")
    harness_include: str | None = option(None, "a folder of your own harness task YAMLs (e.g. on local JSON files)")
    harness_limit: int | None = option(None, "examples per harness task (null: all)")
    top_neurons: int = option(3, "per task, the top neurons whose most active test examples the report shows (0: none)")
    original: str = option("multitask",
        'the paper\'s: the base model fine-tuned on the tasks mixed (something to lose) | "base"')
    multitask: TrainingSpec = option(factory=lambda: TrainingSpec(n_train=200, lr=2e-5),
        help="the Original's multi-task full fine-tuning (original: multitask)")
    finetune: bool = option(True, "the Zero-shot / Train-Random / Train-Task table")
    finetune_matrix: bool = option(False, "also train task j through task i's neurons, for every pair")
    finetune_seeds: int = option(3, "Train-Task trainings per task, each with its own training seed")
    finetune_random_controls: int = option(3, "Train-Random per task: random draw r trained with training seed r")
    finetune_matched_controls: int = option(0,
        "(beyond the paper) Train-Matched per task: matched draw r, training seed r")
    neuron_training: TrainingSpec = option(factory=lambda: TrainingSpec(n_train=200, lr=1e-3),
        help="each neuron-only training (Train-Task, Train-Random, Train-Matched)")

    def __post_init__(self):
        super().__post_init__()
        checks.string_list("tasks", self.tasks)
        self.tasks = [str(t) for t in self.tasks]
        self.selection = nested(Selection, self.selection, "selection")
        self.multitask = nested(TrainingSpec, self.multitask, "multitask")
        self.neuron_training = nested(TrainingSpec, self.neuron_training, "neuron_training")
        checks.integer("n_eval", self.n_eval, minimum=2)  # a paired interval needs two examples
        checks.integer("n_eval_generation", self.n_eval_generation, minimum=2, optional=True)
        checks.integer("random_controls", self.random_controls)
        checks.integer("finetune_random_controls", self.finetune_random_controls)
        checks.integer("finetune_seeds", self.finetune_seeds)
        checks.integer("matched_controls", self.matched_controls, minimum=0)
        checks.integer("finetune_matched_controls", self.finetune_matched_controls, minimum=0)
        checks.integer("matched_bins", self.matched_bins)
        checks.integer("general_passages", self.general_passages, minimum=0)
        checks.number("exclude_general", self.exclude_general, 0, 100, low_open=False)
        self.check_auto_k()
        if (self.matched_controls or self.finetune_matched_controls) and len(self.tasks) < 2:
            raise TaskNeuronsError("matched controls need at least two tasks: a neuron's general importance is its "
                                   "mean score rank over the other tasks")
        checks.integer("top_neurons", self.top_neurons, minimum=0)
        checks.string_list("harness_tasks", self.harness_tasks, allow_empty=True)
        checks.integer("harness_limit", self.harness_limit, optional=True)
        checks.choice("deactivation_mode", self.deactivation_mode, MODES)
        checks.choice("original", self.original, ORIGINALS)
        for name in ("deactivate_matrix", "finetune", "finetune_matrix"):
            checks.boolean(name, getattr(self, name))

    def n_eval_for(self, task) -> int:
        """How many test examples ``task`` is evaluated on."""
        if task.kind == "generation" and self.n_eval_generation is not None:
            return self.n_eval_generation
        return self.n_eval

    def draws(self) -> list[tuple[str, int]]:
        """(role, n) of every draw from each task's pool: scoring, and the trainings this config runs."""
        draws = [("score", self.selection.n_score)] + [("dev", self.n_dev)] * (self.selection.k == "auto")
        draws += [("train", self.multitask.n_train)] if self.original == "multitask" else []
        draws += [("train", self.neuron_training.n_train)] if self.finetune else []
        return draws
