"""Imaging on a Dask cluster: each band of detector rows on a worker.

Parallel-beam projection keeps detector rows apart (`synth.imaging`), so the
bands of a scan are independent tasks. A worker reads its slab of the phantom
from ``truth.h5``, projects, detects and exposes it at every energy
(`imaging.band_counts`, the local code) and writes the band's counts to a file
beside the scans; the caller writes them into the scans as they come. The
workers therefore need the output folder on a file system they share with
the caller (a cluster's shared disk, or one machine's). The photon noise of
every detector row and angle has its own seed, so the files are the ones a
local run writes, whichever worker imaged which band.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from trixanes._shared.cluster import bounded_map, connect
from trixanes._shared.paths import make_work_dir

__all__ = ["image_bands"]


def _image_band(band_counts, truth_path: str, model, exposure, rows, voxel_um, n_nodes, band_bytes, backend,
                dest: str) -> str:
    """On a worker: one band's counts at every energy (``band_counts``), saved (atomically) as ``dest``."""
    import socket
    import uuid

    if not os.path.isfile(truth_path):
        raise ValueError(f"{truth_path}: not found on worker {socket.gethostname()}; the output folder "
                         "must be on a file system that the workers share")
    with h5py.File(truth_path, "r") as f:
        counts = band_counts(f["phase"], f["li"], model, exposure, tuple(rows), voxel_um=voxel_um,
                             n_nodes=n_nodes, band_bytes=band_bytes, backend=backend)
    tmp = f"{dest}.{uuid.uuid4().hex}.npy"  # one per attempt: a retried band never shares it
    np.save(tmp, np.stack(counts))
    os.replace(tmp, dest)
    return dest


@contextlib.contextmanager
def image_bands(scheduler, band_counts, truth_path, model, exposure, bands, *, voxel_um: float, n_nodes=None,
                band_bytes: int, backend: str = "numba", work_dir, progress: bool = False):
    """Image ``bands`` on Dask workers; yields an iterator of (rows, counts per energy) as they finish.

    At most two bands per worker are in flight (`trixanes._shared.cluster.bounded_map`),
    so the band files waiting to be written stay few.

    Parameters
    ----------
    scheduler : str or distributed.Client
        A scheduler's address (``tcp://host:8786``) or a connected client.
    band_counts : callable
        `imaging.band_counts` (passed in: imaging calls this module).
    truth_path : path-like
        The phantom (``truth.h5``), readable by every worker at this path.
    model, exposure
        The spectral model and the exposure (`imaging.Exposure`), sent to the workers.
    bands : sequence of (int, int)
        Detector rows ``[r0, r1)`` of each band.
    voxel_um, n_nodes, band_bytes, backend
        As `imaging.band_counts`.
    work_dir : path-like
        Where the workers write the bands (a folder they share), removed at the end.
    progress : bool

    Raises
    ------
    ValueError
        ``truth_path`` is not a file, no scheduler answers, or a worker cannot see
        the file; a band's failure is raised as the worker raised it.
    """
    truth_path = Path(truth_path).resolve()
    if not truth_path.is_file():
        raise ValueError(f"{truth_path}: no truth file for the workers to read")
    client, owned = connect(scheduler)
    folder = make_work_dir(Path(work_dir).resolve(), ".bands-")

    def submit(rows):
        return client.submit(_image_band, band_counts, str(truth_path), model, exposure, rows, voxel_um,
                             n_nodes, band_bytes, backend, str(folder / f"rows_{rows[0]:06d}.npy"),
                             pure=False, retries=0)

    done = bounded_map(client, submit, [tuple(rows) for rows in bands])

    def finished():
        for rows, path in tqdm(done, total=len(bands), desc="image (dask)", unit="band", disable=not progress):
            counts = np.load(path)
            os.remove(path)
            yield rows, list(counts)

    try:
        yield finished()
    finally:
        done.close()  # cancels and waits for the bands still running
        if owned:
            client.close()
        shutil.rmtree(folder, ignore_errors=True)
