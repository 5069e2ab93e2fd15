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
    assert abs(est.center_px - TOOTH_CENTER_TOMOPY) <= 1.0, est
    assert 0 < est.score < 1


def test_validation():
    with pytest.raises(ValueError, match="theta_deg"):
        find_center(np.ones((5, 1, 8)), np.arange(4.0))
    with pytest.raises(ValueError, match="projections"):
        find_center(np.ones(5), np.arange(5.0))
