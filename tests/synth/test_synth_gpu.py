"""Tests of synth.gpu, the optional CuPy forward projector, against synth's numba kernel.

Most need CuPy and a usable CUDA device (``trixanes._shared.cuda.cupy_available()``) and
are skipped, saying why, elsewhere. Imports nothing beyond numpy, numba and
the projector (no xraylib, SimpleITK, dask or porespy), so that a bare GPU
machine runs them.
"""

import subprocess
import sys

import numpy as np
import pytest

from trixanes.synth import gpu, projector
from trixanes._shared import cuda

GPU = cuda.cupy_available()
needs_gpu = pytest.mark.skipif(not GPU, reason=f"needs CuPy and a CUDA GPU: {cuda.unavailable_reason()}")

# (n_components, z, y, x, n_s, center_s): odd and even sizes, y != x, detectors
# wider and narrower than the slice, off-centre axes, one slice and more than a warp
GEOMETRIES = [(2, 3, 21, 25, 31, 14.3), (1, 5, 20, 24, 24, None), (3, 1, 17, 16, 20, 8.0),
              (2, 37, 24, 19, 30, 17.6), (1, 2, 9, 33, 40, 20.5), (2, 4, 30, 30, 22, 9.7)]


def _angles(rng, k=23):
    """Random angles over more than a turn; the axis-aligned ones, the diagonals and their neighbours."""
    fixed = [0.0, 45.0, 90.0, 135.0, 200.0, -70.0, 180.0, 270.0, -90.0, 225.0,
             44.9999, 45.0001, 134.99999, 135.00001, -45.00001, 315.0000001]
    return np.r_[fixed, rng.uniform(-200.0, 400.0, k)]


def _assert_close(ours, ref, rel=1e-5):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape and np.isfinite(ours).all()
    np.testing.assert_allclose(ours, ref, rtol=rel, atol=rel * np.abs(ref).max())


@needs_gpu
@pytest.mark.parametrize("n_c, nz, ny, nx, n_s, center_s", GEOMETRIES)
def test_matches_numba(n_c, nz, ny, nx, n_s, center_s):
    rng = np.random.default_rng(ny * nx + nz)
    comps = rng.standard_normal((n_c, nz, ny, nx)).astype(np.float32)
    comps[-1] = np.abs(comps[-1])  # and one non-negative map, as the simulator's
    theta = _angles(rng)
    ours = gpu.forward_project(comps, theta, n_s=n_s, center_s=center_s)
    assert ours.dtype == np.float32 and ours.shape == (n_c, theta.size, nz, n_s)
    _assert_close(ours, projector.forward_project(comps, theta, n_s=n_s, center_s=center_s))


@needs_gpu
def test_backend_cupy_is_synth_gpu():
    comps = np.random.default_rng(1).random((2, 3, 16, 16), dtype=np.float32)
    theta = [0.0, 30.0, 90.0, 135.0]
    ours = projector.forward_project(comps, theta, n_s=24, center_s=11.0, backend="cupy")
    np.testing.assert_array_equal(ours, gpu.forward_project(comps, theta, n_s=24, center_s=11.0))
    _assert_close(ours, projector.forward_project(comps, theta, n_s=24, center_s=11.0))
    p = gpu.forward_project(np.ones((1, 1, 5, 5), np.float32), [0.0, 90.0])
    assert p[0, :, 0, 2].tolist() == [5.0, 5.0]


@needs_gpu
def test_chunks_of_slices_give_the_same_result(monkeypatch):
    comps = np.random.default_rng(2).random((2, 7, 12, 13), dtype=np.float32)
    theta = np.linspace(-30.0, 250.0, 17)
    whole = gpu.forward_project(comps, theta, n_s=18, center_s=8.2)
    monkeypatch.setattr(cuda, "MEMORY_FRACTION", 1e-15)  # one slice per chunk
    np.testing.assert_array_equal(gpu.forward_project(comps, theta, n_s=18, center_s=8.2), whole)


@needs_gpu
def test_same_checks_as_numba():
    ok = np.ones((1, 2, 4, 4), np.float32)
    for args, kw, match in [((np.ones((2, 4, 4)), [0.0]), {}, "components"),
                            ((ok, []), {}, "angles_deg"), ((ok, [np.nan]), {}, "angles_deg"),
                            ((ok, [0.0]), dict(n_s=0), "n_s"), ((ok, [0.0]), dict(center_s=np.inf), "center_s")]:
        for fn in (gpu.forward_project, projector.forward_project):
            with pytest.raises(ValueError, match=match):
                fn(*args, **kw)
    empty = gpu.forward_project(np.ones((2, 0, 4, 4), np.float32), [0.0, 10.0], n_s=6)
    assert empty.shape == (2, 2, 0, 6) and empty.dtype == np.float32


@pytest.mark.skipif(GPU, reason="CuPy and a CUDA GPU are available here")
def test_cupy_backend_without_gpu_is_a_clear_error():
    comps = np.ones((1, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"backend='cupy' needs CuPy and a CUDA GPU"):
        projector.forward_project(comps, [0.0], backend="cupy")
    with pytest.raises(ValueError, match=r"synth\.gpu needs CuPy"):
        gpu.forward_project(comps, [0.0])


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="backend: must be one of numba, cupy"):
        projector.forward_project(np.ones((1, 1, 8, 8), np.float32), [0.0], backend="gpu")


def test_projector_imports_stay_light():
    # a bare GPU machine has numpy, numba and CuPy, not the simulator's other
    # dependencies; and synth never imports pipeline (nor CuPy before it is asked to)
    code = ("import sys, trixanes.synth.projector, trixanes.synth.gpu; "
            "print(sorted(m for m in ('xraylib', 'SimpleITK', 'dask', 'porespy', 'trixanes.pipeline', 'cupy') "
            "if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"
