"""An operando series: the states of charge one region is imaged in, and how it moves.

A scenario's optional ``[series]`` section lists the states in order. Each state
has its electrode-mean progress (``mean_soc``, the Li field's ``mean_soc`` for
that state: every particle's progress rises with it at its own, size-dependent
rate, from the same active patches and pores, so fronts advance inward), a rigid
motion of the whole sample against the first state, and optional changes to the
acquisition (another dead angle, drift or flux). Each state's photon noise and
drift are a new realization.

In TOML::

    [series]
    rotation_axis = [1.0, 0.0, 0.02]   # (z, y, x): close to the rotation axis z

    [[series.state]]
    name = "I"
    mean_soc = 0.2

    [[series.state]]
    name = "II"
    mean_soc = 0.5
    translation_um = [0.1, 0.3, -0.2]  # (z, y, x)
    rotation_deg = 0.5
    acquisition = { dead_wedge_deg = 30.0 }

    [[series.detach]]                  # a particle that comes loose (the paper's Fig. S1)
    rank = 3                           # the 3rd largest particle wholly inside the field of view
    state = "II"                       # moved from this state on; it stops reacting
    translation_um = [0.0, 1.0, 0.5]   # its own motion, on top of the sample's
    rotation_deg = 5.0                 # about the series' axis through its centroid
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["StateParams", "DetachParams", "SeriesParams", "rotation_matrix"]


@dataclass(frozen=True)
class StateParams:
    """One state of a series.

    Attributes
    ----------
    name : str
        The state's name (a folder name: letters, digits, ``-``, ``_``, ``.``).
    mean_soc : float
        Electrode-mean progress of the Li field in this state, in [0, 1].
    translation_um : 3 floats
        (z, y, x) translation of the whole sample against the first state, µm.
    rotation_deg : float
        Rotation of the whole sample about the series' axis through the
        middle of the field of view, against the first state, degrees.
    acquisition : dict
        Fields of the acquisition changed for this state.
    """

    name: str
    mean_soc: float
    translation_um: tuple = (0.0, 0.0, 0.0)
    rotation_deg: float = 0.0
    acquisition: dict = field(default_factory=dict)

    def validate(self) -> "StateParams":
        ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        if not isinstance(self.name, str) or not self.name or not set(self.name) <= ok or self.name[0] == ".":
            raise ValueError(f"name must be a folder name (letters, digits, '-', '_', '.'), got {self.name!r}")
        if not isinstance(self.mean_soc, (int, float)) or not 0.0 <= self.mean_soc <= 1.0:
            raise ValueError(f"mean_soc must be a number in [0, 1], got {self.mean_soc!r}")
        _check_motion(self.translation_um, 1e3, self.rotation_deg, 45.0)
        if not isinstance(self.acquisition, dict):
            raise ValueError(f"acquisition must be a table of acquisition fields, got {self.acquisition!r}")
        return self

    @property
    def moves(self) -> bool:
        return bool(np.any(np.asarray(self.translation_um) != 0) or self.rotation_deg != 0)


@dataclass(frozen=True)
class DetachParams:
    """A particle that detaches: from ``state`` on it moves on its own and stops reacting.

    Attributes
    ----------
    rank : int
        Which particle: the ``rank``-th largest of those wholly inside the field
        of view (1: the largest), so that a scenario names it before it exists.
    state : str
        The first state in which it has moved.
    translation_um : 3 floats
        Its own (z, y, x) displacement, on top of the whole sample's motion, µm.
    rotation_deg : float
        Its own rotation about the series' axis through its centroid, degrees.
    """

    rank: int
    state: str
    translation_um: tuple = (0.0, 0.0, 0.0)
    rotation_deg: float = 0.0

    def validate(self) -> "DetachParams":
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"rank must be an integer >= 1, got {self.rank!r}")
        _check_motion(self.translation_um, 100.0, self.rotation_deg, 180.0)
        return self


@dataclass(frozen=True)
class SeriesParams:
    """The states of a series, in order, and the axis the sample rotates about.

    Examples
    --------
    >>> s = SeriesParams.from_dict({"state": [{"name": "I", "mean_soc": 0.2},
    ...                                       {"name": "II", "mean_soc": 0.6, "rotation_deg": 1.0}]})
    >>> [st.name for st in s.states], s.states[1].rotation_deg
    (['I', 'II'], 1.0)
    """

    states: tuple = ()
    rotation_axis: tuple = (1.0, 0.0, 0.0)
    detach: tuple = ()

    def validate(self) -> "SeriesParams":
        if len(self.states) < 1:
            raise ValueError("state: a series needs at least one [[series.state]]")
        for i, st in enumerate(self.states):
            try:
                st.validate()
            except ValueError as exc:
                raise ValueError(f"state[{i}].{exc}") from None
        names = [st.name for st in self.states]
        if len(set(names)) != len(names):
            raise ValueError(f"state: names must differ, got {names}")
        first = self.states[0]
        if first.moves:
            raise ValueError(f"state[0]: the first state ({first.name!r}) is the reference frame: "
                             f"its translation_um and rotation_deg must be 0")
        ranks = []
        for i, d in enumerate(self.detach):
            try:
                d.validate()
            except ValueError as exc:
                raise ValueError(f"detach[{i}].{exc}") from None
            if d.state not in names[1:]:
                raise ValueError(f"detach[{i}].state: must be a state after the first, one of {names[1:]}, "
                                 f"got {d.state!r}")
            ranks.append(d.rank)
        if len(set(ranks)) != len(ranks):
            raise ValueError(f"detach: each particle detaches once, got ranks {ranks}")
        ax = np.asarray(self.rotation_axis, float) if _numbers(self.rotation_axis) else None
        if ax is None or ax.shape != (3,) or not np.isfinite(ax).all() or np.linalg.norm(ax) == 0:
            raise ValueError(f"rotation_axis must be 3 finite numbers (z, y, x), not all 0, "
                             f"got {self.rotation_axis!r}")
        return self

    @property
    def axis(self) -> np.ndarray:
        """The unit rotation axis (z, y, x)."""
        ax = np.asarray(self.rotation_axis, float)
        return ax / np.linalg.norm(ax)

    @classmethod
    def from_dict(cls, data: dict) -> "SeriesParams":
        """From the ``[series]`` table; unknown keys raise ValueError naming them."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a table, got {type(data).__name__}")
        data = dict(data)
        raw = data.pop("state", [])
        axis = data.pop("rotation_axis", (1.0, 0.0, 0.0))
        raw_detach = data.pop("detach", None) or []
        if data:
            raise ValueError(f"unknown field(s) {sorted(data)}; known: ['detach', 'rotation_axis', 'state']")
        detach = []
        known_d = {f.name for f in dataclasses.fields(DetachParams)}
        if not isinstance(raw_detach, list):
            raise ValueError("detach: expected an array of tables ([[series.detach]])")
        for i, d in enumerate(raw_detach):
            if not isinstance(d, dict) or set(d) - known_d:
                raise ValueError(f"detach[{i}]: expected a table of {sorted(known_d)}, got {d!r}")
            d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
            try:
                detach.append(DetachParams(**d))
            except TypeError as exc:
                raise ValueError(f"detach[{i}]: {exc}") from None
        if not isinstance(raw, list):
            raise ValueError("state: expected an array of tables ([[series.state]])")
        known = {f.name for f in dataclasses.fields(StateParams)}
        states = []
        for i, st in enumerate(raw):
            if not isinstance(st, dict):
                raise ValueError(f"state[{i}]: expected a table")
            unknown = sorted(set(st) - known)
            if unknown:
                raise ValueError(f"state[{i}]: unknown field(s) {unknown}; known: {sorted(known)}")
            st = dict(st)
            if "translation_um" in st and isinstance(st["translation_um"], list):
                st["translation_um"] = tuple(st["translation_um"])
            try:
                states.append(StateParams(**st))
            except TypeError as exc:
                raise ValueError(f"state[{i}]: {exc}") from None
        axis = tuple(axis) if isinstance(axis, list) else axis
        return cls(tuple(states), axis, tuple(detach)).validate()

    def to_dict(self) -> dict:
        return {"rotation_axis": [float(a) for a in self.rotation_axis],
                "state": [{"name": st.name, "mean_soc": st.mean_soc,
                           "translation_um": [float(t) for t in st.translation_um],
                           "rotation_deg": st.rotation_deg, "acquisition": dict(st.acquisition)}
                          for st in self.states],
                "detach": [{"rank": d.rank, "state": d.state, "translation_um": [float(t) for t in d.translation_um],
                            "rotation_deg": d.rotation_deg} for d in self.detach] or None}


def rotation_matrix(axis, angle_deg: float) -> np.ndarray:
    """Rotation by ``angle_deg`` about the unit ``axis``, both in (z, y, x) (Rodrigues).

    Examples
    --------
    >>> np.round(rotation_matrix((1, 0, 0), 90.0) @ np.array([0.0, 1.0, 0.0]), 12).tolist()
    [0.0, 0.0, 1.0]
    """
    a = np.asarray(axis, float)
    a = a / np.linalg.norm(a)
    t = math.radians(angle_deg)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + math.sin(t) * k + (1.0 - math.cos(t)) * (k @ k)


def _check_motion(translation_um, max_um: float, rotation_deg, max_deg: float) -> None:
    """A rigid motion's fields, or ValueError naming the one that is wrong."""
    t = np.asarray(translation_um, dtype=float) if _numbers(translation_um) else None
    if t is None or t.shape != (3,) or not np.isfinite(t).all() or np.abs(t).max() > max_um:
        raise ValueError(f"translation_um must be 3 finite numbers (z, y, x) within {max_um:g} µm, "
                         f"got {translation_um!r}")
    if not isinstance(rotation_deg, (int, float)) or isinstance(rotation_deg, bool) or not abs(rotation_deg) <= max_deg:
        raise ValueError(f"rotation_deg must be a number in [-{max_deg:g}, {max_deg:g}], got {rotation_deg!r}")


def _numbers(v) -> bool:
    return isinstance(v, (tuple, list)) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                               for x in v)
