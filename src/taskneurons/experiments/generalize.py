"""Generalization through task-specific neurons (paper 2.7-2.10, Tables 3, 4, 8-11, Figures 2, 3, 6).

For groups of training tasks, each with its out-of-domain (OOD) test tasks:

1. **scores**: every task's neurons scored once on the base model; the top-p% sets for any p come from them;
2. **overlap** (Table 8): Jaccard between the union of the training tasks' top-p% sets and the union of the
   OOD tasks' sets of each kind, at every p; pairwise matrices between all tasks;
3. **proportion sweep** (Figure 2): train jointly on the training tasks through only the union of their top-p%
   neurons (the neuron tuner), evaluate in-domain (ID: the training tasks' test splits) and OOD; and the
   single-task variant (Figure 6): each training task alone through its own top-p% neurons, ID only;
4. **overlap-controlled ablation** (Tables 9-11): the same joint training through a random set with a preset
   overlap with the OOD tasks' neurons (``analysis.overlap.overlap_controlled_set``), per (group, OOD kind);
5. **parameter similarity** (Figure 3): one fully fine-tuned model per training task; in each layer the cosine
   between the training task's and each OOD task's neuron parameters in that model; the model is freed
   as soon as its numbers are taken (also kept: the same curves in the base model, for comparison);
6. **correlation** (Table 4): per OOD task, Pearson and Spearman (p-values, n, bootstrap interval) between
   the layer-averaged similarity and the score of each fine-tuned model.

Every training and evaluation is a cached step of the run folder (a rerun resumes); overlap and correlation
are recomputed from cached values. See docs/generalize.md for the data substitutions and every option.
"""
from __future__ import annotations

import gc
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..analysis import correlate, overlap_by_proportion, overlap_controlled_set, overlap_matrix, proportion_counts, share, union
from ..analysis.similarity import MATRICES, PAIRINGS, VECTORS, aggregate, layer_similarity, mean_curve
from ..errors import TaskNeuronsError
from ..evaluation import evaluate
from ..models import LoadedModel, load_model
from ..models.ffn import KINDS, FFN
from ..neurons import NeuronSet, Scores, score_neurons
from ..neurons.neuron_set import SCOPES
from ..report.console import console, print_table
from ..report.curves import Panel, line_panels, mean
from ..report.io import write_json, write_text
from ..report.plots import heatmap
from ..tasks import Task, load_task
from ..tuning import NeuronTuner, TrainConfig, train
from .run import Run

SHORT = {"classification": "CLS", "generation": "GEN"}
KIND_OF = {"CLS": "classification", "GEN": "generation", "classification": "classification", "generation": "generation"}


# --- the paper's tasks and groups, mapped to ../shared/data ------------------------------------------------------

@dataclass(frozen=True)
class TaskSource:
    """A built-in task: its key in the results (named after the data actually used), its folder of the data
    directory, the paper's name for it, and what was substituted, if anything."""

    key: str
    folder: str
    paper: str
    note: str = ""


BUILTIN_TASKS = {t.key: t for t in [
    TaskSource("amazon", "amazon_yang", "Amazon", "Yang et al.'s binary Amazon reviews (the paper's 'Amazon')"),
    TaskSource("qqp", "qqp", "QQP", "Yang et al.'s QQP is test-only (qqp_yang): QQP is trained and ID-tested on "
               "O-LoRA's QQP (its instruction prompt and labels False/True, not Yang's template and yes/no)"),
    TaskSource("mnli", "mnli_yang", "MNLI"),
    TaskSource("socialqa", "socialqa", "SciQ", "SciQ question generation is test-only (sciq): Social IQa question "
               "generation (same schema; MANIFEST's substitute) is trained and ID-tested in its place"),
    TaskSource("e2e", "e2e", "E2E", "E2E train/dev carved out of the official devset (trainset.csv is absent)"),
    TaskSource("xsum", "xsum", "XSum"),
    TaskSource("sst2", "sst2_yang", "SST-2"),
    TaskSource("paws", "paws", "PAWS"),
    TaskSource("gptnli", "gptnli", "GPTNLI"),
    TaskSource("tweetqa", "tweetqa", "TweetQA"),
    TaskSource("commongen", "commongen", "CommonGen"),
    TaskSource("cnn_dailymail", "cnn_dailymail", "CNN/DailyMail"),
]}


@dataclass(frozen=True)
class Group:
    name: str
    train: tuple[str, ...]
    ood: tuple[str, ...]
    paper: dict = field(default_factory=dict)  # task key -> the paper's task it stands for, where they differ
    notes: tuple[str, ...] = ()


GROUPS = {
    "a": Group("a", ("amazon", "qqp", "mnli"), ("sst2", "paws", "gptnli", "tweetqa", "commongen", "xsum"),
               notes=(BUILTIN_TASKS["qqp"].note,)),
    "b": Group("b", ("socialqa", "e2e", "xsum"), ("sst2", "paws", "gptnli", "tweetqa", "commongen", "cnn_dailymail"),
               paper={"socialqa": "SciQ", "xsum": "CNN/DailyMail", "cnn_dailymail": "XSum"},
               notes=(BUILTIN_TASKS["socialqa"].note,
                      "CNN/DailyMail is test-only (cnn_dailymail): XSum (MANIFEST's summarization substitute) is "
                      "trained and ID-tested in its place; as XSum is then a training task of group (b), group (b)'s "
                      "OOD summarization test is CNN/DailyMail's test split (the two swap roles)")),
}

# The paper's numbers (PAPER.md section 4), to print beside ours.
PAPER_TABLE8 = {"CLS-CLS": {10: 20.8, 30: 53.9, 50: 84.5, 70: 96.2, 100: 100.0},
                "CLS-GEN": {10: 12.9, 30: 41.6, 50: 71.5, 70: 83.5, 100: 100.0},
                "GEN-CLS": {10: 11.8, 30: 40.2, 50: 69.3, 70: 81.8, 100: 100.0},
                "GEN-GEN": {10: 21.6, 30: 52.5, 50: 82.0, 70: 94.3, 100: 100.0}}
PAPER_ABLATION = {  # overlap rate (%) -> proportion (%) -> OOD score; Tables 9 (CLS-CLS), 10 (GEN-GEN), 11 (GEN-CLS)
    "CLS-CLS": {10: {10: 80.2, 30: 81.4, 50: 81.8}, 30: {10: 81.1, 30: 82.0, 50: 82.3}, 50: {10: 81.5, 30: 82.3, 50: 82.8},
                70: {10: 82.0, 30: 82.7, 50: 83.0}, 100: {10: 82.2, 30: 83.1, 50: 83.6}},
    "GEN-GEN": {10: {10: 31.6, 30: 32.1, 50: 32.3}, 30: {10: 32.5, 30: 32.9, 50: 33.5}, 50: {10: 32.7, 30: 33.4, 50: 33.8},
                70: {10: 32.9, 30: 34.0, 50: 34.1}, 100: {10: 33.1, 30: 34.4, 50: 35.1}},
    "GEN-CLS": {10: {10: 78.2, 30: 78.5, 50: 78.6}, 30: {10: 78.8, 30: 78.7, 50: 79.3}, 50: {10: 79.0, 30: 79.4, 50: 79.7},
                70: {10: 79.3, 30: 79.6, 50: 80.3}, 100: {10: 79.5, 30: 79.9, 50: 80.8}},
}
PAPER_ABLATION_ORIGINAL = {"CLS-CLS": {10: (20.8, 80.7), 30: (53.9, 82.5), 50: (84.5, 83.1)},
                           "GEN-GEN": {10: (21.6, 32.2), 30: (52.5, 33.8), 50: (82.0, 34.9)},
                           "GEN-CLS": {10: (11.8, 78.4), 30: (40.2, 78.7), 50: (69.3, 80.1)}}
PAPER_TABLE4 = {  # test task -> (Pearson r, p, Spearman rho, p), n = 6 models
    "sst2": (0.87, 0.02, 0.81, 0.05), "paws": (0.92, 0.01, 0.77, 0.07), "gptnli": (0.79, 0.05, 0.81, 0.05),
    "tweetqa": (0.96, 0.00, 0.77, 0.07), "commongen": (0.96, 0.00, 0.83, 0.04), "xsum": (0.97, 0.00, 0.71, 0.11)}

TOTALS = ("proportion", "train_union")
RATE_DEFINITIONS = ("share", "jaccard")
POOLS = ("complement", "train_union")
SIMILARITY_NEURONS = ("base", "finetuned")


@dataclass
class GeneralizeConfig:
    model: str = "smollm2-135m"
    device: str = "cpu"
    dtype: str = "float32"
    data_dir: str = "../shared/data"  # where the built-in tasks' folders are
    groups: list = field(default_factory=lambda: ["a", "b"])  # "a", "b", or {name, train: [...], ood: [...]}
    proportions: list[float] = field(default_factory=lambda: [10, 30, 50, 70, 100])  # percent
    scope: str = "layer"  # top-p% per (layer, kind) | "global" per kind | "all"
    scorer: str = "grad_x_act"
    scorer_options: dict = field(default_factory=dict)
    tokens: str = "target"
    n_score: int = 64  # examples per task for scoring (train split; else dev; else the test split's tail)
    n_eval: int = 100  # test examples per task
    n_eval_generation: int | None = None  # test examples per generation task (default: n_eval)
    eval_method: str = "rank"
    batch_size: int = 8
    max_length: int = 192
    max_new_tokens: int = 32
    training: dict = field(default_factory=lambda: {"n_train": 200, "lr": 5e-4, "epochs": 1})  # neuron-only, per task
    zero_shot: bool = True
    sweep: bool = True
    single_task: bool = True  # Figure 6
    single_proportions: list[float] | None = None  # default: proportions
    ablation: bool = True  # Tables 9-11
    ablation_pairs: list = field(default_factory=lambda: [["a", "classification"], ["b", "generation"],
                                                          ["b", "classification"]])
    ablation_proportions: list[float] = field(default_factory=lambda: [10, 30, 50])
    ablation_rates: list[float] = field(default_factory=lambda: [10, 30, 50, 70, 100])  # percent
    ablation_total: str = "proportion"  # "proportion": p% of every (layer, kind) | "train_union": |union of top-p%|
    ablation_rate: str = "share"  # "share" of the trained neurons from the test set | "jaccard" with it
    ablation_pool: str = "complement"  # the rest from outside the test set | from the training union outside it
    ablation_seeds: list[int] = field(default_factory=lambda: [0])
    similarity: bool = True  # Figure 3 and Table 4
    similarity_models: list[str] | None = None  # tasks to fully fine-tune one model on (default: the groups' training tasks)
    similarity_tests: list[str] | None = None  # test tasks (default: the groups' OOD tasks)
    similarity_k: float = 10.0
    similarity_matrices: str = "both"  # "inner" (up/gate rows) | "outer" (down rows) | "both"
    similarity_vector: str = "flatten"  # "flatten" (needs scope "layer") | "mean"
    similarity_pairing: str = "index"  # flatten: rows in index order | "shared_first"
    similarity_neurons: str = "base"  # which model scores the neurons: "base" | "finetuned" (M_i)
    similarity_layers: list[int] | None = None  # layers averaged into one similarity for Table 4 (default: all)
    full_training: dict = field(default_factory=lambda: {"n_train": 200, "lr": 2e-5, "epochs": 1})
    n_boot: int = 2000
    confidence: float = 0.95
    seed: int = 0

    def train_config(self, spec: dict, what: str) -> TrainConfig:
        options = {k: v for k, v in spec.items() if k != "n_train"}
        try:
            return TrainConfig(**{"batch_size": self.batch_size, "max_length": self.max_length, "seed": self.seed,
                                  **options})
        except TypeError:
            known = sorted(TrainConfig.__dataclass_fields__) + ["n_train"]
            raise TaskNeuronsError(f"{what} has an unknown option among {sorted(spec)}; options: {', '.join(known)}") from None


def _pct(p: float) -> str:
    return f"{p:g}"


def _fmt(v, digits: int = 1) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _check(values, allowed, what: str) -> None:
    if values not in allowed:
        raise TaskNeuronsError(f"option {what}={values!r} is not one of {list(allowed)}")


def neuron_weights(ffn: FFN) -> dict[int, dict[str, list]]:
    """layer -> kind -> the weight tensors with one row per neuron (views, no copies; biases left out)."""
    out = {}
    for layer in range(ffn.n_layers):
        out[layer] = {}
        for kind in KINDS:
            tensors = []
            for sl in ffn.slices(layer, kind):
                if sl.param.dim() < 2:
                    continue
                w = sl.param.detach().narrow(sl.dim, sl.offset, ffn.widths[kind])
                tensors.append(w if sl.dim == 0 else w.transpose(0, 1))
            out[layer][kind] = tensors
    return out


class Generalize:
    def __init__(self, config: GeneralizeConfig, out: Path, progress: bool = True):
        self.config, self.progress = config, progress
        self._validate_options()
        self.tasks: dict[str, Task] = {}
        self.sources: dict[str, dict] = {}
        self.groups = [self._group(g) for g in config.groups]
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise TaskNeuronsError(f"option groups: group names must differ, got {names}")
        for g in self.groups:
            for key in g.train:
                if not self.tasks[key].splits.get("train"):
                    raise TaskNeuronsError(f"training task {key!r} ({self.sources[key]['data']}) has no train split; "
                                           f"use a substitute with one (see ../shared/data/MANIFEST.md)")
        self._validate_against_groups()
        self.run = Run(out, asdict(config))
        self._base: LoadedModel | None = None
        self._scores: dict[str, Scores] = {}
        self._sets: dict[tuple[str, float], NeuronSet] = {}

    # --- configuration ------------------------------------------------------------------------------------
    def _validate_options(self) -> None:
        c = self.config
        if not c.groups:
            raise TaskNeuronsError("option groups is empty: give 'a', 'b' or {name, train: [...], ood: [...]}")
        for name in ("proportions", "ablation_proportions"):
            values = getattr(c, name)
            if not values or not all(isinstance(p, (int, float)) and 0 < p <= 100 for p in values):
                raise TaskNeuronsError(f"option {name} must be a non-empty list of percentages in (0, 100], got {values}")
        if c.single_proportions is not None and not all(0 < p <= 100 for p in c.single_proportions):
            raise TaskNeuronsError(f"option single_proportions must be percentages in (0, 100], got {c.single_proportions}")
        if not c.ablation_rates or not all(isinstance(r, (int, float)) and 0 <= r <= 100 for r in c.ablation_rates):
            raise TaskNeuronsError(f"option ablation_rates must be percentages in [0, 100], got {c.ablation_rates}")
        if not 0 < c.similarity_k <= 100:
            raise TaskNeuronsError(f"option similarity_k must be a percentage in (0, 100], got {c.similarity_k}")
        _check(c.scope, SCOPES, "scope")
        _check(c.ablation_total, TOTALS, "ablation_total")
        _check(c.ablation_rate, RATE_DEFINITIONS, "ablation_rate")
        _check(c.ablation_pool, POOLS, "ablation_pool")
        _check(c.similarity_matrices, MATRICES, "similarity_matrices")
        _check(c.similarity_vector, VECTORS, "similarity_vector")
        _check(c.similarity_pairing, PAIRINGS, "similarity_pairing")
        _check(c.similarity_neurons, SIMILARITY_NEURONS, "similarity_neurons")
        if c.similarity and c.similarity_vector == "flatten" and c.scope != "layer":
            raise TaskNeuronsError(f"similarity_vector 'flatten' needs equal neuron counts per layer, i.e. scope 'layer' "
                                   f"(got scope {c.scope!r}); set similarity_vector=mean or scope=layer")
        for name in ("n_score", "n_eval", "batch_size", "max_length", "max_new_tokens", "n_boot"):
            if not isinstance(getattr(c, name), int) or getattr(c, name) < 1:
                raise TaskNeuronsError(f"option {name} must be a positive integer, got {getattr(c, name)!r}")
        if c.n_eval_generation is not None and (not isinstance(c.n_eval_generation, int) or c.n_eval_generation < 1):
            raise TaskNeuronsError(f"option n_eval_generation must be a positive integer, got {c.n_eval_generation!r}")
        if not c.ablation_seeds:
            raise TaskNeuronsError("option ablation_seeds is empty: give at least one seed")
        for name in ("training", "full_training"):
            spec = getattr(c, name)
            if not isinstance(spec, dict):
                raise TaskNeuronsError(f"option {name} must be a mapping (n_train, lr, epochs, ...), got {spec!r}")
            c.train_config(spec, f"option {name}")
            if not isinstance(spec.get("n_train", 1), int) or spec.get("n_train", 1) < 1:
                raise TaskNeuronsError(f"option {name}.n_train must be a positive integer, got {spec.get('n_train')!r}")

    def _group(self, spec) -> Group:
        if isinstance(spec, str):
            if spec not in GROUPS:
                raise TaskNeuronsError(f"unknown group {spec!r}; built-in groups: {', '.join(GROUPS)} "
                                       f"(or give {{name, train: [...], ood: [...]}})")
            group = GROUPS[spec]
            for key in group.train + group.ood:
                self._load(key)
            return group
        if not isinstance(spec, dict) or not {"name", "train", "ood"} <= set(spec) or set(spec) - {"name", "train", "ood"}:
            raise TaskNeuronsError(f"a group must be 'a', 'b' or a mapping with exactly name, train and ood; got {spec!r}")
        if not isinstance(spec["train"], list) or not isinstance(spec["ood"], list) or not spec["train"] or not spec["ood"]:
            raise TaskNeuronsError(f"group {spec['name']!r}: train and ood must be non-empty lists of tasks")
        train, ood = tuple(self._load(str(t)) for t in spec["train"]), tuple(self._load(str(t)) for t in spec["ood"])
        if len(set(train + ood)) != len(train + ood):
            raise TaskNeuronsError(f"group {spec['name']!r} lists a task twice: train {list(train)}, ood {list(ood)}")
        return Group(str(spec["name"]), train, ood)

    def _load(self, spec: str) -> str:
        """Load a task (a built-in key, or any spec ``load_task`` takes); returns its key (the task's name)."""
        key = spec
        if spec in BUILTIN_TASKS:
            src = BUILTIN_TASKS[key]
            if key in self.tasks:
                if self.sources[key]["data"] != src.folder:
                    raise TaskNeuronsError(f"two tasks are named {key!r} ({self.sources[key]['data']} and the built-in "
                                           f"{src.folder}); rename one")
                return key
            folder = Path(self.config.data_dir).expanduser() / src.folder
            if not folder.is_dir():
                raise TaskNeuronsError(f"task {key!r}: no folder {folder} (set option data_dir to the folder of "
                                       f"../shared/data)")
            task = load_task(folder, name=key)
            info = {"paper": src.paper, "data": src.folder, "note": src.note}
        else:
            task = load_task(spec)
            key = task.name
            if key in self.tasks and self.sources[key]["data"] != spec:
                raise TaskNeuronsError(f"two tasks are named {key!r} ({self.sources[key]['data']} and {spec}); "
                                       f"rename one")
            info = {"paper": None, "data": spec, "note": ""}
        self.tasks[key] = task
        self.sources[key] = {**info, "kind": task.kind, "metric": task.metric,
                             "splits": {s: len(e) for s, e in task.splits.items()}}
        return key

    def _validate_against_groups(self) -> None:
        c = self.config
        groups = {g.name: g for g in self.groups}
        if c.ablation:
            for pair in c.ablation_pairs:
                if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                    raise TaskNeuronsError(f"option ablation_pairs: each entry is [group, kind], got {pair!r}")
                g, kind = str(pair[0]), KIND_OF.get(str(pair[1]))
                if g not in groups:
                    raise TaskNeuronsError(f"option ablation_pairs: group {g!r} is not among the groups {list(groups)}")
                if kind is None or not self.ood_of_kind(groups[g], kind):
                    raise TaskNeuronsError(f"option ablation_pairs: group {g!r} has no OOD tasks of kind {pair[1]!r}")
        # similarity models and tests may be any tasks, not only the groups' (e.g. group (b)'s models only)
        self.similarity_models = self.similarity_tests = None
        if c.similarity:
            self.similarity_models = [self._load(str(t)) for t in c.similarity_models or []] or None
            self.similarity_tests = [self._load(str(t)) for t in c.similarity_tests or []] or None
            for key in self.similarity_models or []:
                if not self.tasks[key].splits.get("train"):
                    raise TaskNeuronsError(f"option similarity_models: {key!r} has no train split to fine-tune on")

    # --- building blocks ----------------------------------------------------------------------------------
    @property
    def base(self) -> LoadedModel:
        """The base model, loaded on first use (a rerun with every step cached loads nothing)."""
        if self._base is None:
            c = self.config
            self._base = load_model(c.model, device=c.device, dtype=c.dtype)
        return self._base

    def n_eval(self, task: Task) -> int:
        c = self.config
        return (c.n_eval_generation or c.n_eval) if task.kind == "generation" else c.n_eval

    def scoring_examples(self, task: Task) -> tuple[list, str]:
        """Examples to score a task on: its train split, else dev, else the tail of its test split (disjoint from
        the first n_eval test examples that are evaluated, when the split is long enough)."""
        n = self.config.n_score
        for split in ("train", "dev"):
            if task.splits.get(split):
                return task.split(split, n), split
        test = task.split("test")
        start = max(len(test) - n, min(self.n_eval(task), len(test)))
        if start < len(test):
            return test[start:], f"test[{start}:]"
        return test[-n:], f"test[-{n}:] (overlaps the evaluated examples)"

    def scores(self, key: str) -> Scores:
        """The task's neuron scores on the base model (an artifact of the run folder, reused when present)."""
        if key not in self._scores:
            c = self.config
            path = self.run.path("artifacts", f"base.{key}.scores")
            if Path(f"{path}.json").is_file():
                self._scores[key] = Scores.load(path)
            else:
                examples, _ = self.scoring_examples(self.tasks[key])
                scores = score_neurons(self.base, examples, scorer=c.scorer, tokens=c.tokens, batch_size=c.batch_size,
                                       max_length=c.max_length, task=key, progress=self.progress,
                                       checkpoint=self.run.path("checkpoints", f"base.{key}"), **c.scorer_options)
                scores.save(path)
                self._scores[key] = scores
        return self._scores[key]

    def neuron_set(self, key: str, p: float) -> NeuronSet:
        if (key, p) not in self._sets:
            self._sets[(key, p)] = NeuronSet.from_scores(self.scores(key), p, self.config.scope,
                                                         provenance={"model_role": "base", "seed": self.config.seed})
        return self._sets[(key, p)]

    def ood_of_kind(self, group: Group, kind: str) -> list[str]:
        return [t for t in group.ood if self.tasks[t].kind == kind]

    def train_kind(self, group: Group) -> str:
        kinds = {SHORT[self.tasks[t].kind] for t in group.train}
        return kinds.pop() if len(kinds) == 1 else "MIX"

    def evaluate(self, lm: LoadedModel, key: str) -> float:
        c, task = self.config, self.tasks[key]
        return evaluate(lm, task, split="test", limit=self.n_eval(task), method=c.eval_method, batch_size=c.batch_size,
                        max_length=c.max_length, max_new_tokens=c.max_new_tokens, progress=self.progress).score

    def training_examples(self, keys, spec: dict) -> list:
        n = spec.get("n_train", 200)
        return [ex for key in keys for ex in self.tasks[key].split("train", n)]

    def train_and_evaluate(self, neurons: NeuronSet, train_keys, eval_keys) -> dict:
        """Train the base model jointly on ``train_keys`` through ``neurons`` only; evaluate; the model is left as
        it was (the tuner is removed)."""
        c, lm = self.config, self.base
        examples = self.training_examples(train_keys, c.training)
        with NeuronTuner(lm, None, neurons) as tuner:
            result = train(lm, examples, tuner.parameters(), c.train_config(c.training, "training"), progress=self.progress)
            scores = {key: self.evaluate(lm, key) for key in eval_keys}
            trainable = tuner.num_trainable()
        return {"scores": scores, "neurons": neurons.count(), "fraction": neurons.fraction(), "trainable": trainable,
                "n_train": len(examples), "steps": result.steps, "final_loss": result.losses[-1] if result.losses else None,
                "seconds": result.seconds}

    # --- the parts ----------------------------------------------------------------------------------------
    def overlap(self) -> dict:
        c = self.config
        out = {"groups": {}, "pairwise": {}}
        for g in self.groups:
            tk = self.train_kind(g)
            rows = {}
            for kind in ("classification", "generation"):
                tests = self.ood_of_kind(g, kind)
                if tests:
                    j = overlap_by_proportion({t: self.scores(t) for t in g.train}, {t: self.scores(t) for t in tests},
                                              c.proportions, c.scope)
                    rows[f"{tk}-{SHORT[kind]}"] = {_pct(p): 100 * v for p, v in j.items()}
            j = overlap_by_proportion({t: self.scores(t) for t in g.train}, {t: self.scores(t) for t in g.ood},
                                      c.proportions, c.scope)
            rows[f"{tk}-OOD"] = {_pct(p): 100 * v for p, v in j.items()}
            out["groups"][g.name] = rows
        for p in c.proportions:
            names, matrix = overlap_matrix({key: self.neuron_set(key, p) for key in self.tasks})
            out["pairwise"][_pct(p)] = {"tasks": names, "jaccard": matrix.tolist()}
        return out

    def zero_shot(self) -> dict:
        keys = dict.fromkeys(t for g in self.groups for t in g.train + g.ood)
        return {key: self.run.step(f"zero_shot/{key}", lambda key=key: {"score": self.evaluate(self.base, key)})["score"]
                for key in keys}

    def sweep_point(self, g: Group, p: float) -> dict:
        def compute():
            trained = union(self.neuron_set(t, p) for t in g.train)
            return self.train_and_evaluate(trained, g.train, list(g.train) + list(g.ood))
        return self.run.step(f"sweep/{g.name}/p={_pct(p)}", compute)

    def sweep(self) -> dict:
        out = {}
        for g in self.groups:
            out[g.name] = {}
            for p in self.config.proportions:
                step = self.sweep_point(g, p)
                out[g.name][_pct(p)] = {"id": {t: step["scores"][t] for t in g.train},
                                        "ood": {t: step["scores"][t] for t in g.ood},
                                        **{k: step[k] for k in ("neurons", "fraction", "final_loss", "steps")}}
        return out

    def single(self) -> dict:
        c = self.config
        out = {}
        for g in self.groups:
            out[g.name] = {}
            for t in g.train:
                out[g.name][t] = {}
                for p in c.single_proportions or c.proportions:
                    step = self.run.step(f"single/{t}/p={_pct(p)}",
                                         lambda t=t, p=p: self.train_and_evaluate(self.neuron_set(t, p), [t], [t]))
                    out[g.name][t][_pct(p)] = step["scores"][t]
        return out

    def ablation(self) -> dict:
        c = self.config
        groups = {g.name: g for g in self.groups}
        out = {}
        for group_name, kind_name in c.ablation_pairs:
            g, kind = groups[str(group_name)], KIND_OF[str(kind_name)]
            tests = self.ood_of_kind(g, kind)
            label = f"{self.train_kind(g)}-{SHORT[kind]}"
            grid, realized, original, impossible = {}, {}, {}, {}
            for p in c.ablation_proportions:
                target = union(self.neuron_set(t, p) for t in tests)
                train_union = union(self.neuron_set(t, p) for t in g.train)
                counts = (proportion_counts(target, p) if c.ablation_total == "proportion"
                          else train_union.counts_per_layer())
                pool = None if c.ablation_pool == "complement" else train_union | target
                for rate in c.ablation_rates:
                    runs = []
                    for seed in c.ablation_seeds:
                        try:  # cheap and seeded: rebuilt on a rerun, only the training is cached
                            trained = overlap_controlled_set(target, counts, rate / 100, seed, c.ablation_rate, pool)
                        except TaskNeuronsError as e:  # this (rate, p) cannot be built: the paper's "-"
                            impossible.setdefault(_pct(rate), {})[_pct(p)] = str(e)
                            break

                        def compute(trained=trained):
                            result = self.train_and_evaluate(trained, g.train, tests)
                            return {**result, "share": 100 * share(trained, target),
                                    "jaccard": 100 * trained.jaccard(target)}
                        step = self.run.step(f"ablation/{g.name}/{kind}/p={_pct(p)}/rate={_pct(rate)}/seed={seed}", compute)
                        runs.append(step)
                    if not runs:
                        grid.setdefault(_pct(rate), {})[_pct(p)] = None
                        continue
                    grid.setdefault(_pct(rate), {})[_pct(p)] = mean([mean(r["scores"]) for r in runs])
                    realized.setdefault(_pct(rate), {})[_pct(p)] = {"share": mean([r["share"] for r in runs]),
                                                                    "jaccard": mean([r["jaccard"] for r in runs]),
                                                                    "neurons": runs[0]["neurons"]}
                natural = self.sweep_point(g, p)
                original[_pct(p)] = {"jaccard": 100 * train_union.jaccard(target), "share": 100 * share(train_union, target),
                                     "score": mean({t: natural["scores"][t] for t in tests}), "neurons": natural["neurons"]}
            out[f"{g.name}:{kind}"] = {"label": label, "group": g.name, "kind": kind, "tests": tests, "grid": grid,
                                       "realized": realized, "original": original, "impossible": impossible}
        return out

    def similarity_model(self, key: str, tests: list[str]) -> dict:
        """One fully fine-tuned model on ``key``: its scores on ``key`` and the tests, and the per-layer similarity
        curves (every matrices/vector variant) between ``key``'s and each test's neurons in it and in the base."""
        c = self.config

        def curves(weights, sets: dict[str, NeuronSet]) -> dict:
            out = {}
            for test in tests:
                variants = {}
                for matrices in MATRICES:
                    for vector in VECTORS:
                        try:
                            variants[f"{matrices}/{vector}"] = layer_similarity(
                                weights, sets[key], sets[test], matrices, vector, c.similarity_pairing)
                        except TaskNeuronsError:  # flatten with unequal counts: that variant does not exist
                            if vector != "flatten":
                                raise
                            variants[f"{matrices}/{vector}"] = None
                out[test] = variants
            return out

        def compute():
            lm = load_model(c.model, device=c.device, dtype=c.dtype)
            base_sets = {t: self.neuron_set(t, c.similarity_k) for t in [key, *tests]}
            base_curves = curves(neuron_weights(lm.ffn), base_sets)
            examples = self.training_examples([key], c.full_training)
            result = train(lm, examples, list(lm.model.parameters()), c.train_config(c.full_training, "full_training"),
                           progress=self.progress)
            scores = {t: self.evaluate(lm, t) for t in [key, *tests]}
            if c.similarity_neurons == "finetuned":
                sets = {}
                for t in [key, *tests]:
                    examples_t, _ = self.scoring_examples(self.tasks[t])
                    s = score_neurons(lm, examples_t, scorer=c.scorer, tokens=c.tokens, batch_size=c.batch_size,
                                      max_length=c.max_length, task=t, progress=self.progress, **c.scorer_options)
                    sets[t] = NeuronSet.from_scores(s, c.similarity_k, c.scope, provenance={"model_role": f"finetuned:{key}"})
            else:
                sets = base_sets
            tuned_curves = curves(neuron_weights(lm.ffn), sets)
            del lm
            gc.collect()
            return {"scores": scores, "curves": tuned_curves, "base_curves": base_curves, "n_train": len(examples),
                    "steps": result.steps, "final_loss": result.losses[-1] if result.losses else None,
                    "seconds": result.seconds, "neurons": c.similarity_neurons}
        return self.run.step(f"similarity/{key}", compute)

    def similarity(self) -> dict:
        c = self.config
        models = self.similarity_models or list(dict.fromkeys(t for g in self.groups for t in g.train))
        tests_all = self.similarity_tests or list(dict.fromkeys(t for g in self.groups for t in g.ood))
        variant = f"{c.similarity_matrices}/{c.similarity_vector}"
        n_layers = self.scores(models[0]).n_layers
        bad = [i for i in c.similarity_layers or [] if not (isinstance(i, int) and 0 <= i < n_layers)]
        if bad:
            raise TaskNeuronsError(f"option similarity_layers: {bad} are not layers of the model (0..{n_layers - 1})")
        per_model = {}
        for m in models:
            tests = [t for t in tests_all if t != m]  # a model's own training data is not an OOD test
            step = self.similarity_model(m, tests)
            per_model[m] = {"kind": self.tasks[m].kind, "scores": step["scores"],
                            "curves": {t: step["curves"][t][variant] for t in tests},
                            "base_curves": {t: step["base_curves"][t][variant] for t in tests},
                            "all_variants": step["curves"], "final_loss": step["final_loss"]}
        correlation = {}
        for t in tests_all:
            points = [(m, aggregate(per_model[m]["curves"][t], c.similarity_layers), per_model[m]["scores"][t])
                      for m in models if per_model[m]["curves"].get(t) is not None]
            points = [pt for pt in points if math.isfinite(pt[1])]
            entry = {"points": [{"model": m, "similarity": s, "score": y} for m, s, y in points], "n": len(points)}
            try:
                entry.update(correlate([s for _, s, _ in points], [y for _, _, y in points], n_boot=c.n_boot,
                                       confidence=c.confidence, seed=c.seed).to_dict())
            except TaskNeuronsError as e:
                entry["error"] = str(e)
            correlation[t] = entry
        return {"variant": variant, "pairing": c.similarity_pairing, "neurons": c.similarity_neurons,
                "layers": c.similarity_layers, "models": per_model, "correlation": correlation}

    # --- the whole experiment -----------------------------------------------------------------------------
    def __call__(self) -> dict:
        c = self.config
        results = {"config": asdict(c), "tasks": {}, "groups": {}}
        for key, task in self.tasks.items():
            _, split = self.scoring_examples(task)
            results["tasks"][key] = {**self.sources[key], "scored_on": split, "n_eval": self.n_eval(task)}
        for g in self.groups:
            results["groups"][g.name] = {"train": list(g.train), "ood": list(g.ood), "train_kind": self.train_kind(g),
                                         "stands_for": g.paper, "notes": list(g.notes)}
        console.rule("overlap of task-specific neurons (Table 8)")
        results["overlap"] = self.overlap()
        show_overlap(results)
        if c.zero_shot:
            console.rule("zero-shot")
            results["zero_shot"] = self.zero_shot()
        if c.sweep:
            console.rule("proportion sweep: joint training through the union of the top-p% neurons (Figure 2)")
            results["sweep"] = self.sweep()
            show_sweep(results)
        if c.single_task:
            console.rule("single-task proportion sweep (Figure 6)")
            results["single"] = self.single()
            show_single(results)
        if c.ablation:
            console.rule("overlap-controlled ablation (Tables 9-11)")
            results["ablation"] = self.ablation()
            show_ablation(results)
        if c.similarity:
            console.rule("parameter similarity (Figure 3) and its correlation with transfer (Table 4)")
            results["similarity"] = self.similarity()
            show_similarity(results)
        write_json(self.run.path("results.json"), results)
        plot(results, self.run)
        write_text(self.run.path("summary.md"), summary(results))
        console.print(f"wrote {self.run.out}/results.json, summary.md and plots/")
        return results


# --- tables, plots, summary ---------------------------------------------------------------------------------------

def overlap_rows(results: dict, with_paper: bool = True) -> tuple[list[str], list[list[str]]]:
    ps = [_pct(p) for p in results["config"]["proportions"]]
    rows = []
    for g, pairs in results["overlap"]["groups"].items():
        for label, values in pairs.items():
            rows.append([f"({g}) {label}"] + [_fmt(values[p]) for p in ps])
            if with_paper and label in PAPER_TABLE8:
                rows.append([f"paper {label}"] + [_fmt(PAPER_TABLE8[label].get(float(p))) for p in ps])
    return ["group", *[f"{p}%" for p in ps]], rows


def sweep_rows(results: dict, g: str) -> tuple[list[str], list[list[str]]]:
    sweep, group = results["sweep"][g], results["groups"][g]
    header = ["p", *group["train"], *group["ood"], "ID avg", "OOD-CLS avg", "OOD-GEN avg"]
    rows = []
    zs = results.get("zero_shot")
    if zs:
        rows.append(["zero-shot"] + [_fmt(zs[t]) for t in group["train"] + group["ood"]] + category_means(results, g, zs))
    for p, point in sweep.items():
        scores = {**point["id"], **point["ood"]}
        rows.append([f"{p}%"] + [_fmt(scores[t]) for t in group["train"] + group["ood"]] + category_means(results, g, scores))
    return header, rows


def category_means(results: dict, g: str, scores: dict) -> list[str]:
    group, tasks = results["groups"][g], results["tasks"]
    out = [_fmt(mean({t: scores[t] for t in group["train"]}))]
    for kind in ("classification", "generation"):
        out.append(_fmt(mean({t: scores[t] for t in group["ood"] if tasks[t]["kind"] == kind})))
    return out


def ablation_rows(part: dict) -> tuple[list[str], list[list[str]]]:
    ps = list(next(iter(part["grid"].values())))
    rows = []
    entries = [(float(r), f"{r}%", part["grid"][r]) for r in part["grid"]]
    for p, orig in part["original"].items():
        entries.append((orig["jaccard"], f"{orig['jaccard']:.1f}% (orig. @{p}%, Jaccard)", {p: orig["score"]}))
    for _, label, values in sorted(entries, key=lambda e: e[0]):
        rows.append([label] + [_fmt(values.get(p)) for p in ps])
    return ["overlap rate", *[f"{p}%" for p in ps]], rows


def paper_ablation_rows(label: str) -> tuple[list[str], list[list[str]]] | None:
    if label not in PAPER_ABLATION:
        return None
    table, orig = PAPER_ABLATION[label], PAPER_ABLATION_ORIGINAL[label]
    entries = [(float(r), f"{r}%", v) for r, v in table.items()]
    entries += [(j, f"{j}% (orig. @{p}%)", {p: s}) for p, (j, s) in orig.items()]
    rows = [[lab] + [_fmt(v.get(p)) for p in (10, 30, 50)] for _, lab, v in sorted(entries, key=lambda e: e[0])]
    return ["overlap rate (paper)", "10%", "30%", "50%"], rows


def correlation_rows(results: dict, with_paper: bool = True) -> tuple[list[str], list[list[str]]]:
    rows = []
    for t, e in results["similarity"]["correlation"].items():
        if "error" in e:
            rows.append([t, str(e["n"]), "-", "-", "-", "-", "-", "-", e["error"]])
        else:
            note = "" if math.isfinite(e["pearson"]) else "a variable is constant: no coefficient"
            rows.append([t, str(e["n"]), _fmt(e["pearson"], 2), _fmt(e["pearson_p"], 2),
                         f"[{_fmt(e['pearson_ci'][0], 2)}, {_fmt(e['pearson_ci'][1], 2)}]", _fmt(e["spearman"], 2),
                         _fmt(e["spearman_p"], 2), f"[{_fmt(e['spearman_ci'][0], 2)}, {_fmt(e['spearman_ci'][1], 2)}]", note])
        if with_paper and t in PAPER_TABLE4:
            r, p, rho, q = PAPER_TABLE4[t]
            rows.append([f"  paper {t}", "6", f"{r:.2f}", f"{p:.2f}", "", f"{rho:.2f}", f"{q:.2f}", "", ""])
    conf = f"{100 * results['config']['confidence']:g}% CI"
    return ["test task", "n", "Pearson r", "p", conf, "Spearman rho", "p", conf, "note"], rows


def show_overlap(results: dict) -> None:
    print_table("Jaccard overlap (%) between the training tasks' and the OOD tasks' top-p% neurons (unions)",
                *overlap_rows(results))


def show_sweep(results: dict) -> None:
    for g in results["sweep"]:
        print_table(f"group ({g}): scores after joint training through the union of the top-p% neurons",
                    *sweep_rows(results, g))


def show_single(results: dict) -> None:
    for g, tasks in results["single"].items():
        ps = list(next(iter(tasks.values())))
        print_table(f"group ({g}): each task trained alone through its own top-p% neurons (ID score)",
                    ["task", *[f"{p}%" for p in ps]], [[t] + [_fmt(v[p]) for p in ps] for t, v in tasks.items()])


def show_ablation(results: dict) -> None:
    c = results["config"]
    for part in results["ablation"].values():
        print_table(f"({part['group']}) {part['label']}: mean OOD score over {', '.join(part['tests'])} "
                    f"(overlap rate = {c['ablation_rate']}, total = {c['ablation_total']})", *ablation_rows(part))


def show_similarity(results: dict) -> None:
    sim = results["similarity"]
    layers = results["config"]["similarity_layers"]
    tests = list(sim["correlation"])
    rows = [[m] + [_fmt(aggregate(v["curves"][t], layers), 3) if t in v["curves"] else "-" for t in tests]
            for m, v in sim["models"].items()]
    print_table(f"layer-averaged similarity ({sim['variant']}) of each model's training-task neurons with each test "
                f"task's", ["model", *tests], rows)
    rows = [[m] + [_fmt(v["scores"][t]) if t in v["scores"] else "-" for t in tests] for m, v in sim["models"].items()]
    print_table("scores of the fully fine-tuned models", ["model", *tests], rows)
    print_table("correlation between similarity and score across models (Table 4)", *correlation_rows(results))


COLORS = {"ID-CLS": "tab:blue", "ID-GEN": "tab:purple", "OOD-CLS": "tab:orange", "OOD-GEN": "tab:green",
          "avg": "tab:red"}


def figure2_panel(results: dict, g: str) -> Panel:
    group, tasks = results["groups"][g], results["tasks"]
    sweep = results["sweep"][g]
    xs = [float(p) for p in sweep]
    tk = group["train_kind"]
    lines = {f"ID-{tk}": lambda s: mean({t: s[t] for t in group["train"]})}
    for kind in ("classification", "generation"):
        keys = [t for t in group["ood"] if tasks[t]["kind"] == kind]
        if keys:
            lines[f"OOD-{SHORT[kind]}"] = lambda s, keys=keys: mean({t: s[t] for t in keys})
    panel = Panel(f"({g}) trained on {', '.join(group['train'])}", "trained neurons: top-p% per task (p)", "score",
                  xticks=xs)
    for name, fn in lines.items():
        panel.curves[name] = (xs, [fn({**pt["id"], **pt["ood"]}) for pt in sweep.values()])
        panel.styles[name] = {"color": COLORS.get(name, None)}
        if results.get("zero_shot"):
            panel.hlines[f"{name} zero-shot"] = (fn(results["zero_shot"]), {"color": COLORS.get(name, "gray")})
    same = f"OOD-{tk}"
    if same in panel.curves:
        a, b = panel.curves[f"ID-{tk}"][1], panel.curves[same][1]
        panel.curves["avg"] = (xs, [(u + v) / 2 for u, v in zip(a, b)])
        panel.styles["avg"] = {"color": COLORS["avg"], "linestyle": "--"}
    return panel


def figure3_panels(results: dict, which: str = "curves") -> list[Panel]:
    sim, tasks = results["similarity"], results["tasks"]
    panels = []
    for kind in ("classification", "generation"):
        tests = [t for t in sim["correlation"] if tasks[t]["kind"] == kind]
        if not tests:
            continue
        model_groups = {"all models": list(sim["models"])}
        same = [m for m, v in sim["models"].items() if v["kind"] == kind]
        if same and len(same) < len(sim["models"]):
            model_groups[f"{SHORT[kind]}-trained models"] = same
        for label, models in model_groups.items():
            panel = Panel(f"{SHORT[kind]} test tasks, mean over {label} ({len(models)})", "layer", "cosine similarity",
                          integer_x=True)
            for t in tests:
                curves = [sim["models"][m][which][t] for m in models if t in sim["models"][m][which]]
                if curves:
                    ys = mean_curve(curves)
                    panel.curves[t] = (list(range(len(ys))), ys)
            panels.append(panel)
    return panels


def plot(results: dict, run: Run) -> None:
    for p, m in results["overlap"]["pairwise"].items():
        heatmap(m["jaccard"], m["tasks"], m["tasks"], f"Jaccard overlap of top-{p}% neuron sets",
                run.path("plots", f"overlap_p{p}.png"), fmt="{:.2f}", cmap="viridis", center=None)
    if "sweep" in results:
        line_panels([figure2_panel(results, g) for g in results["sweep"]], "Figure 2: specialization (ID) and "
                    "generalization (OOD) vs the proportion of trained task-specific neurons", run.path("plots", "figure2.png"))
    if "single" in results:
        panels = []
        for g, tasks in results["single"].items():
            panel = Panel(f"({g}) each task trained alone", "trained neurons: top-p% (p)", "ID score")
            for t, values in tasks.items():
                panel.curves[t] = ([float(p) for p in values], list(values.values()))
                panel.xticks = [float(p) for p in values]
                if results.get("zero_shot"):
                    panel.hlines[f"{t} zero-shot"] = (results["zero_shot"][t], {"color": "gray"})
            panels.append(panel)
        line_panels(panels, "Figure 6: single-task specialization vs proportion", run.path("plots", "figure6.png"))
    if "ablation" in results:
        panels = []
        for part in results["ablation"].values():
            panel = Panel(f"({part['group']}) {part['label']}", f"overlap rate (%, {results['config']['ablation_rate']})",
                          "mean OOD score")
            rates = [float(r) for r in part["grid"]]
            for p in next(iter(part["grid"].values())):
                panel.curves[f"{p}% neurons"] = (rates, [part["grid"][r][p] for r in part["grid"]])
            panel.xticks = rates
            panels.append(panel)
        line_panels(panels, "Tables 9-11: OOD score vs preset overlap", run.path("plots", "ablation.png"))
    if "similarity" in results:
        panels = figure3_panels(results)
        if panels:
            line_panels(panels, f"Figure 3: per-layer similarity of train- and test-task neuron parameters in the "
                        f"fine-tuned models ({results['similarity']['variant']})", run.path("plots", "figure3.png"), columns=2)
            line_panels(figure3_panels(results, "base_curves"), "the same in the base model (before fine-tuning)",
                        run.path("plots", "figure3_base.png"), columns=2)


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def summary(results: dict) -> str:
    c = results["config"]
    out = [f"# Generalization through task-specific neurons: {c['model']}",
           f"Neurons: top-p% per {c['scope']} by {c['scorer']} on the base model ({c['n_score']} examples per task); "
           f"{c['n_eval']} test examples per task"
           + (f" ({c['n_eval_generation']} for generation)" if c["n_eval_generation"] else "")
           + f"; neuron-only training {c['training']}; full fine-tuning {c['full_training']}.", "\n## Tasks\n",
           markdown_table(["task", "paper", "data", "kind", "scored on", "note"],
                          [[k, v["paper"] or "", v["data"], v["kind"], v["scored_on"], v["note"]]
                           for k, v in results["tasks"].items()])]
    for g, info in results["groups"].items():
        out.append(f"\n**Group ({g})**: train {', '.join(info['train'])}; OOD {', '.join(info['ood'])}.")
        out += [f"- {note}" for note in info["notes"]]
    out += ["\n## Overlap (Table 8): Jaccard (%) of the unions of top-p% sets\n", markdown_table(*overlap_rows(results))]
    out += [f"\n![pairwise overlap](plots/overlap_p{p}.png)" for p in list(results["overlap"]["pairwise"])[:1]]
    if "sweep" in results:
        out.append("\n## Proportion sweep (Figure 2)\n")
        for g in results["sweep"]:
            out += [f"\nGroup ({g}):\n", markdown_table(*sweep_rows(results, g))]
        out.append("\n![figure 2](plots/figure2.png)")
    if "single" in results:
        out.append("\n## Single-task sweep (Figure 6)\n")
        for g, tasks in results["single"].items():
            ps = list(next(iter(tasks.values())))
            out.append(f"\nGroup ({g}), ID score of each task trained alone:\n")
            out.append(markdown_table(["task", *[f"{p}%" for p in ps]], [[t] + [_fmt(v[p]) for p in ps] for t, v in tasks.items()]))
        out.append("\n![figure 6](plots/figure6.png)")
    if "ablation" in results:
        out.append(f"\n## Overlap-controlled ablation (Tables 9-11); overlap rate = {c['ablation_rate']}, "
                   f"total = {c['ablation_total']}, rest from {c['ablation_pool']}\n")
        for part in results["ablation"].values():
            out += [f"\n({part['group']}) {part['label']}, mean OOD score over {', '.join(part['tests'])}:\n",
                    markdown_table(*ablation_rows(part))]
            out += [f"\n- not possible at rate {r}%, {p}% neurons: {msg}" for r, cells in part["impossible"].items()
                    for p, msg in cells.items()]
            paper = paper_ablation_rows(part["label"])
            if paper:
                out += [f"\nThe paper's {part['label']} table (Llama-2-7b):\n",
                        markdown_table(*paper)]
    if "similarity" in results:
        sim = results["similarity"]
        out += [f"\n## Parameter similarity (Figure 3) and correlation (Table 4)\n",
                f"Similarity: {sim['variant']} (pairing {sim['pairing']}), neurons scored on the {sim['neurons']} "
                f"model, top {c['similarity_k']}%; averaged over layers {sim['layers'] or 'all'} for the correlation.\n",
                markdown_table(*correlation_rows(results)),
                "\n![figure 3](plots/figure3.png)\n\n![figure 3, base model](plots/figure3_base.png)"]
    return "\n".join(out) + "\n"


def run_cli(config: str | None, out: Path, overrides: list[str] | None = None, model: str | None = None) -> dict:
    """``taskneurons generalize``: the config file, then ``key=value`` overrides, then ``--model``."""
    from .config import load_config

    overrides = list(overrides or [])
    if model:
        overrides.append(f"model={model}")
    return Generalize(load_config(GeneralizeConfig, config, overrides), Path(out))()


def demo_config(model: str, device: str = "cpu", dtype: str = "float32") -> GeneralizeConfig:
    """A small slice for the demo, on the built-in demo tasks (no data folder needed): train on two of them,
    test out of domain on the other two; overlap, and the sweep at 10% and 100% (no zero-shot, single-task sweep,
    ablation or similarity).

    Its work: 4 scoring batches (8 x <=128 tokens), 4 training steps (8 x <=128), 8 evaluations of 16 examples
    (label ranking). On SmolLM2 and 2 CPU cores that is about 45-70 s."""
    return GeneralizeConfig(model=model, device=device, dtype=dtype,
                            groups=[{"name": "demo", "train": ["rotten_tomatoes", "bbc_news"],
                                     "ood": ["tweet_sentiment", "bbc_headline"]}],
                            proportions=[10, 100], n_score=8, n_eval=16, max_length=128,
                            training={"n_train": 8, "lr": 5e-4, "epochs": 1}, zero_shot=False, single_task=False,
                            ablation=False, similarity=False)


def run_generalize_demo(model: str, out: Path, device: str = "cpu", dtype: str = "float32") -> dict:
    """The demo's generalization step (resumable like every run): see :func:`demo_config`."""
    return Generalize(demo_config(model, device, dtype), Path(out))()
