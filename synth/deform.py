"""Smooth sample deformation between energies (particles move in operando runs)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class DeformationField:
    """A smooth displacement field: a few long-wavelength sine modes per axis.

    Attributes
    ----------
    wavevectors : ndarray
        ``(3, n_modes, 3)`` wave vectors (rad per voxel) of the modes of each
        displacement component (z, y, x).
    phases : ndarray
        ``(3, n_modes)`` phases, rad.
    amplitudes_vox : ndarray
        ``(3, n_modes)`` amplitudes, voxels; the largest possible
        displacement of each component is their sum.
    """

    wavevectors: np.ndarray
    phases: np.ndarray
    amplitudes_vox: np.ndarray

    def displacement(self, z, y, x) -> np.ndarray:
        """Displacement (dz, dy, dx) in voxels at voxel coordinates (broadcast)."""
        pos = np.stack(np.broadcast_arrays(z, y, x)).astype(np.float64)
        out = np.zeros(pos.shape, np.float64)
        for c in range(3):
            for k, ph, a in zip(self.wavevectors[c], self.phases[c], self.amplitudes_vox[c]):
                out[c] += a * np.sin(np.tensordot(k, pos, axes=1) + ph)
        return out


def deformation_field(shape, voxel_size_um: float, amplitude_um: float, *, n_modes: int = 3,
                      rng=None) -> DeformationField:
    """Random smooth displacement with wavelengths of about the field of view.

    Parameters
    ----------
    shape : tuple of int
        (z, y, x) grid.
    voxel_size_um : float
        Voxel size, µm.
    amplitude_um : float
        Largest displacement of each component, µm.
    n_modes : int
        Sine modes per component.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    DeformationField

    Examples
    --------
    >>> f = deformation_field((8, 8, 8), 0.1, 0.2, rng=0)
    >>> bool(np.abs(f.displacement(*np.indices((8, 8, 8)))).max() <= 2.0 + 1e-9)
    True
    """
    if voxel_size_um <= 0 or amplitude_um < 0:
        raise ValueError("voxel_size_um must be > 0 and amplitude_um >= 0")
    rng = np.random.default_rng(rng)
    size = np.asarray(shape, float)
    # wavelengths between one and two fields of view along each axis keep it smooth
    wavelength = size * rng.uniform(1.0, 2.0, (3, n_modes, 3))
    k = 2 * np.pi / wavelength * rng.choice([-1.0, 1.0], (3, n_modes, 3))
    weights = rng.dirichlet(np.ones(n_modes), 3)
    amp = weights * amplitude_um / voxel_size_um
    return DeformationField(k, rng.uniform(0, 2 * np.pi, (3, n_modes)), amp)


#: Bytes per output voxel while its source coordinates are computed (float64
#: coordinates, displacement and their temporaries; ~95 B measured).
WARP_BYTES_PER_VOXEL = 96


def warp_phase_and_li(phase, li, field: DeformationField, *, scale: float = 1.0,
                      work_bytes: int = 256 * 2**20, z_range: tuple[int, int] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Deform a phase map and its Li field (nearest neighbour keeps them consistent).

    The deformed sample at r shows what was at r − scale·u(r) (a pull-back, so
    every output voxel is defined). ``z_range = (start, stop)`` returns only
    those rows of the deformed sample (a slab, for imaging band by band); only
    the rows within reach of the displacement are read, so ``phase`` and ``li``
    may be HDF5 datasets. ``work_bytes`` bounds the coordinates computed at
    once (blocks of rows, or of lines of a row); it never changes the result.
    """
    nz = phase.shape[0]
    start, stop = (0, nz) if z_range is None else (int(z_range[0]), int(z_range[1]))
    if not 0 <= start < stop <= nz:
        raise ValueError(f"z_range: need 0 <= start < stop <= {nz}, got {z_range}")
    # read only the rows the displacement can reach: phase and li may be on disk
    reach = int(np.ceil(abs(scale) * np.abs(field.amplitudes_vox[0]).sum())) + 2
    s0, s1 = max(0, start - reach), min(nz, stop + reach)
    phase = np.asarray(phase[s0:s1])
    li = np.asarray(li[s0:s1], np.float32)
    _, ny, nx = phase.shape
    out_p = np.empty((stop - start, ny, nx), phase.dtype)
    out_li = np.empty((stop - start, ny, nx), np.float32)
    block = max(nx, int(work_bytes) // WARP_BYTES_PER_VOXEL)
    cz = int(np.clip(block // (ny * nx), 1, stop - start))
    cy = ny if cz > 1 else int(np.clip(block // nx, 1, ny))
    for z0 in range(start, stop, cz):
        z1 = min(stop, z0 + cz)
        for y0 in range(0, ny, cy):
            y1 = min(ny, y0 + cy)
            zyx = np.mgrid[z0:z1, y0:y1, 0:nx].astype(np.float64)
            zyx -= scale * field.displacement(*zyx)
            zyx[0] -= s0  # exact: an integer shift of values far below 2**52
            rows, lines = slice(z0 - start, z1 - start), slice(y0, y1)
            out_p[rows, lines] = ndimage.map_coordinates(phase, zyx, order=0, mode="nearest")
            out_li[rows, lines] = ndimage.map_coordinates(li, zyx, order=0, mode="nearest")
    return out_p, out_li
