"""Tests of pipeline.volume: the real tooth scan, magnified and compressed scans, Dask chunks."""


from helpers import SHARED_DATA, needs

import h5py
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from trixanes.pipeline.volume import reconstruct_scan_file

TOOTH = SHARED_DATA / "tooth_dataexchange.h5"
TOOTH_CENTER_TOMOPY = 296.0  # TomoPy tutorial value for tooth.h5 (see tests/test_center.py)


def ring_amplitude(vol, center):
    """Std of the high-pass part of the radial mean profile (rings are thin radial features)."""
    n = vol.shape[-1]
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    r = np.hypot(yy, xx).astype(int).ravel()
    prof = np.bincount(r, vol.mean(0).ravel()) / np.bincount(r)
    prof = prof[: int(n / 2 - abs(center - (n - 1) / 2)) - 2]
    return float(np.std(prof - gaussian_filter1d(prof, 3)))


@needs('tooth_dataexchange.h5')
def test_tooth_volume_file(tmp_path):
    with pytest.warns(UserWarning) as record:
        res = reconstruct_scan_file(TOOTH, tmp_path, progress=False)
    messages = " ".join(str(w.message) for w in record)
    assert "no photon energy" in messages and "no pixel size" in messages
    assert abs(res.center_px - TOOTH_CENTER_TOMOPY) <= 1.0
    assert res.algorithm == "fbp" and res.voxel_size_um is None and res.energy_kev is None
    assert any("pixel size" in n for n in res.notes)
    with h5py.File(res.path) as f:
        vol = f["volume"][:]
        attrs = dict(f["volume"].attrs)
    assert vol.shape == (2, 640, 640) and vol.dtype == np.float32 and np.isfinite(vol).all()
    assert attrs["rotation_center"] == pytest.approx(res.center_px)
    assert attrs["algorithm"] == "fbp" and "voxel_size_um" not in attrs and "energy_kev" not in attrs
    assert not list(tmp_path.glob(".*.part"))
    # the tooth is there: dense inside, near zero in the air around it
    assert vol[0].max() > 10 * np.abs(np.median(vol[0]))


@needs('tooth_dataexchange.h5')
def test_ring_filter_reduces_rings_on_tooth(tmp_path):
    amps = {}
    for flag in (False, True):
        with pytest.warns(UserWarning):
            res = reconstruct_scan_file(TOOTH, tmp_path / str(flag), center_px=296.0, ring_filter=flag,
                                        progress=False)
        with h5py.File(res.path) as f:
            amps[flag] = ring_amplitude(f["volume"][:], res.center_px)
    assert amps[True] < 0.9 * amps[False]


def test_magnified_scan_is_reconstructed_on_the_reference_grid(tmp_path):
    # a ball of radius 1.5 um at (z, y, x) = (0.4, -0.8, 0.6) um, seen with 3 % smaller
    # pixels (a higher energy through a zone plate): on the 0.1 um reference grid it must
    # come out where it is, with its volume and its mu
    from trixanes.pipeline.magnification import matched_resamplings
    from trixanes.io.dataexchange import write_scan

    n_rows, n_cols, p_ref, p = 48, 96, 0.1, 0.097
    theta = np.linspace(0, 180, 120, endpoint=False)
    t = np.deg2rad(theta)[:, None, None]
    z = (np.arange(n_rows) - (n_rows - 1) / 2) * p
    s = (np.arange(n_cols) - (n_cols - 1) / 2) * p
    (bz, by, bx), r, mu = (0.4, -0.8, 0.6), 1.5, 0.5
    d2 = r * r - (s - (bx * np.cos(t) - by * np.sin(t))) ** 2 - (z[:, None] - bz) ** 2
    od = 2 * mu * np.sqrt(np.clip(d2, 0, None))
    i0 = np.full((2, n_rows, n_cols), 1e4, np.float32)
    scan = write_scan(tmp_path / "scan.h5", (i0[0] * np.exp(-od)).astype(np.float32), i0,
                      np.zeros_like(i0), theta, 8.43, p)
    res = matched_resamplings([p_ref, p], (n_rows, n_cols))[1]
    out = reconstruct_scan_file(scan, tmp_path / "out", resampling=res, algorithm="fbp", progress=False)
    assert out.voxel_size_um == pytest.approx(p_ref) and out.shape == (n_rows, n_cols, n_cols)
    with h5py.File(out.path) as f:
        vol = f["volume"][...]
    ok = np.isfinite(vol)
    # the smaller detector does not reach the end slices of the reference grid: NaN there, only there
    assert (~res.covered_rows).sum() == 2
    assert np.isnan(vol[~res.covered_rows]).all() and ok[res.covered_rows].all()
    v = np.where(ok, vol, 0.0)
    grid = [(np.arange(k) - (k - 1) / 2) * p_ref for k in vol.shape]
    zz, yy, xx = np.meshgrid(*grid, indexing="ij")
    mass = v.sum()  # the ball dominates it; the corners' FBP ripple is symmetric
    centre = [float((c * v).sum() / mass) for c in (zz, yy, xx)]
    np.testing.assert_allclose(centre, (bz, by, bx), atol=0.01)  # a tenth of a voxel
    rr = np.sqrt((zz - bz) ** 2 + (yy - by) ** 2 + (xx - bx) ** 2)
    # the attenuation of the ball is kept (FBP puts a few % more in the square's corners,
    # as without magnification)
    near = v[rr < r + 0.5].sum() * p_ref**3 / mu
    assert near == pytest.approx(4 / 3 * np.pi * r**3, rel=0.01)
    assert np.median(v[rr < r - 0.3]) == pytest.approx(mu, rel=0.01)


def test_chunks_on_a_dask_cluster_match_the_local_run(small_sim, tmp_path):
    from dask.distributed import LocalCluster

    scan = small_sim.scan_paths[0]
    local = reconstruct_scan_file(scan, tmp_path / "local", memory_budget_bytes=2e6, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = reconstruct_scan_file(scan, tmp_path / "dask", memory_budget_bytes=2e6, progress=False,
                                       scheduler=cluster.scheduler_address, center_px=local.center_px)
    from trixanes.pipeline.volume import _rows_per_chunk

    step = _rows_per_chunk(120, 96, 2e6)
    assert 48 // step >= 4  # the scan is split into several chunks of rows
    assert any(f"chunks of {step} rows reconstructed on the Dask" in n for n in remote.notes)
    with h5py.File(local.path) as a, h5py.File(remote.path) as b:
        np.testing.assert_allclose(b["volume"][...], a["volume"][...], rtol=1e-5, atol=1e-6)


def test_compressed_frame_chunks_are_copied_once_into_bands_of_rows(small_sim, tmp_path, monkeypatch):
    import trixanes.pipeline.volume as volume

    scan = small_sim.scan_paths[1]  # synth writes gzip-compressed whole-frame chunks
    copied = reconstruct_scan_file(scan, tmp_path / "copied", memory_budget_bytes=2e6, progress=False)
    assert any("copied once into bands of rows" in n for n in copied.notes)
    assert not list((tmp_path / "copied").glob(".rows-*"))  # the copy is removed
    monkeypatch.setattr(volume, "needs_row_copy", lambda *a: False)
    direct = reconstruct_scan_file(scan, tmp_path / "direct", memory_budget_bytes=2e6, progress=False)
    with h5py.File(copied.path) as a, h5py.File(direct.path) as b:
        np.testing.assert_array_equal(a["volume"][...], b["volume"][...])
