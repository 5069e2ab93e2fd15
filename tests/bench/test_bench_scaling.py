"""Scaling of run time with the detector width N; ``bench/make_results.py`` fits
the exponent of t ∝ N^k (log-log slope) per kernel.

Kernels and problem sizes:

``fbp``        ``reconstruct(algorithm="fbp")`` of ``SLICES`` slices of N x N from
               ceil(π N / 2) angles over [0°, 180°) (the angular sampling that
               matches N columns): expected k ≈ 3 (N² pixels x ~N angles).
``projection`` synth's ``forward_project`` of the same stack at the same angles:
               expected k ≈ 3.
``process``    the whole ``pipeline.process.process`` (reconstruction of three
               energies, registration, binning, segmentation, analysis; no
               figures) of a scan simulated from the ``quick`` preset with N
               detector columns and ``PROCESS_ROWS`` rows (fixed pixel size,
               so the field of view grows with N) and the paper's angular
               density, ``process_projections(N)`` = max(60, round(721 N / 1667))
               projections over 240° (60, 111, 221).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trixanes.pipeline.process import ProcessOptions, process
from trixanes.pipeline.reconstruct import reconstruct
from trixanes.synth.config import Scenario
from trixanes.synth.projector import forward_project
from trixanes.synth.simulate import simulate

from .conftest import run

SLICES = 32
PROCESS_ROWS = 16
FULL_N = (128, 256, 512)
SMALL_N = (32, 48, 64)


def _n_values(full):
    return FULL_N if full else SMALL_N


def n_angles(n: int) -> int:
    return math.ceil(math.pi * n / 2)


def process_projections(n: int) -> int:
    """The paper's 721 projections for 1667 columns, scaled to n columns (at least 60)."""
    return max(60, round(721 * n / 1667))


@pytest.fixture(scope="module", params=range(3), ids=lambda i: f"size{i}")
def n(request, full):
    return _n_values(full)[request.param]


def _stack(n, full):
    slices = SLICES if full else 4
    rng = np.random.default_rng(n)
    vol = rng.random((slices, n, n), dtype=np.float32)
    theta = np.linspace(0.0, 180.0, n_angles(n), endpoint=False)
    return vol, theta, slices


def _info(kernel, n, size, rounds):
    return dict(kernel=f"scaling: {kernel}", scaling=kernel, n=n, impl="trixanes", ours=True, size=size,
                rounds_used=rounds)


@pytest.mark.benchmark(group="scaling: fbp")
def test_scaling_fbp(benchmark, n, full, workers):
    vol, theta, slices = _stack(n, full)
    proj = forward_project(vol[None], theta)[0]
    size = f"{slices} x {n}² px, {theta.size} angles"
    out = run(benchmark, lambda: reconstruct(proj, theta, algorithm="fbp"), rounds=3,
              workers=f"{workers} threads", **_info("fbp", n, size, 3))
    assert out.shape == (slices, n, n)


@pytest.mark.benchmark(group="scaling: projection")
def test_scaling_projection(benchmark, n, full, workers):
    vol, theta, slices = _stack(n, full)
    size = f"{slices} x {n}² px, {theta.size} angles"
    out = run(benchmark, lambda: forward_project(vol[None], theta), rounds=3,
              workers=f"{workers} threads", **_info("projection", n, size, 3))
    assert out.shape == (1, theta.size, slices, n)


@pytest.fixture(scope="module")
def simulations(full, tmp_path_factory):
    """One simulated scan set per N (simulated once, untimed), and one untimed
    ``process`` run on the smallest so that the timed runs find every kernel compiled."""
    rows = PROCESS_ROWS
    sims = {}
    for n in _n_values(full):
        sc = Scenario.preset("quick").replace(acquisition={
            "detector_cols": n, "detector_rows": rows, "n_projections": process_projections(n)})
        sims[n] = (simulate(sc, tmp_path_factory.mktemp(f"sim{n}"), progress=False), sc, rows)
    smallest = sims[min(sims)][0]
    process(smallest.scan_paths, smallest.references_path, tmp_path_factory.mktemp("warm"),
            ProcessOptions(figures=False), progress=False)
    return sims


@pytest.mark.benchmark(group="scaling: process")
def test_scaling_process(benchmark, n, full, simulations, tmp_path_factory, workers):
    sim, sc, rows = simulations[n]
    n_proj = len(np.asarray(_angles(sc)))
    size = f"3 energies x {n_proj} proj. x {rows} x {n} px"
    rounds = 2 if n < max(_n_values(full)) else 1

    def go():
        return process(sim.scan_paths, sim.references_path, tmp_path_factory.mktemp(f"proc{n}"),
                       ProcessOptions(figures=False), progress=False)

    benchmark.extra_info.update(workers=f"{workers} threads", **_info("process", n, size, rounds))
    res = benchmark.pedantic(go, rounds=rounds, iterations=1, warmup_rounds=0)
    assert res.limap_path.is_file()


def _angles(sc):
    from trixanes.synth.acquisition import projection_angles

    return projection_angles(sc.acquisition)
