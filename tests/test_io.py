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
