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
def _joseph(rows_y, rows_x, cos_t, sin_t, center_s, out, march=0):
    # rows_y[c, y, 1 + x, z] and rows_x[c, x, 1 + y, z]: one zero voxel padded
    # on both sides of the interpolated axis so the inner loops need no bounds
    # tests; the two layouts give contiguous reads whichever axis the ray
    # marches along. The interpolation geometry is the same for every slice,
    # so z is the innermost, contiguous (SIMD) loop. out[c, a, k, z], zero on
    # entry; one angle per task, so no write races. march: 1 projects only the angles
    # that march along y, 2 only the others (then one layout need exist at a time), 0 all.
    n_c, n_z = rows_y.shape[0], rows_y.shape[3]
    n_a, n_s = cos_t.size, out.shape[2]
    for a in numba.prange(n_a):
        c, s = cos_t[a], sin_t[a]
        if march and (abs(c) >= abs(s)) != (march == 1):
            continue
        if abs(c) >= abs(s):
            # march along y; x = (s_pos + y sin) / cos
            src, u, w, scale = rows_y, s / c, 1.0 / c, 1.0 / abs(c)
        else:
            # march along x; y = (x cos - s_pos) / sin
            src, u, w, scale = rows_x, c / s, -1.0 / s, 1.0 / abs(s)
        n_m, n_ip = src.shape[1], src.shape[2]
        cm, ci = 0.5 * (n_m - 1), 0.5 * (n_ip - 3) + 1.0
        sc = np.float32(scale)
        for m in range(n_m):
            base = (m - cm) * u + ci - center_s * w
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
        Slices projected at once by numba (bounds the temporary transposed
        copy); the cupy backend sizes its chunks by the free device memory.
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
    out = np.empty((vol.shape[0], a.size, vol.shape[1], n_s), np.float32)
    pad = [(0, 0), (0, 0), (1, 1), (0, 0)]
    cos_a, sin_a = np.cos(a), np.sin(a)
    for z0 in range(0, vol.shape[1], chunk_z):
        sl = vol[:, z0:z0 + chunk_z]
        part = np.zeros((vol.shape[0], a.size, n_s, sl.shape[1]), np.float32)
        # one transposed copy at a time: the angles marching along y, then along x
        for march, order in ((1, (0, 2, 3, 1)), (2, (0, 3, 2, 1))):
            rows = np.ascontiguousarray(np.pad(sl.transpose(order), pad))
            _joseph(rows, rows, cos_a, sin_a, center_s, part, march)
            del rows
        out[:, :, z0:z0 + chunk_z] = part.transpose(0, 1, 3, 2)
    return out
