"""Registration: trixanes ``register_volume`` (rigid + B-spline) against a plain
SimpleITK rigid registration.

Problem: two N³ volumes of the same random particle structure (a smoothed,
thresholded random field, blurred by the resolution, with independent noise),
the moving one shifted by a known sub-voxel translation. Both registrations must
recover it to ``SHIFT_TOL`` voxel. The peer is the registration a SimpleITK
user writes from the documentation: Mattes mutual information (50 bins, 10 %
random sampling), regular-step gradient descent, a centred Euler transform,
three pyramid levels (shrink 4, 2, 1; smoothing 2, 1, 0 voxels), all threads.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

from trixanes.pipeline.register import register_volume

from .conftest import run

SHIFT_ZYX = np.array([1.3, -2.6, 0.7])  # voxels: moving(p) = fixed(p - shift)
SHIFT_TOL = 0.2  # voxel, Euclidean norm of the error
TARGET_S = 20.0


def sizes(full: bool) -> dict:
    return dict(n=128) if full else dict(n=48)


@pytest.fixture(scope="module")
def pair(full):
    n = sizes(full)["n"]
    rng = np.random.default_rng(1)
    field = ndi.gaussian_filter(rng.standard_normal((n, n, n)), 4.0)
    solid = (field > 0.5 * field.std()).astype(np.float32)
    clean = ndi.gaussian_filter(solid, 1.0)
    moving_clean = ndi.shift(clean, SHIFT_ZYX, order=3, mode="nearest")
    noise = 0.05
    fixed = (clean + noise * rng.standard_normal(clean.shape)).astype(np.float32)
    moving = (moving_clean + noise * rng.standard_normal(clean.shape)).astype(np.float32)
    return fixed, moving, n


def sitk_rigid(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """The peer: a textbook SimpleITK rigid registration; returns the (z, y, x) shift, voxels."""
    f = sitk.GetImageFromArray(fixed)
    m = sitk.GetImageFromArray(moving)
    init = sitk.CenteredTransformInitializer(f, m, sitk.Euler3DTransform(),
                                             sitk.CenteredTransformInitializerFilter.GEOMETRY)
    r = sitk.ImageRegistrationMethod()
    r.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    r.SetMetricSamplingStrategy(r.RANDOM)
    r.SetMetricSamplingPercentage(0.10, 1)
    r.SetInterpolator(sitk.sitkLinear)
    r.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=200)
    r.SetOptimizerScalesFromPhysicalShift()
    r.SetShrinkFactorsPerLevel([4, 2, 1])
    r.SetSmoothingSigmasPerLevel([2, 1, 0])
    r.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    r.SetInitialTransform(init, inPlace=False)
    tx = r.Execute(f, m)
    # the Euler transform maps fixed points to moving ones: its translation is
    # the shift of the content, (x, y, z) at unit spacing
    euler = sitk.Euler3DTransform(sitk.CompositeTransform(tx).GetNthTransform(0))
    return np.array(euler.GetTranslation())[::-1]


def _size(n):
    return f"{n}³ voxels, shift {np.round(SHIFT_ZYX, 2).tolist()} vox"


@pytest.mark.benchmark(group="registration")
def test_register_trixanes(benchmark, pair):
    fixed, moving, n = pair
    reg = run(benchmark, lambda: register_volume(fixed, moving, transform="rigid", bspline=True),
              rounds=2, warmup=0,
              kernel="registration", impl="trixanes register_volume (rigid + B-spline)", ours=True,
              size=_size(n), workers="SimpleITK default threads", target_s=TARGET_S)
    err = float(np.linalg.norm(np.asarray(reg.translation_vox) - SHIFT_ZYX))
    benchmark.extra_info["accuracy"] = f"shift error {err:.3f} vox (limit {SHIFT_TOL:g})"
    assert err < SHIFT_TOL


@pytest.mark.benchmark(group="registration")
def test_register_sitk_rigid(benchmark, pair):
    fixed, moving, n = pair
    shift = run(benchmark, lambda: sitk_rigid(fixed, moving), rounds=2, warmup=0,
                kernel="registration", impl="SimpleITK rigid (Mattes MI, 3 levels)",
                size=_size(n), workers="SimpleITK default threads")
    err = float(np.linalg.norm(shift - SHIFT_ZYX))
    benchmark.extra_info["accuracy"] = f"shift error {err:.3f} vox"
    assert err < SHIFT_TOL
