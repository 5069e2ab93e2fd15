"""Numba kernels of the Li field (:mod:`synth.lithium`, :mod:`synth.tiled`).

Private module: surface codes, the exact distance transform below the sources, the
front solve and the assignment of Li, each on a whole grid or on one particle's box.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from trixanes.io.truth import PHASE_AM, PHASE_CBD, PHASE_PORE

NBINS = 512  # depth histogram per particle for the front solve


@numba.njit(parallel=True, cache=True)
def surface_codes(phase, internal):
    """Bit 1: AM voxel facing electrolyte/CBD of the open pore network; bit 2: facing
    an internal pore. Neighbours outside the grid are cuts, not surfaces."""
    nz, ny, nx = phase.shape
    out = np.zeros(phase.shape, np.uint8)
    for iz in numba.prange(nz):
        for iy in range(ny):
            for ix in range(nx):
                if phase[iz, iy, ix] != PHASE_AM:
                    continue
                code = 0
                for a in range(6):
                    step = 1 if a % 2 else -1
                    jz = iz + (step if a < 2 else 0)
                    jy = iy + (step if 2 <= a < 4 else 0)
                    jx = ix + (step if a >= 4 else 0)
                    if not (0 <= jz < nz and 0 <= jy < ny and 0 <= jx < nx):
                        continue
                    ph = phase[jz, jy, jx]
                    if ph == PHASE_PORE or ph == PHASE_CBD:
                        code |= 2 if internal[jz, jy, jx] else 1
                out[iz, iy, ix] = code
    return out


@numba.njit(cache=True)
def dt1d(f, n, out, v, z):
    """Felzenszwalb-Huttenlocher squared distance transform of one line (unit step)."""
    k = -1
    s = 0.0
    for q in range(n):
        if f[q] == np.inf:
            continue
        while k >= 0:
            p = v[k]
            s = ((f[q] + q * q) - (f[p] + p * p)) / (2.0 * (q - p))
            if s <= z[k]:
                k -= 1
            else:
                break
        k += 1
        v[k] = q
        z[k] = -np.inf if k == 0 else s
        z[k + 1] = np.inf
    if k < 0:
        out[:n] = np.inf
        return
    j = 0
    for q in range(n):
        while z[j + 1] < q:
            j += 1
        p = v[j]
        out[q] = (q - p) * (q - p) + f[p]


@numba.njit(cache=True)
def edt_lines(g, i0, i1):
    """In place, the squared distance transform (voxels²; ``g`` is 0 at sources, inf
    elsewhere) along the last axis of ``g[i0:i1]``. A transposed view reaches the other
    axes; the three passes in turn give the exact Euclidean transform."""
    _, cy, cx = g.shape
    f, out = np.empty(cx), np.empty(cx)
    v, zb = np.empty(cx, np.int64), np.empty(cx + 1)
    for i in range(i0, i1):
        for j in range(cy):
            f[:] = g[i, j, :]
            dt1d(f, cx, out, v, zb)
            g[i, j, :] = out


@numba.njit(parallel=True, cache=True)
def depth_per_particle(labels, sources, lo, hi, vox, depth):
    """Exact EDT to each particle's own sources, inside its bounding box."""
    n = lo.shape[0] - 1
    dmax = np.zeros(n + 1)
    for lb in numba.prange(1, n + 1):
        if hi[lb, 0] < 0:
            continue
        z0, y0, x0 = lo[lb, 0], lo[lb, 1], lo[lb, 2]
        cz, cy, cx = hi[lb, 0] - z0 + 1, hi[lb, 1] - y0 + 1, hi[lb, 2] - x0 + 1
        g = np.full((cz, cy, cx), np.inf)
        found = False
        for iz in range(cz):
            for iy in range(cy):
                for ix in range(cx):
                    if labels[z0 + iz, y0 + iy, x0 + ix] == lb and sources[z0 + iz, y0 + iy, x0 + ix]:
                        g[iz, iy, ix] = 0.0
                        found = True
        if found:
            edt_lines(g, 0, cz)
            edt_lines(g.transpose((0, 2, 1)), 0, cz)
            edt_lines(g.transpose((1, 2, 0)), 0, cy)
        for iz in range(cz):
            for iy in range(cy):
                for ix in range(cx):
                    if labels[z0 + iz, y0 + iy, x0 + ix] == lb:
                        d = math.sqrt(g[iz, iy, ix]) * vox
                        depth[z0 + iz, y0 + iy, x0 + ix] = d
                        dmax[lb] = max(dmax[lb], d)
    return dmax


@numba.njit(inline="always")
def shell(d, sharp, scale):
    """Shell fraction at signed distance ``d`` beyond the front."""
    if sharp:
        return min(1.0, max(0.0, 0.5 - d / scale))
    return 0.5 * math.erfc(d / scale)


@numba.njit(parallel=True, cache=True)
def solve_fronts(depth, labels, dmax, progress, sharp, scale):
    """Front depth per particle such that the mean shell fraction equals progress."""
    n = dmax.shape[0] - 1
    hist = np.zeros((n + 1, NBINS))
    nz, ny, nx = labels.shape
    for iz in range(nz):
        for iy in range(ny):
            for ix in range(nx):
                lb = labels[iz, iy, ix]
                d = depth[iz, iy, ix]
                if lb > 0 and np.isfinite(d):
                    b = min(int(d / max(dmax[lb], 1e-12) * (NBINS - 1) + 0.5), NBINS - 1)
                    hist[lb, b] += 1.0
    front = np.full(n + 1, np.nan)
    for lb in numba.prange(1, n + 1):
        p = progress[lb - 1]
        tot = hist[lb].sum()
        if tot == 0 or p <= 0.0 or p >= 1.0:
            continue
        a, b = -10.0 * scale - 1e-6, dmax[lb] + 10.0 * scale + 1e-6
        for _ in range(40):
            mid = 0.5 * (a + b)
            acc = 0.0
            for k in range(NBINS):
                if hist[lb, k] > 0:
                    acc += hist[lb, k] * shell(k * dmax[lb] / (NBINS - 1) - mid, sharp, scale)
            if acc / tot < p:
                a = mid
            else:
                b = mid
        front[lb] = 0.5 * (a + b)
    return front


@numba.njit(parallel=True, cache=True)
def assign_li(depth, labels, front, progress, sharp, scale, x_core, x_shell, lo_x, hi_x):
    nz, ny, nx = labels.shape
    li = np.full(labels.shape, np.nan, np.float32)
    for iz in numba.prange(nz):
        for iy in range(ny):
            for ix in range(nx):
                lb = labels[iz, iy, ix]
                if lb <= 0:
                    depth[iz, iy, ix] = np.nan
                    continue
                p = progress[lb - 1]
                if p >= 1.0:
                    f = 1.0
                elif p <= 0.0 or not np.isfinite(depth[iz, iy, ix]):
                    f = 0.0
                else:
                    f = shell(depth[iz, iy, ix] - front[lb], sharp, scale)
                li[iz, iy, ix] = min(hi_x, max(lo_x, x_core + (x_shell - x_core) * f))
    return li
