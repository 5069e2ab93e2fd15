"""Tests of pipeline.volume on the real tooth scan."""

from pathlib import Path

from conftest import SHARED_DATA

import h5py
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from pipeline.volume import reconstruct_scan_file

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


def test_ring_filter_reduces_rings_on_tooth(tmp_path):
    amps = {}
    for flag in (False, True):
        with pytest.warns(UserWarning):
            res = reconstruct_scan_file(TOOTH, tmp_path / str(flag), center_px=296.0, ring_filter=flag,
                                        progress=False)
        with h5py.File(res.path) as f:
            amps[flag] = ring_amplitude(f["volume"][:], res.center_px)
    assert amps[True] < 0.9 * amps[False]
