"""Minimal TOML writer for flat tables of scalars and lists (reading uses ``tomllib``).

Only what scenario files need: nested tables of str, bool, int, float, None
(written as a comment-free omission), flat lists of those, and arrays of tables
(``[[series.state]]``) whose own tables are written inline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        escaped = v.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items() if x is not None) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps(data: Mapping, _prefix: str = "") -> str:
    """Serialize a nested mapping to TOML text; ``None`` values are omitted.

    Examples
    --------
    >>> print(dumps({"seed": 1, "acq": {"energies_kev": [8.3, 8.35]}}).strip())
    seed = 1
    <BLANKLINE>
    [acq]
    energies_kev = [8.3, 8.35]
    """
    lines, tables, arrays = [], [], []
    for key, val in data.items():
        if val is None:
            continue
        if isinstance(val, Mapping):
            tables.append((key, val))
        elif isinstance(val, (list, tuple)) and val and all(isinstance(x, Mapping) for x in val):
            arrays.append((key, val))
        else:
            lines.append(f"{key} = {_value(val)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, items in arrays:
        for item in items:
            out += f"\n[[{_prefix}{key}]]\n" + "".join(
                f"{k} = {_value(x)}\n" for k, x in item.items() if x is not None)
    for key, val in tables:
        name = f"{_prefix}{key}"
        out += f"\n[{name}]\n" + dumps(val, _prefix=name + ".")
    return out
