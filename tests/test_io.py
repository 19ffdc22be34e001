"""Atomic writes: a failure leaves the old content and no temporary file; new files respect the umask."""
import os

import pytest

from taskneurons.io import atomic_folder, atomic_path, replace_folder, write_text


def test_atomic_path_replaces_on_success_keeping_the_suffix(tmp_path):
    target = tmp_path / "sub" / "w.safetensors"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".w.safetensors.") and tmp.suffix == ".safetensors"
        tmp.write_text("new")
    assert target.read_text() == "new" and os.listdir(target.parent) == ["w.safetensors"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "x.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["x.json"]


def test_written_files_and_folders_respect_the_umask(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    write_text(tmp_path / "a.txt", "x")
    with atomic_folder(tmp_path / "folder") as tmp:
        (tmp / "f").write_text("x")
        os.chmod(tmp / "f", 0o600)  # as safetensors writes its files
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (tmp_path / "folder" / "f").stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_folder_replaces_a_folder_only_when_complete(tmp_path):
    target = tmp_path / "cache"
    target.mkdir()
    (target / "old").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        (tmp / "new").write_text("half")
        raise RuntimeError("killed")
    assert os.listdir(tmp_path) == ["cache"] and os.listdir(target) == ["old"]
    with atomic_folder(target) as tmp:
        (tmp / "new").write_text("new")
    assert os.listdir(tmp_path) == ["cache"] and os.listdir(target) == ["new"]


def test_replace_folder_after_a_crash_between_its_renames(tmp_path):
    src, dst = tmp_path / "new", tmp_path / "stage1"
    (tmp_path / ".stage1.old").mkdir()  # a crash moved the old folder aside and never put the new one in place
    src.mkdir()
    replace_folder(src, dst)
    assert os.listdir(tmp_path) == ["stage1"]


# --- YAML: one loader for every file the toolkit reads ---------------------------------------------------

def yaml_error(tmp_path, text: str) -> str:
    """The one-line error of reading ``text`` as a YAML file."""
    from taskneurons.errors import TaskNeuronsError
    from taskneurons.io import read_yaml

    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(TaskNeuronsError) as info:
        read_yaml(path)
    assert "\n" not in str(info.value)
    return str(info.value).replace(str(path), "c.yaml")


def test_a_duplicated_key_is_refused_with_both_line_numbers(tmp_path):
    assert yaml_error(tmp_path, "model: a\nn_eval: 8\nbatch_size: 2\nn_eval: 16\n") == (
        "c.yaml, line 4: key 'n_eval' is given twice (lines 2 and 4); keep one")


def test_a_duplicated_key_inside_a_nested_option_is_refused(tmp_path):
    assert yaml_error(tmp_path, "model: a\nselection:\n  k: 5\n  n_score: 2\n  k: 7\n") == (
        "c.yaml, line 5: key 'k' is given twice (lines 3 and 5); keep one")


def test_a_merge_key_overridden_is_not_a_duplicate(tmp_path):
    from taskneurons.io import read_yaml

    (tmp_path / "m.yaml").write_text("base: &b {k: 1, n: 2}\nother:\n  <<: *b\n  k: 3\n")
    assert read_yaml(tmp_path / "m.yaml")["other"] == {"k": 3, "n": 2}


def test_malformed_yaml_names_the_line_and_column(tmp_path):
    assert yaml_error(tmp_path, "model: a\nselection: {k: 5\nn_eval: 3\n") == (
        "c.yaml, line 3, column 7: not valid YAML: expected ',' or '}', but got ':' "
        "(while parsing a flow mapping on line 2)")


def test_yaml_reads_an_exponent_as_the_number_every_user_means(tmp_path):
    from taskneurons.io import load_yaml

    assert load_yaml("lr: 1e-3\nn: 2\n") == {"lr": 0.001, "n": 2}


def test_a_config_file_with_a_duplicated_key_is_refused(tmp_path):
    from taskneurons.errors import TaskNeuronsError
    from taskneurons.configs.files import load_config
    from taskneurons.experiments.identify import IdentifyConfig

    path = tmp_path / "c.yaml"
    path.write_text("model: tiny-llama\nn_eval: 8\nn_eval: 16\n")
    with pytest.raises(TaskNeuronsError) as info:
        load_config(IdentifyConfig, path)
    assert str(info.value) == f"{path}, line 3: key 'n_eval' is given twice (lines 2 and 3); keep one"


def test_an_override_with_a_duplicated_key_is_refused():
    from taskneurons.errors import TaskNeuronsError
    from taskneurons.configs.files import load_config
    from taskneurons.experiments.identify import IdentifyConfig

    with pytest.raises(TaskNeuronsError) as info:
        load_config(IdentifyConfig, None, ["selection={k: 5, k: 7}"])
    assert str(info.value) == "override 'selection={k: 5, k: 7}', line 1: key 'k' is given twice; keep one"
