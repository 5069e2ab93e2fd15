"""Bring the ground truth onto the (coarser) grid of a pipeline result.

The truth lives on a fine grid (the simulation's voxels); the pipeline's map on a
coarser one (supersampling x binning). Every score compares the two on the result's
grid, so the truth's Li field, AM fraction and particle labels are averaged into the
result's voxels here.

Two paths give the same answer where both apply:

* **block mean** (integer voxel-size ratio k and an origin offset of a whole number of
  truth voxels): each coarse voxel is an exact k x k x k block of truth voxels, summed
  by a reshape. This is the normal case (same origin, k = supersampling x binning).
* **volume-weighted overlap** (any ratio or offset): a truth voxel contributes to a
  coarse voxel in proportion to the volume they share. For axis-aligned grids this
  overlap is the product of three 1D overlaps, so the resampling is a separable linear
  map (one sparse matrix per axis) and is exact, not an interpolation.

Truth outside its own array counts as "no active material".
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import scipy.ndimage as ndi
import scipy.sparse as sp

from trixanes.io.truth import PHASE_AM as AM_PHASE
# Coarse voxels whose truth block is at most this many fine voxels are processed in
# one slab; bounds the temporary memory of the block sums.
_SLAB_VOXELS = 1 << 24
# Overlaps below this (in truth voxels) are floating-point slop of aligned edges.
_EPS = 1e-9


@dataclass(frozen=True)
class TruthOnGrid:
    """The truth resampled onto the result's grid.

    Attributes
    ----------
    li : ndarray of float32, (z, y, x)
        Mean Li content over the AM part of each coarse voxel; NaN where it holds none.
    am_fraction : ndarray of float32
        Volume fraction of active material in each coarse voxel, in [0, 1].
    labels : ndarray of int32
        Particle covering most of the AM of each coarse voxel; 0 where
        ``am_fraction < 0.5``.
    am_mask : ndarray of bool
        ``am_fraction >= 0.5``.
    interior : ndarray of bool
        Coarse voxels entirely AM whose 26 neighbours are entirely AM too: one coarse
        voxel away from any surface, where partial-volume effects cannot reach.
    method : str
        Which resampling path was used, in words.
    """

    li: np.ndarray
    am_fraction: np.ndarray
    labels: np.ndarray
    am_mask: np.ndarray
    interior: np.ndarray
    method: str


def truth_on_grid(
    li,
    phase,
    labels,
    truth_voxel_um,
    truth_origin_um,
    result_shape,
    result_voxel_um,
    result_origin_um,
) -> TruthOnGrid:
    """Average the truth's Li field, AM fraction and labels into the result's voxels.

    Parameters
    ----------
    li : array_like of float, (z, y, x)
        True Li content; read only where ``phase == 3`` (NaN elsewhere is fine).
    phase : array_like of uint8, (z, y, x)
        Phase codes; 3 is active material.
    labels : array_like of int, (z, y, x)
        Particle ids, 0 outside AM.
    truth_voxel_um : float
        Truth voxel size, µm.
    truth_origin_um : sequence of 3 float
        Physical (z, y, x) position of the corner of truth voxel [0, 0, 0], µm.
    result_shape : sequence of 3 int
        Shape of the result grid.
    result_voxel_um : float
        Result voxel size, µm.
    result_origin_um : sequence of 3 float
        Corner of result voxel [0, 0, 0], µm, in the same frame as the truth's.

    Returns
    -------
    TruthOnGrid
        The truth on the result grid and the path used (``method``).

    Examples
    --------
    >>> import numpy as np
    >>> phase = np.full((4, 4, 4), 3, np.uint8); phase[:, :, :1] = 1
    >>> li = np.where(phase == 3, 0.7, np.nan).astype(np.float32)
    >>> t = truth_on_grid(li, phase, (phase == 3).astype(np.int32), 1.0, (0, 0, 0),
    ...                   (2, 2, 2), 2.0, (0, 0, 0))
    >>> t.am_fraction[0, 0].tolist(), round(float(t.li[0, 0, 0]), 6)
    ([0.5, 1.0], 0.7)
    """
    li = np.asarray(li)
    phase = np.asarray(phase)
    labels = np.asarray(labels)
    if li.ndim != 3:
        raise ValueError(f"li must be 3-D (z, y, x), got shape {li.shape}")
    for name, arr in (("phase", phase), ("labels", labels)):
        if arr.shape != li.shape:
            raise ValueError(f"{name} shape {arr.shape} differs from li shape {li.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer, got {labels.dtype}")
    tv = _positive("truth_voxel_um", truth_voxel_um)
    rv = _positive("result_voxel_um", result_voxel_um)
    to = _triple("truth_origin_um", truth_origin_um, float)
    ro = _triple("result_origin_um", result_origin_um, float)
    shape_c = tuple(int(n) for n in _triple("result_shape", result_shape, float))
    if any(n < 1 or n != s for n, s in zip(shape_c, result_shape)):
        raise ValueError(f"result_shape must be 3 positive integers, got {result_shape}")
    am = phase == AM_PHASE
    if not np.isfinite(li[am]).all():
        raise ValueError("li must be finite wherever phase == 3 (active material)")

    tables = [
        _axis_overlap(nf, tv, t0, nc, rv, r0)
        for nf, t0, nc, r0 in zip(li.shape, to, shape_c, ro)
    ]
    ratio = rv / tv
    k = int(round(ratio))
    offsets = [(r0 - t0) / tv for r0, t0 in zip(ro, to)]
    aligned = k >= 1 and abs(ratio - k) <= 1e-6 * ratio and all(
        abs(o - round(o)) <= 1e-6 for o in offsets
    )
    if aligned:
        off = tuple(int(round(o)) for o in offsets)
        am_sum, li_sum = _block_sums(li, am, k, off, shape_c)
        volume = float(k**3)
        method = f"block mean, k = {k} (integer voxel ratio, origin offset {off} truth voxels)"
    else:
        am_sum, li_sum = _overlap_sums(li, am, tables, shape_c)
        volume = ratio**3
        method = (
            f"volume-weighted overlap (voxel ratio {ratio:.6g}, origin offset "
            f"{tuple(round(o, 4) for o in offsets)} truth voxels)"
        )

    am_fraction = np.clip(am_sum / volume, 0.0, 1.0).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        li_c = np.where(am_sum > _EPS, li_sum / am_sum, np.nan).astype(np.float32)
    am_mask = am_fraction >= 0.5
    lab_c = np.zeros(shape_c, np.int32)
    _majority_labels(labels, phase, *tables[0], *tables[1], *tables[2], lab_c)
    lab_c[~am_mask] = 0
    full = am_fraction >= 1.0 - 1e-6
    interior = ndi.binary_erosion(full, structure=np.ones((3, 3, 3), bool), border_value=0)
    return TruthOnGrid(li_c, am_fraction, lab_c, am_mask, interior, method)


def _positive(name, value) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def _triple(name, value, kind) -> tuple:
    try:
        t = tuple(kind(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be 3 numbers, got {value!r}") from err
    if len(t) != 3 or not all(np.isfinite(t)):
        raise ValueError(f"{name} must be 3 finite numbers, got {value!r}")
    return t


def _axis_overlap(n_fine, fine_vox, fine_origin, n_coarse, coarse_vox, coarse_origin):
    """1D overlaps: coarse voxel i covers fine voxels lo[i] .. lo[i]+cnt[i]-1.

    Returns ``lo``, ``cnt`` (int64) and ``w`` (n_coarse, max cnt): overlap length of
    each of them, in fine voxels (1 for a fine voxel wholly inside).
    """
    u0 = (coarse_origin + coarse_vox * np.arange(n_coarse) - fine_origin) / fine_vox
    u1 = u0 + coarse_vox / fine_vox
    lo = np.clip(np.floor(u0 + _EPS), 0, n_fine).astype(np.int64)
    hi = np.clip(np.ceil(u1 - _EPS), 0, n_fine).astype(np.int64)
    cnt = np.maximum(hi - lo, 0)
    m = max(int(cnt.max()), 1)
    a = lo[:, None] + np.arange(m)[None, :]
    w = np.minimum(u1[:, None], a + 1.0) - np.maximum(u0[:, None], a)
    w = np.where((np.arange(m)[None, :] < cnt[:, None]) & (w > _EPS), w, 0.0)
    # Snap rounding noise of aligned edges, so that label ties stay exact ties.
    w = np.where(np.abs(w - np.round(w)) < 1e-6, np.round(w), w)
    return lo, cnt, w


def _window(arr, start, shape, fill):
    """``arr[start : start + shape]`` with out-of-range parts set to ``fill``."""
    out = np.full(shape, fill, dtype=arr.dtype)
    src, dst = [], []
    for s, n, size in zip(start, shape, arr.shape):
        a, b = max(s, 0), min(s + n, size)
        if b <= a:
            return out
        src.append(slice(a, b))
        dst.append(slice(a - s, b - s))
    out[tuple(dst)] = arr[tuple(src)]
    return out


def _block_sums(li, am, k, off, shape_c):
    """AM voxel count and AM-weighted Li sum of each k^3 block, slab by slab in z."""
    nz, ny, nx = shape_c
    am_sum = np.empty(shape_c, np.float64)
    li_sum = np.empty(shape_c, np.float64)
    step = max(1, _SLAB_VOXELS // (k**3 * ny * nx))
    for z0 in range(0, nz, step):
        z1 = min(nz, z0 + step)
        start = (off[0] + k * z0, off[1], off[2])
        fshape = ((z1 - z0) * k, ny * k, nx * k)
        a = _window(am, start, fshape, False)
        v = np.where(a, _window(li, start, fshape, np.nan), 0.0)
        blocks = (z1 - z0, k, ny, k, nx, k)
        am_sum[z0:z1] = a.reshape(blocks).sum(axis=(1, 3, 5))
        li_sum[z0:z1] = v.reshape(blocks).sum(axis=(1, 3, 5), dtype=np.float64)
    return am_sum, li_sum


def _overlap_matrix(table, n_fine):
    lo, cnt, w = table
    rows = np.repeat(np.arange(len(lo)), w.shape[1])
    cols = np.clip((lo[:, None] + np.arange(w.shape[1])).ravel(), 0, max(n_fine - 1, 0))
    return sp.csr_matrix((w.ravel(), (rows, cols)), shape=(len(lo), n_fine))


def _overlap_sums(li, am, tables, shape_c):
    """Exact volume-weighted sums: separable product of the three 1D overlaps."""
    wz, wy, wx = (_overlap_matrix(t, n) for t, n in zip(tables, li.shape))
    nzf, nyf, nxf = li.shape
    nz, ny, nx = shape_c
    am_sum = np.empty(shape_c, np.float64)
    li_sum = np.empty(shape_c, np.float64)
    rows_per_coarse = int(tables[0][1].max()) + 1
    step = max(1, _SLAB_VOXELS // (rows_per_coarse * nyf * nxf))
    for z0 in range(0, nz, step):
        z1 = min(nz, z0 + step)
        sub = wz[z0:z1]
        used = np.flatnonzero(np.asarray(abs(sub).sum(axis=0)).ravel() > 0)
        f0, f1 = (used[0], used[-1] + 1) if used.size else (0, 0)
        sub = sub[:, f0:f1]
        a = am[f0:f1].astype(np.float64)
        v = np.where(am[f0:f1], li[f0:f1], 0.0)
        for field, out in ((a, am_sum), (v, li_sum)):
            t = (sub @ field.reshape(f1 - f0, -1)).reshape(z1 - z0, nyf, nxf)
            t = (wy @ t.transpose(1, 0, 2).reshape(nyf, -1)).reshape(ny, z1 - z0, nxf)
            t = (wx @ t.transpose(2, 1, 0).reshape(nxf, -1)).reshape(nx, z1 - z0, ny)
            out[z0:z1] = t.transpose(1, 2, 0)
    return am_sum, li_sum


@numba.njit(parallel=True, cache=True)
def _majority_labels(labels, phase, loz, cz, wz, loy, cy, wy, lox, cx, wx, out):
    """Label holding the largest AM overlap volume in each coarse voxel (ties: lowest)."""
    nz, ny, nx = out.shape
    m = wz.shape[1] * wy.shape[1] * wx.shape[1]
    for i in numba.prange(nz):
        uniq = np.empty(m, np.int64)
        acc = np.empty(m, np.float64)
        for j in range(ny):
            for l in range(nx):
                nu = 0
                for a in range(cz[i]):
                    for b in range(cy[j]):
                        wab = wz[i, a] * wy[j, b]
                        for c in range(cx[l]):
                            z, y, x = loz[i] + a, loy[j] + b, lox[l] + c
                            lab = labels[z, y, x]
                            if phase[z, y, x] != AM_PHASE or lab <= 0:
                                continue
                            w = wab * wx[l, c]
                            # A coarse voxel meets few particles: a linear search
                            # beats sorting and allocates nothing.
                            found = False
                            for u in range(nu):
                                if uniq[u] == lab:
                                    acc[u] += w
                                    found = True
                                    break
                            if not found:
                                uniq[nu] = lab
                                acc[nu] = w
                                nu += 1
                best, best_w = 0, 0.0
                for u in range(nu):
                    if acc[u] > best_w or (acc[u] == best_w and uniq[u] < best):
                        best, best_w = uniq[u], acc[u]
                out[i, j, l] = best
