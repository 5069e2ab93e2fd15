"""The GPU (CuPy) backends against the numba kernels: FBP, forward projection, SIRT,
OS-SIRT (pipeline.gpu) and the simulator's projection (synth.gpu).

Problems (those of ``test_bench_fbp`` and ``test_bench_project``): ``n_slices``
slices of N x N from N detector columns, ``n_angles`` angles over [0°, 180°),
ramp filter; SIRT: ``sirt_iter`` iterations, OS-SIRT ``os_passes`` passes, on
the first ``sirt_slices`` slices; OS-SIRT at the paper's width (`paper_sizes`):
1024 columns, 721 angles over 240°, a few slices. Synth projection (`synth_sizes`): ``n_maps`` component maps of
``n_slices`` slices of N x N onto ``n_s`` fine bins, Joseph's method. Both backends run on
the same data in the same run. The GPU times are
end to end, as a caller sees them: host -> device copies, kernels, device ->
host copies, with the device synchronized inside the timed function.

Accuracy (not timed): the GPU result's relative RMS difference from numba's.

Skipped, saying why, without CuPy and a usable CUDA device.
"""

from __future__ import annotations

import numpy as np
import pytest

from trixanes.pipeline import gpu, projector
from trixanes.pipeline.reconstruct import DEFAULT_ITERATIONS, OS_SUBSETS, reconstruct
from trixanes.synth import projector as synth_projector
from trixanes._shared import cuda

from .conftest import disk_mask, rel_rmse, run

pytestmark = pytest.mark.skipif(not cuda.cupy_available(),
                                reason=f"needs CuPy and a CUDA GPU: {cuda.unavailable_reason()}")

TOL = 1e-4  # GPU against numba, relative RMS: FBP and projection
SIRT_TOL = 1e-3


def sizes(full: bool) -> dict:
    if full:
        return dict(n=256, n_slices=256, n_angles=361, sirt_slices=32, sirt_iter=50, os_passes=10)
    return dict(n=64, n_slices=8, n_angles=91, sirt_slices=4, sirt_iter=5, os_passes=2)


def _label(s, slices=None):
    return f"{slices or s['n_slices']} x {s['n']}² px, {s['n_angles']} angles"


def _on_gpu() -> str:
    return f"1 GPU ({cuda.device_name()})"


def _synced(fn):
    """``fn`` followed by a device synchronization, so that the time covers all GPU work."""
    import cupy

    def timed():
        out = fn()
        cupy.cuda.Device().synchronize()
        return out

    return timed


def _random_scan(s, theta, seed):
    """(volume (z, n, n), its numba projections (angle, z, col)) of random content."""
    n = s["n"]
    # random content inside the circle: no layer can skip zeros or cache a result
    vol = np.random.default_rng(seed).random((s["n_slices"], n, n), dtype=np.float32) * disk_mask(n)
    return vol, projector.forward(vol, *projector.angle_tables(theta), (n - 1) / 2, n)


@pytest.fixture(scope="module")
def problem(full):
    """(volume (z, n, n), theta, its numba projections (angle, z, col), sizes)."""
    s = sizes(full)
    theta = np.linspace(0.0, 180.0, s["n_angles"], endpoint=False)
    vol, proj = _random_scan(s, theta, 0)
    return vol, theta, proj, s


@pytest.fixture(scope="module")
def numba_out():
    """Results of the numba benchmarks, the references of the GPU ones."""
    return {}


def _reference(numba_out, key, fn):
    if key not in numba_out:  # the numba benchmark was deselected
        numba_out[key] = fn()
    return numba_out[key]


# ------------------------------------------------------------------ fbp
def _fbp(proj, theta, backend):
    return lambda: reconstruct(proj, theta, algorithm="fbp", backend=backend)


@pytest.mark.benchmark(group="fbp")
def test_fbp_numba(benchmark, problem, numba_out, workers):
    _, theta, proj, s = problem
    out = run(benchmark, _fbp(proj, theta, "numba"), rounds=3, kernel="fbp",
              impl="trixanes reconstruct (numba)", ours=True, size=_label(s), workers=f"{workers} threads")
    assert out.shape == (s["n_slices"], s["n"], s["n"])
    numba_out["fbp"] = out


@pytest.mark.benchmark(group="fbp")
def test_fbp_cupy(benchmark, problem, numba_out):
    _, theta, proj, s = problem
    out = run(benchmark, _synced(_fbp(proj, theta, "cupy")), rounds=5, kernel="fbp",
              impl="trixanes reconstruct (cupy, GPU)", ours=True, size=_label(s), workers=_on_gpu())
    err = rel_rmse(out, _reference(numba_out, "fbp", _fbp(proj, theta, "numba")))
    benchmark.extra_info["accuracy"] = f"rel. RMS diff. from numba {err:.1e} (limit {TOL:g})"
    assert err < TOL


# ------------------------------------------------------------------ forward projection
def _forward(module, vol, theta):
    n = vol.shape[1]
    return lambda: module.forward(vol, *projector.angle_tables(theta), (n - 1) / 2, n)


@pytest.mark.benchmark(group="forward projection")
def test_project_numba(benchmark, problem, workers):
    vol, theta, proj, s = problem
    out = run(benchmark, _forward(projector, vol, theta), rounds=3, kernel="forward projection",
              impl="trixanes pipeline projector.forward (pixel-driven, numba)", ours=True, size=_label(s),
              workers=f"{workers} threads")
    np.testing.assert_array_equal(out, proj)


@pytest.mark.benchmark(group="forward projection")
def test_project_cupy(benchmark, problem):
    vol, theta, proj, s = problem
    out = run(benchmark, _synced(_forward(gpu, vol, theta)), rounds=5, kernel="forward projection",
              impl="trixanes pipeline gpu.forward (pixel-driven, cupy, GPU)", ours=True, size=_label(s),
              workers=_on_gpu())
    err = rel_rmse(out, proj)
    benchmark.extra_info["accuracy"] = f"rel. RMS diff. from numba {err:.1e} (limit {TOL:g})"
    assert err < TOL


# ------------------------------------------------------------------ sirt, os-sirt
# (algorithm, iterations key): SIRT for sirt_iter iterations, OS-SIRT for its default passes
ITERATIVE = {"sirt": ("sirt", "sirt_iter"), "os-sirt": ("os-sirt", "os_passes")}


def _iterative(proj, theta, s, backend, algorithm):
    sub = np.ascontiguousarray(proj[:, :s["sirt_slices"]])
    n_iter = s[ITERATIVE[algorithm][1]]
    return lambda: reconstruct(sub, theta, algorithm=algorithm, n_iter=n_iter, backend=backend)


def _iterative_info(s, algorithm):
    n_iter = s[ITERATIVE[algorithm][1]]
    what = "iterations" if algorithm == "sirt" else f"passes of {OS_SUBSETS} subsets"
    return dict(kernel=f"{algorithm} ({n_iter} {what}, non-negative)", ours=True,
                size=f"{_label(s, s['sirt_slices'])}, {n_iter} {what}")


_BY_ALGORITHM = [pytest.param(a, marks=pytest.mark.benchmark(group=a)) for a in ITERATIVE]


@pytest.mark.parametrize("algorithm", _BY_ALGORITHM)
def test_iterative_numba(benchmark, problem, numba_out, workers, algorithm):
    _, theta, proj, s = problem
    # one round, no warm-up: the kernels are compiled by now and a round is long
    out = run(benchmark, _iterative(proj, theta, s, "numba", algorithm), rounds=1,
              impl="trixanes reconstruct (numba)", workers=f"{workers} threads", **_iterative_info(s, algorithm))
    assert out.shape == (s["sirt_slices"], s["n"], s["n"]) and out.min() >= 0
    numba_out[algorithm] = out


@pytest.mark.parametrize("algorithm", _BY_ALGORITHM)
def test_iterative_cupy(benchmark, problem, numba_out, algorithm):
    _, theta, proj, s = problem
    out = run(benchmark, _synced(_iterative(proj, theta, s, "cupy", algorithm)), rounds=3,
              impl="trixanes reconstruct (cupy, GPU)", workers=_on_gpu(), **_iterative_info(s, algorithm))
    ref = _reference(numba_out, algorithm, _iterative(proj, theta, s, "numba", algorithm))
    err = rel_rmse(out, ref)
    benchmark.extra_info["accuracy"] = f"rel. RMS diff. from numba {err:.1e} (limit {SIRT_TOL:g})"
    assert err < SIRT_TOL


# ------------------------------------------------------------------ os-sirt at the paper's width
def paper_sizes(full: bool) -> dict:
    """The paper's detector (1024 columns, 721 angles over 240°) on a few slices: the time
    per slice, times 1024, is a paper-size scan's reconstruction time."""
    if full:
        return dict(n=1024, n_slices=16, n_angles=721, passes=DEFAULT_ITERATIONS["os-sirt"])
    return dict(n=64, n_slices=2, n_angles=46, passes=2)


@pytest.fixture(scope="module")
def paper_problem(full):
    s = paper_sizes(full)
    theta = np.linspace(-120.0, 120.0, s["n_angles"])
    return _random_scan(s, theta, 2)[1], theta, s


def _paper(proj, theta, s, backend):
    return lambda: reconstruct(proj, theta, algorithm="os-sirt", n_iter=s["passes"], backend=backend)


def _paper_info(s):
    return dict(kernel=f"os-sirt at the paper's width ({s['passes']} passes)", ours=True,
                size=f"{s['n_slices']} x {s['n']}² px, {s['n_angles']} angles over 240°, {s['passes']} passes")


@pytest.mark.benchmark(group="os-sirt, paper width")
def test_paper_os_sirt_numba(benchmark, paper_problem, numba_out, workers):
    proj, theta, s = paper_problem
    out = run(benchmark, _paper(proj, theta, s, "numba"), rounds=1, impl="trixanes reconstruct (numba)",
              workers=f"{workers} threads", **_paper_info(s))
    assert out.shape == (s["n_slices"], s["n"], s["n"])
    numba_out["paper"] = out


@pytest.mark.benchmark(group="os-sirt, paper width")
def test_paper_os_sirt_cupy(benchmark, paper_problem, numba_out):
    proj, theta, s = paper_problem
    out = run(benchmark, _synced(_paper(proj, theta, s, "cupy")), rounds=3, impl="trixanes reconstruct (cupy, GPU)",
              workers=_on_gpu(), **_paper_info(s))
    err = rel_rmse(out, _reference(numba_out, "paper", _paper(proj, theta, s, "numba")))
    benchmark.extra_info["accuracy"] = f"rel. RMS diff. from numba {err:.1e} (limit {SIRT_TOL:g})"
    assert err < SIRT_TOL


# ------------------------------------------------------------------ synth projection
def synth_sizes(full: bool) -> dict:
    if full:  # the maps of a linear-combination basis (2 phases, 2 Li nodes); numba ~1.5 s, 16 cores
        return dict(n_maps=4, n=512, n_slices=64, n_angles=361, n_s=560)
    return dict(n_maps=1, n=64, n_slices=4, n_angles=31, n_s=72)


@pytest.fixture(scope="module")
def synth_problem(full):
    """(component maps (c, z, n, n), theta over [0°, 180°], sizes)."""
    s = synth_sizes(full)
    rng = np.random.default_rng(1)
    maps = rng.random((s["n_maps"], s["n_slices"], s["n"], s["n"]), dtype=np.float32) * disk_mask(s["n"])
    return maps, np.linspace(0.0, 180.0, s["n_angles"]), s


def _synth(maps, theta, s, backend):
    return lambda: synth_projector.forward_project(maps, theta, n_s=s["n_s"], backend=backend)


def _synth_info(s):
    return dict(kernel="synth projection", ours=True,
                size=f"{s['n_maps']} maps x {s['n_slices']} x {s['n']}² px, {s['n_angles']} angles, "
                     f"{s['n_s']} bins")


@pytest.mark.benchmark(group="synth projection")
def test_synth_project_numba(benchmark, synth_problem, numba_out, workers):
    maps, theta, s = synth_problem
    out = run(benchmark, _synth(maps, theta, s, "numba"), rounds=3,
              impl="trixanes synth forward_project (Joseph, numba)", workers=f"{workers} threads",
              **_synth_info(s))
    assert out.shape == (s["n_maps"], s["n_angles"], s["n_slices"], s["n_s"])
    numba_out["synth"] = out


@pytest.mark.benchmark(group="synth projection")
def test_synth_project_cupy(benchmark, synth_problem, numba_out):
    maps, theta, s = synth_problem
    out = run(benchmark, _synced(_synth(maps, theta, s, "cupy")), rounds=5,
              impl="trixanes synth forward_project (Joseph, cupy, GPU)", workers=_on_gpu(), **_synth_info(s))
    err = rel_rmse(out, _reference(numba_out, "synth", _synth(maps, theta, s, "numba")))
    benchmark.extra_info["accuracy"] = f"rel. RMS diff. from numba {err:.1e} (limit {TOL:g})"
    assert err < TOL
