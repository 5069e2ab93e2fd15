"""``series_truth.json``: what really happened in a simulated operando series.

Written by `trixanes.synth.series.simulate_series` beside the state folders
(``<state>/truth.h5`` each in its own frame); read by the series validation.

Layout::

    {"format": "trixanes-series-truth", "version": 1,
     "states": ["I", "II", ...],                 # in order; also the folder names
     "voxel_size_um": 0.02,                      # of the truth grids
     "motions": [{"state": "II", "translation_um": [z, y, x], "rotation_deg": 0.5,
                  "rotation_axis": [z, y, x], "centre_um": [z, y, x],
                  "rotation_matrix_zyx": [[...], [...], [...]]}, ...],
     "detached": [],                             # labels of particles that moved on their own
     "particles": [{"label": 7, "volume_um3": 11.2, "li": [x per state],
                    "progress": [per state], "inside": [bool per state]}, ...],
     "provenance": {...}}

A label means the same particle in every state. ``li`` is the particle's true
mean Li content; ``inside`` says whether the particle lies wholly inside the
field of view (touches no face of the grid) in that state. A motion maps the
first state's frame to the state's: ``r' = R (r - c) + c + t`` with ``c`` the
middle of the grid (on the rotation axis), ``R`` the rotation by
``rotation_deg`` about ``rotation_axis`` (``rotation_matrix_zyx``, acting on
(z, y, x) vectors) and ``t`` the translation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trixanes._shared.jsonio import read_json, write_json
from trixanes._shared.provenance import Provenance

__all__ = ["FORMAT", "SeriesTruth", "write_series_truth", "read_series_truth"]

FORMAT = "trixanes-series-truth"
VERSION = 1


@dataclass(frozen=True, eq=False)
class SeriesTruth:
    """The truth of a series.

    Attributes
    ----------
    states : tuple of str
    voxel_size_um : float
    labels : ndarray of int, (n,)
    volume_um3 : ndarray, (n,)
        Volume of each particle in the first state.
    li, progress : ndarray, (n, n_states)
    inside : ndarray of bool, (n, n_states)
    motions : tuple of dict
        One per state after the first (see the module's layout).
    detached : tuple of int
    provenance : Provenance or None
    path : Path or None
    """

    states: tuple
    voxel_size_um: float
    labels: np.ndarray
    volume_um3: np.ndarray
    li: np.ndarray
    progress: np.ndarray
    inside: np.ndarray
    motions: tuple = ()
    detached: tuple = ()
    provenance: Provenance | None = None
    path: Path | None = None

    def to_dict(self) -> dict:
        return {
            "format": FORMAT, "version": VERSION, "states": list(self.states),
            "voxel_size_um": float(self.voxel_size_um),
            "motions": [dict(m) for m in self.motions], "detached": [int(k) for k in self.detached],
            "particles": [{"label": int(k), "volume_um3": float(v), "li": [float(x) for x in li],
                           "progress": [float(p) for p in pr], "inside": [bool(b) for b in ins]}
                          for k, v, li, pr, ins in zip(self.labels, self.volume_um3, self.li,
                                                       self.progress, self.inside)],
            "provenance": self.provenance.to_dict() if self.provenance is not None else None,
        }

    def state_dir(self, name: str) -> Path:
        """The folder of one state (beside the file this truth was read from)."""
        base = self.path.parent if self.path is not None else Path(".")
        return base / name


def write_series_truth(path: str | os.PathLike, truth: SeriesTruth) -> Path:
    """Write ``truth`` atomically as JSON; return the path."""
    return write_json(path, truth.to_dict())


def read_series_truth(path: str | os.PathLike) -> SeriesTruth:
    """Read and check a ``series_truth.json`` (or the folder holding one).

    Raises ValueError naming the file and the entry that is wrong.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> t = SeriesTruth(("I", "II"), 0.02, np.array([1]), np.array([3.0]), np.array([[0.6, 0.7]]),
    ...                 np.array([[0.2, 0.5]]), np.array([[True, True]]))
    >>> p = write_series_truth(pathlib.Path(tempfile.mkdtemp()) / "series_truth.json", t)
    >>> read_series_truth(p.parent).li.tolist()
    [[0.6, 0.7]]
    """
    path = Path(path)
    if path.is_dir():
        path = path / "series_truth.json"
    if not path.is_file():
        raise ValueError(f"{path}: no such series truth file (series_truth.json, written by "
                         f"`trixanes simulate` from a scenario with a [series])")
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a series truth file (no \"format\": \"{FORMAT}\")")
    try:
        states = tuple(str(s) for s in data["states"])
        parts = data["particles"]
        n_s = len(states)
        for i, p in enumerate(parts):
            for key in ("li", "progress", "inside"):
                if len(p[key]) != n_s:
                    raise ValueError(f"particles[{i}].{key}: {len(p[key])} values for {n_s} states")
        labels = np.array([int(p["label"]) for p in parts], dtype=np.int64)
        li = np.array([[np.nan if x is None else x for x in p["li"]] for p in parts], float).reshape(-1, n_s)
        prog = np.array([p["progress"] for p in parts], float).reshape(-1, n_s)
        inside = np.array([p["inside"] for p in parts], bool).reshape(-1, n_s)
        vol = np.array([p["volume_um3"] for p in parts], float)
        motions = tuple(data.get("motions", ()))
        detached = tuple(int(k) for k in data.get("detached", ()))
        voxel = float(data["voxel_size_um"])
    except KeyError as exc:
        raise ValueError(f"{path}: missing entry {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    prov = data.get("provenance")
    return SeriesTruth(states, voxel, labels, vol, li, prog, inside, motions, detached,
                       Provenance.from_dict(prov) if prov else None, path)
