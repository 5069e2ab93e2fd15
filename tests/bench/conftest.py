"""Shared machinery of the benchmarks: sizes, peers' worker pool, records.

Every benchmark stores what ``bench/make_results.py`` needs in
``benchmark.extra_info``:

``kernel``   what is computed ("fbp", "forward projection", ...);
``impl``     who computes it ("trixanes", "skimage iradon", "astra CPU FBP", ...);
``ours``     True for trixanes' own code (the reference of the group's ratios);
``size``     the problem size the time refers to, in words;
``scale``    factor from the measured time to the time of ``size`` (peers that
             are timed on a subset of the slices, the cost being linear in slices);
``workers``  threads or processes the code ran on;
``accuracy`` an accuracy figure of that implementation, in words (optional).

Scaling benchmarks add ``scaling`` (the kernel name) and ``n`` (the size).

Run with ``--benchmark-disable`` (the default of the repository's pytest
configuration) the benchmarks run once each on small sizes, as plain tests;
``TRIXANES_BENCH_SMALL=1`` times the small sizes (to try the tooling quickly).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import platform
import sys

import numba
import numpy as np
import pytest


def astra_or_none():
    """The astra module, or None when the optional ``bench`` extra is missing."""
    try:
        import astra
    except Exception:  # ImportError, or a broken CUDA runtime under it
        return None
    return astra


ASTRA_MISSING = "astra-toolbox not importable (pip install 'trixanes[bench]' or astra-toolbox)"


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else platform's guess."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@pytest.fixture(scope="session")
def full(request) -> bool:
    """True when benchmarks are timed (full sizes); False for the quick plain-test
    run (``--benchmark-disable``) or when ``TRIXANES_BENCH_SMALL=1`` asks for small sizes."""
    if os.environ.get("TRIXANES_BENCH_SMALL", "") not in ("", "0"):
        return False
    return not request.config._benchmarksession.disabled


@pytest.fixture(scope="session")
def workers() -> int:
    """Threads numba uses; the peers get as many worker processes."""
    return numba.get_num_threads()


@pytest.fixture(scope="session")
def pool(workers):
    """A process pool for the peers' slice-by-slice loops (skimage, astra).

    Their 2-D routines hold the GIL (astra) or are single-threaded numpy, so
    they get the machine's cores through processes, each one slice at a time:
    the fair comparison with our multi-threaded kernels. ``fork`` so that the
    workers need not re-import this module by name.
    """
    ctx = mp.get_context("fork")
    with ctx.Pool(workers) as p:
        p.map(_warm, range(workers))
        yield p


def _warm(_):
    astra_or_none()
    import skimage.transform  # noqa: F401
    return os.getpid()


def run(benchmark, fn, *, rounds: int, warmup: int | None = None, **info):
    """``benchmark.pedantic(fn)`` with ``rounds`` timed rounds; record ``info``.

    By default one untimed warm-up round precedes them (when ``rounds`` > 1):
    it compiles numba kernels and fills caches so that every timed round
    measures the steady state. Returns ``fn()``'s result.
    """
    info.setdefault("ours", False)
    info.setdefault("scale", 1.0)
    benchmark.extra_info.update(info)
    if warmup is None:
        warmup = 1 if rounds > 1 else 0
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=warmup)


def rel_rmse(a, b, mask=None) -> float:
    """‖a − b‖ / ‖b‖ over ``mask`` (all elements by default)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if mask is not None:
        mask = np.broadcast_to(mask, a.shape)
        a, b = a[mask], b[mask]
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


def disk_mask(n: int, margin: float = 1.0) -> np.ndarray:
    """Pixels of an n x n slice inside the reconstruction circle, ``margin`` px in."""
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    return xx**2 + yy**2 <= ((n - 1) / 2 - margin) ** 2


def shepp_logan(n: int) -> np.ndarray:
    """Shepp-Logan phantom resampled to n x n (anti-aliased), zero outside the circle."""
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    img = resize(shepp_logan_phantom(), (n, n), anti_aliasing=True, order=1)
    return (img * disk_mask(n, 0.5)).astype(np.float64)


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["cpu_model"] = cpu_model()
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["numba_threads"] = numba.get_num_threads()
    machine_info["numba_threading_layer_requested"] = numba.config.THREADING_LAYER
    machine_info["loadavg_at_start"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    astra = astra_or_none()
    machine_info["astra_version"] = getattr(astra, "__version__", None) if astra else None
    from trixanes._shared import cuda  # imports no CuPy by itself

    if cuda.cupy_available():
        import cupy

        machine_info["gpu"] = cuda.device_name()
        machine_info["cupy_version"] = cupy.__version__


def pytest_benchmark_update_json(config, benchmarks, output_json):
    args = " ".join(str(a) for a in config.invocation_params.args)
    output_json["command"] = f"{os.path.relpath(sys.executable)} -m pytest {args}"
    output_json["loadavg_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
