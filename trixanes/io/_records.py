"""What the io modules share: opening an HDF5 file for reading, and records that read as their JSON."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path

import h5py

from trixanes._shared.jsonio import read_json, to_jsonable
from trixanes._shared.provenance import Provenance


def open_hdf5(path: str | os.PathLike, error: type[ValueError] = ValueError) -> tuple[Path, h5py.File]:
    """``(Path, open file)`` for reading; ``error`` naming the file when it is absent or not HDF5."""
    path = Path(os.fspath(path))
    if not path.is_file():
        raise error(f"{path}: no such file")
    try:
        return path, h5py.File(path, "r")
    except OSError as err:
        raise error(f"{path}: not a readable HDF5 file ({err})") from None


def read_json_record(path: str | os.PathLike, record, what: str):
    """``record.from_dict`` of a JSON object file; ValueError naming the file and what is wrong."""
    d = read_json(path)
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a JSON object ({what}), got {type(d).__name__}")
    try:
        return record.from_dict(d)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def attr_text(v) -> str:
    """An HDF5 string attribute as str (h5py gives bytes for fixed-length strings)."""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


class JsonView(Mapping):
    """A record that also reads as a read-only mapping of its JSON layout.

    Subclasses (frozen dataclasses) define ``_view``, the layout as a dict, so
    code written against the file's keys (``stats["total_li"]``) and code
    written against the record (``stats.total_li``) both work.
    """

    def __getitem__(self, key):
        return self._view[key]

    def __iter__(self):
        return iter(self._view)

    def __len__(self):
        return len(self._view)

    def to_dict(self) -> dict:
        """The JSON layout (NaN kept as float: `trixanes._shared.jsonio` writes it as null)."""
        return dict(self._view)

    def replace(self, **changes):
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def provenance_attr(path: Path, value) -> Provenance:
    """The `Provenance` stored as a JSON string attribute; ValueError naming the file if malformed."""
    try:
        return Provenance.from_dict(json.loads(attr_text(value)))
    except (ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"{path}: attribute 'provenance' is not a provenance JSON record ({err})") from None


def tagged_dict(record, tag: str, version: int) -> dict:
    """A record's fields as JSON, under its ``format`` tag and ``version``."""
    return {"format": tag, "version": version,
            **to_jsonable({f.name: getattr(record, f.name) for f in dataclasses.fields(record)})}


def check_tagged(d, cls, tag: str, version: int, what: str) -> None:
    """ValueError unless ``d`` is a ``tag`` object of ``version`` holding every required field of ``cls``."""
    if not isinstance(d, Mapping) or d.get("format") != tag:
        raise ValueError(f"not a {what} (no \"format\": \"{tag}\")")
    if d.get("version") != version:
        raise ValueError(f"{what} version {d.get('version')!r}; this trixanes reads version {version}")
    missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and f.name not in d]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
