"""``series.json`` and ``particles.csv`` of a processed operando series.

Written by `trixanes.pipeline.series.process_series`; read by the series
validation and the report.

Layout of ``series.json``::

    {"format": "trixanes-series", "version": 1,
     "states": ["I", "II", ...], "reference_state": "I",
     "voxel_size_um": [z, y, x],
     "motions": [{"state": "II", "translation_um": [z, y, x], "rotation_deg": 0.4,
                  "metric_before": -0.31, "metric_after": -0.62}, ...],
     "summary": [{"state": "I", "total_li": 0.71, "class_fractions": {...},
                  "z_profile": {"centres_um": [...], "mean_li": [...]},
                  "depth_profile": {"centres_um": [...], "mean_li": [...]}}, ...],
     "particles": [{"label": 3, "volume_um3": 12.1, "inside": true,
                    "mean_li": [per state], "li_rich_fraction": [per state],
                    "followed": [per state], "mean_li_sigma": [per state]}, ...],
     "notes": [...], "provenance": {...}}

A label is the same particle in every state (the first state's labels carried
to the others on the first state's grid). ``followed`` is false in a state
whose data do not cover the particle (it moved out of the field of view);
its numbers there are null. ``inside``: the particle touches no face of the
grid. A motion is the state's content against the first state's, about the
middle of the grid: ``state(p) = first(R⁻¹(p − c − t) + c)``.

``mean_li_sigma`` (only from ``trixanes series --uncertainty``) is one standard
deviation of the photon-noise error of each state's mean Li, from that state's own
half scans; the states' scans are independent, so the error of a change between
two states is the root sum of their squares. It is photon noise only: a particle
that moved is sampled by other voxels, which adds an error the halves cannot see
(on the ``tiny`` geometry, 0.2 µm of motion made the changes' spread 0.008 against
0.0017 unmoved, with a σ of a change of 0.0008). Each summary then has a ``sigma``
of that state's statistics, as in ``stats.json``.

``particles.csv`` has one row per particle and state: ``label, state,
volume_um3, mean_li, li_rich_fraction, followed, mean_li_sigma`` (empty where
there is no estimate).
"""

from __future__ import annotations

import csv
import io as _io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trixanes._shared.atomic import write_text
from trixanes._shared.jsonio import nan_nulls, read_json, write_json
from trixanes._shared.provenance import Provenance

__all__ = ["FORMAT", "SeriesStats", "write_series", "read_series", "write_series_particles_csv"]

FORMAT = "trixanes-series"
VERSION = 1


@dataclass(frozen=True, eq=False)
class SeriesStats:
    """Per-state summaries and per-particle trajectories of a series.

    Attributes
    ----------
    states : tuple of str
    voxel_size_um : tuple of 3 float
    motions : tuple of dict
        One per state after the first.
    summary : tuple of dict
        One per state.
    labels : ndarray of int, (n,)
    volume_um3 : ndarray, (n,)
    inside : ndarray of bool, (n,)
    mean_li, li_rich_fraction : ndarray, (n, n_states)
        NaN where not followed.
    followed : ndarray of bool, (n, n_states)
    notes : tuple of str
    provenance : Provenance or None
    path : Path or None
    mean_li_sigma : ndarray (n, n_states) or None
        σ of ``mean_li`` (photon noise), when the series was processed with an
        uncertainty estimate.
    """

    states: tuple
    voxel_size_um: tuple
    motions: tuple
    summary: tuple
    labels: np.ndarray
    volume_um3: np.ndarray
    inside: np.ndarray
    mean_li: np.ndarray
    li_rich_fraction: np.ndarray
    followed: np.ndarray
    notes: tuple = ()
    provenance: Provenance | None = None
    path: Path | None = None
    mean_li_sigma: np.ndarray | None = None

    def change_sigma(self) -> np.ndarray | None:
        """σ of each particle's mean-Li change between consecutive states, (n, n_states - 1).

        The states are independent scans: the variances add.

        Examples
        --------
        >>> s = SeriesStats(("a", "b"), (1, 1, 1), (), (), np.array([1]), np.array([1.0]),
        ...                 np.array([True]), np.array([[0.5, 0.6]]), np.array([[0.1, 0.2]]),
        ...                 np.array([[True, True]]), mean_li_sigma=np.array([[0.003, 0.004]]))
        >>> s.change_sigma().round(4).tolist()
        [[0.005]]
        """
        if self.mean_li_sigma is None:
            return None
        var = self.mean_li_sigma**2
        return np.sqrt(var[:, 1:] + var[:, :-1])

    def to_dict(self) -> dict:
        sigmas = self.mean_li_sigma if self.mean_li_sigma is not None else [None] * len(self.labels)
        particles = []
        for k, v, ins, li, rich, fol, sig in zip(self.labels, self.volume_um3, self.inside, self.mean_li,
                                                 self.li_rich_fraction, self.followed, sigmas):
            p = {"label": int(k), "volume_um3": float(v), "inside": bool(ins),
                 "mean_li": [float(x) for x in li], "li_rich_fraction": [float(x) for x in rich],
                 "followed": [bool(b) for b in fol]}
            if sig is not None:
                p["mean_li_sigma"] = [float(x) for x in sig]
            particles.append(p)
        return {
            "format": FORMAT, "version": VERSION, "states": list(self.states),
            "reference_state": self.states[0], "voxel_size_um": [float(v) for v in self.voxel_size_um],
            "motions": [dict(m) for m in self.motions], "summary": [dict(s) for s in self.summary],
            "particles": particles, "notes": list(self.notes),
            "provenance": self.provenance.to_dict() if self.provenance is not None else None,
        }


def write_series(path: str | os.PathLike, stats: SeriesStats) -> Path:
    """Write ``series.json`` atomically (NaN as null); return the path."""
    return write_json(path, stats.to_dict())


def write_series_particles_csv(path: str | os.PathLike, stats: SeriesStats) -> Path:
    """One row per particle and state (see the module's layout); atomic."""
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["label", "state", "volume_um3", "mean_li", "li_rich_fraction", "followed", "mean_li_sigma"])
    sigma = stats.mean_li_sigma if stats.mean_li_sigma is not None else np.full(stats.mean_li.shape, np.nan)
    for i, k in enumerate(stats.labels):
        for s, name in enumerate(stats.states):
            w.writerow([int(k), name, f"{stats.volume_um3[i]:.6g}", _num(stats.mean_li[i, s]),
                        _num(stats.li_rich_fraction[i, s]), int(stats.followed[i, s]), _num(sigma[i, s])])
    return write_text(path, buf.getvalue())


def _num(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.6g}"


def read_series(path: str | os.PathLike) -> SeriesStats:
    """Read and check a ``series.json`` (or the folder holding one).

    Raises ValueError naming the file and the entry that is wrong.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "series.json"
    if not path.is_file():
        raise ValueError(f"{path}: no such series result (series.json, written by `trixanes series`)")
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a series result (no \"format\": \"{FORMAT}\")")
    try:
        states = tuple(str(s) for s in data["states"])
        n_s = len(states)
        parts = data["particles"]
        with_sigma = bool(parts) and all("mean_li_sigma" in p for p in parts)
        for i, p in enumerate(parts):
            for key in ("mean_li", "li_rich_fraction", "followed") + (("mean_li_sigma",) if with_sigma else ()):
                if len(p[key]) != n_s:
                    raise ValueError(f"particles[{i}].{key}: {len(p[key])} values for {n_s} states")

        def floats(key):
            return np.array([nan_nulls(p[key]) for p in parts], float).reshape(-1, n_s)

        stats = SeriesStats(
            states, tuple(float(v) for v in data["voxel_size_um"]), tuple(data.get("motions", ())),
            tuple(nan_nulls(s) for s in data.get("summary", ())),
            np.array([int(p["label"]) for p in parts], dtype=np.int64),
            np.array([p["volume_um3"] for p in parts], float),
            np.array([bool(p["inside"]) for p in parts], bool),
            floats("mean_li"), floats("li_rich_fraction"),
            np.array([p["followed"] for p in parts], bool).reshape(-1, n_s),
            tuple(data.get("notes", ())),
            Provenance.from_dict(data["provenance"]) if data.get("provenance") else None, path,
            mean_li_sigma=floats("mean_li_sigma") if with_sigma else None)
    except KeyError as exc:
        raise ValueError(f"{path}: missing entry {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return stats
