"""Output folders: refused up front when unusable, work folders that never outlive their run.

`check_out_dir` turns what would be a bare ``[Errno 17]`` or ``[Errno 13]``
deep inside a run into an error naming the folder and what is wrong with it,
before any work. `work_dir` gives a run a scratch folder ``OUT/.work-XXXX``
that records its owner (pid and host): a run killed with SIGKILL cannot remove
its own, so every later run into the same folder removes those whose owner
process is gone. A run that fails leaves no output folder it created empty.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["check_out_dir", "out_dir_of_run", "cleans_up_out_dir", "work_dir", "make_work_dir",
           "remove_stale_work_dirs", "OWNER_FILE"]

#: the owner record inside every work folder
OWNER_FILE = "owner.json"


def check_out_dir(path, what: str = "output folder") -> Path:
    """Refuse an output folder that is a file, lies under a file, or is not writable.

    Nothing is created: a folder that does not exist yet only needs its first
    existing parent to be a writable folder.

    Parameters
    ----------
    path : path-like
        The folder a run will write into.
    what : str
        How the error names it (e.g. ``"--out"``).

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        Naming the path and "is a file" or "not writable".

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_out_dir(d / "new" / "folder") == d / "new" / "folder"
    True
    >>> (d / "f").write_text("x")
    1
    >>> check_out_dir(d / "f")
    Traceback (most recent call last):
    ...
    ValueError: output folder ... is a file, not a folder
    """
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise ValueError(f"{what} {p} is a file, not a folder")
        if not os.access(p, os.W_OK | os.X_OK):
            raise ValueError(f"{what} {p} is not writable")
        return p
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{what} {p} cannot be created: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {p} cannot be created: {parent} is not writable")
    return p


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_work_dirs(folder, prefix: str = ".work-") -> list[Path]:
    """Remove ``folder/PREFIX*`` work folders whose owner process is gone.

    Only folders with an owner record naming this host and a pid that no
    longer runs are removed: one of a live process, of another host (a shared
    file system) or without a record is left alone.

    Returns
    -------
    list of Path
        The folders removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with work_dir(d) as w:
    ...     remove_stale_work_dirs(d)  # its owner (this process) is alive
    []
    """
    removed = []
    host = socket.gethostname()
    for cand in sorted(Path(folder).glob(prefix + "*")):
        try:
            owner = json.loads((cand / OWNER_FILE).read_text())
            pid, cand_host = int(owner["pid"]), str(owner["host"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if cand_host == host and not _alive(pid):
            shutil.rmtree(cand, ignore_errors=True)
            removed.append(cand)
    return removed


def _missing(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, deepest first."""
    out = []
    while not path.exists() and path != path.parent:
        out.append(path)
        path = path.parent
    return out


@contextlib.contextmanager
def out_dir_of_run(path, what: str = "output folder") -> Iterator[Path]:
    """Check an output folder; if the block raises, remove the folders it created, when empty.

    A run that fails before writing anything (bad references, a bad centre)
    then leaves no empty output folder behind; one that wrote a file keeps it.

    Parameters
    ----------
    path : path-like
    what : str
        How errors name the folder.

    Yields
    ------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> try:
    ...     with out_dir_of_run(d):
    ...         d.mkdir()
    ...         raise RuntimeError("failed early")
    ... except RuntimeError:
    ...     pass
    >>> d.exists()
    False
    """
    path = check_out_dir(path, what)
    created = _missing(path)
    try:
        yield path
    except BaseException:
        for folder in created:  # deepest first; rmdir only removes empty folders
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def cleans_up_out_dir(arg: str):
    """Decorate a run whose parameter ``arg`` is its output folder with `out_dir_of_run`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> @cleans_up_out_dir("out")
    ... def run(out):
    ...     pathlib.Path(out).mkdir()
    ...     raise ValueError("bad input")
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> try:
    ...     run(d)
    ... except ValueError:
    ...     pass
    >>> d.exists()
    False
    """
    def decorate(func):
        sig = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with out_dir_of_run(sig.bind(*args, **kwargs).arguments[arg]):
                return func(*args, **kwargs)

        return wrapper

    return decorate


@contextlib.contextmanager
def work_dir(out_dir, prefix: str = ".work-") -> Iterator[Path]:
    """A scratch folder inside ``out_dir``, removed on exit; stale ones of dead runs first.

    ``out_dir`` (and missing parents) is created if needed. The work folder
    holds ``owner.json`` (pid, host), so that a later run can tell it from
    one still in use when this run is killed before it can clean up.

    Parameters
    ----------
    out_dir : path-like
        The run's output folder (checked with `check_out_dir`).
    prefix : str
        Name prefix of the work folder.

    Yields
    ------
    Path
        The work folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with work_dir(d) as w:
    ...     w.parent == d
    True
    >>> list(d.iterdir())
    []
    """
    work = make_work_dir(out_dir, prefix)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def make_work_dir(out_dir, prefix: str = ".work-") -> Path:
    """Create ``out_dir/PREFIXxxxx`` with its owner record, after removing stale ones.

    For callers that remove it themselves; `work_dir` is the context manager.

    Examples
    --------
    >>> import tempfile, pathlib, shutil
    >>> w = make_work_dir(pathlib.Path(tempfile.mkdtemp()), ".rows-")
    >>> w.name.startswith(".rows-"), (w / OWNER_FILE).is_file()
    (True, True)
    >>> shutil.rmtree(w)
    """
    out_dir = check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_work_dirs(out_dir, prefix)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=out_dir))
    try:
        (work / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return work
