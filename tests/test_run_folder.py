"""A run folder: one process at a time, and a record of its state and wall time over its sessions."""
import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taskneurons.errors import TaskNeuronsError
from taskneurons.pages import list_runs
from taskneurons.runs import Run, current_state, read_state


def test_a_resumed_run_adds_its_wall_time_and_counts_sessions(tmp_path):
    run = Run(tmp_path, {"a": 1}, "identify")
    for _ in range(2):
        with run.recording():
            pass
    state = run.state()
    assert state["sessions"] == 2 and state["state"] == "finished" and state["wall_s"] >= 0


def test_a_second_process_on_the_same_run_folder_is_refused_in_one_line(tmp_path):
    held = Run(tmp_path, {"a": 1}, "identify")
    code = ("import sys; from taskneurons.runs import Run; from taskneurons.errors import TaskNeuronsError\n"
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


def test_a_folder_made_when_training_specs_had_options_resumes_with_the_flat_spec(tmp_path):
    from dataclasses import asdict

    from taskneurons.experiments.continual import ContinualConfig
    from taskneurons.runs import option_defaults

    config = asdict(ContinualConfig(model="tiny-llama", training={"n_train": 8, "weight_decay": 0.1}))
    old = {**config, "training": {"n_train": 8, "lr": 2e-5, "epochs": 1, "max_steps": None,
                                  "options": {"weight_decay": 0.1}}}  # as written before December 4, 2026
    Run(tmp_path, old, "continual")._lock.close()
    defaults = option_defaults(ContinualConfig)
    Run(tmp_path, config, "continual", defaults=defaults)._lock.close()  # the same run: it resumes
    other = {**config, "training": {**config["training"], "weight_decay": 0.2}}
    with pytest.raises(TaskNeuronsError, match=r"another config \(differs in training.weight_decay\)"):
        Run(tmp_path, other, "continual", defaults=defaults)


# --- run.json states are true (issue 24) ----------------------------------------------------------------------
RECORDING = """
import os, sys, time
from taskneurons import processes
from taskneurons.runs import Run
run = Run(sys.argv[1], {"a": 1}, "identify")
with run.recording():
    processes.barrier()
    print(f"started rank {processes.rank()} pid {os.getpid()};", flush=True)
    time.sleep(300)
"""


def _started(process, ranks: int = 1) -> dict[int, int]:
    """rank -> pid of the recording processes, once each has said it started."""
    said = ""
    while len(found := re.findall(r"started rank (\d+) pid (\d+);", said)) < ranks:
        line = process.stdout.readline()  # the ranks' lines may come interleaved
        assert line, "the recording ended before it started"
        said += line
    return {int(rank): int(pid) for rank, pid in found}


def test_sigterm_records_interrupted_not_running(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", RECORDING, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    _started(process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) != 0
    state = read_state(tmp_path)
    assert (state["state"], state["error"]) == ("interrupted", "terminated (SIGTERM)")


def test_a_killed_process_is_interrupted_in_runs_zombie_or_reaped(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", RECORDING, str(tmp_path / "run")], stdout=subprocess.PIPE,
                               text=True)
    _started(process)
    process.kill()  # kill -9: nothing can record it
    time.sleep(0.5)  # not reaped yet: a zombie
    assert read_state(tmp_path / "run")["state"] == "running"
    assert current_state(tmp_path / "run")["state"] == "interrupted"
    process.wait()
    assert [row[2] for row in list_runs(tmp_path)] == ["interrupted (resumable)"]


@pytest.mark.parametrize("killed", [0, 1])
def test_kill_9_of_any_rank_of_two_processes_leaves_no_run_that_says_running(tmp_path, killed):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                                 "--no-python", sys.executable, "-c", RECORDING, str(tmp_path / "run")],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    pids = _started(launcher, ranks=2)
    os.kill(pids[killed], signal.SIGKILL)
    launcher.wait(timeout=120)  # the launcher stops the other rank (SIGTERM)
    if killed == 1:  # rank 0 was stopped by SIGTERM: it wrote its state
        assert read_state(tmp_path / "run")["state"] == "interrupted"
    assert current_state(tmp_path / "run")["state"] == "interrupted"
    assert [row[2] for row in list_runs(tmp_path)] == ["interrupted (resumable)"]


def test_a_run_whose_report_is_not_written_is_failed_not_finished(tmp_path):
    run = Run(tmp_path, {"a": 1}, "identify")

    def compute():
        (tmp_path / "results.json").write_text("{}")
        (tmp_path / "summary.md").write_text("# run")
        return {}

    with pytest.raises(TaskNeuronsError, match=r"report.html not written; rerun the same command to write them"):
        run.complete(compute, lambda out: out / "report.html")  # says it wrote the page, did not
    state = read_state(tmp_path)
    assert state["state"] == "failed" and "report.html not written" in state["error"]
    assert list_runs(tmp_path)[0][2:] == ["failed", list_runs(tmp_path)[0][3], state["error"]]


def test_a_disk_that_fills_while_the_report_is_written_leaves_a_failed_run(tmp_path, monkeypatch, capsys):
    from taskneurons import io
    from taskneurons.cli import main
    from taskneurons.experiments import page

    from .conftest import SHARED_DATA

    def full_disk(path, text):
        if Path(path).name != "report.html":
            return io.write_text(path, text)
        with io.atomic_path(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(page, "write_text", full_disk)
    out = tmp_path / "run"
    argv = ["identify", "--model", "tiny-llama", "--tasks", str(SHARED_DATA / "sst2"), "--out", str(out),
            "--set", "selection.n_score=4", "--n-eval", "4", "--batch-size", "4", "--set", "max_length=64",
            "--set", "random_controls=1", "--set", "deactivate_matrix=false", "--set", "finetune=false",
            "--set", "top_neurons=0", "--set", "n_boot=200"]
    assert main(argv) == 2
    assert f"error: cannot write {out}/report.html (No space left on device)" in capsys.readouterr().err
    state = read_state(out)
    assert state["state"] == "failed" and state["error"].startswith(f"cannot write {out}/report.html")
    assert not (out / "report.html").exists() and list_runs(tmp_path)[0][2] == "failed"


def test_the_code_version_names_the_commit_of_a_checkout_and_of_a_worktree(tmp_path):
    from taskneurons import __version__
    from taskneurons.runs import code_version

    main = tmp_path / "main" / ".git"
    (main / "refs" / "heads").mkdir(parents=True)
    (main / "HEAD").write_text("ref: refs/heads/main\n")
    (main / "refs" / "heads" / "main").write_text("0123456789abcdef\n")
    assert code_version(tmp_path / "main") == f"{__version__} (0123456789)"
    (main / "worktrees" / "w").mkdir(parents=True)  # a detached worktree, and one on a branch
    (main / "worktrees" / "w" / "HEAD").write_text("fedcba9876543210\n")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / ".git").write_text(f"gitdir: {main / 'worktrees' / 'w'}\n")
    assert code_version(tmp_path / "w") == f"{__version__} (fedcba9876)"
    (main / "worktrees" / "w" / "HEAD").write_text("ref: refs/heads/main\n")
    (main / "worktrees" / "w" / "commondir").write_text("../..\n")
    assert code_version(tmp_path / "w") == f"{__version__} (0123456789)"
    assert code_version(tmp_path) == __version__  # not a checkout
