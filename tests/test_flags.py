"""The experiments' flags: each one gives the same config as its --set, and --help shows defaults and meanings."""
import pytest

import dataclasses

from taskneurons.cli import build_parser
from taskneurons.configs.files import load_config
from taskneurons.experiments.experiment import EXPERIMENTS
from taskneurons.configs.options import meanings
from taskneurons.configs.options import resolve
from taskneurons.flags import COMMON, flag_values


def experiment_classes(command):
    return EXPERIMENTS[command].load(), EXPERIMENTS[command].config_class()

VALUES = {"model": ["tiny-qwen2"], "tasks": ["sst2", "rte"], "selection.k": ["2.5"],
          "selection.scorer": ["fisher"], "n_eval": ["7"], "methods": ["seqft", "ncft"], "orders": ["2", "3"],
          "device": ["mps"], "dtype": ["bfloat16"], "seed": ["5"], "batch_size": ["3"]}
SET = {"model": "tiny-qwen2", "tasks": "[sst2, rte]", "selection.k": "2.5", "selection.scorer": "fisher",
       "n_eval": "7", "methods": "[seqft, ncft]", "orders": "[2, 3]", "device": "mps", "dtype": "bfloat16", "seed": "5",
       "batch_size": "3"}
CASES = [(command, names, key) for command in EXPERIMENTS for names, key in COMMON.items()
         if resolve(experiment_classes(command)[1], key)]


def test_every_common_key_has_a_test_value():
    assert set(VALUES) == set(COMMON.values()) == set(SET)


@pytest.mark.parametrize("command, names, key", CASES, ids=[f"{c}{n[0]}" for c, n, _ in CASES])
def test_a_flag_and_its_set_give_the_same_config(command, names, key):
    config_class = experiment_classes(command)[1]
    for name in names:  # every alias
        argv = [command, name, *VALUES[key]]
        by_flag = load_config(config_class, None, [], flag_values(build_parser(argv).parse_args(argv)))
        by_set = load_config(config_class, None, [f"{key}={SET[key]}"])
        assert by_flag == by_set and by_flag != config_class()


def test_flags_exist_only_where_the_config_has_the_option():
    keys = {command: {key for c, _, key in CASES if c == command} for command in EXPERIMENTS}
    assert "selection.k" in keys["identify"] and "tasks" in keys["identify"]
    assert "methods" in keys["continual"] and "selection.k" not in keys["continual"] and "tasks" not in keys["continual"]
    with pytest.raises(SystemExit):
        build_parser(["continual", "--k", "2"]).parse_args(["continual", "--k", "2"])


def test_flags_override_the_config_file_and_set(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("selection: {k: 5, n_score: 9}\nseed: 1\n")
    argv = ["identify", "--config", str(path), "--set", "seed=2", "--k", "3"]
    args = build_parser(argv).parse_args(argv)
    config = load_config(experiment_classes("identify")[1], args.config, args.set, flag_values(args))
    assert config.selection.k == 3 and config.selection.n_score == 9 and config.seed == 2


def test_help_shows_each_flag_with_its_default_and_meaning(capsys):
    with pytest.raises(SystemExit):
        build_parser(["identify", "--help"]).parse_args(["identify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--n-eval N_EVAL, --limit N_EVAL" in text and "test examples per task; sets n_eval (default: 100)" in text
    assert "percent of neurons kept" in text and "(default: 10.0)" in text
    assert "random_controls = 5 # Deactivate-Random draws per task" in text  # the --set list


def test_meanings_come_from_the_fields_of_the_class_and_its_bases():
    found = meanings(experiment_classes("identify")[1])
    assert found["seed"].startswith("every sample and random control")  # Settings
    assert found["n_eval"] == "test examples per task"  # IdentifyConfig


def test_options_beyond_the_paper_say_so_in_their_help():
    from taskneurons.experiments.continual.methods.wncft import WNCFTOptions
    from taskneurons.experiments.generalize import GeneralizeConfig
    from taskneurons.experiments.kit import Selection

    labelled = {Selection: ["scorer", "k", "specificity"], WNCFTOptions: ["reading"],
                GeneralizeConfig: ["similarity_matrices", "similarity_vector", "similarity_pairing"]}
    missing = [(cls.__name__, name) for cls, names in labelled.items() for name in names
               if "beyond the paper" not in meanings(cls)[name]]
    assert not missing


def option_classes():
    """Every options dataclass a user sets: each experiment's config, its nested options (selection, trainings) and
    every continual method's options (``method_options``), with the dotted name they are set by."""
    from taskneurons.experiments.continual.methods import METHODS

    found, todo = [], [(entry.name, entry.config_class()) for entry in EXPERIMENTS.values()]
    todo += [(f"continual method_options.{name}", cls.Options) for name, cls in METHODS.items()]
    while todo:
        where, cls = todo.pop()
        found.append((where, cls))
        todo += [(f"{where}.{f.name}", f.type if isinstance(f.type, type) else type(f.default_factory()))
                 for f in dataclasses.fields(cls) if f.default_factory is not dataclasses.MISSING
                 and dataclasses.is_dataclass(f.default_factory())]
    return found


def test_every_option_of_every_experiment_and_method_has_help():
    unexplained = [f"{where}.{name}" for where, cls in option_classes() for name, text in meanings(cls).items()
                   if len(text) < 8]
    assert len(option_classes()) > 15 and not unexplained


@pytest.mark.parametrize("command", list(EXPERIMENTS))
def test_every_flag_shows_its_meaning_in_help(command, capsys):
    with pytest.raises(SystemExit):
        build_parser([command, "--help"]).parse_args([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    config = EXPERIMENTS[command].config_class()
    for names, key in COMMON.items():
        found = resolve(config, key)
        if found:
            owner, field = found
            assert f"{' '.join(meanings(owner)[field.name].split())}; sets {key}" in text, names
