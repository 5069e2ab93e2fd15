"""What the detector records: pixel footprints, magnification, drift, photon noise.

A detector pixel of energy E integrates the transmission over its footprint on
the sample plane (zone-plate magnification about the detector middle, the
rotation-centre offset and the sample drift move that footprint);
:func:`expose` turns transmission into counts with Poisson noise and
:func:`flats_and_darks` gives the reference frames. Rows of the detector never
mix (parallel beam), so a band of rows is detected from a slab of fine rows
(:func:`fine_rows_needed`).
"""

from __future__ import annotations

import numba
import numpy as np

from .acquisition import AcquisitionParams, EnergyGeometry, energy_geometries  # noqa: F401 (doctests)


@numba.njit(parallel=True, cache=True)
def _detect(od, s0, ds, z0, dz, n_sub, out):
    # out[a, r, c] = mean over sub-samples of exp(-od[a, z, s]), bilinear in od,
    # zero optical depth outside the fine grid.
    n_a, n_zf, n_sf = od.shape
    _, n_r, n_c = out.shape
    for job in numba.prange(n_a * n_r):
        a, r = job // n_r, job % n_r
        for c in range(n_c):
            acc = 0.0
            for ur in range(n_sub):
                zf = z0 + (r + (ur + 0.5) / n_sub - 0.5) * dz
                j0 = int(np.floor(zf))
                tz = zf - j0
                for uc in range(n_sub):
                    sf = s0[a] + (c + (uc + 0.5) / n_sub - 0.5) * ds
                    i0 = int(np.floor(sf))
                    ts = sf - i0
                    v = 0.0
                    for dj in range(2):
                        j = j0 + dj
                        if j < 0 or j >= n_zf:
                            continue
                        wz = tz if dj else 1.0 - tz
                        if 0 <= i0 < n_sf:
                            v += wz * (1.0 - ts) * od[a, j, i0]
                        if 0 <= i0 + 1 < n_sf:
                            v += wz * ts * od[a, j, i0 + 1]
                    acc += np.exp(-v)
            out[a, r, c] = acc / (n_sub * n_sub)


def detect(optical_depth, angles_deg, geometry: EnergyGeometry, params: AcquisitionParams,
           fine_voxel_um: float | None = None, *, rows: tuple[int, int] | None = None,
           fine_z_start: int = 0, fine_z_total: int | None = None) -> np.ndarray:
    """Noise-free detector transmission from fine-grid optical depths.

    Detector pixel (r, c) at this energy sees the sample-plane square of side
    ``geometry.pixel_size_um`` centred at ``((r - (rows-1)/2) p, (c - (cols-1)/2
    - offset) p)``: magnification acts about the detector middle. A sample
    translation (dz, dy, dx) moves the projection by dz along rows and by
    ``dx cos(theta) - dy sin(theta)`` along columns. Each pixel averages the
    transmission ``exp(-optical depth)`` (not the optical depth: a detector
    integrates intensity) over ``supersample x supersample`` points of its
    footprint, the optical depth interpolated bilinearly; outside the fine
    grid the optical depth is 0.

    Parameters
    ----------
    optical_depth : array_like
        ``(n_angles, fine_z, fine_s)`` line integrals of mu, dimensionless;
        fine bins of ``fine_voxel_um``, rotation axis at ``(fine_s - 1)/2``,
        slice centre at ``(fine_z - 1)/2``.
    angles_deg : array_like
        Angles of the projections, degrees.
    geometry : EnergyGeometry
        This energy's geometry.
    params : AcquisitionParams
        Detector size and footprint sub-sampling.
    fine_voxel_um : float, optional
        Fine bin size, default ``params.fine_voxel_um``.
    rows : (int, int), optional
        Detect only detector rows ``rows[0] .. rows[1] - 1`` (default all).
    fine_z_start, fine_z_total : int, optional
        ``optical_depth`` holds fine rows ``fine_z_start ..`` of a fine grid of
        ``fine_z_total`` rows (default: it is the whole grid); see
        :func:`fine_rows_needed` for the rows a band of detector rows reads.

    Returns
    -------
    ndarray
        float32 ``(n_angles, rows, cols)`` transmission in (0, 1].

    Examples
    --------
    >>> p = AcquisitionParams(detector_cols=4, detector_rows=2)
    >>> g = energy_geometries(p)[0]
    >>> detect(np.zeros((1, 4, 8)), [0.0], g, p).shape
    (1, 2, 4)
    """
    params.validate()
    od = np.ascontiguousarray(optical_depth, dtype=np.float32)
    ang = np.deg2rad(np.asarray(angles_deg, np.float64).ravel())
    if od.ndim != 3 or od.shape[0] != ang.size:
        raise ValueError("optical_depth: need (n_angles, fine_z, fine_s) matching angles_deg")
    v = params.fine_voxel_um if fine_voxel_um is None else float(fine_voxel_um)
    if v <= 0:
        raise ValueError("fine_voxel_um: must be positive")
    r0, r1 = _check_rows(rows, params)
    n_fine_z = od.shape[1] if fine_z_total is None else int(fine_z_total)
    p = geometry.pixel_size_um
    dxd, dyd = geometry.drift_um[2], geometry.drift_um[1]
    shift_s = (dxd * np.cos(ang) - dyd * np.sin(ang)) / v
    mid_c = 0.5 * (params.detector_cols - 1)
    # fine coordinate of detector index 0 (pixel centre), per angle for columns
    s0 = 0.5 * (od.shape[2] - 1) + (-mid_c - geometry.center_offset_px) * p / v - shift_s
    z0 = _fine_z_of_row(r0, geometry, params, v, n_fine_z) - fine_z_start
    out = np.empty((ang.size, r1 - r0, params.detector_cols), np.float32)
    _detect(od, s0.astype(np.float64), p / v, float(z0), p / v, int(params.supersample), out)
    return out


def _check_rows(rows, params: AcquisitionParams) -> tuple[int, int]:
    if rows is None:
        return 0, params.detector_rows
    r0, r1 = (int(r) for r in rows)
    if not 0 <= r0 < r1 <= params.detector_rows:
        raise ValueError(f"rows: need 0 <= start < stop <= {params.detector_rows}, got {rows}")
    return r0, r1


def _fine_z_of_row(row, geometry: EnergyGeometry, params: AcquisitionParams, v, n_fine_z):
    # magnification acts about the detector middle; a drift dz moves the image by dz
    mid_r = 0.5 * (params.detector_rows - 1)
    p = geometry.pixel_size_um
    return 0.5 * (n_fine_z - 1) + (row - mid_r) * p / v - geometry.drift_um[0] / v


def fine_rows_needed(rows: tuple[int, int], geometry: EnergyGeometry, params: AcquisitionParams,
                     fine_z_total: int, fine_voxel_um: float | None = None) -> tuple[int, int]:
    """Fine rows ``[start, stop)`` that :func:`detect` reads for a band of detector rows.

    Parallel-beam projection keeps rows apart, so a band of detector rows is
    imaged from a slab of the phantom alone: the rows under the band's
    footprints (magnified and drifted) and one more for the interpolation.

    Examples
    --------
    >>> p = AcquisitionParams(detector_cols=4, detector_rows=8, supersample=2)
    >>> fine_rows_needed((2, 4), energy_geometries(p)[0], p, 16)
    (3, 9)
    """
    r0, r1 = _check_rows(rows, params)
    v = params.fine_voxel_um if fine_voxel_um is None else float(fine_voxel_um)
    step = geometry.pixel_size_um / v
    lo = np.floor(_fine_z_of_row(r0, geometry, params, v, fine_z_total) - 0.5 * step)
    hi = np.floor(_fine_z_of_row(r1 - 1, geometry, params, v, fine_z_total) + 0.5 * step) + 2
    return int(np.clip(lo, 0, fine_z_total)), int(np.clip(hi, 0, fine_z_total))


def _rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def expose(transmission, params: AcquisitionParams, rng: np.random.Generator | int | None = None
           ) -> np.ndarray:
    """Detector counts of projections: Poisson(I0 T) + Poisson(dark_counts).

    The dark level is Poisson distributed (dark current and offset counted as
    independent events; no separate Gaussian read noise). Noise-free
    (``flux_photons`` None or 0): the transmission itself is returned, to be
    read with flats of 1 and darks of 0.

    Parameters
    ----------
    transmission : array_like
        ``(n_angles, rows, cols)`` transmission (any subset of angles).
    params : AcquisitionParams
        Flux and dark level.
    rng : numpy.random.Generator or int, optional
        Random source.

    Returns
    -------
    ndarray
        float32 counts (whole numbers when noisy).

    Examples
    --------
    >>> c = expose(np.full((1, 2, 2), 0.5), AcquisitionParams(), rng=1)
    >>> bool(9000 < c.mean() < 11000)
    True
    """
    params.validate()
    t = np.asarray(transmission, np.float64)
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise ValueError("transmission: must be finite and >= 0")
    if params.noise_free:
        return t.astype(np.float32)
    return poisson_counts(t, params, _rng(rng))


def poisson_counts(t: np.ndarray, params: AcquisitionParams, g: np.random.Generator) -> np.ndarray:
    """`expose`'s draw, without its checks: float32 ``Poisson(I0 t) + Poisson(dark)``.

    For callers that checked ``params`` and a whole band of ``t`` once and draw it
    in many small pieces (one stream per detector row and angle).
    """
    counts = g.poisson(params.flux_photons * np.asarray(t, np.float64)) + g.poisson(params.dark_counts, np.shape(t))
    return counts.astype(np.float32)


def flats_and_darks(params: AcquisitionParams, rng: np.random.Generator | int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Flat fields ``Poisson(I0) + Poisson(dark)`` and dark fields ``Poisson(dark)``.

    Noise-free: flats of 1 and darks of 0.

    Returns
    -------
    flats : ndarray
        float32 ``(n_flats, rows, cols)``.
    darks : ndarray
        float32 ``(n_darks, rows, cols)``.

    Examples
    --------
    >>> f, d = flats_and_darks(AcquisitionParams(flux_photons=None, n_flats=2))
    >>> f.shape, float(f.max()), float(d.max())
    ((2, 256, 256), 1.0, 0.0)
    """
    params.validate()
    shape = (params.detector_rows, params.detector_cols)
    if params.noise_free:
        return (np.ones((params.n_flats,) + shape, np.float32),
                np.zeros((params.n_darks,) + shape, np.float32))
    g = _rng(rng)
    flats = g.poisson(params.flux_photons, (params.n_flats,) + shape) + g.poisson(
        params.dark_counts, (params.n_flats,) + shape)
    darks = g.poisson(params.dark_counts, (params.n_darks,) + shape)
    return flats.astype(np.float32), darks.astype(np.float32)
