"""Angles, per-energy geometry, projector (radon convention, analytic Gaussian ball)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.transform import radon

from trixanes.synth.acquisition import (
    AcquisitionParams,
    energy_geometries,
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


@pytest.mark.parametrize("tile_bytes, chunk_z", [(1, 1), (4000, 2), (50_000, 3), (2**30, 16)])
def test_tiles_of_march_rows_add_up_to_the_whole_projection(tile_bytes, chunk_z):
    # rectangular slices, an offset axis and angles marching along both axes: a tile of one
    # march row up to the whole slice gives the same sums in the same order (bit for bit)
    from trixanes.synth.projector import project_tiles

    v = np.random.default_rng(5).random((2, 5, 23, 31), dtype=np.float32)
    theta = np.linspace(-120, 120, 17)
    whole = forward_project(v, theta, n_s=40, center_s=21.3)
    asked = []

    def maps_of(z, y, x):
        asked.append(v[:, z, y, x].size)
        return v[:, z, y, x]

    tiled = project_tiles(maps_of, v.shape, theta, 40, 21.3, chunk_z=chunk_z, tile_bytes=tile_bytes)
    np.testing.assert_array_equal(tiled, whole)
    # each tile holds at least one march row and otherwise stays within its budget
    one_row = 2 * min(chunk_z, 5) * 31
    assert max(asked) <= max(one_row, tile_bytes // 8), (max(asked), tile_bytes)
