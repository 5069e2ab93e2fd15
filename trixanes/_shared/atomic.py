"""Atomic output: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, and an interrupted run leaves the
previous file (or none) in place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path that is renamed onto ``path`` on success.

    Parameters
    ----------
    path : path-like
        Final destination. Its folder is created if missing.

    Yields
    ------
    tmp : Path
        Where to write. Removed if the block raises.

    Examples
    --------
    >>> import h5py, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.h5"
    >>> with atomic_path(out) as tmp:
    ...     with h5py.File(tmp, "w") as f:
    ...         f["x"] = 1
    >>> out.exists()
    True
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    # mkstemp creates 0600; the result should get the permissions of a plain open()
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)

