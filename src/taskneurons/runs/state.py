"""What a run folder says of itself and how it is held: run.json (read as it is true now), the lock, the config
flattened to dotted keys (to compare an old folder's with today's), the code version."""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from ..errors import TaskNeuronsError
from ..io import write_json


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raised as KeyboardInterrupt while the body runs, as Ctrl-C is (Python's default ends the process
    at once, with nothing recorded); the previous handler is back afterwards. Signals reach the main thread
    only: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def record_ending(out: Path, state: dict) -> None:
    """Write the state of a run that ended with an error; when even that cannot be written (the disk is full),
    the error that ended the run is the one to show, and ``run.json`` stays "running" with a pid that is gone,
    which :func:`current_state` reads as interrupted."""
    try:
        write_json(out / "run.json", state)
    except TaskNeuronsError:
        pass


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def option_defaults(cls) -> dict:
    """The default of every option of a config dataclass, nested ones by dotted keys (as :func:`flatten` writes a
    config): a folder made before an option existed resumes when the option is at its default."""
    return flatten({f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                    for f in dataclasses.fields(cls)
                    if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING},
                   dataclasses.asdict)


def flatten(values: dict, as_dict=None, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (an empty mapping adds no key; ``as_dict`` turns a nested dataclass
    into a mapping first)."""
    found = {}
    for key, value in values.items():
        value = as_dict(value) if as_dict and dataclasses.is_dataclass(value) else value
        if isinstance(value, dict):
            found.update(flatten(value, as_dict, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


def moved(before: dict, now: dict) -> dict:
    """A config written before a training spec was flat (``training.options.weight_decay``) read with today's keys
    (``training.weight_decay``), so that its folder resumes."""
    def today(key: str) -> str:
        flat = ".".join(part for part in key.split(".") if part != "options")
        return flat if flat != key and flat in now else key
    return {today(key): value for key, value in before.items()}


def config_differences(a: dict, b: dict, defaults: dict) -> list[str]:
    """The dotted keys where configs ``a`` and ``b`` differ as today's code reads them: an older layout's keys
    moved (:func:`moved`), an option one of them predates taken at its default (``defaults``, as
    :func:`option_defaults` gives them). A folder made before an option existed resumes; runs made before and after
    combine."""
    known = {**defaults, **flatten(a), **flatten(b)}
    a, b = ({**defaults, **moved(flatten(c), known)} for c in (a, b))
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def lock(out: Path):
    """An exclusive OS lock on ``out/.lock`` (released when the returned file is closed, also on a crash); a
    folder another process holds is one line, not a second writer."""
    if out.exists() and not out.is_dir():
        raise TaskNeuronsError(f"--out {out}: is a file, not a run folder; choose a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / ".lock", "a+")
    except OSError as e:
        raise TaskNeuronsError(f"--out {out}: cannot write there ({e.strerror}); choose a writable folder") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        holder = read_state(out)
        raise TaskNeuronsError(f"run folder {out} is in use by another process (pid {holder.get('pid', '?')}); wait "
                               f"for it to finish, or choose another --out") from None
    return handle


def read_folder_file(path: Path, parse: Callable[[str], object], remedy: str):
    """``parse`` of the text of a file of a run folder; a damaged or unreadable one is one line with ``remedy``."""
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as e:
        raise TaskNeuronsError(f"{path}: damaged or unreadable ({first_line(e)}); {remedy}") from None


def read_state(out: Path) -> dict:
    """``run.json`` of a run folder ({} when there is none or it cannot be read), as it was written."""
    try:
        state = json.loads((Path(out) / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def current_state(out: Path) -> dict:
    """``run.json`` as it is true now: a run recorded as running on this machine whose process is gone (kill -9,
    a crash, rank 0 of several killed: nothing could write its end) is "interrupted"."""
    state = read_state(out)
    if state.get("state") == "running" and state.get("host") == socket.gethostname() and not pid_alive(state.get("pid")):
        state = {**state, "state": "interrupted", "error": f"its process (pid {state.get('pid')}) ended without "
                                                          f"recording why (killed?)"}
    return state


def pid_alive(pid) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie, ended but not yet reaped by its parent, does not)."""
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def code_version(root: Path | None = None) -> str:
    """The package version, and the git commit when the package runs from a checkout (``root``: its top folder),
    a worktree's included (its ``.git`` is a file naming the git folder)."""
    from .. import __version__

    git = (root or Path(__file__).resolve().parents[3]) / ".git"
    try:
        if git.is_file():
            git = Path(git.read_text().split("gitdir:", 1)[1].strip())
        ref = (git / "HEAD").read_text().strip()
        if ref.startswith("ref: "):
            common = git / (git / "commondir").read_text().strip() if (git / "commondir").is_file() else git
            ref = (common / ref[5:]).read_text().strip()
        return f"{__version__} ({ref[:10]})"
    except (OSError, IndexError):
        return __version__
