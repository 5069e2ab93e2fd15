"""Detector: footprints against an analytic sphere, magnification, bands of rows, noise."""

import numpy as np
import pytest

from trixanes.synth.acquisition import AcquisitionParams, EnergyGeometry, energy_geometries, forward_project
from trixanes.synth.detector import detect, expose, fine_rows_needed, flats_and_darks


def _grid(n):
    c = np.arange(n) - (n - 1) / 2
    return np.meshgrid(c, c, c, indexing="ij")


def test_detector_values_match_analytic_sphere_chord():
    n, radius, mu = 56, 20.0, 0.02  # fine voxels (1 um); mu in 1/um
    z, y, x = _grid(n)
    # partial-volume sphere: the inside fraction of each voxel (linear edge ramp)
    vol = np.clip(radius + 0.5 - np.sqrt(x**2 + y**2 + z**2), 0, 1).astype(np.float32)
    p = AcquisitionParams(energies_kev=(8.3,), detector_cols=n // 2, detector_rows=n // 2,
                          pixel_size_um=2.0, supersample=2, flux_photons=None)
    theta = np.array([0.0, 33.0, 77.0, 145.0])
    fine = forward_project(vol[None], theta)[0] * mu
    geom = EnergyGeometry(8.3, 2.0, 0.5, (1.0, -0.7, 1.5))
    t = detect(fine, theta, geom, p, fine_voxel_um=1.0)
    # analytic: mean of exp(-mu chord) over each pixel's footprint (8 x 8 points)
    ang = np.deg2rad(theta)[:, None, None, None, None]
    mid = (n // 2 - 1) / 2
    sub = (np.arange(8) + 0.5) / 8 - 0.5
    r = (np.arange(n // 2)[:, None] - mid + sub[None, :]) * 2.0
    c = (np.arange(n // 2)[:, None] - mid - 0.5 + sub[None, :]) * 2.0
    dz, dy, dx = geom.drift_um
    s = c[None, None, :, None, :] - (dx * np.cos(ang) - dy * np.sin(ang))
    zz = r[None, :, None, :, None] - dz
    rho2 = s**2 + zz**2
    expect = np.exp(-mu * 2 * np.sqrt(np.clip(radius**2 - rho2, 0, None))).mean(axis=(3, 4))
    # where the chord exceeds 10 voxels and the ray runs >= 3 voxels inside the
    # silhouette: nearer the silhouette the voxelized sphere itself departs
    # from the ideal one by several per cent (partial volume), whatever the projector
    rho_max = np.sqrt(rho2.max(axis=(3, 4)))
    sel = (2 * np.sqrt(np.clip(radius**2 - rho_max**2, 0, None)) > 10) & (rho_max < radius - 3)
    assert sel.sum() > 500
    np.testing.assert_allclose(-np.log(t[sel]), -np.log(expect[sel]), rtol=0.01)
    assert np.all(t[np.sqrt(rho2.min(axis=(3, 4))) > radius + 2] > 0.9999)


def test_magnification_scales_about_detector_middle():
    # a smooth line (Gaussian, sigma 0.15 um) at +1.0 um from the axis, seen at theta = 0
    n, v = 600, 0.01
    s_um = (np.arange(n) - (n - 1) / 2) * v
    od = np.repeat(0.5 * np.exp(-0.5 * ((s_um - 1.0) / 0.15) ** 2)[None, None], 64, 1)
    p = AcquisitionParams(detector_cols=200, detector_rows=4, supersample=4, flux_photons=None)
    for g in energy_geometries(AcquisitionParams(center_offset_px=2.0)):
        a = 1 - detect(od, [0.0], g, p, fine_voxel_um=v)[0, 0]
        col = (a * np.arange(a.size)).sum() / a.sum()
        expect = (200 - 1) / 2 + g.center_offset_px + 1.0 / g.pixel_size_um
        assert col == pytest.approx(expect, abs=0.02)


def _variance_check(t_value, flux, n_flats, rng):
    p = AcquisitionParams(detector_rows=64, detector_cols=64, flux_photons=flux, n_flats=n_flats,
                          n_darks=n_flats, dark_counts=100.0)
    t = np.full((50, 64, 64), t_value)
    data = expose(t, p, rng)
    flats, darks = flats_and_darks(p, rng)
    dark = darks.mean(0)
    lt = -np.log((data - dark) / (flats.mean(0) - dark))
    i0t, d = flux * t_value, 100.0
    # photon and dark noise of the projection, of the averaged flat, and the
    # shared dark estimate (enters with weight 1/(I0 T) - 1/I0)
    expect = ((i0t + d) / i0t**2 + (flux + d) / (n_flats * flux**2)
              + d / n_flats * (1 / i0t - 1 / flux) ** 2)
    # over all pixels and projections: projection noise plus the per-pixel
    # pattern of the averaged flat and dark
    measured = np.var(lt)
    return measured, expect, lt


@pytest.mark.parametrize("t_value", [1.0, 0.3])
def test_noise_variance_matches_poisson(t_value):
    rng = np.random.default_rng(7)
    measured, expect, lt = _variance_check(t_value, 2e4, 10, rng)
    assert measured == pytest.approx(expect, rel=0.10)
    # with the flat noise averaged away the variance is 1 / (I0 T) (+ dark)
    m2, e2, _ = _variance_check(t_value, 2e4, 400, rng)
    assert m2 == pytest.approx(1 / (2e4 * t_value), rel=0.10)
    assert abs(lt.mean() + np.log(t_value)) < 0.01


def test_noise_free_and_reproducible():
    p = AcquisitionParams(detector_rows=4, detector_cols=5, flux_photons=None)
    t = np.full((2, 4, 5), 0.25)
    assert np.array_equal(expose(t, p, 0), t.astype(np.float32))
    f, d = flats_and_darks(p)
    assert np.all(f == 1) and np.all(d == 0)
    q = AcquisitionParams(detector_rows=4, detector_cols=5)
    assert np.array_equal(expose(t, q, 3), expose(t, q, 3))
    assert np.all(expose(t, q, 3) == np.round(expose(t, q, 3)))
    with pytest.raises(ValueError, match="transmission"):
        expose(-t, q, 0)


def test_slab_of_fine_rows_gives_the_band_of_the_whole_detector():
    acq = AcquisitionParams(detector_cols=20, detector_rows=12, pixel_size_um=0.2, supersample=3,
                            drift_px=2.0, center_offset_px=1.3)
    geom = energy_geometries(acq, rng=1)[2]  # magnified and drifted
    rng = np.random.default_rng(0)
    od = rng.uniform(0, 2, (5, 36, 70)).astype(np.float32)
    theta = np.linspace(0, 180, 5)
    whole = detect(od, theta, geom, acq)
    for rows in [(0, 1), (3, 7), (11, 12)]:
        lo, hi = fine_rows_needed(rows, geom, acq, 36)
        band = detect(od[:, lo:hi], theta, geom, acq, rows=rows, fine_z_start=lo, fine_z_total=36)
        np.testing.assert_array_equal(band, whole[:, rows[0]:rows[1]])
    with pytest.raises(ValueError, match="rows"):
        detect(od, theta, geom, acq, rows=(5, 13))
