"""``stats.json``: the statistics of one Li map, as a frozen record.

`Stats` holds every figure of the paper that a result carries (DESIGN.md,
Pipeline); `trixanes.pipeline.analyze.analyze` makes one, for a pipeline result
and (in validate) for the truth on the result's grid alike. The JSON layout is
`Stats.to_dict`'s; NaN is written as ``null`` and read back as NaN by
`trixanes._shared.jsonio`, nowhere else.

A `Stats` is also a read-only mapping of that JSON layout
(``stats["class_fractions"]["li_rich"]``), for code written against the file.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trixanes._shared.jsonio import nan_floats, nan_nulls, write_json
from trixanes._shared.provenance import Provenance
from trixanes.io._records import JsonView, read_json_record

__all__ = ["CLASS_NAMES", "ParticleStats", "Histogram", "ZProfile", "DepthProfile", "Stats",
           "write_stats", "read_stats"]

#: keys of `Stats.class_fractions`
CLASS_NAMES = ("li_poor", "li_moderate", "li_rich")


def _num(v) -> float:
    """A JSON number, ``null`` read as NaN (by jsonio)."""
    return float(nan_floats([v])[0])


def _floats(v) -> tuple:
    return tuple(float(x) for x in nan_floats(v))


def _ints(v) -> tuple:
    return tuple(int(x) for x in v)


@dataclass(frozen=True)
class ParticleStats:
    """One particle of the label map.

    Attributes
    ----------
    label : int
        Its id in ``/labels``.
    n_voxels : int
        Its voxels.
    volume_um3, equivalent_diameter_um : float
        Volume, µm³, and the diameter of the sphere of that volume, µm.
    centroid_um : tuple of 3 float
        Centre of mass (z, y, x), µm from the volume's first face.
    mean_li : float
        Mean Li over its voxels with a finite Li (NaN when none).
    li_rich_fraction : float
        Fraction of those voxels that are Li-rich (q ≥ high threshold).
    surface_active_fraction : float
        Fraction of its surface voxels (AM voxels with a face neighbour outside
        the AM) with a finite Li that are Li-rich; NaN when it has none.
    """

    label: int
    n_voxels: int
    volume_um3: float
    equivalent_diameter_um: float
    centroid_um: tuple
    mean_li: float
    li_rich_fraction: float
    surface_active_fraction: float

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "ParticleStats":
        return cls(label=int(d["label"]), n_voxels=int(d.get("n_voxels", 0)),
                   volume_um3=_num(d["volume_um3"]), equivalent_diameter_um=_num(d["equivalent_diameter_um"]),
                   centroid_um=_floats(d["centroid_um"]), mean_li=_num(d.get("mean_li")),
                   li_rich_fraction=_num(d.get("li_rich_fraction")),
                   surface_active_fraction=_num(d.get("surface_active_fraction")))


@dataclass(frozen=True)
class Histogram:
    """Counts between bin edges (``len(edges) == len(counts) + 1``)."""

    edges: tuple
    counts: tuple

    def to_dict(self) -> dict:
        return {"edges": list(self.edges), "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, d: dict) -> "Histogram":
        return cls(_floats(d["edges"]), _ints(d["counts"]))


@dataclass(frozen=True)
class ZProfile:
    """Mean Li per z slice (through-plane): slice centres, µm, mean Li, voxels counted."""

    z_um: tuple
    mean_li: tuple
    n_voxels: tuple

    def to_dict(self) -> dict:
        return {"z_um": list(self.z_um), "mean_li": list(self.mean_li), "n_voxels": list(self.n_voxels)}

    @classmethod
    def from_dict(cls, d: dict) -> "ZProfile":
        return cls(_floats(d["z_um"]), _floats(d["mean_li"]), _ints(d["n_voxels"]))


@dataclass(frozen=True)
class DepthProfile:
    """Mean and spread of Li against depth below the resolved AM surface.

    ``depth_um`` are bin centres (bins of ``bin_um`` from 0), ``count`` the voxels in each.
    """

    depth_um: tuple
    mean_li: tuple
    std_li: tuple
    count: tuple
    bin_um: float

    def to_dict(self) -> dict:
        return {"depth_um": list(self.depth_um), "mean_li": list(self.mean_li), "std_li": list(self.std_li),
                "count": list(self.count), "bin_um": self.bin_um}

    @classmethod
    def from_dict(cls, d: dict) -> "DepthProfile":
        return cls(_floats(d["depth_um"]), _floats(d["mean_li"]), _floats(d["std_li"]),
                   _ints(d["count"]), _num(d["bin_um"]))


@dataclass(frozen=True, eq=False)
class Stats(JsonView):
    """The statistics of one Li map (the figures of the paper).

    Attributes
    ----------
    voxel_size_um : tuple of 3 float
        (z, y, x), µm.
    x_pristine, x_charged : float
        Reference stoichiometries; q = (x − x_charged)/(x_pristine − x_charged).
    thresholds : (float, float)
        q thresholds: Li-poor q ≤ low, moderate low < q < high, rich q ≥ high.
    n_am_voxels, n_valid_voxels : int
        AM voxels, and those with a finite Li.
    am_volume_um3 : float
        AM volume, µm³.
    total_li, mean_q : float
        Mean Li and mean q over the valid voxels (NaN when none).
    class_fractions : dict
        ``{"li_poor", "li_moderate", "li_rich"}`` volume fractions of the valid voxels.
    histograms : dict of Histogram
        ``"q"`` (fixed range [-0.5, 1.5]), ``"li"`` and, with an edge-jump map, ``"edge_jump"``.
    n_particles : int
    particles : tuple of ParticleStats
    z_profile : ZProfile
    depth_profile : DepthProfile
    n_surface_voxels : int
        AM surface voxels with a finite Li.
    active_surface_fraction : float
        Fraction of them that are Li-rich (the active surface).
    acquisition : dict or None
        What ``process`` adds: energies, reference jumps, binning, voxel size, registration.
    sigma : dict or None
        One standard deviation of the photon-noise error of the statistics
        (`trixanes.pipeline.uncertainty.statistic_sigmas`): ``total_li``,
        ``mean_q``, ``active_surface_fraction``, ``class_fractions``,
        ``z_profile``/``depth_profile`` ``mean_li`` per bin, ``particles``
        (``label``, ``mean_li``, ``li_rich_fraction``,
        ``surface_active_fraction``), and how they were estimated. None when
        not estimated.
    provenance : Provenance or None
    """

    voxel_size_um: tuple
    x_pristine: float
    x_charged: float
    thresholds: tuple
    n_am_voxels: int
    n_valid_voxels: int
    am_volume_um3: float
    total_li: float
    mean_q: float
    class_fractions: dict
    histograms: dict
    n_particles: int
    particles: tuple
    z_profile: ZProfile
    depth_profile: DepthProfile
    n_surface_voxels: int
    active_surface_fraction: float
    acquisition: dict | None = None
    provenance: Provenance | None = field(default=None)
    sigma: dict | None = None

    @functools.cached_property
    def _view(self) -> dict:
        d = {
            "voxel_size_um": list(self.voxel_size_um),
            "x_pristine": self.x_pristine,
            "x_charged": self.x_charged,
            "thresholds": list(self.thresholds),
            "n_am_voxels": self.n_am_voxels,
            "n_valid_voxels": self.n_valid_voxels,
            "am_volume_um3": self.am_volume_um3,
            "total_li": self.total_li,
            "mean_q": self.mean_q,
            "class_fractions": dict(self.class_fractions),
            "histograms": {k: h.to_dict() for k, h in self.histograms.items()},
            "n_particles": self.n_particles,
            "particles": [p.to_dict() for p in self.particles],
            "z_profile": self.z_profile.to_dict(),
            "depth_profile": self.depth_profile.to_dict(),
            "n_surface_voxels": self.n_surface_voxels,
            "active_surface_fraction": self.active_surface_fraction,
        }
        if self.acquisition is not None:
            d["acquisition"] = self.acquisition
        if self.sigma is not None:
            d["sigma"] = self.sigma
        if self.provenance is not None:
            d["provenance"] = self.provenance.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "Stats":
        """Back from `to_dict` or its JSON (``null`` read as NaN); unknown keys are ignored."""
        try:
            return cls(
                voxel_size_um=_floats(d["voxel_size_um"]),
                x_pristine=_num(d["x_pristine"]),
                x_charged=_num(d["x_charged"]),
                thresholds=_floats(d["thresholds"]),
                n_am_voxels=int(d["n_am_voxels"]),
                n_valid_voxels=int(d["n_valid_voxels"]),
                am_volume_um3=_num(d["am_volume_um3"]),
                total_li=_num(d.get("total_li")),
                mean_q=_num(d.get("mean_q")),
                class_fractions={k: _num(d["class_fractions"].get(k)) for k in CLASS_NAMES},
                histograms={k: Histogram.from_dict(h) for k, h in d["histograms"].items()},
                n_particles=int(d["n_particles"]),
                particles=tuple(ParticleStats.from_dict(p) for p in d["particles"]),
                z_profile=ZProfile.from_dict(d["z_profile"]),
                depth_profile=DepthProfile.from_dict(d["depth_profile"]),
                n_surface_voxels=int(d["n_surface_voxels"]),
                active_surface_fraction=_num(d.get("active_surface_fraction")),
                acquisition=d.get("acquisition"),
                provenance=Provenance.from_dict(d["provenance"]) if d.get("provenance") else None,
                sigma=nan_nulls(d["sigma"]) if d.get("sigma") is not None else None,
            )
        except KeyError as err:
            raise ValueError(f"missing key {err.args[0]!r}") from None
        except (TypeError, AttributeError, ValueError) as err:
            raise ValueError(f"malformed statistics ({err})") from None


def write_stats(path: str | os.PathLike, stats: Stats) -> Path:
    """Write ``stats.json`` atomically (strict JSON, NaN as null); return the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> s = Stats.from_dict({
    ...     "voxel_size_um": [0.2, 0.2, 0.2], "x_pristine": 1.0, "x_charged": 0.38,
    ...     "thresholds": [0.6, 0.9], "n_am_voxels": 27, "n_valid_voxels": 27, "am_volume_um3": 0.216,
    ...     "total_li": 0.9, "mean_q": 0.84, "n_particles": 0, "particles": [],
    ...     "class_fractions": {"li_poor": 0, "li_moderate": 1, "li_rich": 0},
    ...     "histograms": {"q": {"edges": [0, 1], "counts": [27]}},
    ...     "z_profile": {"z_um": [0.1], "mean_li": [0.9], "n_voxels": [27]},
    ...     "depth_profile": {"depth_um": [0.1], "mean_li": [None], "std_li": [None], "count": [0],
    ...                       "bin_um": 0.2},
    ...     "n_surface_voxels": 0, "active_surface_fraction": None})
    >>> p = write_stats(pathlib.Path(tempfile.mkdtemp()) / "stats.json", s)
    >>> back = read_stats(p)
    >>> back.total_li, back["class_fractions"]["li_moderate"], back.active_surface_fraction
    (0.9, 1.0, nan)
    """
    if not isinstance(stats, Stats):
        raise ValueError(f"stats: expected a Stats record, got {type(stats).__name__}")
    return write_json(path, stats.to_dict())


def read_stats(path: str | os.PathLike) -> Stats:
    """Read ``stats.json``; ValueError naming the file and what is missing or malformed."""
    return read_json_record(path, Stats, "statistics")
