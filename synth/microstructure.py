"""Ground-truth microstructure of an NMC cathode: particles, CBD, pores, void.

Secondary particles are log-normal in size, aspherical (randomly oriented ellipsoids
whose radius is modulated by low-order zonal harmonics), packed in a periodic box by
soft-sphere overlap removal that tolerates a set interpenetration (as after
calendering), then rasterized in their bounding boxes. Every voxel keeps the radial
signed distance to its nearest and second-nearest particle surface; one global offset
of that distance hits the target AM fraction exactly (so particle sizes move together
by a fraction of a voxel to a few tenths of a micrometre), and the same two distances
place the carbon-binder domain (CBD) first in necks between particles, then as a
patchy coating on surfaces. Internal pores and thin planar cracks are carved from their
parent particle before the AM threshold is chosen, so they do not change the AM
fraction.

The particles are packed once (:mod:`synth.packing`); a :class:`MicrostructureLayout`
holds them with the two thresholds and evaluates any box of the grid, so that
:mod:`synth.tiled` can build a phantom beyond memory slab by slab.

Phase codes follow CONTRIBUTING: 0 void, 1 electrolyte pore (internal pores too),
2 CBD, 3 active material.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numba
import numpy as np

from trixanes.io.truth import PHASE_AM, PHASE_CBD, PHASE_PORE, PHASE_VOID
from trixanes.synth import _kernels as K

from .packing import (HARMONIC_DEGREES, MicrostructureParams, Particles, pack_particles,
                      place_cavities, sample_count, sample_mask)

__all__ = ["MicrostructureParams", "Microstructure", "MicrostructureLayout",
           "generate_microstructure", "plan_microstructure"]

# Ratio (sum of particle volumes) / (union volume) after overlap removal, measured on
# packings of this generator; the AM threshold absorbs the remaining mismatch.
_OVERLAP_LOSS = 1.06


@dataclass(frozen=True)
class Microstructure:
    """A phantom on the fine grid (z, y, x).

    ``phase`` uint8 codes (0 void, 1 electrolyte, 2 CBD, 3 AM); ``labels`` int32
    particle ids 1..n on AM voxels, 0 elsewhere; ``sample_mask`` bool; ``cavity_mask``
    bool internal pores and cracks (phase 1 inside particles); ``am_fraction`` and
    ``cbd_fraction`` measured inside the sample; ``particle_diameters_um[k]`` the
    volume-equivalent diameter of the whole (uncut) particle with label k + 1.
    """

    phase: np.ndarray
    labels: np.ndarray
    sample_mask: np.ndarray
    cavity_mask: np.ndarray
    am_fraction: float
    cbd_fraction: float
    particle_diameters_um: np.ndarray
    voxel_size_um: float


@numba.njit(parallel=True, cache=True)
def _cbd_score(f1, f2, sample, t_am, noise, step, beta, gamma, origin):
    """Overwrite ``f2`` with the CBD priority of pore voxels (-inf elsewhere).

    Distances to the nearest (d1) and second-nearest (d2) particle are both small in a
    neck, so necks outrank plain surfaces; smooth noise makes the coating patchy.
    """
    nz, ny, nx = f1.shape
    oz, oy, ox = origin
    for iz in numba.prange(nz):
        for iy in range(ny):
            for ix in range(nx):
                a = f1[iz, iy, ix]
                if not sample[iz, iy, ix] or not np.isfinite(a) or a >= t_am:
                    f2[iz, iy, ix] = -np.inf
                    continue
                d1 = t_am - a
                d2 = max(t_am - f2[iz, iy, ix], d1)
                f2[iz, iy, ix] = -(d1 + beta * d2) + gamma * K.noise_at(noise, step, iz + oz, iy + oy, ix + ox)


@numba.njit(parallel=True, cache=True)
def _assemble(f1, score, lab, cav, sample, t_am, t_cbd):
    """Phase map; clears labels off AM and cavities off electrolyte (in place).
    Returns the phase map and voxel counts per phase code."""
    nz, ny, nx = f1.shape
    phase = np.zeros(f1.shape, np.uint8)
    counts = np.zeros((nz, 4), np.int64)
    for iz in numba.prange(nz):
        for iy in range(ny):
            for ix in range(nx):
                ph = PHASE_VOID
                if sample[iz, iy, ix]:
                    if f1[iz, iy, ix] >= t_am:
                        ph = PHASE_AM
                    elif score[iz, iy, ix] >= t_cbd:
                        ph = PHASE_CBD
                    else:
                        ph = PHASE_PORE
                phase[iz, iy, ix] = ph
                counts[iz, ph] += 1
                if ph != PHASE_AM:
                    lab[iz, iy, ix] = 0
                if ph != PHASE_PORE:
                    cav[iz, iy, ix] = False
    return phase, counts.sum(axis=0)


@numba.njit(parallel=True, cache=True)
def _remap(lab, lut):
    nz = lab.shape[0]
    for iz in numba.prange(nz):
        for iy in range(lab.shape[1]):
            for ix in range(lab.shape[2]):
                lab[iz, iy, ix] = lut[lab[iz, iy, ix]]


def _check_shape(shape) -> tuple[int, int, int]:
    try:
        out = tuple(int(n) for n in shape)
    except TypeError:
        raise ValueError(f"shape must be a (z, y, x) tuple of ints, got {shape!r}") from None
    if len(out) != 3 or min(out) < 8 or any(int(a) != a for a in shape):
        raise ValueError(f"shape must be three integers >= 8, got {shape!r}")
    return out


def generate_microstructure(shape, voxel_size_um, params=MicrostructureParams(), seed=0):
    """Generate a phantom NMC electrode on the fine grid.

    Parameters
    ----------
    shape : tuple of int
        (z, y, x) size of the fine phantom grid, each >= 8.
    voxel_size_um : float
        Voxel edge length, micrometres.
    params : MicrostructureParams
        Electrode parameters; validated here.
    seed : int or numpy.random.Generator
        Randomness; the same seed gives identical arrays.

    Returns
    -------
    Microstructure
        Phase map, particle labels, sample and cavity masks, measured fractions and the
        diameter of every labelled particle.

    Examples
    --------
    >>> m = generate_microstructure((48, 64, 64), 0.16, MicrostructureParams(d50_um=3.0))
    >>> abs(m.am_fraction - 0.65) < 0.02
    True
    """
    kept = {}

    def am_threshold(layout, k_am):
        f1, f2, lab, cav, sample = layout.fields((0, 0, 0), layout.shape)
        kept.update(f1=f1, f2=f2, lab=lab, cav=cav, sample=sample)
        return K.kth_largest(f1.ravel(), sample.ravel(), k_am)

    def cbd_threshold(layout, k_cbd):
        f1, f2, sample = kept["f1"], kept["f2"], kept["sample"]
        layout.cbd_score(f1, f2, sample, (0, 0, 0))
        return K.kth_largest(f2.ravel(), sample.ravel(), k_cbd), None

    layout = plan_microstructure(shape, voxel_size_um, params, seed, am_threshold, cbd_threshold)
    f1, f2, lab, cav, sample = (kept.pop(k) for k in ("f1", "f2", "lab", "cav", "sample"))
    phase, counts = _assemble(f1, f2, lab, cav, sample, np.float32(layout.t_am),
                              np.float32(layout.t_cbd))
    del f1, f2
    n = layout.particles.radii.size
    present = K.label_stats(lab, n)[0][1:] > 0
    layout = layout.with_labels(present)
    _remap(lab, layout.lut)
    return Microstructure(phase, lab, sample, cav, float(counts[PHASE_AM] / layout.n_sample),
                          float(counts[PHASE_CBD] / layout.n_sample), layout.particle_diameters_um, layout.vox)


@dataclass(frozen=True)
class MicrostructureLayout:
    """A phantom described without its voxels: particles, cavities and thresholds.

    Built by :func:`plan_microstructure`; :meth:`box` evaluates the phase map, labels
    and cavities of any box of the grid, identical to the same box of the phantom of
    :func:`generate_microstructure` with the same seed. This is what lets a phantom that
    does not fit in memory be built slab by slab and particle by particle.
    """

    shape: tuple
    vox: float
    params: MicrostructureParams
    reach: float
    particles: Particles
    cavities: tuple
    n_sample: int
    t_am: float = math.nan
    cbd_noise: np.ndarray | None = None
    cbd_step: float = 1.0
    t_cbd: float = math.nan
    lut: np.ndarray | None = None

    def fields(self, origin, shape):
        """Rasterize a box: (f1, f2, label, cavity, sample).

        f1 and f2 are the best and second-best radial signed distances to a
        particle surface (µm, > 0 inside, float32), label the particle (1-based,
        before :meth:`with_labels`) that owns f1; cavities are carved.
        ``origin`` is the box's first voxel on the grid, ``shape`` its size.
        """
        p = self.particles
        f1, f2, lab = K.rasterize_particles(
            tuple(shape), self.vox, p.centers, p.mats, p.hax, p.hcoef, HARMONIC_DEGREES,
            p.rbound, p.axes.min(axis=1), np.float32(-self.reach), tuple(origin))
        cav = K.carve_cavities(lab, f1, self.vox, *self.cavities, tuple(origin))
        return f1, f2, lab, cav, sample_mask(self.shape, self.vox, self.params, origin, shape)

    def cbd_score(self, f1, f2, sample, origin):
        """Overwrite ``f2`` of a box with the CBD priority of its pore voxels."""
        _cbd_score(f1, f2, sample, np.float32(self.t_am), self.cbd_noise, self.cbd_step, 0.5,
                   0.3 * self.reach, tuple(origin))

    def with_labels(self, present) -> "MicrostructureLayout":
        """The layout with the particles that own AM voxels numbered 1..n."""
        lut = np.zeros(present.size + 1, np.int32)
        lut[1:][present] = np.arange(1, present.sum() + 1, dtype=np.int32)
        return dataclasses.replace(self, lut=lut)

    @property
    def particle_diameters_um(self) -> np.ndarray:
        # the offset t_am moves every surface outward by -t_am (radial signed distance)
        return np.maximum(2 * (self.particles.radii[self.lut[1:] > 0] - self.t_am), 0.0)

    def box(self, origin, shape):
        """Evaluate a box of the phantom.

        Parameters
        ----------
        origin, shape : tuple of int
            First voxel of the box on the grid, and its size (z, y, x).

        Returns
        -------
        tuple
            ``phase`` (uint8), ``labels`` (int32, final numbering), ``cavity``
            (bool) and the voxel count of each phase code (4,), identical to the
            same box of :func:`generate_microstructure`'s phantom.
        """
        f1, f2, lab, cav, sample = self.fields(origin, shape)
        self.cbd_score(f1, f2, sample, origin)
        phase, counts = _assemble(f1, f2, lab, cav, sample, np.float32(self.t_am),
                                  np.float32(self.t_cbd))
        del f1, f2
        _remap(lab, self.lut)
        return phase, lab, cav, counts


def plan_microstructure(shape, voxel_size_um, params, seed, am_threshold, cbd_threshold):
    """Pack the particles and fix the AM and CBD thresholds.

    ``am_threshold(layout, k)`` returns the k-th largest radial distance f1 in the
    sample; ``cbd_threshold(layout, k)`` the k-th largest CBD score (the layout then has
    its noise and ``t_am``) and, optionally, the particles that own AM voxels. How they
    visit the grid (whole, or slab by slab) is theirs to choose.
    """
    shape = _check_shape(shape)
    if not isinstance(voxel_size_um, (int, float)) or not 0 < voxel_size_um < 1e3:
        raise ValueError(f"voxel_size_um must be a positive number, got {voxel_size_um!r}")
    if not isinstance(params, MicrostructureParams):
        raise ValueError("params must be a MicrostructureParams")
    params.validate()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    vox = float(voxel_size_um)
    reach = max(params.cbd_reach_um, 2 * vox)
    n_sample = sample_count(shape, vox, params)
    crack_frac = params.cracks_per_particle * 1.5 * max(params.crack_width_um, vox) / params.d50_um
    fill = params.am_fraction * _OVERLAP_LOSS / (1 - params.internal_pore_fraction - crack_frac)
    for _attempt in range(4):
        parts = pack_particles(shape, vox, params, rng, reach, fill)
        layout = MicrostructureLayout(shape, vox, params, reach, parts,
                                      place_cavities(parts, vox, params, rng), n_sample)
        t_am = am_threshold(layout, int(round(params.am_fraction * n_sample)))
        if t_am > -0.7 * reach:
            break
        # too few particles to reach the target without growing them beyond the reach
        fill *= 1.1
    else:
        raise RuntimeError("could not pack enough particles to reach am_fraction")
    noise, step = K.coarse_noise(shape, 0.5 * params.cbd_patch_um / vox, rng)
    layout = dataclasses.replace(layout, t_am=float(t_am), cbd_noise=noise, cbd_step=step)
    t_cbd, present = cbd_threshold(layout, int(round(params.cbd_fraction * n_sample)))
    layout = dataclasses.replace(layout, t_cbd=float(t_cbd))
    return layout if present is None else layout.with_labels(present)
