"""Tests of pipeline.center on simulated sinograms with a known axis and on the real tooth scan."""


from helpers import SHARED_DATA, needs

import h5py
import numpy as np
import pytest
from scipy.ndimage import shift as nd_shift
from skimage.data import shepp_logan_phantom
from skimage.transform import radon, rescale

from trixanes.pipeline.center import find_center
from trixanes.pipeline.normalize import normalize

TOOTH = SHARED_DATA / "tooth_dataexchange.h5"
# TomoPy's tutorial for this dataset (tomopy/doc/source/ipynb/tomopy.ipynb, "Reconstruction with
# TomoPy": find_center(proj, theta, init=290, ind=0, tol=0.5) on tooth.h5) gives about 296 px.
TOOTH_CENTER_TOMOPY = 296.0


@pytest.fixture(scope="module")
def phantom():
    return np.pad(rescale(shepp_logan_phantom(), 0.32), ((0, 1), (0, 1)))  # 129 px, axis at 64


@pytest.mark.parametrize("offset", [2.3, -4.7, 0.4])
@pytest.mark.parametrize("span, n_angles", [(180, 180), (360, 360), (150, 150)])
def test_known_subpixel_offset(phantom, offset, span, n_angles):
    theta = np.linspace(0, span, n_angles, endpoint=False)
    sino = radon(phantom, theta, circle=True).T
    shifted = nd_shift(sino, (0, offset), order=3, mode="constant")  # axis moves to 64 + offset
    est = find_center(shifted, theta)
    assert abs(est.center_px - (64 + offset)) < 0.5, est


@needs('tooth_dataexchange.h5')
def test_real_tooth_within_one_pixel_of_tomopy():
    with h5py.File(TOOTH) as f:
        proj = normalize(f["exchange/data"][:], f["exchange/data_white"][:], f["exchange/data_dark"][:]).projections
        theta = f["exchange/theta"][:]
    est = find_center(proj, theta)
    assert abs(est.center_px - TOOTH_CENTER_TOMOPY) <= 1.0, est  # 296.25: the centroid fit
    assert "within the field of view" in est.method  # every view holds the whole tooth (1.3 %)


def test_validation():
    with pytest.raises(ValueError, match="theta_deg"):
        find_center(np.ones((5, 1, 8)), np.arange(4.0))
    with pytest.raises(ValueError, match="projections"):
        find_center(np.ones(5), np.arange(5.0))


def _electrode_slice(seed, n=384, n_particles=150):
    # touching particles of random attenuation filling a disk inside the field of view
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    img = np.zeros((n, n), np.float32)
    for _ in range(n_particles):
        r0, a, rad = rng.uniform(0, 0.4 * n), rng.uniform(0, 2 * np.pi), rng.uniform(0.03 * n, 0.07 * n)
        img[(xx - r0 * np.cos(a)) ** 2 + (yy - r0 * np.sin(a)) ** 2 < rad**2] = rng.uniform(0.5, 1.0)
    return img, rng


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_few_views_of_a_sample_in_the_field_keep_the_centroid_fit(seed):
    # 31 views over 240° (the dose study's sparsest, 23 per half-turn): the FBP criterion
    # has no optimum there and pulled the centre 7-9 px off the exact centroid fit
    from trixanes.synth.projector import forward_project

    img, rng = _electrode_slice(seed)
    theta = np.linspace(-120, 120, 31)
    axis = (img.shape[0] - 1) / 2 + 3.0
    sino = forward_project(img[None, None], theta, center_s=axis)[0]
    sino += rng.normal(0, 0.01 * sino.max(), sino.shape).astype(np.float32)
    est = find_center(sino, theta)
    assert abs(est.center_px - axis) < 0.1, est  # 0.00-0.03 px; before: 7.0-9.1 px
    assert "within the field of view" in est.method


def test_a_sample_wider_than_the_field_keeps_the_wide_search(phantom):
    # cropped projections: the mass changes with angle, the centroid fit is not exact
    theta = np.linspace(0, 180, 180, endpoint=False)
    sino = radon(np.pad(phantom, 40), theta, circle=True).T[:, 60:-60]  # 209 px wide, 89 kept
    est = find_center(sino, theta)
    assert "within the field of view" not in est.method
    assert abs(est.center_px - (104 - 60)) < 1.0, est
