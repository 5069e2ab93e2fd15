"""Ground-truth lithium field: per-particle progress and a core-shell front.

Li enters each particle from *sources*: the active patches of its surface (surface
voxels facing electrolyte or CBD, chosen per particle where a smooth random field is
lowest, so that a set fraction of the surface is active) and, optionally, the surfaces
of its internal pores and cracks. Surfaces facing void (the laser cut) or the grid
border are cuts, not surfaces, and never act as sources.

``depth`` is the Euclidean distance from a voxel to the nearest source *of its own
particle* (exact, per particle in its bounding box), so a neighbour's active patch
across a contact does not feed an inactive region. The shell fraction of a voxel is
``f = erfc((depth - d_front) / L) / 2`` (``front="erfc"``, a diffusion front) or a
linear ramp of total width ``front_width_um`` (``front="sharp"``). The front depth
``d_front`` of each particle is defined by conservation: it is solved so that the mean
of ``f`` over the particle equals the particle's progress, i.e. the particle's mean Li
content is ``x_core + progress * (x_shell - x_core)`` exactly. Lithiation has a
Li-rich shell (x_shell = x_pristine), delithiation a Li-poor shell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from trixanes.io.truth import PHASE_AM, PHASE_CBD, PHASE_PORE
from trixanes.synth import _kernels as K
from trixanes.synth import _li_kernels as LK

__all__ = ["LithiumParams", "LithiumField", "lithium_field"]



@dataclass(frozen=True)
class LithiumParams:
    """Parameters of the Li field (stoichiometries x, lengths in micrometres).

    Per-particle progress (fraction of the particle converted to the shell state) is
    ``mean_soc * (d_med / d) ** size_exponent + soc_spread * N(0, 1)
    + lateral_gradient * s + z_gradient * zeta`` clipped to [0, 1], where ``d_med`` is
    the median particle diameter, ``s`` in [-1/2, 1/2] the particle centroid along an
    in-plane direction (``lateral_direction_deg`` from +x towards +y, random if None)
    across the field of view, and ``zeta`` in [-1/2, 1/2] its position from z = 0 to
    the last slice.
    """

    x_pristine: float = 1.0
    x_charged: float = 0.38
    mode: str = "lithiation"
    mean_soc: float = 0.5
    soc_spread: float = 0.1
    size_exponent: float = 1.0
    lateral_gradient: float = 0.2
    lateral_direction_deg: float | None = None
    z_gradient: float = 0.0
    active_surface_fraction: float = 0.6
    patch_size_um: float = 1.5
    pores_active: bool = True
    front: str = "erfc"
    diffusion_length_um: float = 0.3
    front_width_um: float = 0.05

    def validate(self) -> "LithiumParams":
        """Raise ValueError naming the first invalid field; return self."""
        ranges = {
            "x_pristine": (0.0, 1.5), "x_charged": (0.0, 1.5), "mean_soc": (0.0, 1.0),
            "soc_spread": (0.0, 1.0), "size_exponent": (-5.0, 5.0),
            "lateral_gradient": (-2.0, 2.0), "z_gradient": (-2.0, 2.0),
            "active_surface_fraction": (0.0, 1.0), "patch_size_um": (1e-3, 1e4),
            "diffusion_length_um": (1e-4, 1e3), "front_width_um": (1e-4, 1e3),
        }
        for name, (lo, hi) in ranges.items():
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ValueError(f"{name} must be a number in [{lo}, {hi}], got {value!r}")
        if not self.x_charged < self.x_pristine:
            raise ValueError("x_charged must be smaller than x_pristine")
        if self.mode not in ("lithiation", "delithiation"):
            raise ValueError(f"mode must be 'lithiation' or 'delithiation', got {self.mode!r}")
        if self.front not in ("erfc", "sharp"):
            raise ValueError(f"front must be 'erfc' or 'sharp', got {self.front!r}")
        if self.lateral_direction_deg is not None and not np.isfinite(self.lateral_direction_deg):
            raise ValueError("lateral_direction_deg must be finite or None")
        if not isinstance(self.pores_active, (bool, np.bool_)):
            raise ValueError("pores_active must be a bool")
        return self


@dataclass(frozen=True)
class LithiumField:
    """Li content and its construction.

    ``li`` float32 (z, y, x), NaN outside AM; ``depth_um`` float32 distance below the
    particle's own sources (NaN outside AM, inf in a particle without sources);
    ``particle_progress[k]`` and ``front_depth_um[k]`` belong to label k + 1 (a
    particle without sources keeps progress 0); ``source_mask`` bool marks the source
    voxels (active surface and active pore walls).
    """

    li: np.ndarray
    depth_um: np.ndarray
    particle_progress: np.ndarray
    front_depth_um: np.ndarray
    source_mask: np.ndarray


def _open_pore_internal(phase):
    """Pores (phase 1/2) not connected to any face of the grid are internal."""
    comp, _ = ndimage.label((phase == PHASE_PORE) | (phase == PHASE_CBD))
    faces = [comp[0], comp[-1], comp[:, 0], comp[:, -1], comp[:, :, 0], comp[:, :, -1]]
    external = np.unique(np.concatenate([f.ravel() for f in faces]))
    return (comp > 0) & ~np.isin(comp, external[external > 0])


def active_patches(codes, labels, noise, step, fraction, origin=(0, 0, 0)):
    """Per particle, the ``fraction`` of its open surface where a smooth field is lowest.

    Parameters
    ----------
    codes, labels : ndarray
        Surface codes (bit 1: open surface) and particle labels of a box.
    noise, step : ndarray, float
        The field (:func:`patch_noise`), sampled at grid coordinates.
    fraction : float
        Active share of each particle's open surface.
    origin : tuple of int
        The box's first voxel on the grid.

    Returns
    -------
    ndarray
        (n, 3) box coordinates of the active voxels.
    """
    coords = np.argwhere(codes & 1)
    if coords.shape[0] == 0:
        return coords
    value = K.noise_at_points(noise, step, (coords + np.asarray(origin)).astype(np.float64))
    lab = labels[coords[:, 0], coords[:, 1], coords[:, 2]]
    order = np.lexsort((value, lab))
    slab = lab[order]
    start = np.searchsorted(slab, slab, side="left")
    size = np.searchsorted(slab, slab, side="right") - start
    rank = np.arange(slab.size) - start
    active = rank < np.round(fraction * size)
    return coords[order[active]]


def particle_progress(shape, count, cen, diam, p: LithiumParams, rng):
    """Each particle's progress (:class:`LithiumParams`), from its voxel count, centroid
    (voxels) and diameter (µm), in a grid of ``shape``; in [0, 1]."""
    n = count.size - 1
    nz, ny, nx = shape
    d_med = np.median(diam) if n else 1.0
    phi = math.radians(p.lateral_direction_deg if p.lateral_direction_deg is not None
                       else rng.uniform(0.0, 360.0))
    c, s = math.cos(phi), math.sin(phi)
    extent = abs(c) * nx + abs(s) * ny
    lateral = ((cen[1:, 2] - 0.5 * (nx - 1)) * c + (cen[1:, 1] - 0.5 * (ny - 1)) * s) / extent
    zeta = cen[1:, 0] / max(nz - 1, 1) - 0.5
    prog = (p.mean_soc * (d_med / np.maximum(diam, 1e-9)) ** p.size_exponent
            + p.soc_spread * rng.standard_normal(n)
            + p.lateral_gradient * lateral + p.z_gradient * zeta)
    return np.clip(prog, 0.0, 1.0)


def patch_noise(shape, vox, p: LithiumParams, rng):
    """The smooth field that places the active patches (coarse grid, step)."""
    return K.coarse_noise(shape, 0.5 * p.patch_size_um / vox, rng)


def lithium_field(phase, labels, voxel_size_um, params=LithiumParams(), seed=0, *,
                  internal_pores=None, particle_diameters_um=None, progress_of=None):
    """Build the core-shell Li field of a labelled microstructure.

    Parameters
    ----------
    phase : numpy.ndarray
        uint8 (z, y, x) phase codes (3 = active material).
    labels : numpy.ndarray
        int32 particle labels, >= 1 exactly on AM voxels.
    voxel_size_um : float
        Voxel edge length, micrometres.
    params : LithiumParams
        Field parameters; validated here.
    seed : int or numpy.random.Generator
        Randomness (progress spread, patches, gradient direction).
    internal_pores : numpy.ndarray of bool, optional
        Internal pores and cracks (e.g. ``Microstructure.cavity_mask``); by default the
        pore components that touch no face of the grid.
    particle_diameters_um : numpy.ndarray, optional
        Diameter of label k + 1 for the size dependence; by default the
        volume-equivalent diameter of the labelled voxels.
    progress_of : dict, optional
        ``{label: progress}`` set instead of the drawn progress (a particle that
        stopped reacting keeps the progress it had); the random draws are made
        as without it, so every other particle is unchanged.

    Returns
    -------
    LithiumField

    Examples
    --------
    >>> from trixanes.synth.microstructure import generate_microstructure
    >>> m = generate_microstructure((48, 64, 64), 0.16)
    >>> f = lithium_field(m.phase, m.labels, 0.16, internal_pores=m.cavity_mask)
    >>> bool(np.nanmin(f.li) >= 0.38 and np.nanmax(f.li) <= 1.0)
    True
    """
    phase, labels, vox = _check_inputs(phase, labels, voxel_size_um, params)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = int(labels.max())
    count, cen, lo, hi = K.label_stats(labels, n)
    if particle_diameters_um is None:
        diam = (6.0 / math.pi * count[1:]) ** (1.0 / 3.0) * vox
    else:
        diam = np.asarray(particle_diameters_um, float)
        if diam.shape != (n,):
            raise ValueError(f"particle_diameters_um must have one entry per label ({n})")
    if internal_pores is None:
        internal_pores = _open_pore_internal(phase)
    elif np.shape(internal_pores) != phase.shape:
        raise ValueError("internal_pores must have the shape of phase")
    codes = LK.surface_codes(phase, np.asarray(internal_pores, bool))
    prog = particle_progress(labels.shape, count, cen, diam, params, rng)
    for k, value in (progress_of or {}).items():
        if not 1 <= int(k) <= n or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"progress_of: label {k} must be in [1, {n}] and its progress in [0, 1], got {value}")
        prog[int(k) - 1] = float(value)
    noise, step = patch_noise(labels.shape, vox, params, rng)
    sources = np.zeros(phase.shape, bool)
    act = active_patches(codes, labels, noise, step, params.active_surface_fraction)
    sources[act[:, 0], act[:, 1], act[:, 2]] = True
    if params.pores_active:
        sources |= (codes & 2).astype(bool)
    del codes
    depth = np.full(phase.shape, np.inf, np.float32)
    dmax = LK.depth_per_particle(labels, sources, lo, hi, vox, depth)
    has_source = np.bincount(labels[sources], minlength=n + 1)[1:] > 0
    prog = np.where(has_source, prog, 0.0)
    sharp = params.front == "sharp"
    scale = params.front_width_um if sharp else params.diffusion_length_um
    front = LK.solve_fronts(depth, labels, dmax, prog, sharp, scale)
    x_lo, x_hi = params.x_charged, params.x_pristine
    x_shell, x_core = (x_hi, x_lo) if params.mode == "lithiation" else (x_lo, x_hi)
    li = LK.assign_li(depth, labels, front, prog, sharp, scale, x_core, x_shell, x_lo, x_hi)
    return LithiumField(li, depth, prog, front[1:], sources)


def _check_inputs(phase, labels, voxel_size_um, params):
    phase = np.asarray(phase)
    labels = np.asarray(labels)
    if phase.ndim != 3 or phase.dtype != np.uint8:
        raise ValueError("phase must be a 3-D uint8 array")
    if labels.shape != phase.shape or labels.dtype != np.int32:
        raise ValueError("labels must be an int32 array with the shape of phase")
    am = phase == PHASE_AM
    if np.any((labels > 0) != am):
        raise ValueError("labels must be >= 1 exactly on AM voxels (phase 3)")
    if not isinstance(voxel_size_um, (int, float)) or not 0 < voxel_size_um < 1e3:
        raise ValueError(f"voxel_size_um must be a positive number, got {voxel_size_um!r}")
    if not isinstance(params, LithiumParams):
        raise ValueError("params must be a LithiumParams")
    params.validate()
    return np.ascontiguousarray(phase), np.ascontiguousarray(labels), float(voxel_size_um)
