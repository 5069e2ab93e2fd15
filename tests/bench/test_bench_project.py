"""Forward projection: synth's Joseph projector and the pipeline's pixel-driven one
against astra-toolbox's CPU forward projector and scikit-image ``radon``.

Problem (timed): line integrals of ``N_SLICES`` slices of N x N at ``N_ANGLES``
angles over [0°, 180°) onto N detector columns. The peers are 2-D codes run
slice by slice in a pool of as many processes as numba has threads, timed on a
subset of the slices and scaled to the full stack (``extra_info["scale"]``).

Accuracy (not timed): a ball of radius ``R`` voxels, voxelized as the exact
fraction of each voxel inside it (8³ sub-samples), projected at a few angles.
The reference is the analytic chord 2·sqrt(R² − z² − s²) averaged over the
1 x 1 footprint of the detector pixel (z row, s column), which is what a
voxelized ball's line integral approximates. Over every ray with a chord of more
than 10 voxels, the RMS relative error must stay under 1 % at every angle. The
largest single-ray error is reported, not asserted: at a chord of 10 voxels the
chord changes by ~16 % per voxel of ray offset, so every interpolating
projector (astra's included) is off by several % on the few rays at the rim.
"""

from __future__ import annotations

import numpy as np
import pytest

from trixanes.pipeline import projector
from trixanes.synth.projector import forward_project

from .conftest import ASTRA_MISSING, astra_or_none, run

CHORD_MIN = 10.0  # voxels
RMS_TOL = 0.01
ACC_ANGLES = np.array([0.0, 17.0, 45.0, 90.0, 133.3])


def sizes(full: bool) -> dict:
    if full:
        return dict(n=256, n_slices=256, n_angles=361, astra_subset=16, radon_subset=8)
    return dict(n=64, n_slices=8, n_angles=91, astra_subset=4, radon_subset=2)


def _label(s):
    return f"{s['n_slices']} x {s['n']}² px, {s['n_angles']} angles"


@pytest.fixture(scope="module")
def problem(full):
    s = sizes(full)
    rng = np.random.default_rng(0)
    n = s["n"]
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    inside = (xx**2 + yy**2 <= ((n - 1) / 2 - 1) ** 2).astype(np.float32)
    # random content inside the circle: the cost does not depend on it, but no
    # layer can skip zeros or cache a result
    vol = rng.random((s["n_slices"], n, n), dtype=np.float32) * inside
    theta = np.linspace(0.0, 180.0, s["n_angles"], endpoint=False)
    return vol, theta, s


def ball(n: int, radius: float, sub: int = 8) -> np.ndarray:
    """Fraction of each voxel of an n³ grid inside a centred ball (sub³ samples per voxel)."""
    g = ((np.arange(n * sub) + 0.5) / sub - 0.5 - (n - 1) / 2).astype(np.float32)
    r2_xy = g[:, None] ** 2 + g[None, :] ** 2
    out = np.empty((n, n, n), np.float32)
    for z in range(n):
        gz = g[z * sub:(z + 1) * sub, None, None] ** 2
        inside = (gz + r2_xy[None]) <= radius**2
        out[z] = inside.reshape(sub, n, sub, n, sub).mean(axis=(0, 2, 4))
    return out


def mean_chord(n: int, radius: float, sub: int = 16) -> np.ndarray:
    """Analytic chord of the ball averaged over each detector pixel, (z, s)."""
    off = (np.arange(sub) + 0.5) / sub - 0.5
    c = (np.arange(n) - (n - 1) / 2)[:, None] + off[None, :]  # (pixel, sub-sample)
    r2 = c[:, None, :, None] ** 2 + c[None, :, None, :] ** 2
    return (2 * np.sqrt(np.clip(radius**2 - r2, 0, None))).mean(axis=(2, 3))


@pytest.fixture(scope="module")
def sphere():
    n, radius = 65, 28.0  # odd: skimage's axis (n // 2) is ours ((n - 1) / 2)
    return ball(n, radius), mean_chord(n, radius)


def chord_errors(sino, chord) -> tuple[float, float]:
    """(worst per-angle RMS relative error, largest single-ray error) where chord > CHORD_MIN.

    ``sino``: (angle, z, s).
    """
    m = chord > CHORD_MIN
    rel = (sino[:, m] - chord[m]) / chord[m]
    return float(np.sqrt((rel**2).mean(axis=1)).max()), float(np.abs(rel).max())


def _record(benchmark, sino, chord):
    rms, worst = chord_errors(sino, chord)
    benchmark.extra_info["accuracy"] = (f"ball chords (> {CHORD_MIN:g} vox): RMS rel. error {rms:.2%} "
                                        f"(worst angle), largest ray {worst:.1%}")
    return rms


# ------------------------------------------------------------------ peers' workers
def _astra_fp_slices(job):
    """astra CPU forward projection (``linear`` projector) of slices (k, y, x).

    ``parallel`` geometry, volume y up: the ray of angle θ lands at
    s = x cos θ − y sin θ in our row-down image coordinates (our convention).
    """
    import astra

    slices, theta = job
    n = slices.shape[2]
    vol_geom = astra.create_vol_geom(n, n)
    proj_geom = astra.create_proj_geom("parallel", 1.0, n, np.deg2rad(theta))
    pid = astra.create_projector("linear", proj_geom, vol_geom)
    out = np.empty((len(slices), theta.size, n), np.float32)
    try:
        for k, img in enumerate(slices):
            sid, out[k] = astra.create_sino(img, pid)
            astra.data2d.delete(sid)
    finally:
        astra.projector.delete(pid)
    return out


def _radon_slices(job):
    from skimage.transform import radon

    slices, theta = job
    return np.stack([radon(img, theta, circle=True).T for img in slices]).astype(np.float32)


def _in_pool(pool, fn, vol, theta, n_slices, workers):
    """(angle, z, col) projections of the first ``n_slices`` slices, split over the workers."""
    jobs = [(chunk, theta) for chunk in np.array_split(vol[:n_slices], workers)]
    return np.concatenate(pool.map(fn, jobs)).transpose(1, 0, 2)


# ------------------------------------------------------------------ benchmarks
@pytest.mark.benchmark(group="forward projection")
def test_project_synth(benchmark, problem, sphere, workers):
    vol, theta, s = problem
    out = run(benchmark, lambda: forward_project(vol[None], theta), rounds=3,
              kernel="forward projection", impl="trixanes synth forward_project (Joseph, numba)", ours=True,
              size=_label(s), workers=f"{workers} threads")
    assert out.shape == (1, theta.size, s["n_slices"], s["n"])
    b, chord = sphere
    assert _record(benchmark, forward_project(b[None], ACC_ANGLES)[0], chord) < RMS_TOL


@pytest.mark.benchmark(group="forward projection")
def test_project_pipeline(benchmark, problem, sphere, workers):
    vol, theta, s = problem
    n = s["n"]
    cos_t, sin_t = projector.angle_tables(theta)
    out = run(benchmark, lambda: projector.forward(vol, cos_t, sin_t, (n - 1) / 2, n), rounds=3,
              kernel="forward projection", impl="trixanes pipeline projector.forward (pixel-driven, numba)",
              ours=True, size=_label(s), workers=f"{workers} threads")
    assert out.shape == (theta.size, s["n_slices"], n)
    b, chord = sphere
    nb = b.shape[0]
    sino = projector.forward(b, *projector.angle_tables(ACC_ANGLES), (nb - 1) / 2, nb)
    rms = _record(benchmark, sino, chord)
    if rms >= RMS_TOL:
        # a pixel-driven projector aliases where the pixel centres' projections
        # fall between bins (worst at 45°); matched to its backprojector it is
        # right for SIRT/CGLS, but it is not an accurate line-integral model
        pytest.xfail(f"pipeline projector: ball chords RMS rel. error {rms:.1%} >= {RMS_TOL:.0%}")


@pytest.mark.benchmark(group="forward projection")
def test_project_astra(benchmark, problem, sphere, pool, workers):
    if astra_or_none() is None:
        pytest.skip(ASTRA_MISSING)
    vol, theta, s = problem
    k = s["astra_subset"]
    out = run(benchmark, lambda: _in_pool(pool, _astra_fp_slices, vol, theta, k, workers), rounds=3,
              kernel="forward projection", impl="astra CPU FP (linear)", size=_label(s),
              scale=s["n_slices"] / k, workers=f"{workers} processes",
              subset=f"{k} of {s['n_slices']} slices timed", target=2.0)
    # the same line integrals as synth's Joseph projector (both interpolate linearly along the ray)
    ours = forward_project(vol[None, :k], theta)[0]
    assert np.allclose(out, ours, rtol=1e-3, atol=1e-3 * float(np.abs(ours).max()))
    b, chord = sphere
    assert _record(benchmark, _astra_fp_slices((b, ACC_ANGLES)).transpose(1, 0, 2), chord) < RMS_TOL


@pytest.mark.benchmark(group="forward projection")
def test_project_radon(benchmark, problem, sphere, pool, workers):
    vol, theta, s = problem
    k = s["radon_subset"]
    out = run(benchmark, lambda: _in_pool(pool, _radon_slices, vol, theta, k, workers), rounds=2,
              kernel="forward projection", impl="skimage radon", size=_label(s),
              scale=s["n_slices"] / k, workers=f"{workers} processes",
              subset=f"{k} of {s['n_slices']} slices timed")
    assert out.shape == (theta.size, k, s["n"])
    b, chord = sphere
    _record(benchmark, _radon_slices((b, ACC_ANGLES)).transpose(1, 0, 2), chord)


# ------------------------------------------------------------------ paper width
def wide_sizes(full: bool) -> dict:
    # the paper preset's fine slices (1024 px x 3 supersampled + margins); 16 rows is what
    # the imaging stage projects at once when the band memory allows it
    return dict(n=3334, n_slices=16, n_angles=12) if full else dict(n=96, n_slices=4, n_angles=6)


@pytest.fixture(scope="module")
def wide(full):
    s = wide_sizes(full)
    vol = np.random.default_rng(1).random((1, s["n_slices"], s["n"], s["n"]), dtype=np.float32)
    return vol, np.linspace(-120.0, 120.0, s["n_angles"]), s


def _wide(benchmark, wide, chunk_z, tile_bytes, impl, ours):
    from trixanes.synth.projector import project_tiles

    vol, theta, s = wide
    n_s = s["n"] + 64
    out = run(benchmark, lambda: project_tiles(lambda z, y, x: vol[:, z, y, x], vol.shape, theta, n_s,
                                               (n_s - 1) / 2, chunk_z=chunk_z, tile_bytes=tile_bytes),
              rounds=2, kernel="imaging projector at paper width", impl=impl, ours=ours,
              size=f"{s['n_slices']} x {s['n']}² px, {s['n_angles']} angles")
    per = 1e3 * benchmark.stats.stats.mean / (s["n_slices"] * s["n_angles"]) if benchmark.enabled else None
    if per is not None:
        benchmark.extra_info["accuracy"] = f"{per:.2f} ms per slice and angle"
    np.testing.assert_array_equal(out, forward_project(vol, theta, n_s=n_s))  # tiling is exact
    return out


@pytest.mark.benchmark(group="imaging projector, paper width")
def test_project_wide_tiled(benchmark, wide):
    from trixanes.synth.imaging import DEFAULT_BAND_BYTES

    _wide(benchmark, wide, 16, DEFAULT_BAND_BYTES // 8,
          "synth project_tiles: 16 rows per pass, tiles of march rows (the imaging default)", True)


@pytest.mark.benchmark(group="imaging projector, paper width")
def test_project_wide_whole_slices(benchmark, wide):
    # what the 512 MB band budget allowed before tiling: 3 whole slices per pass
    _wide(benchmark, wide, 3, 2**62, "whole slices, 3 rows per pass (before tiling)", False)
