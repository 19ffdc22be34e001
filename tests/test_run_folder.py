"""A run folder: one process at a time, and a record of its state and wall time over its sessions."""
import subprocess
import sys

import pytest

from taskneurons.errors import TaskNeuronsError
from taskneurons.experiments.run import Run


def test_a_resumed_run_adds_its_wall_time_and_counts_sessions(tmp_path):
    run = Run(tmp_path, {"a": 1}, "identify")
    for _ in range(2):
        with run.recording():
            pass
    state = run.state()
    assert state["sessions"] == 2 and state["state"] == "finished" and state["wall_s"] >= 0


def test_a_second_process_on_the_same_run_folder_is_refused_in_one_line(tmp_path):
    held = Run(tmp_path, {"a": 1}, "identify")
    code = ("import sys; from taskneurons.experiments.run import Run; from taskneurons.errors import TaskNeuronsError\n"
            "try:\n    Run(sys.argv[1], {'a': 1}, 'identify')\nexcept TaskNeuronsError as e:\n    print(e); sys.exit(2)")
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert other.returncode == 2 and other.stdout.startswith(f"run folder {tmp_path} is in use by another process")
    del held  # released with the object (and by the OS when a process dies)
    assert subprocess.run([sys.executable, "-c", code, str(tmp_path)]).returncode == 0


def test_a_file_as_the_run_folder_is_one_line(tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(TaskNeuronsError, match="is a file, not a run folder"):
        Run(tmp_path / "f", {"a": 1}, "identify")
    assert (tmp_path / "f").read_text() == "mine"


def test_a_folder_made_before_an_option_existed_resumes_at_its_default_only(tmp_path):
    Run(tmp_path, {"a": 1}, "identify")._lock.close()  # made by an older version: no option "b"
    Run(tmp_path, {"a": 1, "b": [0]}, "identify", defaults={"b": [0]})._lock.close()  # b at its default: the same run
    assert "b:" in (tmp_path / "config.yaml").read_text()  # recorded from now on
    with pytest.raises(TaskNeuronsError, match=r"was made with another config \(differs in b\)"):
        Run(tmp_path, {"a": 1, "b": [0, 1]}, "identify", defaults={"b": [0]})
