"""The reference-spectra table ``references.csv`` (``energy_kev,pristine,charged``).

One record (:class:`ReferenceTable`), one reader and one writer for the
simulator (which writes the raw spectra of its model, or builds its model from
measured ones) and the pipeline (which calibrates Li with them): they meet
through this file, so they read and write it the same way.

The format (docs/formats.md, section references): a header line naming the
columns ``energy_kev``, ``pristine`` and ``charged`` (any order, any case; an
``energy_ev`` column instead of ``energy_kev`` is accepted), one row per
energy, lines starting with ``#`` are comments, energies strictly monotonic.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trixanes._shared.atomic import write_text

__all__ = ["COLUMNS", "MIN_POINTS", "ReferenceTable", "read_reference_table", "write_reference_table"]

#: The columns, as the writer spells them.
COLUMNS = ("energy_kev", "pristine", "charged")
#: Fewest energies the reader accepts by default: a pre-edge, an edge and a post-edge.
MIN_POINTS = 3


@dataclass(frozen=True, eq=False)
class ReferenceTable:
    """Absorption spectra of the two reference states on one energy axis.

    Attributes
    ----------
    energy_kev : ndarray (n,)
        Strictly increasing energies, keV.
    pristine, charged : ndarray (n,)
        Absorption of the pristine and the charged reference (μ or optical
        density, any scale and offset).
    notes : tuple of str
        What was inferred or done while reading (units, order, restoration).
    path : Path or None
        The file read (None when built in memory).
    """

    energy_kev: np.ndarray
    pristine: np.ndarray
    charged: np.ndarray
    notes: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def source(self) -> str:
        """The file's name for messages ("references" when built in memory)."""
        return str(self.path) if self.path is not None else "references"


def _text_lines(path: Path) -> list[str]:
    """The file's lines, or a ValueError saying it is not a text CSV file."""
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ValueError(f"{path}: not a text CSV file (it holds NUL bytes: a binary file, "
                         f"e.g. an HDF5 scan given as references?); expected a header line "
                         f"'{','.join(COLUMNS)}' and one row per energy")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text CSV file (byte {exc.start} is not UTF-8 text: a binary "
                         f"file given as references?); expected a header line '{','.join(COLUMNS)}'"
                         ) from None
    return text.splitlines()


def _read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header fields, data rows and the file line number of each data row."""
    numbered = [(i + 1, ln) for i, ln in enumerate(_text_lines(path))
                if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise ValueError(f"{path}: empty file (no header line; expected '{','.join(COLUMNS)}' "
                         "and one row per energy)")
    rows = list(csv.reader(ln for _, ln in numbered))
    header = [h.strip().lower() for h in rows[0]]
    dup = sorted({h for h in header if header.count(h) > 1 and h})
    if dup:
        raise ValueError(f"{path}: column '{dup[0]}' appears more than once in the header")
    lines = [n for n, _ in numbered[1:]]
    for row, line in zip(rows[1:], lines):
        if len(row) != len(header):
            raise ValueError(f"{path}: line {line} has {len(row)} cells, the header has {len(header)}")
    return header, rows[1:], lines


def _column(path, header, rows, lines, name) -> np.ndarray:
    j = header.index(name)
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        try:
            out[i] = float(row[j])
        except ValueError:
            raise ValueError(
                f"{path}: column '{name}' has a non-numeric value {row[j]!r} at line {lines[i]}"
            ) from None
        if not np.isfinite(out[i]):
            raise ValueError(f"{path}: column '{name}' has a non-finite value at line {lines[i]}")
    return out


def read_reference_table(path, *, min_points: int = MIN_POINTS) -> ReferenceTable:
    """Read ``energy_kev,pristine,charged`` (columns in any order) from a CSV file.

    Lines starting with ``#`` are comments. An ``energy_ev`` column, or an
    ``energy_kev`` column whose values exceed 1000 (plainly eV), is converted
    to keV with a note. Energies in decreasing order are reversed, with a note.

    Parameters
    ----------
    path : path-like
    min_points : int
        Fewest energies accepted (at least 3: a pre-edge, an edge, a post-edge).

    Returns
    -------
    ReferenceTable

    Raises
    ------
    ValueError
        Naming the file and what is wrong: missing file, a binary or empty
        file, a missing or repeated column, a row of the wrong length, a
        non-numeric or non-finite value (with its line), non-positive,
        repeated or non-monotonic energies, too few points.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = p.write_text("energy_ev,charged,pristine\\n8300,1,3\\n8350,2,4\\n8400,2,4\\n")
    >>> t = read_reference_table(p)
    >>> t.energy_kev.tolist(), t.pristine.tolist()
    ([8.3, 8.35, 8.4], [3.0, 4.0, 4.0])
    >>> t.notes
    ("energies read from column 'energy_ev' and converted to keV",)
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"references file not found: {path}")
    header, rows, lines = _read_rows(path)
    notes: list[str] = []
    for name in ("pristine", "charged"):
        if name not in header:
            raise ValueError(f"{path}: missing column '{name}' (columns: {', '.join(header)})")
    if "energy_kev" in header:
        e = _column(path, header, rows, lines, "energy_kev")
        if e.size and np.max(e) > 1000:
            e = e / 1000.0
            notes.append("column 'energy_kev' holds values > 1000: read as eV and converted to keV")
    elif "energy_ev" in header:
        e = _column(path, header, rows, lines, "energy_ev") / 1000.0
        notes.append("energies read from column 'energy_ev' and converted to keV")
    else:
        raise ValueError(f"{path}: missing column 'energy_kev' (or 'energy_ev'); columns: {', '.join(header)}")
    p = _column(path, header, rows, lines, "pristine")
    c = _column(path, header, rows, lines, "charged")
    need = max(int(min_points), MIN_POINTS)
    if e.size < need:
        raise ValueError(f"{path}: {e.size} energies, at least {need} are needed "
                         "(a spectrum needs a pre-edge, an edge and a post-edge)")
    if np.any(e <= 0):
        i = int(np.argmax(e <= 0))
        raise ValueError(f"{path}: column 'energy_kev' has a non-positive energy {e[i]:g} at line {lines[i]}")
    d = np.diff(e)
    if np.any(d == 0):
        i = int(np.argmax(d == 0))
        raise ValueError(f"{path}: column 'energy_kev' repeats the energy {e[i]:g} keV "
                         f"(lines {lines[i]} and {lines[i + 1]}); energies must be strictly monotonic")
    if np.all(d < 0):
        e, p, c = e[::-1], p[::-1], c[::-1]
        notes.append("energies were decreasing: reversed")
    elif not np.all(d > 0):
        i = int(np.argmax(d < 0))
        raise ValueError(
            f"{path}: column 'energy_kev' is not strictly monotonic "
            f"(line {lines[i + 1]}: {e[i + 1]:g} after {e[i]:g})"
        )
    return ReferenceTable(e, p, c, tuple(notes), path)


def write_reference_table(path, table: ReferenceTable, *, comments=()) -> Path:
    """Write a reference table as ``energy_kev,pristine,charged`` (atomically).

    Values are written with Python's shortest round-trip repr, so that
    `read_reference_table` gives back the same float64 numbers.

    Parameters
    ----------
    path : path-like
        The CSV file.
    table : ReferenceTable
        Energies strictly increasing, keV; finite values.
    comments : sequence of str
        Lines written first, each prefixed by ``# `` (e.g. what the spectra are).

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> t = ReferenceTable(np.array([8.3, 8.35, 8.4]), np.array([1.0, 3.0, 2.0]), np.array([1.0, 2.0, 2.0]))
    >>> p = write_reference_table(pathlib.Path(tempfile.mkdtemp()) / "r.csv", t, comments=["test"])
    >>> print(p.read_text(), end="")
    # test
    energy_kev,pristine,charged
    8.3,1.0,1.0
    8.35,3.0,2.0
    8.4,2.0,2.0
    >>> read_reference_table(p).pristine.tolist()
    [1.0, 3.0, 2.0]
    """
    arrays = [np.asarray(getattr(table, n), float) for n in COLUMNS]
    n = arrays[0].shape
    for name, a in zip(COLUMNS, arrays):
        if a.ndim != 1 or a.shape != n:
            raise ValueError(f"table.{name}: need 1-D arrays of one length, got shape {a.shape} (energy {n})")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"table.{name}: holds non-finite values")
    if n[0] < MIN_POINTS or np.any(np.diff(arrays[0]) <= 0):
        raise ValueError(f"table.energy_kev: need at least {MIN_POINTS} strictly increasing energies")
    lines = [f"# {c}" for c in comments] + [",".join(COLUMNS)]
    lines += [f"{e!r},{p!r},{c!r}" for e, p, c in zip(*(a.tolist() for a in arrays))]
    return write_text(Path(path), "\n".join(lines) + "\n")
