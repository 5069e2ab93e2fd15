"""JSON with NaN: the one place where non-finite numbers become ``null`` and back.

Strict JSON has no NaN or infinity. trixanes writes them as ``null`` and every
reader turns a ``null`` where a number belongs back into NaN with `nan_floats`,
so no module converts them on its own.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from enum import Enum
from pathlib import Path

import numpy as np

from trixanes._shared.atomic import atomic_path

__all__ = ["to_jsonable", "dumps", "write_json", "read_json", "nan_floats", "nan_nulls"]


def to_jsonable(obj):
    """A plain-Python copy of ``obj`` that strict JSON can hold.

    numpy scalars and arrays become numbers and lists, non-finite floats
    ``None``, paths strings, dataclasses (records) dicts of their fields,
    tuples lists.

    Examples
    --------
    >>> to_jsonable({"a": np.float32(1.5), "b": [float("nan"), np.int64(2)], "c": (1, 2)})
    {'a': 1.5, 'b': [None, 2], 'c': [1, 2]}
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        to_dict = getattr(obj, "to_dict", None)
        src = to_dict() if callable(to_dict) else {f.name: getattr(obj, f.name)
                                                    for f in dataclasses.fields(obj)}
        return to_jsonable(src)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Enum):
        return to_jsonable(obj.value)
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def dumps(obj) -> str:
    """Indented strict JSON of ``obj`` (see `to_jsonable`); NaN is written as null."""
    return json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented strict JSON atomically; return the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_json(pathlib.Path(tempfile.mkdtemp()) / "a.json", {"x": float("nan")})
    >>> p.read_text().split()
    ['{', '"x":', 'null', '}']
    """
    with atomic_path(path) as tmp:
        tmp.write_text(dumps(obj))
    return Path(path)


def read_json(path: str | os.PathLike):
    """Parse a JSON file; a file that is not JSON raises ValueError naming it and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text (UTF-8) file, byte {exc.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None


def nan_floats(values) -> np.ndarray:
    """float64 array of a JSON number list, ``None`` read as NaN.

    Examples
    --------
    >>> nan_floats([1, None, 2.5]).tolist()
    [1.0, nan, 2.5]
    """
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def nan_nulls(obj):
    """A copy of parsed JSON with ``null`` where a number belongs read back as NaN, through nested sections.

    A list of numbers and nulls becomes floats; other values are kept.

    Examples
    --------
    >>> nan_nulls({"a": None, "b": [1, None], "c": {"d": "x", "e": [1, 2]}})
    {'a': nan, 'b': [1.0, nan], 'c': {'d': 'x', 'e': [1, 2]}}
    """
    if isinstance(obj, dict):
        return {k: nan_nulls(v) for k, v in obj.items()}
    if isinstance(obj, list):
        if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in obj) \
                and any(isinstance(v, float) or v is None for v in obj):
            return nan_floats(obj).tolist()
        return [nan_nulls(v) for v in obj]
    if obj is None:
        return float("nan")
    return obj
