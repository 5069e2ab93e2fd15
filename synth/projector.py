"""Parallel-beam forward projector for stacks of slices (Joseph's method).

Convention (CONTRIBUTING.md, as ``skimage.transform.radon``): in a slice
``img[y, x]`` with ``x = col - (nx-1)/2`` and ``y = row - (ny-1)/2`` the ray at
angle theta meets the detector at ``s = x cos(theta) - y sin(theta)``.
This projector makes the synthetic data; the pipeline has its own on purpose.
``backend="cupy"`` runs the same method on a CUDA GPU (`synth.gpu`).
"""

from __future__ import annotations

import numba
import numpy as np

from trixanes._shared import cuda
from trixanes.synth._projector_args import checked_inputs

#: Backends of `forward_project`: numba (CPU threads) or cupy (a CUDA GPU, optional).
BACKENDS = ("numba", "cupy")


@numba.njit(parallel=True, cache=True, fastmath=True)
def _joseph(src, cos_t, sin_t, center_s, out, march, m0, n_m):
    # src[c, m, 1 + i, z]: march rows m0 .. m0 + src.shape[1] - 1 of n_m, each with one
    # zero voxel padded on both sides of the interpolated axis i so the inner loops need
    # no bounds tests. march 1: m = y, i = x, only the angles that march along y;
    # march 2: m = x, i = y, the others. The interpolation geometry is the same for every
    # slice, so z is the innermost, contiguous (SIMD) loop. out[c, a, k, z] accumulates
    # (tiles of rows add up); one angle per task, so no write races.
    n_c, n_t, n_ip, n_z = src.shape
    n_a, n_s = cos_t.size, out.shape[2]
    cm, ci = 0.5 * (n_m - 1), 0.5 * (n_ip - 3) + 1.0
    for a in numba.prange(n_a):
        c, s = cos_t[a], sin_t[a]
        if (abs(c) >= abs(s)) != (march == 1):
            continue
        if march == 1:
            # march along y; x = (s_pos + y sin) / cos
            u, w, scale = s / c, 1.0 / c, 1.0 / abs(c)
        else:
            # march along x; y = (x cos - s_pos) / sin
            u, w, scale = c / s, -1.0 / s, 1.0 / abs(s)
        sc = np.float32(scale)
        for m in range(n_t):
            base = (m0 + m - cm) * u + ci - center_s * w
            # bins whose padded index f = base + k w lies in [0, n_ip - 1)
            k_a, k_b = -base / w, (n_ip - 1 - base) / w
            k_lo = max(0, int(np.ceil(min(k_a, k_b))))
            k_hi = min(n_s, int(np.ceil(max(k_a, k_b))))
            for k in range(k_lo, k_hi):
                f = base + k * w
                i0 = min(max(int(f), 0), n_ip - 2)
                t = np.float32(f - i0)
                w0 = sc * (np.float32(1.0) - t)
                w1 = sc * t
                for ch in range(n_c):
                    r0 = src[ch, m, i0]
                    r1 = src[ch, m, i0 + 1]
                    acc = out[ch, a, k]
                    for z in range(n_z):
                        acc[z] += w0 * r0[z] + w1 * r1[z]


#: Bytes of the maps and their transposed copy per tile of march rows (`project_tiles`).
TILE_BYTES = 64 * 2**20


def check_backend(backend: str) -> str:
    """``backend`` when it is one of `BACKENDS` and works here; ValueError otherwise.

    Examples
    --------
    >>> check_backend("numba")
    'numba'
    """
    return cuda.check_backend(backend, BACKENDS)


def forward_project(components, angles_deg, n_s: int | None = None, center_s: float | None = None,
                    chunk_z: int = 32, backend: str = "numba") -> np.ndarray:
    """Parallel-beam line integrals of a stack of slices (Joseph's method).

    Rays march row by row (or column by column, whichever is closer to the
    ray) with linear interpolation across it: exact for images that are
    linear between voxel centres, and matching ``skimage.transform.radon``.

    Parameters
    ----------
    components : array_like
        float32 ``(n_components, z, y, x)`` maps on the fine grid.
    angles_deg : array_like
        Projection angles, degrees.
    n_s : int, optional
        Fine detector bins (spacing one voxel), default ``x``.
    center_s : float, optional
        Bin of the rotation axis, default ``(n_s - 1) / 2``.
    chunk_z : int
        Slices projected in one vectorized pass by numba, in tiles of march
        rows of about `TILE_BYTES` (`project_tiles`); the cupy backend sizes
        its chunks by the free device memory.
    backend : {"numba", "cupy"}
        numba on the CPU threads, or cupy on a CUDA GPU (`synth.gpu`: the
        same result to float32 rounding; needs CuPy).

    Returns
    -------
    ndarray
        float32 ``(n_components, n_angles, z, n_s)``, in voxels x value
        (multiply by the voxel size in um for mu in 1/um).

    Examples
    --------
    >>> p = forward_project(np.ones((1, 1, 5, 5), np.float32), [0.0, 90.0])
    >>> p[0, :, 0, 2].tolist()
    [5.0, 5.0]
    """
    if chunk_z < 1:
        raise ValueError("chunk_z: must be >= 1")
    if check_backend(backend) == "cupy":
        from trixanes.synth import gpu

        return gpu.forward_project(components, angles_deg, n_s=n_s, center_s=center_s)
    vol, a, n_s, center_s = checked_inputs(components, angles_deg, n_s, center_s)
    return project_tiles(lambda z, y, x: vol[:, z, y, x], vol.shape, angles_deg, n_s, center_s,
                         chunk_z=chunk_z)


def project_tiles(maps_of, shape, angles_deg, n_s: int, center_s: float, *, chunk_z: int = 16,
                  tile_bytes: int = TILE_BYTES, out=None) -> np.ndarray:
    """`forward_project` (numba) of maps made tile by tile: bounded memory at any width.

    The maps are asked for in tiles of ``chunk_z`` slices by a band of rows along
    the axis the rays march over (y for the angles within 45° of 0°, x for the
    others), each tile holding the whole other axis; the tiles' line integrals
    add up. So ``chunk_z`` slices share one vectorized pass whatever the
    slice width, and the temporaries stay near ``tile_bytes`` plus one chunk's
    projections.

    Parameters
    ----------
    maps_of : callable
        ``maps_of(z, y, x)`` with three slices returns float32
        ``(n_components, nz, ny, nx)`` of those voxels.
    shape : tuple of int
        ``(n_components, z, y, x)`` of the whole maps.
    angles_deg : array_like
        Projection angles, degrees.
    n_s : int
        Fine detector bins.
    center_s : float
        Bin of the rotation axis.
    chunk_z : int
        Slices per pass.
    tile_bytes : int
        Bytes of one tile's maps (float32) and of their transposed copy.
    out : ndarray, optional
        float32 ``(n_components, n_angles, z, n_s)`` to write into.

    Returns
    -------
    ndarray
        float32 ``(n_components, n_angles, z, n_s)``, as `forward_project`.

    Examples
    --------
    >>> v = np.random.default_rng(0).random((1, 3, 40, 30), dtype=np.float32)
    >>> whole = forward_project(v, [0.0, 30.0, 70.0], n_s=44)
    >>> tiled = project_tiles(lambda z, y, x: v[:, z, y, x], v.shape, [0.0, 30.0, 70.0], 44, 21.5,
    ...                       tile_bytes=3000)
    >>> bool(np.allclose(whole, tiled, atol=1e-5))
    True
    """
    n_c, nz, ny, nx = (int(v) for v in shape)
    a = np.deg2rad(np.asarray(angles_deg, np.float64).ravel())
    cos_a, sin_a = np.cos(a), np.sin(a)
    if out is None:
        out = np.empty((n_c, a.size, nz, n_s), np.float32)
    everything = slice(None)
    for z0 in range(0, nz, chunk_z):
        zs = slice(z0, min(nz, z0 + chunk_z))
        part = np.zeros((n_c, a.size, n_s, zs.stop - z0), np.float32)
        for march, n_m, n_i in ((1, ny, nx), (2, nx, ny)):
            if not np.any((np.abs(cos_a) >= np.abs(sin_a)) == (march == 1)):
                continue
            # two float32 copies (the maps and the padded transposed tile) per march row
            step = int(max(1, min(n_m, tile_bytes // (8 * n_c * (n_i + 2) * part.shape[3]))))
            for m0 in range(0, n_m, step):
                ms = slice(m0, min(n_m, m0 + step))
                tile = maps_of(zs, ms, everything) if march == 1 else maps_of(zs, everything, ms)
                tile = np.asarray(tile, np.float32).transpose((0, 2, 3, 1) if march == 1 else (0, 3, 2, 1))
                src = np.zeros((n_c, ms.stop - m0, n_i + 2, part.shape[3]), np.float32)
                src[:, :, 1:-1] = tile
                del tile
                _joseph(src, cos_a, sin_a, float(center_s), part, march, m0, n_m)
                del src
        out[:, :, zs] = part.transpose(0, 1, 3, 2)
    return out
