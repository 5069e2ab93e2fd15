"""Particle packing of the synthetic electrode: sizes, shapes, positions, cavities.

The particles and their cavities are lists of shapes (no voxels): what
:mod:`synth.microstructure` rasterizes into any box of the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy.spatial.transform import Rotation

from trixanes.synth import _kernels as K

__all__ = ["HARMONIC_DEGREES", "MicrostructureParams", "Particles", "pack_particles", "place_cavities", "sample_mask",
           "sample_count"]

#: Degrees of the zonal harmonics that modulate each particle's radius.
HARMONIC_DEGREES = np.array([3, 3, 4], np.int64)


@dataclass(frozen=True)
class MicrostructureParams:
    """Parameters of the synthetic electrode (lengths in micrometres).

    ``am_fraction`` and ``cbd_fraction`` are volume fractions inside the sample region;
    ``size_spread`` is the log-normal sigma of the secondary-particle diameter around
    the median ``d50_um``; ``asphericity`` scales both the ellipsoid axis ratios
    (log-normal sigma) and the harmonic surface perturbation; ``overlap`` is the
    interpenetration allowed at contacts, as a fraction of the radii sum;
    ``internal_pore_fraction`` is the volume fraction of small internal pores in each
    particle and ``cracks_per_particle`` the mean number of planar cracks (both become
    phase 1). ``geometry`` is ``"disk"`` (a laser-cut cylinder along z whose diameter is
    ``disk_diameter_fraction`` of the smaller lateral field of view, void outside) or
    ``"plate"`` (the sample fills the field of view). CBD lies within ``cbd_reach_um``
    of particles, its coating patchiness has correlation length ``cbd_patch_um``.
    """

    am_fraction: float = 0.65
    d50_um: float = 4.7
    size_spread: float = 0.25
    asphericity: float = 0.15
    overlap: float = 0.15
    internal_pore_fraction: float = 0.02
    pore_diameter_um: float = 0.3
    cracks_per_particle: float = 0.3
    crack_width_um: float = 0.08
    cbd_fraction: float = 0.10
    cbd_reach_um: float = 0.6
    cbd_patch_um: float = 1.0
    geometry: str = "disk"
    disk_diameter_fraction: float = 0.85

    def validate(self) -> "MicrostructureParams":
        """Raise ValueError naming the first field out of its range; return self."""
        ranges = {
            "am_fraction": (0.05, 0.85), "d50_um": (1e-3, 1e4), "size_spread": (0.0, 1.0),
            "asphericity": (0.0, 0.5), "overlap": (0.0, 0.5),
            "internal_pore_fraction": (0.0, 0.2), "pore_diameter_um": (1e-4, 1e3),
            "cracks_per_particle": (0.0, 10.0), "crack_width_um": (0.0, 1e3),
            "cbd_fraction": (0.0, 0.5), "cbd_reach_um": (1e-3, 1e3),
            "cbd_patch_um": (1e-3, 1e4), "disk_diameter_fraction": (0.05, 1.0),
        }
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ranges:
                lo, hi = ranges[f.name]
                if not isinstance(value, (int, float)) or not lo <= value <= hi:
                    raise ValueError(f"{f.name} must be a number in [{lo}, {hi}], got {value!r}")
        if self.geometry not in ("disk", "plate"):
            raise ValueError(f"geometry must be 'disk' or 'plate', got {self.geometry!r}")
        if self.am_fraction + self.cbd_fraction >= 0.95:
            raise ValueError("am_fraction + cbd_fraction must stay below 0.95")
        return self


@dataclass(frozen=True)
class Particles:
    """Packed particles, lengths in µm: ellipsoids whose radius is modulated by zonal
    harmonics (axes ``hax``, coefficients ``hcoef`` of the degrees ``HARMONIC_DEGREES``)."""

    centers: np.ndarray  # (n, 3) um, grid coordinates (voxel i at i * voxel size)
    radii: np.ndarray  # (n,) volume-equivalent radius, um
    rot: np.ndarray  # (n, 3, 3) columns = principal axes
    axes: np.ndarray  # (n, 3) semi-axes, um
    mats: np.ndarray  # (n, 3, 3) physical offset -> unit-ball coordinates
    hax: np.ndarray
    hcoef: np.ndarray
    rbound: np.ndarray  # bounding radius incl. the CBD reach, um


def _sample_diameters(rng, p: MicrostructureParams, n: int, dmin: float) -> np.ndarray:
    d = p.d50_um * np.exp(p.size_spread * rng.standard_normal(n))
    # bounded tails keep the bounding boxes (and the cost) finite
    return np.clip(d, max(dmin, p.d50_um * math.exp(-3 * p.size_spread)),
                   p.d50_um * math.exp(3 * p.size_spread))


def pack_particles(shape, vox, p: MicrostructureParams, rng, reach, fill_factor) -> Particles:
    """Pack particles in a periodic box around the grid; keep those that reach it.

    Parameters
    ----------
    shape : tuple of int
        (z, y, x) grid.
    vox : float
        Voxel edge, µm.
    p : MicrostructureParams
        Sizes, shapes, overlap, sample geometry.
    rng : numpy.random.Generator
    reach : float
        CBD reach, µm (added to the bounding radii).
    fill_factor : float
        Sum of the particles' volumes over the box volume.

    Returns
    -------
    Particles
    """
    grid = np.asarray(shape, float) * vox
    hmax = min(0.5, 1.1 * p.asphericity)
    margin = 0.5 * p.d50_um * math.exp(3 * p.size_spread + 2 * p.asphericity) * (1 + hmax) + reach
    box = grid + 2 * margin
    target = fill_factor * np.prod(box)
    d50_vol = math.pi / 6 * p.d50_um**3
    diam = _sample_diameters(rng, p, int(target / d50_vol * 1.5) + 8, 4 * vox)
    ncum = np.searchsorted(np.cumsum(math.pi / 6 * diam**3), target) + 1
    rad = 0.5 * diam[:ncum]
    pos = rng.uniform(0, 1, (ncum, 3)) * box
    K.relax_packing(pos, rad, box, 1.0 - p.overlap, 300, 0.03)
    centers = pos - margin
    n = rad.shape[0]
    rot = Rotation.random(n, random_state=rng).as_matrix()
    g = rng.standard_normal((n, 3))
    g = np.clip(g - g.mean(axis=1, keepdims=True), -2.0, 2.0)
    axes = rad[:, None] * np.exp(p.asphericity * g)
    mats = np.einsum("ni,nji->nij", 1.0 / axes, rot)
    hax = rng.standard_normal((n, HARMONIC_DEGREES.size, 3))
    hax /= np.linalg.norm(hax, axis=2, keepdims=True)
    hcoef = 0.35 * p.asphericity * rng.standard_normal((n, HARMONIC_DEGREES.size))
    hsum = np.abs(hcoef).sum(axis=1, keepdims=True)
    hcoef *= np.minimum(1.0, hmax / np.maximum(hsum, 1e-12))
    rbound = axes.max(axis=1) * (1 + np.abs(hcoef).sum(axis=1)) + reach
    keep = np.all((centers + rbound[:, None] >= 0) & (centers - rbound[:, None] <= grid), axis=1)
    if p.geometry == "disk":
        keep &= _radial_um(centers, shape, vox) <= _disk_radius_um(shape, vox, p) + rbound
    return Particles(centers[keep], rad[keep], rot[keep], axes[keep], mats[keep],
                      hax[keep], hcoef[keep], rbound[keep])


def _disk_radius_um(shape, vox, p) -> float:
    return 0.5 * p.disk_diameter_fraction * min(shape[1], shape[2]) * vox


def _radial_um(points_um, shape, vox):
    cy, cx = 0.5 * (shape[1] - 1) * vox, 0.5 * (shape[2] - 1) * vox
    return np.hypot(points_um[:, 1] - cy, points_um[:, 2] - cx)


def place_cavities(parts: Particles, vox, p: MicrostructureParams, rng):
    """Spherical internal pores and disc cracks of every particle, on the grid.

    Returns
    -------
    tuple of ndarray
        ``kind`` (0 pore, 1 crack), parent label (1-based), centres (µm), crack
        normals, radii (µm) and crack half widths (µm): the arguments of
        ``_kernels.carve_cavities``.
    """
    n = parts.radii.size
    rp = max(0.5 * p.pore_diameter_um, 0.75 * vox)
    vol = 4 / 3 * math.pi * parts.radii**3
    npores = rng.poisson(p.internal_pore_fraction * vol / (4 / 3 * math.pi * rp**3 * 1.1))
    ncracks = rng.poisson(p.cracks_per_particle, n)
    par = np.concatenate([np.repeat(np.arange(n), npores), np.repeat(np.arange(n), ncracks)])
    kind = np.concatenate([np.zeros(npores.sum(), np.int64), np.ones(ncracks.sum(), np.int64)])
    u = rng.standard_normal((par.size, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    depth = np.where(kind == 0, 0.65, 0.3) * rng.uniform(0, 1, par.size) ** (1 / 3)
    local = parts.axes[par] * u * depth[:, None]
    centers = parts.centers[par] + np.einsum("nij,nj->ni", parts.rot[par], local)
    normals = rng.standard_normal((par.size, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    radius = np.where(kind == 0, rp * rng.uniform(0.75, 1.25, par.size),
                      parts.radii[par] * rng.uniform(0.4, 0.9, par.size))
    # a crack narrower than a voxel is drawn as a digital plane that still separates
    half_width = np.where(kind == 0, 0.0, np.maximum(0.5 * p.crack_width_um,
                                                     0.5 * vox * np.abs(normals).sum(axis=1)))
    return kind, par + 1, centers, normals, radius, half_width


def sample_mask(shape, vox, p: MicrostructureParams, origin=(0, 0, 0), box=None) -> np.ndarray:
    """The sample region (bool) in the box of ``box`` voxels from ``origin`` of the grid
    ``shape`` (default: the whole grid): a disk along z, or all of it for a plate."""
    box = tuple(shape if box is None else box)
    if p.geometry == "plate":
        return np.ones(box, bool)
    yy = (np.arange(origin[1], origin[1] + box[1]) - 0.5 * (shape[1] - 1)) * vox
    xx = (np.arange(origin[2], origin[2] + box[2]) - 0.5 * (shape[2] - 1)) * vox
    disk = np.hypot(yy[:, None], xx[None, :]) <= _disk_radius_um(shape, vox, p)
    return np.ascontiguousarray(np.broadcast_to(disk, box))


def sample_count(shape, vox, p: MicrostructureParams) -> int:
    """Voxels of the sample region in the grid."""
    return shape[0] * int(np.count_nonzero(sample_mask((1,) + tuple(shape[1:]), vox, p)))
