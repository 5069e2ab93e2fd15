"""simulate on Dask workers writes the files of a local run."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from trixanes.synth.config import Scenario
from trixanes.synth.simulate import simulate

DATASETS = ("exchange/data", "exchange/data_white", "exchange/data_dark", "exchange/theta")


def test_two_workers_write_the_local_files(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    # several bands (a small band memory), a deformation between energies, drift and noise
    sc = Scenario.preset("tiny").replace(acquisition={"detector_cols": 32, "detector_rows": 12,
                                                      "n_projections": 25, "drift_px": 1.0,
                                                      "deformation_um": 0.2})
    band = 3 * 25 * 80 * 4 * 8  # a few detector rows per band
    local = simulate(sc, tmp_path / "local", progress=False, band_bytes=band)
    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, env=env,
                                  dashboard_address=None) as cluster:
        remote = simulate(sc, tmp_path / "dask", progress=False, band_bytes=band,
                          scheduler=cluster.scheduler_address)
    for a, b in zip(local.scan_paths, remote.scan_paths, strict=True):
        with h5py.File(a) as fa, h5py.File(b) as fb:
            assert fa["exchange/data"].chunks[1] < sc.acquisition.detector_rows  # it ran in bands
            for k in DATASETS:
                assert np.array_equal(fa[k][()], fb[k][()]), f"{b.name}: {k}"
    assert not list((tmp_path / "dask").glob(".bands-*"))  # the workers' bands are removed


def test_a_missing_truth_is_refused(tmp_path):
    from trixanes.synth.distributed import image_bands

    with pytest.raises(ValueError, match="no truth file"):
        with image_bands("tcp://127.0.0.1:1", None, tmp_path / "truth.h5", None, None, [(0, 1)], voxel_um=0.1,
                         band_bytes=1, work_dir=tmp_path):
            pass


def test_a_wrong_scheduler_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="no Dask scheduler answers"):
        simulate(Scenario.preset("tiny"), tmp_path / "out", progress=False, scheduler="notaproto://127.0.0.1:9")
    assert not (tmp_path / "out" / "truth.h5").exists()
