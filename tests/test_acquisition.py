"""Angles, geometry, projector (radon convention, analytic sphere), detector, noise."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.transform import radon

from synth.acquisition import (
    AcquisitionParams,
    EnergyGeometry,
    detect,
    energy_geometries,
    expose,
    flats_and_darks,
    forward_project,
    projection_angles,
)


def test_default_angles_scaled_from_paper():
    a = projection_angles(AcquisitionParams())
    assert a.size == round(721 * 256 / 1667) and a.dtype == np.float64
    assert a[0] == -120 and a[-1] == 120 and np.all(np.diff(a) > 0)
    assert projection_angles(AcquisitionParams(detector_cols=64)).size == 60
    # the paper's own scan: 721 projections over 240 degrees, 1/3 degree apart
    np.testing.assert_allclose(np.diff(projection_angles(AcquisitionParams(detector_cols=1667))), 1 / 3)


@settings(max_examples=20, deadline=None)
@given(st.floats(0.0, 90.0), st.floats(-180.0, 180.0))
def test_dead_wedge_removes_both_sides(wedge, center):
    p = AcquisitionParams(n_projections=481, dead_wedge_deg=wedge, dead_wedge_center_deg=center)
    a = projection_angles(p)
    full = projection_angles(AcquisitionParams(n_projections=481))
    d = (full - center + 90) % 180 - 90
    assert np.array_equal(a, full[np.abs(d) >= wedge / 2])


def test_params_validation_names_field():
    with pytest.raises(ValueError, match="supersample"):
        AcquisitionParams(supersample=0).validate()
    with pytest.raises(ValueError, match="angle_range_deg"):
        projection_angles(AcquisitionParams(angle_range_deg=(10.0, -10.0)))


def test_energy_geometry_magnification_and_drift():
    p = AcquisitionParams(center_offset_px=3.0, drift_px=2.0)
    g = energy_geometries(p, rng=1)
    e = np.array(p.energies_kev)
    np.testing.assert_allclose([x.pixel_size_um for x in g], 0.08 * 8.30 / e)
    np.testing.assert_allclose([x.center_offset_px for x in g], 3.0 * e / 8.30)
    assert g[0].drift_um == (0, 0, 0)
    assert all(0 < np.max(np.abs(x.drift_um)) <= 2 * 0.08 for x in g[1:])
    off = energy_geometries(AcquisitionParams(zone_plate_magnification=False))
    assert {x.pixel_size_um for x in off} == {0.08}
    ref = energy_geometries(AcquisitionParams(magnification_reference_kev=8.43))
    assert ref[2].pixel_size_um == pytest.approx(0.08)


def _blobs(n):
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    return (np.exp(-((xx - 7) ** 2 + (yy + 4) ** 2) / 60.0)
            + 0.6 * np.exp(-((xx + 10) ** 2 + (yy - 9) ** 2) / 25.0)).astype(np.float32)


def test_projector_matches_skimage_radon():
    img = _blobs(65)
    theta = np.array([0.0, 13.0, 45.0, 90.0, 121.0, 200.0, -70.0, 300.0])
    ours = forward_project(img[None, None], theta)[0, :, 0, :].T
    with warnings.catch_warnings():  # the blobs' far tails touch the corners
        warnings.simplefilter("ignore", UserWarning)
        ref = radon(img, theta)  # circle=True: detector of n bins, axis at (n-1)/2 for odd n
    assert np.max(np.abs(ours - ref)) < 2e-3 * ref.max()
    # column for column: a feature right of the axis at theta = 0 lands right of the middle
    np.testing.assert_allclose(ours.argmax(0), ref.argmax(0))


def test_projector_components_and_offset_center():
    img = _blobs(33)
    comps = np.stack([img, 2 * img, np.zeros_like(img)])[:, None].repeat(3, 1)
    p = forward_project(comps, [10.0, 77.0], n_s=40, center_s=22.5)
    assert p.shape == (3, 2, 3, 40)
    np.testing.assert_allclose(p[1], 2 * p[0], rtol=1e-6)
    assert np.all(p[2] == 0) and np.allclose(p[0, :, 0], p[0, :, 2])
    centered = forward_project(img[None, None], [10.0, 77.0], n_s=40)
    np.testing.assert_allclose(p[0, :, 0, 3:], centered[0, :, 0, :-3], atol=1e-5)


def _grid(n):
    c = np.arange(n) - (n - 1) / 2
    return np.meshgrid(c, c, c, indexing="ij")


def test_projector_matches_analytic_gaussian_ball():
    # a smooth object: sampling is exact enough that any error is the projector's
    z, y, x = _grid(40)
    sig, x0, y0 = 4.0, 3.0, -2.0
    vol = np.exp(-((x - x0) ** 2 + (y - y0) ** 2 + z**2) / (2 * sig**2)).astype(np.float32)
    theta = np.array([0.0, 27.0, 45.0, 100.0, 233.0])
    proj = forward_project(vol[None], theta)[0]
    s = np.arange(40) - 19.5
    s0 = x0 * np.cos(np.deg2rad(theta)) - y0 * np.sin(np.deg2rad(theta))
    expect = (np.sqrt(2 * np.pi) * sig * np.exp(-((s[None, None, :] - s0[:, None, None]) ** 2
                                                  + z[:, 0, 0][None, :, None] ** 2) / (2 * sig**2)))
    # linear interpolation blurs by ~1/6 voxel^2 across the ray: -f''/12, 0.5 % at the peak
    assert np.max(np.abs(proj - expect)) < 7e-3 * expect.max()
    assert abs(proj.sum(axis=(1, 2)) / expect.sum(axis=(1, 2)) - 1).max() < 1e-3  # mass


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
