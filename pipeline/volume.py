"""Reconstruct one scan file to ``volume.h5``, streaming chunks of detector rows."""

from __future__ import annotations

import shutil
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from trixanes.pipeline.center import check_center, find_center
from trixanes.pipeline.defaults import ALGORITHM, BACKEND, FBP_FILTER, RING_FILTER
from trixanes.pipeline.magnification import Resampling
from trixanes.pipeline.normalize import normalize, remove_rings
from trixanes.pipeline.angles import choose_algorithm
from trixanes.pipeline.reconstruct import ALGORITHMS, NO_ORDERED_SUBSETS, check_backend, reconstruct
from trixanes.pipeline.uncertainty import estimate_gain, middle_reference_frames, split_photons
from trixanes.io.dataexchange import needs_row_copy, read_scan, row_chunked_copy, scan_info
from trixanes.io.volume import HALVES, VolumeMeta, create_volume, write_volume_meta
from trixanes._shared.provenance import Provenance
from trixanes._shared.cluster import bounded_map, connect
from trixanes._shared.paths import cleans_up_out_dir, make_work_dir

__all__ = ["VolumeResult", "reconstruct_scan_file"]


@dataclass(frozen=True)
class VolumeResult:
    """What `reconstruct_scan_file` wrote.

    Attributes
    ----------
    path : Path
        The ``volume.h5`` file.
    shape : tuple of int
        (z, y, x) of ``/volume``.
    center_px : float
        Rotation axis used, detector column.
    algorithm : str
    voxel_size_um : float or None
        None when the scan has no pixel size (values then in 1/pixel).
    energy_kev : float or None
    notes : tuple of str
        Reader notes (where the energy and pixel size came from; missing
        metadata as lines starting ``"warning: "``), the centre and algorithm
        choices.
    energy_source, pixel_size_source : {"file", "option"} or None
        Where the scan's energy and pixel size came from (`ScanInfo`); None
        when missing.
    """

    path: Path
    shape: tuple[int, int, int]
    center_px: float
    algorithm: str
    voxel_size_um: float | None
    energy_kev: float | None
    notes: tuple[str, ...]
    energy_source: str | None = None
    pixel_size_source: str | None = None


#: Working memory of one chunk of rows, bytes (the default of `reconstruct_scan_file`).
#: seed of the photon split of the half-dose scans
SPLIT_SEED = 0
CHUNK_BYTES = 512e6


def _rows_per_chunk(n_angles: int, n_cols: int, budget_bytes: float = CHUNK_BYTES) -> int:
    # raw counts, line integrals, a resampled and a filtered copy, and the
    # (z, n, n) output with the backprojector's transposed copy, float32, per row
    per_row = 4.0 * (4 * n_angles * n_cols + 2 * n_cols * n_cols)
    return int(max(1, min(64, budget_bytes // per_row)))


def _projections(path, z0: int, z1: int, resampling, ring_filter: bool, split=None):
    """Line integrals of output rows ``z0:z1``, on the output detector grid.

    With ``split = (gain, seed, stream)``, a list: the full scan's and those of
    its two half-dose scans (`pipeline.uncertainty.split_photons`, seeded by
    the scan's own stream and the first row read, so that a cluster draws what
    a local run draws, and the energies draw independently, as their photons are).
    """
    lo, hi = (z0, z1) if resampling is None else resampling.source_rows(z0, z1)
    scan = read_scan(path, rows=slice(lo, hi))
    sets = [(scan.data, scan.flats, scan.darks)]
    if split is not None:
        gain, seed, stream = split
        rng = np.random.default_rng([seed, stream, lo])
        dark = scan.darks.mean(axis=0)
        data, flats = split_photons(scan.data, dark, gain, rng), split_photons(scan.flats, dark, gain, rng)
        sets += [(data[i], flats[i], 0.5 * scan.darks) for i in (0, 1)]
    projs, clipped = [], 0
    for data, flats, darks in sets:
        norm = normalize(data, flats, darks)
        proj = remove_rings(norm.projections) if ring_filter else norm.projections
        if resampling is not None:
            proj = resampling.apply(proj, z0, z1, lo)
        projs.append(proj)
        clipped = clipped or norm.n_clipped  # the full scan's
    return (projs if split is not None else projs[0]), scan.theta_deg, clipped


def _reconstruct_rows(path, z0: int, z1: int, resampling, ring_filter: bool, center_px: float,
                      settings: dict, split=None):
    """One chunk: read, normalize, resample, reconstruct; the unit of work of a Dask task.

    With ``split`` (see `_projections`), also its two half-dose scans.
    """
    proj, theta, clipped = _projections(path, z0, z1, resampling, ring_filter, split)
    vols = [reconstruct(p, theta, center_px, **settings) for p in (proj if split is not None else [proj])]
    if resampling is not None:
        for vol in vols:
            vol[~resampling.covered_rows[z0:z1]] = np.nan
    return z0, vols, clipped


def _chunks_on_dask(scheduler, path, starts, n_rows, step, resampling, ring_filter, center_px, settings,
                    split=None):
    """Yield ``_reconstruct_rows`` results computed on a Dask cluster, two chunks per worker in flight."""
    client, owned = connect(scheduler)

    def submit(z0):
        return client.submit(_reconstruct_rows, path, z0, min(n_rows, z0 + step), resampling,
                             ring_filter, center_px, settings, split, pure=False)

    try:
        for _, result in bounded_map(client, submit, starts):
            yield result
    finally:
        if owned:
            client.close()


@cleans_up_out_dir("out_dir")  # a run that fails before writing leaves no folder it made
def reconstruct_scan_file(
    path,
    out_dir,
    *,
    center_px: float | None = None,
    algorithm: str = ALGORITHM,
    ring_filter: bool = RING_FILTER,
    filter_name: str = FBP_FILTER,
    n_iter: int | None = None,
    backend: str = BACKEND,
    resampling: Resampling | None = None,
    memory_budget_bytes: float = CHUNK_BYTES,
    scheduler: str | None = None,
    progress: bool = True,
    pixel_size_um: float | None = None,
    energy_kev: float | None = None,
    halves: bool = False,
) -> VolumeResult:
    """Normalize, centre and reconstruct one Data Exchange scan to ``out_dir/volume.h5``.

    ``/volume`` is (z, y, x) float32 in 1/µm when the pixel size is known,
    else per pixel, with attributes ``voxel_size_um`` (omitted when unknown),
    ``rotation_center`` (detector column, px), ``algorithm``, ``units`` and
    ``energy_kev`` (when known). The file is written atomically.

    Parameters
    ----------
    path : path-like
        Scan file (Data Exchange layout).
    out_dir : path-like
        Output folder (created if missing; refused up front when it is a
        file or not writable, and removed again when the run fails before
        writing).
    center_px : float, optional
        Rotation axis, a 0-based detector column in ``[0, ncols - 1]``
        (refused otherwise, before any work); found with `find_center` on
        the middle rows if omitted.
    algorithm : {"auto", "fbp", "sirt", "os-sirt", "cgls"}
        "auto": `choose_algorithm` on the scan's angles.
    ring_filter : bool
        Apply `remove_rings` to the line integrals (default
        `pipeline.defaults.RING_FILTER`: off).
    filter_name : str
        FBP filter (default `pipeline.defaults.FBP_FILTER`: the ramp, for a
        volume kept at the detector resolution).
    n_iter : int, optional
        Iterations for SIRT/CGLS.
    backend : {"auto", "numba", "astra", "cupy"}
        Reconstruction backend (`pipeline.reconstruct.reconstruct`); "cupy"
        runs each chunk on the GPU.
    resampling : Resampling, optional
        Resample the projections onto another detector grid before
        reconstructing (`pipeline.magnification`: the zone-plate magnification
        of this energy). ``center_px`` is then a column of that grid, the
        volume has its pixel size and shape, and slices the scan's detector
        does not reach are NaN.
    memory_budget_bytes : float
        Working memory for one chunk of rows (sets the chunk size).
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``): the chunks of rows
        are then reconstructed by its workers, at most two per worker in
        flight, and written here as they arrive. The workers must see
        ``path`` (a shared file system). None: in this process.
    progress : bool
        tqdm bar over the chunks of rows.
    pixel_size_um, energy_kev : float, optional
        Pixel size (µm) and photon energy (keV) to use instead of the scan's
        (`trixanes.io.dataexchange.scan_info`); the notes say which was used.
    halves : bool
        Also reconstruct two half-dose scans split from the counts
        (`pipeline.uncertainty.split_photons`, with the gain the flats give)
        into ``/half_a`` and ``/half_b`` (same centre and settings), for the
        noise estimate of `pipeline.uncertainty`: three reconstructions instead
        of one. Needs at least two flats.

    Returns
    -------
    VolumeResult

    Warns
    -----
    UserWarning
        When the scan records no energy or no pixel size and none is given
        (the notes carry the same words, once, as a ``"warning: "`` line).

    Examples
    --------
    >>> res = reconstruct_scan_file("scan.h5", "out")  # doctest: +SKIP
    >>> res.shape  # doctest: +SKIP
    (2, 640, 640)
    """
    if algorithm not in ("auto", *ALGORITHMS):
        raise ValueError(f"algorithm must be one of {('auto', *ALGORITHMS)}, got {algorithm!r}")
    if scheduler is None:  # a cluster's workers may have what this machine lacks
        check_backend(backend)
    info = scan_info(path, pixel_size_um=pixel_size_um, energy_kev=energy_kev)
    notes = list(info.notes)  # missing metadata among them, said once
    for line in info.warnings:  # the same words as a Python warning, for callers of the function
        warnings.warn(f"{info.path}: {line.removeprefix('warning: ')}", UserWarning, stacklevel=2)

    if algorithm == "auto":
        algorithm, why = choose_algorithm(info.theta_deg)
        if algorithm == "os-sirt" and backend in NO_ORDERED_SUBSETS:
            algorithm, why = "sirt", f"{why} (plain SIRT: backend {backend!r} has no ordered subsets)"
        notes.append(f"algorithm {algorithm}: {why}")

    n_rows, n = (info.n_rows, info.n_cols) if resampling is None else resampling.shape_out
    if resampling is not None and resampling.shape_in != (info.n_rows, info.n_cols):
        raise ValueError(f"{info.path}: detector {info.n_rows}x{info.n_cols} does not match the "
                         f"resampling's {resampling.shape_in[0]}x{resampling.shape_in[1]}")
    center_px = check_center(center_px, n, info.path)
    shape = (n_rows, n, n)
    # chunks as without halves, so that the volume is the same bit for bit (sums in the same
    # order); the halves add two chunk volumes to the budget
    step = _rows_per_chunk(info.n_angles, max(n, info.n_cols), memory_budget_bytes)
    pixel_um = info.pixel_size_um if resampling is None else resampling.pixel_out_um
    settings = dict(algorithm=algorithm, filter_name=filter_name, n_iter=n_iter, pixel_size_um=pixel_um,
                    backend=backend)
    out = Path(out_dir) / "volume.h5"
    out.parent.mkdir(parents=True, exist_ok=True)
    source, copy_dir = info.path, None
    if needs_row_copy(info.path, step):
        # every band of rows read would decompress every whole frame again
        copy_dir = make_work_dir(out.parent, ".rows-")  # swept by a later run if this one is killed
        source = row_chunked_copy(info.path, copy_dir / "scan.h5", step, memory_budget_bytes)
        notes.append("compressed whole-frame chunks: projections copied once into bands of rows")
    n_clipped = 0
    try:
        if center_px is None:
            mid = n_rows // 2
            band, band_theta, _ = _projections(source, max(0, mid - 1), min(n_rows, mid + 2),
                                               resampling, ring_filter)
            est = find_center(band, band_theta)
            center_px = est.center_px
            notes.append(f"rotation centre {center_px:.2f} px ({est.method})")
        split = None
        if halves:
            flats, darks = middle_reference_frames(source, info.n_rows)
            # one stream per energy: the same draws at two energies would cancel in the edge jump
            stream = round(info.energy_kev * 1e3) if info.energy_kev else zlib.crc32(info.path.name.encode())
            try:
                gain = estimate_gain(flats, darks)
            except ValueError as err:
                raise ValueError(f"{info.path}: no noise estimate (halves): {err}") from None
            split = (gain, SPLIT_SEED, stream)
            notes.append(f"half-dose scans for the noise estimate: gain {split[0]:.3g} counts/photon "
                         f"from {flats.shape[0]} flats")
        starts = list(range(0, n_rows, step))
        if scheduler is None:
            results = (_reconstruct_rows(source, z0, min(n_rows, z0 + step), resampling, ring_filter,
                                         center_px, settings, split) for z0 in starts)
        else:
            results = _chunks_on_dask(scheduler, str(source), starts, n_rows, step, resampling,
                                      ring_filter, center_px, settings, split)
            notes.append(f"chunks of {step} rows reconstructed on the Dask scheduler {scheduler}")
        if resampling is not None:
            notes.append(f"projections resampled from {resampling.pixel_in_um:.5f} to "
                         f"{resampling.pixel_out_um:.5f} um pixels (magnification)")
        with create_volume(out, shape, halves=halves) as ds:
            targets = [ds, *(ds.file[name] for name in HALVES if halves)]
            for z0, vols, clipped in tqdm(results, total=len(starts), desc=f"  rows of {info.path.name}",
                                          disable=not progress, unit="chunk", leave=False):
                n_clipped += clipped
                for target, vol in zip(targets, vols):
                    target[z0:z0 + vol.shape[0]] = vol
            if n_clipped:
                notes.append(f"{n_clipped} transmission values were <= 0 or tiny and were clipped")
            prov = Provenance(
                tool="reconstruct",
                options=dict(algorithm=algorithm, ring_filter=ring_filter, filter_name=filter_name,
                             n_iter=n_iter, backend=backend, pixel_size_um=pixel_size_um,
                             energy_kev=energy_kev, resampled=resampling is not None, halves=halves),
                inputs={"scan": Provenance.input_file(info.path, energy_kev=info.energy_kev)},
                details={"rotation_center_px": float(center_px), "notes": list(notes)},
                warnings=tuple(info.warnings))
            write_volume_meta(ds, VolumeMeta(
                float(center_px), algorithm, "1/um" if pixel_um is not None else "1/pixel",
                voxel_size_um=pixel_um, energy_kev=info.energy_kev, source=str(info.path),
                notes=tuple(notes), provenance=prov))
    finally:
        if copy_dir is not None:
            shutil.rmtree(copy_dir, ignore_errors=True)
    return VolumeResult(out, shape, float(center_px), algorithm, pixel_um, info.energy_kev, tuple(notes),
                        info.energy_source, info.pixel_size_source)
