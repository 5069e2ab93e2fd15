"""Reader of the two-spectrum reference table (``energy_kev,pristine,charged``).

One reader for the simulator (which builds its XANES model from measured
spectra) and the pipeline (which calibrates Li with them): they meet through
this file format, so they read it the same way.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ReferenceTable", "read_reference_table"]


@dataclass(frozen=True, eq=False)
class ReferenceTable:
    """Columns of a reference table, energies increasing, in keV.

    Attributes
    ----------
    energy_kev, pristine, charged : float64 arrays
    notes : tuple of str
        Unit conversions and reordering, in words.
    path : Path
    """

    energy_kev: np.ndarray
    pristine: np.ndarray
    charged: np.ndarray
    notes: tuple[str, ...]
    path: Path


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], int]:
    """Header fields, data rows and the file line number of the first data row."""
    with open(path, newline="") as fh:
        lines = [(i + 1, ln) for i, ln in enumerate(fh) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise ValueError(f"{path}: no header line")
    rows = list(csv.reader(ln for _, ln in lines))
    header = [h.strip().lower() for h in rows[0]]
    return header, rows[1:], lines[1][0] if len(lines) > 1 else lines[0][0]


def _column(path, header, rows, first_line, name) -> np.ndarray:
    j = header.index(name)
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        try:
            out[i] = float(row[j])
        except (ValueError, IndexError):
            cell = row[j] if j < len(row) else "<missing>"
            raise ValueError(
                f"{path}: column '{name}' has a non-numeric value {cell!r} at line {first_line + i}"
            ) from None
        if not np.isfinite(out[i]):
            raise ValueError(f"{path}: column '{name}' has a non-finite value at line {first_line + i}")
    return out


def read_reference_table(path, *, min_points: int = 2) -> ReferenceTable:
    """Read ``energy_kev,pristine,charged`` (columns in any order) from a CSV file.

    Lines starting with ``#`` are comments. An ``energy_ev`` column, or an
    ``energy_kev`` column whose values exceed 1000 (plainly eV), is converted
    to keV with a note. Energies in decreasing order are reversed.

    Parameters
    ----------
    path : path-like
    min_points : int
        Fewest energies accepted.

    Returns
    -------
    ReferenceTable

    Raises
    ------
    ValueError
        Naming the file and the column: a missing file or column, a
        non-numeric value, non-monotonic energies, too few points.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = p.write_text("energy_ev,charged,pristine\\n8300,1,3\\n8350,2,4\\n")
    >>> t = read_reference_table(p)
    >>> t.energy_kev.tolist(), t.pristine.tolist()
    ([8.3, 8.35], [3.0, 4.0])
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"references file not found: {path}")
    header, rows, first = _read_rows(path)
    notes: list[str] = []
    for name in ("pristine", "charged"):
        if name not in header:
            raise ValueError(f"{path}: missing column '{name}' (columns: {', '.join(header)})")
    if "energy_kev" in header:
        e = _column(path, header, rows, first, "energy_kev")
        if e.size and np.nanmax(e) > 1000:
            e = e / 1000.0
            notes.append("column 'energy_kev' holds values > 1000: read as eV and converted to keV")
    elif "energy_ev" in header:
        e = _column(path, header, rows, first, "energy_ev") / 1000.0
        notes.append("energies read from column 'energy_ev' and converted to keV")
    else:
        raise ValueError(f"{path}: missing column 'energy_kev' (or 'energy_ev'); columns: {', '.join(header)}")
    p = _column(path, header, rows, first, "pristine")
    c = _column(path, header, rows, first, "charged")
    if e.size < min_points:
        raise ValueError(f"{path}: column 'energy_kev' has {e.size} points, at least {min_points} are needed")
    d = np.diff(e)
    if d.size and np.all(d < 0):
        e, p, c = e[::-1], p[::-1], c[::-1]
        notes.append("energies were decreasing: reversed")
    elif not np.all(d > 0):
        bad = int(np.argmax(d <= 0))
        raise ValueError(
            f"{path}: column 'energy_kev' is not strictly monotonic "
            f"(row {bad + 2} of the data: {e[bad + 1]:g} after {e[bad]:g})"
        )
    return ReferenceTable(e, p, c, tuple(notes), path)
