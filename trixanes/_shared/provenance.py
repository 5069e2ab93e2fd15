"""How an output was made: version, options, inputs (with digests) and warnings.

Every file trixanes writes carries one `Provenance` (as a JSON string in an
HDF5 attribute, or under ``"provenance"`` in a JSON file), so a result found on
disk months later says which code, options and inputs made it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import os
import platform
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

__all__ = ["Provenance", "sha256_of", "capture_warnings", "trixanes_version"]


def trixanes_version() -> str:
    """The installed trixanes version (the package's own when not installed).

    Examples
    --------
    >>> trixanes_version().count(".") >= 1
    True
    """
    from importlib import metadata

    try:
        return metadata.version("trixanes")
    except metadata.PackageNotFoundError:  # running from a source tree
        from trixanes import __version__

        return __version__


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (bounded memory for large scans).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"; _ = p.write_text("abc")
    >>> sha256_of(p)[:12]
    'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Provenance:
    """How one output was made.

    Attributes
    ----------
    tool : str
        The stage that wrote it (``"process"``, ``"simulate"``, ``"validate"``, ...).
    options : dict
        The options it ran with, as plain JSON values.
    inputs : dict
        Input files by role: ``{role: {"path": str, "sha256": str or None, ...}}``
        (extra keys such as ``energy_kev`` describe the file).
    details : dict
        What it found and did: rotation centres, registration transforms, ...
    warnings : tuple of str
        Every warning raised while it ran, in order.
    version, created, python, platform : str
        trixanes version, UTC time (ISO 8601), Python and OS of the run.
    """

    tool: str
    options: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)
    warnings: tuple = ()
    version: str = field(default_factory=trixanes_version)
    created: str = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc)
                         .isoformat(timespec="seconds"))
    python: str = field(default_factory=platform.python_version)
    platform: str = field(default_factory=platform.platform)

    @staticmethod
    def input_file(path: str | os.PathLike, *, digest: bool = True, **about) -> dict:
        """The record of one input file: its absolute path, SHA-256 (optional) and ``about``."""
        p = Path(path)
        return {"path": str(p.resolve()), "sha256": sha256_of(p) if digest else None, **about}

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        """Compact strict JSON (for an HDF5 attribute)."""
        import json

        from trixanes._shared.jsonio import to_jsonable

        return json.dumps(to_jsonable(self.to_dict()), allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict) -> "Provenance":
        """Back from `to_dict`'s JSON; unknown keys are ignored (a newer writer)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["warnings"] = tuple(kw.get("warnings", ()))
        return cls(**kw)

    def with_warnings(self, more) -> "Provenance":
        return dataclasses.replace(self, warnings=tuple(self.warnings) + tuple(str(w) for w in more))


@contextlib.contextmanager
def capture_warnings() -> Iterator[list[str]]:
    """Record every warning raised in the block (as text), and still show each once.

    Examples
    --------
    >>> import io, contextlib
    >>> with contextlib.redirect_stderr(io.StringIO()):
    ...     with capture_warnings() as seen:
    ...         for _ in range(3):
    ...             warnings.warn("pixel size missing")
    >>> seen
    ['pixel size missing', 'pixel size missing', 'pixel size missing']
    """
    seen: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield seen
    finally:
        shown = set()
        for w in caught:
            text = str(w.message)
            seen.append(text)
            if text not in shown:  # one line per distinct warning, not one per call site
                shown.add(text)
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
