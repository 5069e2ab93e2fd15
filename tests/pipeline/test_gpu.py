"""Tests of pipeline.gpu, the optional CuPy backend, against the numba kernels.

Everything but the error-message test needs CuPy and a usable CUDA device
(``cupy_available()``) and is skipped, saying why, elsewhere.
"""

import numpy as np
import pytest

from trixanes.pipeline import gpu, projector
from trixanes.pipeline.reconstruct import fbp, reconstruct
from trixanes._shared import cuda

GPU = cuda.cupy_available()
needs_gpu = pytest.mark.skipif(not GPU, reason=f"needs CuPy and a CUDA GPU: {cuda.unavailable_reason()}")

# (n, ncol, nz, centre): odd and even grids, detectors wider and narrower than the
# grid, off-centre axes, one slice and more slices than a warp
GEOMETRIES = [(21, 25, 3, 12.7), (20, 24, 5, 10.3), (17, 17, 1, 8.0), (24, 20, 2, 8.6), (33, 40, 37, 21.6)]


def _theta(rng, k=29):
    """Non-uniform angles over more than a turn, with the axis-aligned and diagonal ones."""
    return np.r_[np.sort(rng.uniform(-200.0, 400.0, k)), 0.0, 45.0, 90.0, 135.0, 180.0, 270.0]


def _assert_close(ours, ref, rel):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape and np.isfinite(ours).all()
    np.testing.assert_allclose(ours, ref, rtol=rel, atol=rel * np.abs(ref).max())


def _phantom(nz, n, rng):
    """Random discs inside the reconstruction circle, different per slice."""
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    vol = np.zeros((nz, n, n), np.float32)
    for z in range(nz):
        for _ in range(4):
            cy, cx = rng.uniform(-n / 4, n / 4, 2)
            vol[z] += rng.uniform(0.5, 1.0) * ((yy - cy) ** 2 + (xx - cx) ** 2 <= (rng.uniform(2, n / 5)) ** 2)
    return vol


@pytest.fixture(scope="module")
def scan():
    """Noisy projections of a phantom, off-centre axis, non-uniform angles: (proj, theta, centre)."""
    rng = np.random.default_rng(3)
    n, nz = 40, 3
    theta = np.sort(rng.uniform(0.0, 180.0, 50))
    center = 20.7
    proj = projector.forward(_phantom(nz, n, rng), *projector.angle_tables(theta), center, n)
    proj += rng.normal(0.0, 0.02 * proj.max(), proj.shape).astype(np.float32)
    return proj, theta, center


@pytest.mark.skipif(GPU, reason="CuPy and a CUDA GPU are available here")
def test_cupy_backend_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match=r"backend='cupy' needs CuPy and a CUDA GPU"):
        reconstruct(np.ones((4, 1, 8), np.float32), np.arange(4.0) * 45, backend="cupy")
    with pytest.raises(ValueError, match="needs CuPy"):
        gpu.forward(np.ones((1, 8, 8), np.float32), *projector.angle_tables([0.0]), 3.5, 8)


@needs_gpu
@pytest.mark.parametrize("n, ncol, nz, center", GEOMETRIES)
def test_forward_matches_numba(n, ncol, nz, center):
    rng = np.random.default_rng(n)
    cos_t, sin_t = projector.angle_tables(_theta(rng))
    x = rng.standard_normal((nz, n, n)).astype(np.float32)
    _assert_close(gpu.forward(x, cos_t, sin_t, center, ncol),
                  projector.forward(x, cos_t, sin_t, center, ncol), 1e-4)


@needs_gpu
@pytest.mark.parametrize("n, ncol, nz, center", GEOMETRIES)
def test_backproject_matches_numba(n, ncol, nz, center):
    rng = np.random.default_rng(n + 1)
    theta = _theta(rng)
    cos_t, sin_t = projector.angle_tables(theta)
    y = rng.standard_normal((theta.size, nz, ncol)).astype(np.float32)
    w = rng.uniform(0.5, 2.0, theta.size)
    w[2] = 0.0  # a zero weight skips its angle
    _assert_close(gpu.backproject(y, cos_t, sin_t, w, center, n),
                  projector.backproject(y, cos_t, sin_t, w, center, n), 1e-4)


@needs_gpu
@pytest.mark.parametrize("n, ncol, nz, center", GEOMETRIES)
def test_pair_is_adjoint(n, ncol, nz, center):
    rng = np.random.default_rng(n + 2)
    theta = _theta(rng)
    cos_t, sin_t = projector.angle_tables(theta)
    x = rng.random((nz, n, n)).astype(np.float32)
    y = rng.random((theta.size, nz, ncol)).astype(np.float32)
    ax = gpu.forward(x, cos_t, sin_t, center, ncol)
    aty = gpu.backproject(y, cos_t, sin_t, np.ones(theta.size), center, n)
    assert np.vdot(ax.astype(np.float64), y) == pytest.approx(np.vdot(x.astype(np.float64), aty), rel=1e-5)


@needs_gpu
@pytest.mark.parametrize("filter_name", ["ramp", "hann"])
def test_fbp_matches_numba(scan, filter_name):
    proj, theta, center = scan
    _assert_close(gpu.fbp(proj, theta, center, filter_name), fbp(proj, theta, center, filter_name), 1e-4)


@needs_gpu
@pytest.mark.parametrize("algorithm, nonneg, subsets", [("sirt", False, {}), ("sirt", True, {}),
                                                      ("sirt", True, {"n_subsets": 7}), ("cgls", True, {})])
def test_iterative_match_numba(scan, algorithm, nonneg, subsets):
    proj, theta, center = scan
    ours = getattr(gpu, algorithm)(proj, theta, center, 20, nonneg=nonneg, **subsets)
    ref = getattr(projector, algorithm)(proj, theta, center, 20, nonneg=nonneg, **subsets)
    _assert_close(ours.volume, ref.volume, 1e-3)
    np.testing.assert_allclose(ours.residuals, ref.residuals, rtol=1e-3)
    if nonneg:
        assert ours.volume.min() >= 0.0


@needs_gpu
def test_unconstrained_cgls_matches_numba_to_float32_sensitivity(scan):
    # Unconstrained CGLS in float32 amplifies rounding from about the 7th
    # iteration on (loss of orthogonality): on this scan numba against itself,
    # on data changed by 1e-7, differs by up to 0.7 % after 20 iterations (and
    # float32 from float64 CGLS by 1 %). Hence 1e-4 for 5 iterations, and for
    # 20 a bound that only a wrong operator or recursion would exceed.
    proj, theta, center = scan
    for n_iter, tol, res_tol in ((5, 1e-4, 1e-4), (20, 5e-2, 3e-2)):
        ours = gpu.cgls(proj, theta, center, n_iter, nonneg=False)
        ref = projector.cgls(proj, theta, center, n_iter, nonneg=False)
        _assert_close(ours.volume, ref.volume, tol)
        np.testing.assert_allclose(ours.residuals, ref.residuals, rtol=res_tol)


@needs_gpu
@pytest.mark.parametrize("algorithm", ["fbp", "sirt", "os-sirt", "cgls"])
def test_reconstruct_backend_cupy_matches_numba(scan, algorithm):
    proj, theta, center = scan
    kw = dict(center_px=center, algorithm=algorithm, n_iter=10, pixel_size_um=0.05)
    ours = reconstruct(proj, theta, backend="cupy", **kw)
    assert ours.dtype == np.float32
    _assert_close(ours, reconstruct(proj, theta, backend="numba", **kw), 1e-4 if algorithm == "fbp" else 1e-3)


@needs_gpu
def test_chunks_of_slices_give_the_same_result(scan, monkeypatch):
    proj, theta, center = scan
    cos_t, sin_t = projector.angle_tables(theta)
    vol = _phantom(3, 40, np.random.default_rng(5))
    def run():
        return (gpu.fbp(proj, theta, center), gpu.sirt(proj, theta, center, 5),
                gpu.forward(vol, cos_t, sin_t, center, 40), gpu.sirt(proj, theta, center, 3, n_subsets=4))

    whole = run()
    monkeypatch.setattr(cuda, "MEMORY_FRACTION", 1e-15)  # one slice per chunk
    chunked = run()
    _assert_close(chunked[0], whole[0], 1e-5)
    _assert_close(chunked[1].volume, whole[1].volume, 1e-5)
    np.testing.assert_allclose(chunked[1].residuals, whole[1].residuals, rtol=1e-5)
    _assert_close(chunked[2], whole[2], 1e-6)
    _assert_close(chunked[3].volume, whole[3].volume, 1e-5)
