"""Zone-plate magnification: bring every energy's projections onto one detector grid.

A zone-plate objective's magnification is proportional to the photon energy,
so the camera pixel seen at the sample shrinks from the pre-edge to the
post-edge energy (by 1.6 % across the Ni K-edge). Reconstructing each energy
on its own pixel grid and resampling the volumes afterwards leaves the three
volumes with different resolutions and different aliasing, and the edge jump
``(μ_edge − μ_pre) / (μ_post − μ_pre)`` amplifies a relative μ mismatch about
eight-fold in Li. So the correction is made on the projections, before
reconstruction, and made *symmetric*: every energy (the reference one too) is
resampled onto the reference detector grid with the same transfer function,

    K_i(f) = Π_{j≠i} sinc(p_j f) · W(f),

where ``p_j`` are the pixel footprints of the other energies (so that, with the
scan's own footprint ``sinc(p_i f)``, all energies end up with the same
``Π_j sinc(p_j f)``) and ``W`` is flat up to half the Nyquist frequency of the
coarsest grid and falls as a raised cosine to zero at it (so no energy keeps
the detail that another one aliased). On a noise-free 30° missing-wedge scan
(``quick`` preset) this took the interior Li RMSE from 0.0995 to 0.075 with
FBP and from 0.146 to 0.062 with SIRT, against resampling the volumes.
Afterwards the three scans share one geometry, one centre and one
reconstruction operator.

Magnification acts about the detector middle (``(n-1)/2`` in rows and
columns); a real optical axis elsewhere leaves a translation, which the
registration removes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["Resampling", "resampling_weights", "matched_resamplings", "transfer_function"]

_SUPPORT = 8  # kernel half-width, in output pixels
_N_FREQ = 512
_N_TABLE = 1025


def transfer_function(f_per_um, footprints_um=(), band_limit_um: float | None = None,
                      flat: float = 0.5) -> np.ndarray:
    """Frequency response of the resampling kernel.

    Parameters
    ----------
    f_per_um : array
        Spatial frequencies, cycles/µm (>= 0).
    footprints_um : sequence of float
        Pixel widths whose box responses ``sinc(p f)`` the kernel applies.
    band_limit_um : float, optional
        Pixel size whose Nyquist frequency ``fN = 1/(2 p)`` ends the window
        (1 below ``flat * fN``, a raised cosine to 0 at ``fN``); None: no window.
    flat : float in [0, 1)
        Fraction of the band left untouched by the window.

    Returns
    -------
    K : float64 array, like ``f_per_um``; ``K(0) = 1``.

    Examples
    --------
    >>> transfer_function(np.array([0.0, 0.25, 1.0]), (), 0.5).round(3).tolist()
    [1.0, 1.0, 0.0]
    """
    f = np.asarray(f_per_um, dtype=np.float64)
    k = np.ones_like(f)
    for p in footprints_um:
        k = k * np.sinc(p * f)
    if not 0 <= flat < 1:
        raise ValueError(f"flat must lie in [0, 1), got {flat!r}")
    if band_limit_um is not None:
        fn = 0.5 / band_limit_um
        f0 = flat * fn
        roll = 0.5 + 0.5 * np.cos(np.pi * np.clip((f - f0) / (fn - f0), 0.0, 1.0))
        k = k * np.where(f < fn, roll, 0.0)
    return k


def resampling_weights(n_in: int, pixel_in_um: float, n_out: int, pixel_out_um: float, *,
                       footprints_um=(), band_limit_um: float | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Banded weights that resample ``n_in`` samples of pitch ``pixel_in_um`` to ``n_out`` of ``pixel_out_um``.

    Both grids are centred on the same point (the detector middle). The
    kernel is the inverse Fourier transform of `transfer_function`, truncated
    at ±8 output pixels by a Hann taper, with its first moment removed so a
    linear profile is reproduced without shift; each output's weights sum to 1 (a uniform projection
    stays uniform). Source indices beyond the detector are clamped to its edge.

    Parameters
    ----------
    n_in, n_out : int
    pixel_in_um, pixel_out_um : float
    footprints_um, band_limit_um
        See `transfer_function`. Without both, the kernel is a band-limited
        sinc at the coarser grid's Nyquist frequency.

    Returns
    -------
    first : int64 array (n_out,)
        Source index of each output's first tap (may be < 0 or run past n_in;
        `Resampling` clamps).
    weights : float32 array (n_out, n_taps)

    Examples
    --------
    >>> first, w = resampling_weights(16, 1.0, 8, 2.0, band_limit_um=2.0)
    >>> np.allclose(w.sum(axis=1), 1.0)
    True
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"n_in and n_out must be >= 1, got {n_in}, {n_out}")
    if not (pixel_in_um > 0 and pixel_out_um > 0):
        raise ValueError(f"pixel sizes must be positive, got {pixel_in_um}, {pixel_out_um}")
    fmax = 0.5 / max(pixel_in_um, pixel_out_um, band_limit_um or 0.0)
    f = np.linspace(0.0, fmax, _N_FREQ + 1)
    K = transfer_function(f, footprints_um, band_limit_um)
    quad = np.full(f.size, f[1] - f[0])
    quad[[0, -1]] *= 0.5
    reach = _SUPPORT * max(pixel_out_um, pixel_in_um)
    # tabulate the (even, real) kernel once, then interpolate per tap
    x_tab = np.linspace(0.0, reach, _N_TABLE)
    k_tab = 2.0 * np.cos(2.0 * np.pi * np.outer(x_tab, f)) @ (K * quad)
    x_out = (np.arange(n_out) - (n_out - 1) / 2.0) * pixel_out_um
    pos = x_out / pixel_in_um + (n_in - 1) / 2.0  # output centres in source index units
    n_taps = int(np.ceil(2 * reach / pixel_in_um)) + 1
    first = np.floor(pos - reach / pixel_in_um).astype(np.int64) + 1
    src = first[:, None] + np.arange(n_taps)[None, :]
    d = (src - (n_in - 1) / 2.0) * pixel_in_um - x_out[:, None]  # tap offsets, um
    dist = np.abs(d)
    # a Hann taper ends the kernel smoothly: truncation ripple would bias positions
    w = np.where(dist < reach, np.interp(dist, x_tab, k_tab) * (0.5 + 0.5 * np.cos(np.pi * dist / reach)), 0.0)
    w /= w.sum(axis=1, keepdims=True)
    # remove the first moment left by the finite, asymmetric tap positions, so
    # that a linear profile is reproduced exactly (no sub-pixel shift)
    m1, m2 = (w * d).sum(axis=1, keepdims=True), (w * d * d).sum(axis=1, keepdims=True)
    w = w * (1.0 - m1 / m2 * d)
    return first, (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


@numba.njit(parallel=True, cache=True)
def _apply_last(a, first, w, out):
    # out[m, t] = sum_k w[t, k] * a[m, clamp(first[t] + k)]
    n_in = a.shape[1]
    for m in numba.prange(a.shape[0]):
        for t in range(w.shape[0]):
            acc = np.float32(0.0)
            for k in range(w.shape[1]):
                j = min(max(first[t] + k, 0), n_in - 1)
                acc += w[t, k] * a[m, j]
            out[m, t] = acc


def _resample_axis(a: np.ndarray, axis: int, first: np.ndarray, w: np.ndarray) -> np.ndarray:
    moved = np.ascontiguousarray(np.moveaxis(np.asarray(a, np.float32), axis, -1))
    flat = moved.reshape(-1, moved.shape[-1])
    out = np.empty((flat.shape[0], w.shape[0]), np.float32)
    _apply_last(flat, first, w, out)
    return np.moveaxis(out.reshape(moved.shape[:-1] + (w.shape[0],)), -1, axis)


@dataclass(frozen=True, eq=False)
class Resampling:
    """Maps one scan's detector (rows, cols) onto the reference detector grid.

    Build it with `matched_resamplings`. ``source_rows(z0, z1)`` says which of
    the scan's rows feed output rows ``z0:z1``; ``apply`` resamples a stack of
    projections read from those rows.

    Attributes
    ----------
    pixel_in_um, pixel_out_um : float
    shape_in, shape_out : (rows, cols)
    row_first, row_weights, col_first, col_weights : arrays
        Banded weights of `resampling_weights` along each detector axis.
    covered_rows : bool array (rows_out,)
        Output rows whose centre the scan's detector sees; the others are
        extrapolated from its edge and carry no data.
    """

    pixel_in_um: float
    pixel_out_um: float
    shape_in: tuple[int, int]
    shape_out: tuple[int, int]
    row_first: np.ndarray
    row_weights: np.ndarray
    col_first: np.ndarray
    col_weights: np.ndarray
    covered_rows: np.ndarray

    def source_rows(self, z0: int, z1: int) -> tuple[int, int]:
        """Half-open range of input rows that output rows ``z0:z1`` read."""
        lo = int(self.row_first[z0])
        hi = int(self.row_first[z1 - 1]) + self.row_weights.shape[1]
        return max(0, min(lo, self.shape_in[0] - 1)), min(self.shape_in[0], max(hi, 1))

    def apply(self, proj: np.ndarray, z0: int, z1: int, first_row: int) -> np.ndarray:
        """Resample projections ``(angle, rows, cols)`` holding input rows from ``first_row``.

        Returns
        -------
        float32 array (angle, z1 - z0, cols_out)
        """
        proj = np.asarray(proj, np.float32)
        if proj.ndim != 3 or proj.shape[2] != self.shape_in[1]:
            raise ValueError(f"proj must be (angle, row, {self.shape_in[1]}), got {proj.shape}")
        cols = _resample_axis(proj, 2, self.col_first, self.col_weights)
        # row taps relative to the rows held; clamping inside the kernel then
        # only replicates the detector's own first/last row
        rel = self.row_first[z0:z1] - first_row
        lo, hi = self.source_rows(z0, z1)
        if lo < first_row or hi > first_row + proj.shape[1]:
            raise ValueError(f"rows {lo}:{hi} are needed for output rows {z0}:{z1}; "
                             f"got rows {first_row}:{first_row + proj.shape[1]}")
        return _resample_axis(cols, 1, rel, self.row_weights[z0:z1])


def matched_resamplings(pixels_um, shape_in, *, reference: int = 0, shape_out=None) -> list | None:
    """One `Resampling` per scan onto the reference scan's grid, with matched footprints.

    Parameters
    ----------
    pixels_um : sequence of float
        Pixel size at the sample of each scan (e.g. pre-edge, edge, post-edge).
    shape_in : (rows, cols)
        Detector shape, shared by the scans.
    reference : int
        Index of the scan whose pixel grid is the target.
    shape_out : (rows, cols), optional
        Output detector shape (default ``shape_in``).

    Returns
    -------
    list of Resampling, or None when all pixel sizes agree to 1e-6 (nothing to correct).

    Examples
    --------
    >>> rs = matched_resamplings([0.16, 0.159, 0.1575], (4, 32))
    >>> [r.shape_out for r in rs]
    [(4, 32), (4, 32), (4, 32)]
    >>> matched_resamplings([0.1, 0.1, 0.1], (4, 32)) is None
    True
    """
    p = np.asarray(pixels_um, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not np.all(p > 0):
        raise ValueError(f"pixels_um must be positive, got {pixels_um!r}")
    if np.allclose(p, p[reference], rtol=1e-6, atol=0):
        return None
    rows, cols = (int(v) for v in shape_in)
    out_rows, out_cols = (rows, cols) if shape_out is None else (int(v) for v in shape_out)
    target = float(p[reference])
    coarsest = float(p.max())
    result = []
    for i, pi in enumerate(p):
        others = tuple(float(q) for j, q in enumerate(p) if j != i)
        rf, rw = resampling_weights(rows, pi, out_rows, target, footprints_um=others, band_limit_um=coarsest)
        cf, cw = resampling_weights(cols, pi, out_cols, target, footprints_um=others, band_limit_um=coarsest)
        half_in = rows * pi / 2.0
        z = (np.arange(out_rows) - (out_rows - 1) / 2.0) * target
        result.append(Resampling(float(pi), target, (rows, cols), (out_rows, out_cols),
                                 rf, rw, cf, cw, np.abs(z) <= half_in))
    return result
