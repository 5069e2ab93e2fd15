"""Tests of pipeline.normalize: Beer-Lambert normalization and ring suppression."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.data import shepp_logan_phantom
from skimage.transform import radon, rescale

from trixanes.pipeline.normalize import normalize, remove_rings
from trixanes.pipeline.reconstruct import reconstruct


def test_recovers_line_integrals_with_poisson_free_counts():
    rng = np.random.default_rng(1)
    mu_l = rng.uniform(0, 3, (5, 2, 7))
    dark = rng.uniform(90, 110, (2, 7))
    flat = 20000.0 * rng.uniform(0.8, 1.2, (2, 7))
    data = dark + flat * np.exp(-mu_l)
    out = normalize(data, np.stack([flat + dark] * 3), np.stack([dark] * 2))
    np.testing.assert_allclose(out.projections, mu_l, atol=2e-4)
    assert out.projections.dtype == np.float32 and out.n_clipped == 0


def test_median_rejects_a_zinger_in_one_flat():
    flats = np.full((5, 1, 4), 1010.0)
    flats[2, 0, 1] = 1e6
    data = np.full((1, 1, 4), 10.0 + 1000.0 * np.exp(-1.0))
    out = normalize(data, flats, np.full((1, 4), 10.0), flat_stat="median")
    np.testing.assert_allclose(out.projections, 1.0, atol=1e-5)
    assert normalize(data, flats, np.full((1, 4), 10.0), flat_stat="mean").projections[0, 0, 1] > 2.0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=4, max_size=4), st.floats(-50, 50))
def test_never_nan_or_inf_and_counts_guarded(values, flat_minus_dark):
    data = np.array(values, dtype=np.float64).reshape(1, 1, 4)
    out = normalize(data, np.full((1, 4), 100.0 + flat_minus_dark), np.full((1, 4), 100.0))
    assert np.isfinite(out.projections).all()
    open_beam = np.float32(100.0 + flat_minus_dark) - np.float32(100.0)  # as stored, float32
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (data.astype(np.float32) - np.float32(100.0)) / open_beam
    expected = 4 if open_beam <= 0 else int((~(t >= 1e-6) | ~np.isfinite(t)).sum())
    assert out.n_clipped == expected
    assert out.projections.max() <= -np.log(1e-6) + 1e-3


def test_input_validation():
    with pytest.raises(ValueError, match="flat_stat"):
        normalize(np.ones((1, 1, 2)), np.ones((1, 2)), np.zeros((1, 2)), flat_stat="max")
    with pytest.raises(ValueError, match="flats"):
        normalize(np.ones((1, 1, 2)), np.ones((1, 3)), np.zeros((1, 2)))
    with pytest.raises(ValueError, match="min_transmission"):
        normalize(np.ones((1, 1, 2)), np.ones((1, 2)), np.zeros((1, 2)), min_transmission=0)
    with pytest.raises(ValueError, match="size"):
        remove_rings(np.ones((3, 5)), size=4)


@pytest.fixture(scope="module")
def phantom_sinogram():
    img = np.pad(rescale(shepp_logan_phantom(), 0.32), ((0, 1), (0, 1))) * 0.05  # 129 px, mu up to 0.05/px
    theta = np.linspace(0, 180, 180, endpoint=False)
    return radon(img, theta, circle=True).T.astype(np.float32), theta


def test_remove_rings_barely_changes_clean_sinogram(phantom_sinogram):
    sino, _ = phantom_sinogram
    out = remove_rings(sino)
    assert np.linalg.norm(out - sino) / np.linalg.norm(sino) < 0.01


def test_remove_rings_suppresses_a_stripe_ring(phantom_sinogram):
    sino, theta = phantom_sinogram
    striped = sino.copy()
    striped[:, 80] += 0.05  # a detector column with a wrong gain: a ring of radius 16 px
    clean = reconstruct(sino, theta)[0]
    n = clean.shape[0]
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    ring = np.abs(np.hypot(yy, xx) - 16) < 1.5
    before = np.abs(reconstruct(striped, theta)[0] - clean)[ring].mean()
    after = np.abs(reconstruct(remove_rings(striped), theta)[0] - clean)[ring].mean()
    assert after < 0.25 * before
    # works per row on stacks too
    stack = np.stack([striped, striped], axis=1)
    np.testing.assert_allclose(remove_rings(stack)[:, 1], remove_rings(striped), atol=1e-6)
