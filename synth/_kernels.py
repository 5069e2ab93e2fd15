"""Numba kernels shared by :mod:`synth.microstructure` and :mod:`synth.lithium`.

Private module: the public API lives in those two modules. Every kernel works on
bounding boxes or single passes over the volume so that the cost stays proportional to
the grid size, not to (grid size x number of particles).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import ndimage

_INF = np.inf


@numba.njit(inline="always")
def _wrap(v, length):
    if v > 0.5 * length:
        return v - length
    if v < -0.5 * length:
        return v + length
    return v


@numba.njit(cache=True)
def _neighbour_pairs(pos, rad, box, contact, skin):
    """Pairs (i < j) closer than contact * (r_i + r_j) + skin, via a cell list."""
    n = rad.shape[0]
    cutoff = 2.0 * contact * rad.max() + skin
    nc = np.empty(3, np.int64)
    for a in range(3):
        nc[a] = max(1, int(box[a] // cutoff))
    head = -np.ones(nc[0] * nc[1] * nc[2], np.int64)
    nxt = -np.ones(n, np.int64)
    cell = np.empty((n, 3), np.int64)
    for i in range(n):
        for a in range(3):
            cell[i, a] = int(pos[i, a] / box[a] * nc[a]) % nc[a]
        c = (cell[i, 0] * nc[1] + cell[i, 1]) * nc[2] + cell[i, 2]
        nxt[i] = head[c]
        head[c] = i
    cap = 32 * n + 64
    pi = np.empty(cap, np.int64)
    pj = np.empty(cap, np.int64)
    m = 0
    for i in range(n):
        # offsets -1..1 wrap onto the same cell when an axis has < 3 cells
        for o0 in range(-1 if nc[0] > 2 else 0, 2 if nc[0] > 1 else 1):
            for o1 in range(-1 if nc[1] > 2 else 0, 2 if nc[1] > 1 else 1):
                for o2 in range(-1 if nc[2] > 2 else 0, 2 if nc[2] > 1 else 1):
                    c = (((cell[i, 0] + o0) % nc[0]) * nc[1] + (cell[i, 1] + o1) % nc[1]) * nc[2]
                    j = head[c + (cell[i, 2] + o2) % nc[2]]
                    while j >= 0:
                        if j > i:
                            v0 = _wrap(pos[i, 0] - pos[j, 0], box[0])
                            v1 = _wrap(pos[i, 1] - pos[j, 1], box[1])
                            v2 = _wrap(pos[i, 2] - pos[j, 2], box[2])
                            lim = contact * (rad[i] + rad[j]) + skin
                            if v0 * v0 + v1 * v1 + v2 * v2 < lim * lim:
                                if m == cap:
                                    cap *= 2
                                    pi = np.concatenate((pi, np.empty(cap - m, np.int64)))
                                    pj = np.concatenate((pj, np.empty(cap - m, np.int64)))
                                pi[m] = i
                                pj[m] = j
                                m += 1
                        j = nxt[j]
    return pi[:m], pj[:m]


@numba.njit(cache=True)
def relax_packing(pos, rad, box, contact, n_iter, tol):
    """Soft-sphere overlap removal in a periodic box (Verlet list, in place).

    Pairs closer than ``contact * (r_i + r_j)`` are pushed apart, the smaller particle
    moving more, until the worst relative overlap is below ``tol``. Returns the final
    worst relative overlap.
    """
    n = rad.shape[0]
    skin = 0.3 * contact * np.median(rad)
    pi, pj = _neighbour_pairs(pos, rad, box, contact, skin)
    ref = pos.copy()
    disp = np.zeros((n, 3))
    worst = 0.0
    for _ in range(n_iter):
        disp[:] = 0.0
        worst = 0.0
        for k in range(pi.shape[0]):
            i, j = pi[k], pj[k]
            v0 = _wrap(pos[i, 0] - pos[j, 0], box[0])
            v1 = _wrap(pos[i, 1] - pos[j, 1], box[1])
            v2 = _wrap(pos[i, 2] - pos[j, 2], box[2])
            dmin = contact * (rad[i] + rad[j])
            d2 = v0 * v0 + v1 * v1 + v2 * v2
            if d2 >= dmin * dmin:
                continue
            dist = math.sqrt(d2)
            worst = max(worst, (dmin - dist) / dmin)
            wi = rad[j] ** 3 / (rad[i] ** 3 + rad[j] ** 3)
            push = (dmin - dist) / max(dist, 1e-9)
            disp[i, 0] += wi * push * v0
            disp[i, 1] += wi * push * v1
            disp[i, 2] += wi * push * v2
            disp[j, 0] -= (1.0 - wi) * push * v0
            disp[j, 1] -= (1.0 - wi) * push * v1
            disp[j, 2] -= (1.0 - wi) * push * v2
        if worst < tol:
            break
        moved = 0.0
        for i in range(n):
            for a in range(3):
                pos[i, a] = (pos[i, a] + 1.2 * disp[i, a]) % box[a]
            moved = max(moved, (_wrap(pos[i, 0] - ref[i, 0], box[0]) ** 2
                                + _wrap(pos[i, 1] - ref[i, 1], box[1]) ** 2
                                + _wrap(pos[i, 2] - ref[i, 2], box[2]) ** 2))
        if math.sqrt(moved) > 0.5 * skin:
            pi, pj = _neighbour_pairs(pos, rad, box, contact, skin)
            ref[:] = pos
    return worst


@numba.njit(inline="always")
def _legendre(deg, t):
    if deg == 2:
        return 0.5 * (3.0 * t * t - 1.0)
    if deg == 3:
        return 0.5 * (5.0 * t * t * t - 3.0 * t)
    return (35.0 * t**4 - 30.0 * t * t + 3.0) / 8.0


@numba.njit(parallel=True, cache=True)
def rasterize_particles(shape, vox, centers, mats, hax, hcoef, hdeg, rbound, amin, floor,
                        origin=(0, 0, 0)):
    """Best and second-best radial signed distance (um, >0 inside) and owner label.

    Each particle is an ellipsoid (``mats`` maps a physical offset to unit-ball
    coordinates) whose radius is modulated by zonal harmonics. Slices are processed in
    parallel, every slice visiting only the particles whose bounding box covers it, so
    writes never race. ``shape`` is a box of the grid whose first voxel is ``origin``.
    """
    nz, ny, nx = shape
    oz, oy, ox = origin
    f1 = np.full(shape, floor, np.float32)
    f2 = np.full(shape, floor, np.float32)
    lab = np.zeros(shape, np.int32)
    npart = centers.shape[0]
    lo = np.empty((npart, 3), np.int64)
    hi = np.empty((npart, 3), np.int64)
    for p in range(npart):
        for a in range(3):
            lo[p, a] = max(0, int(math.floor((centers[p, a] - rbound[p]) / vox)) - origin[a])
            hi[p, a] = min(shape[a] - 1, int(math.ceil((centers[p, a] + rbound[p]) / vox)) - origin[a])
    for iz in numba.prange(nz):
        for p in range(npart):
            if iz < lo[p, 0] or iz > hi[p, 0]:
                continue
            m = mats[p]
            rb2 = rbound[p] ** 2
            dz = (iz + oz) * vox - centers[p, 0]
            for iy in range(lo[p, 1], hi[p, 1] + 1):
                dy = (iy + oy) * vox - centers[p, 1]
                for ix in range(lo[p, 2], hi[p, 2] + 1):
                    dx = (ix + ox) * vox - centers[p, 2]
                    r2 = dz * dz + dy * dy + dx * dx
                    if r2 > rb2:
                        continue
                    q0 = m[0, 0] * dz + m[0, 1] * dy + m[0, 2] * dx
                    q1 = m[1, 0] * dz + m[1, 1] * dy + m[1, 2] * dx
                    q2 = m[2, 0] * dz + m[2, 1] * dy + m[2, 2] * dx
                    rho0 = math.sqrt(q0 * q0 + q1 * q1 + q2 * q2)
                    if rho0 < 1e-9:
                        sd = amin[p]
                    else:
                        h = 1.0
                        for k in range(hdeg.shape[0]):
                            t = (q0 * hax[p, k, 0] + q1 * hax[p, k, 1] + q2 * hax[p, k, 2]) / rho0
                            h += hcoef[p, k] * _legendre(hdeg[k], t)
                        r = math.sqrt(r2)
                        # radial distance to the surface along the ray from the centre
                        sd = r * (h / rho0 - 1.0)
                    if sd > f1[iz, iy, ix]:
                        f2[iz, iy, ix] = f1[iz, iy, ix]
                        f1[iz, iy, ix] = sd
                        lab[iz, iy, ix] = p + 1
                    elif sd > f2[iz, iy, ix]:
                        f2[iz, iy, ix] = sd
    return f1, f2, lab


@numba.njit(parallel=True, cache=True)
def carve_cavities(lab, f1, vox, kind, parent, centers, normals, radius, half_width,
                   origin=(0, 0, 0)):
    """Mark voxels of spherical pores (kind 0) and planar disc cracks (kind 1) and
    exclude them from the AM by setting ``f1`` to -inf there.

    A cavity only removes material of its own parent particle, so a crack never cuts a
    neighbour that happens to overlap. The arrays are a box starting at ``origin``.
    """
    nz, ny, nx = lab.shape
    oz, oy, ox = origin
    cav = np.zeros(lab.shape, np.bool_)
    nk = kind.shape[0]
    for iz in numba.prange(nz):
        for k in range(nk):
            ext = radius[k] + half_width[k]
            if abs((iz + oz) * vox - centers[k, 0]) > ext:
                continue
            y0 = max(0, int(math.floor((centers[k, 1] - ext) / vox)) - oy)
            y1 = min(ny - 1, int(math.ceil((centers[k, 1] + ext) / vox)) - oy)
            x0 = max(0, int(math.floor((centers[k, 2] - ext) / vox)) - ox)
            x1 = min(nx - 1, int(math.ceil((centers[k, 2] + ext) / vox)) - ox)
            dz = (iz + oz) * vox - centers[k, 0]
            for iy in range(y0, y1 + 1):
                dy = (iy + oy) * vox - centers[k, 1]
                for ix in range(x0, x1 + 1):
                    if lab[iz, iy, ix] != parent[k]:
                        continue
                    dx = (ix + ox) * vox - centers[k, 2]
                    r2 = dz * dz + dy * dy + dx * dx
                    if kind[k] == 0:
                        if r2 <= radius[k] ** 2:
                            cav[iz, iy, ix] = True
                            f1[iz, iy, ix] = -np.inf
                    else:
                        dn = dz * normals[k, 0] + dy * normals[k, 1] + dx * normals[k, 2]
                        if abs(dn) <= half_width[k] and r2 - dn * dn <= radius[k] ** 2:
                            cav[iz, iy, ix] = True
                            f1[iz, iy, ix] = -np.inf
    return cav


@numba.njit(cache=True)
def key_histogram(values, mask, prefix, hist):
    """Count the order-preserving uint32 keys of the finite ``values[mask]`` (1-D
    float32 and bool): their high 16 bits (``prefix < 0``), or the low 16 bits of
    those whose high 16 bits equal ``prefix``. Returns (count, smallest value)."""
    bits = values.view(np.uint32)
    n, lo = 0, np.float32(np.inf)
    for i in range(values.shape[0]):
        v = values[i]
        if not mask[i] or not np.isfinite(v):
            continue
        n += 1
        lo = min(lo, v)
        u = bits[i]
        # IEEE sign-magnitude to two's order: negatives flipped, positives above them
        key = ~u if u & np.uint32(0x80000000) else u | np.uint32(0x80000000)
        if prefix < 0:
            hist[key >> 16] += 1
        elif (key >> 16) == prefix:
            hist[key & 0xFFFF] += 1
    return n, lo


def _from_top(hist, k):
    """Bin holding the k-th largest count from the top, and k within that bin."""
    above = np.cumsum(hist[::-1])
    i = int(np.searchsorted(above, k))
    return hist.size - 1 - i, k - (int(above[i - 1]) if i else 0)


def kth_largest_of(slabs, k):
    """Exact k-th largest finite value of ``values[mask]`` over ``slabs()``.

    ``slabs()`` yields ``(values, mask)`` pairs (float32, bool; any shape) and is
    called twice: a histogram of the high 16 bits of the values' order-preserving
    keys finds the bin of the k-th, a histogram of the low 16 bits within that bin
    finds its key. Memory stays fixed whatever the data.

    Parameters
    ----------
    slabs : callable
        Returns an iterable of ``(values, mask)``, the same both times.
    k : int
        Rank from the top (1: the largest).

    Returns
    -------
    numpy.float32
        The value; +inf for ``k <= 0`` or no finite value, the smallest finite
        value when ``k`` exceeds their count.

    Examples
    --------
    >>> v = np.array([3, 1, 2, 5], np.float32)
    >>> float(kth_largest_of(lambda: [(v[:2], v[:2] > 0), (v[2:], v[2:] > 0)], 2))
    3.0
    """
    def flat(pairs):
        for pair in pairs:
            values, mask = pair
            del pair
            yield (np.ascontiguousarray(values, np.float32).ravel(),
                   np.ascontiguousarray(mask, np.bool_).ravel())
            del values, mask  # before the next slab is made

    hist = np.zeros(1 << 16, np.int64)
    n, lo = 0, np.float32(np.inf)
    for values, mask in flat(slabs()):
        c, m = key_histogram(values, mask, -1, hist)
        n, lo = n + c, min(lo, m)
        del values, mask
    if k <= 0 or n == 0:
        return np.float32(np.inf)
    if k >= n:
        return np.float32(lo)
    high, k = _from_top(hist, k)
    hist[:] = 0
    for values, mask in flat(slabs()):
        key_histogram(values, mask, high, hist)
        del values, mask
    key = np.uint32((high << 16) | _from_top(hist, k)[0])
    u = key ^ np.uint32(0x80000000) if key & np.uint32(0x80000000) else ~key
    return np.array([u], np.uint32).view(np.float32)[0]


def kth_largest(values, mask, k):
    """Exact k-th largest finite value of ``values[mask]``: :func:`kth_largest_of` on one array."""
    return kth_largest_of(lambda: [(values, mask)], k)


def coarse_noise(shape, step_vox, rng):
    """Unit-variance Gaussian random field on a coarse grid of spacing ``step_vox``.

    Sampled with :func:`noise_at`, it is a smooth field with a correlation length of
    about two coarse cells, at a cost independent of the fine grid.
    """
    step = max(float(step_vox), 1.0)
    cshape = tuple(int(math.ceil(n / step)) + 3 for n in shape)
    field = ndimage.gaussian_filter(rng.standard_normal(cshape), 1.0, mode="wrap")
    field /= max(field.std(), 1e-12)
    return field.astype(np.float32), step


@numba.njit(inline="always")
def noise_at(field, step, z, y, x):
    """Trilinear interpolation of a coarse field at fine voxel coordinates."""
    fz, fy, fx = z / step, y / step, x / step
    iz, iy, ix = int(fz), int(fy), int(fx)
    tz, ty, tx = fz - iz, fy - iy, fx - ix
    out = 0.0
    for a in range(2):
        wa = tz if a else 1.0 - tz
        for b in range(2):
            wb = ty if b else 1.0 - ty
            for c in range(2):
                wc = tx if c else 1.0 - tx
                out += wa * wb * wc * field[iz + a, iy + b, ix + c]
    return out


@numba.njit(parallel=True, cache=True)
def noise_at_points(field, step, coords):
    """:func:`noise_at` for an (n, 3) array of voxel coordinates."""
    out = np.empty(coords.shape[0], np.float32)
    for i in numba.prange(coords.shape[0]):
        out[i] = noise_at(field, step, coords[i, 0], coords[i, 1], coords[i, 2])
    return out


@numba.njit(cache=True)
def label_sums(labels, z0, count, csum, lo, hi):
    """Add a slab (first row ``z0``) to the voxel counts, coordinate sums and inclusive
    bounding boxes of its labels (sums of integers: exact, whatever the slab order)."""
    nz, ny, nx = labels.shape
    for iz in range(nz):
        for iy in range(ny):
            for ix in range(nx):
                lb = labels[iz, iy, ix]
                if lb <= 0:
                    continue
                count[lb] += 1
                csum[lb, 0] += iz + z0
                csum[lb, 1] += iy
                csum[lb, 2] += ix
                lo[lb, 0] = min(lo[lb, 0], iz + z0)
                lo[lb, 1] = min(lo[lb, 1], iy)
                lo[lb, 2] = min(lo[lb, 2], ix)
                hi[lb, 0] = max(hi[lb, 0], iz + z0)
                hi[lb, 1] = max(hi[lb, 1], iy)
                hi[lb, 2] = max(hi[lb, 2], ix)


def empty_label_sums(n):
    """Zeroed accumulators (count, csum, lo, hi) of :func:`label_sums` for labels 0..n."""
    return (np.zeros(n + 1, np.int64), np.zeros((n + 1, 3)),
            np.full((n + 1, 3), np.iinfo(np.int64).max, np.int64), np.full((n + 1, 3), -1, np.int64))


def label_stats(labels, n):
    """Voxel count, centroid (voxels) and inclusive bounding box of labels 1..n."""
    count, csum, lo, hi = empty_label_sums(n)
    label_sums(labels, 0, count, csum, lo, hi)
    return count, csum / np.maximum(count, 1).reshape(-1, 1).astype(np.float64), lo, hi
