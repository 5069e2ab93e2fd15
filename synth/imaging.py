"""Image the phantom at every energy, band of detector rows by band of rows.

Parallel-beam projection keeps detector rows apart, so each band of rows is
projected from a slab of the phantom alone, detected, exposed and written
before the next: the optical depths of a whole scan (energies x angles x fine
rows x fine columns, 98 GB for the ``paper`` preset) are never held. The photon
noise of every detector row and projection angle has its own seed, so the files
do not depend on the band size, only on the scenario's seed, and a scan of a subset
of the angles draws the noise of those angles in the whole scan (`angle_keys`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .acquisition import AcquisitionParams, EnergyGeometry, forward_project
from .projector import check_backend, project_tiles
from .detector import detect, expose, fine_rows_needed, flats_and_darks, poisson_counts
from .deform import DeformationField, warp_phase_and_li
from .materials import attenuation_basis, attenuation_map, hat_weights
from trixanes.io.dataexchange import ScanWriter
from trixanes.io.truth import PHASE_AM, PHASE_CBD, PHASE_PORE
from .xanes import XanesModel

#: Default working memory of the imaging stage (optical depths of one band).
DEFAULT_BAND_BYTES = 512 * 2**20
#: Smallest tile of maps the projector is given, however small the budget: below it the
#: calls' overhead, not the projection, sets the time
MIN_TILE_BYTES = 2**20


@dataclass(frozen=True)
class Exposure:
    """What the imaging of one scan needs besides the phantom.

    ``geometries`` one per energy; ``angles_deg`` the projection angles;
    ``noise`` the root seed of the detector noise; ``deformation`` the
    sample's deformation between energies (energy i sees ``i / (n - 1)`` of
    it), or None.
    """

    params: AcquisitionParams
    geometries: tuple[EnergyGeometry, ...]
    angles_deg: np.ndarray
    noise: np.random.SeedSequence
    deformation: DeformationField | None = None


def fine_detector_size(params: AcquisitionParams, nx: int) -> int:
    """Fine detector bins that cover every energy's view of an ``nx``-wide phantom.

    The phantom plus the rotation-centre offset and the drift (``dx cos θ -
    dy sin θ`` reaches √2 drift), plus one pixel each side for the footprint
    interpolation, in fine bins.
    """
    reach_px = abs(params.center_offset_px) + np.sqrt(2.0) * params.drift_px + 1.0
    return nx + 2 * int(np.ceil(reach_px * params.supersample))


def optical_depths(phase, li, energies_kev, angles_deg, model: XanesModel, voxel_um: float,
                   n_s: int, *, n_nodes: int | None = None, work_bytes: int | None = None,
                   progress: bool = False, backend: str = "numba") -> np.ndarray:
    """Line integrals of μ(E) at every energy, on the fine detector.

    Projection is linear, so either the few component maps (electrolyte, CBD
    and NMC on a basis in Li) are projected once and every energy is a
    weighted sum of them, or, when there are fewer energies than components,
    each energy's μ map is projected directly (exact in Li). The cheaper route
    is taken. ``work_bytes`` bounds the projector's temporaries (default
    `DEFAULT_BAND_BYTES`): up to 16 rows are projected at once in tiles of
    march rows (`synth.projector.project_tiles`), so the vectorized pass over
    rows does not shrink as the slices widen.
    ``backend`` is `forward_project`'s: numba, or cupy on a CUDA GPU.

    Returns
    -------
    ndarray
        float32 ``(n_energies, n_angles, z, n_s)``, dimensionless.
    """
    energies = np.asarray(energies_kev, float)
    nodes, weights = attenuation_basis(energies, model, n_nodes)
    direct = energies.size < weights.shape[1]
    nz, ny, nx = phase.shape
    maps = 1 if direct else weights.shape[1]
    budget = DEFAULT_BAND_BYTES if work_bytes is None else work_bytes
    if backend == "numba":
        # half the budget for a chunk's projections, the rest for tiles of maps (their
        # attenuation temporaries, ~13 B per voxel and map, and the transposed copy)
        chunk_z = int(np.clip(budget // 2 // (4 * maps * len(angles_deg) * n_s), 1, 16))
    else:
        # the GPU path takes whole slices: the maps, a transposed copy and the temporaries
        row_bytes = 14 * maps * ny * nx + 4 * maps * len(angles_deg) * n_s
        chunk_z = int(np.clip(budget // row_bytes, 1, 16))

    def project(maps_of, n_maps, n_rows):
        if backend == "numba":
            return project_tiles(maps_of, (n_maps, n_rows, ny, nx), angles_deg, n_s, 0.5 * (n_s - 1),
                                 chunk_z=n_rows, tile_bytes=max(budget // 8, MIN_TILE_BYTES))
        every = slice(None)
        return forward_project(maps_of(every, every, every), angles_deg, n_s=n_s, backend=backend)

    out = np.zeros((energies.size, len(angles_deg), nz, n_s), np.float32)
    for z0 in tqdm(range(0, nz, chunk_z), desc="project", unit="chunk", disable=not progress):
        rows = slice(z0, z0 + chunk_z)
        ph, x = phase[rows], li[rows]
        if direct:
            # one energy at a time: a third of the temporaries, the same work
            for k, e in enumerate(energies):
                def mu(zs, ys, xs, e=e):
                    return attenuation_map(ph[zs, ys, xs], x[zs, ys, xs], e, model)[None]

                out[k, :, rows] = project(mu, 1, ph.shape[0])[0]
                out[k, :, rows] *= np.float32(voxel_um)
        else:
            def components(zs, ys, xs):
                p, xx = ph[zs, ys, xs], x[zs, ys, xs]
                return np.concatenate([(p == PHASE_PORE)[None].astype(np.float32),
                                       (p == PHASE_CBD)[None].astype(np.float32),
                                       hat_weights(np.where(p == PHASE_AM, xx, np.nan), nodes)])

            out[:, :, rows] = np.tensordot(weights, project(components, maps, ph.shape[0]),
                                           axes=(1, 0)) * voxel_um
    return out


def rows_per_band(params: AcquisitionParams, n_angles: int, n_s: int, n_energies: int,
                  band_bytes: int = DEFAULT_BAND_BYTES, *, pixel_scale: float = 1.0) -> int:
    """Detector rows per band so that a band's optical depths fit ``band_bytes``.

    ``pixel_scale`` is the largest pixel of the energies over the reference
    pixel: a detector row then spans that many times ``supersample`` fine rows.
    The energies share one slab, widened by their vertical drifts.
    """
    fine_row = n_energies * n_angles * n_s * 4
    # interpolation margin and the spread of the energies' vertical drifts
    margin = 4 + 2 * int(np.ceil(params.drift_px * pixel_scale * params.supersample))
    fine_rows = band_bytes / fine_row - margin
    return int(np.clip(fine_rows / (pixel_scale * params.supersample), 1, params.detector_rows))


def band_counts(phase, li, model: XanesModel, exposure: Exposure, rows: tuple[int, int], *,
                voxel_um: float, n_nodes: int | None = None, band_bytes: int = DEFAULT_BAND_BYTES,
                backend: str = "numba") -> list:
    """Detector counts of detector rows ``rows[0] .. rows[1] - 1`` at every energy.

    Returns
    -------
    list of ndarray
        float32 ``(n_angles, n_rows, cols)`` per energy, in the order of ``exposure.geometries``.
    """
    acq, geoms, angles = exposure.params, exposure.geometries, np.asarray(exposure.angles_deg)
    nz, n_s = phase.shape[0], fine_detector_size(acq, phase.shape[2])
    warped = np.zeros(len(geoms), bool)
    warped[1:] = exposure.deformation is not None
    out = [None] * len(geoms)
    for i, od, start in _band_depths(phase, li, model, exposure, rows, warped, voxel_um, n_s, n_nodes,
                                     band_bytes, backend):
        trans = detect(od, angles, geoms[i], acq, voxel_um, rows=rows, fine_z_start=start, fine_z_total=nz)
        out[i] = expose_rows(trans, acq, exposure.noise, i, rows[0], angles)
    return out


def write_scans(phase, li, model: XanesModel, exposure: Exposure, paths, *, voxel_um: float,
                n_nodes: int | None = None, band_bytes: int = DEFAULT_BAND_BYTES,
                progress: bool = False, backend: str = "numba", scheduler=None, truth_path=None,
                **attrs) -> tuple:
    """Image the phantom at every energy and write one Data Exchange file each.

    Parameters
    ----------
    phase, li : ndarray or h5py.Dataset
        Fine phantom (z, y, x): phase codes and Li content; only the slabs of
        rows a band needs are read.
    model : XanesModel
        Spectral model.
    exposure : Exposure
        Geometry, angles, noise seed and deformation.
    paths : sequence of path-like
        One output file per energy (written atomically).
    voxel_um : float
        Fine voxel size, µm.
    n_nodes : int, optional
        Li nodes of the projection basis.
    band_bytes : int
        Working memory for one band's optical depths; sets the band size (and
        the row chunks of the files), not the result.
    progress : bool
        Show a bar over bands.
    backend : {"numba", "cupy"}
        Projector backend (`forward_project`); cupy's noise-free files differ
        from numba's at float32 rounding, its noisy ones may have other draws.
    scheduler : str or distributed.Client, optional
        Image the bands on Dask workers (`synth.distributed.image_bands`); they
        read the phantom from ``truth_path`` and write their bands beside
        ``paths``, on a file system they share. The files are the same as here.
    truth_path : path-like, optional
        The phantom's ``truth.h5`` (with ``scheduler``).
    **attrs
        Root attributes of every file.

    Returns
    -------
    tuple of Path
    """
    acq, geoms, angles = exposure.params, exposure.geometries, np.asarray(exposure.angles_deg)
    check_backend(backend)
    if len(paths) != len(geoms):
        raise ValueError(f"paths: one per energy ({len(geoms)}), got {len(paths)}")
    if scheduler is not None and truth_path is None:
        raise ValueError("truth_path: needed with a scheduler (the workers read the phantom from it)")
    n_s = fine_detector_size(acq, phase.shape[2])
    scale = max(g.pixel_size_um for g in geoms) / acq.pixel_size_um
    band = rows_per_band(acq, angles.size, n_s, len(geoms), band_bytes, pixel_scale=scale)
    shape = (angles.size, acq.detector_rows, acq.detector_cols)
    writers = [ScanWriter(p, shape, angles, float(g.energy_kev), g.pixel_size_um,
                          storage_dtype(acq), row_chunk=band, **attrs)
               for p, g in zip(paths, geoms)]
    bands = [(r0, min(acq.detector_rows, r0 + band)) for r0 in range(0, acq.detector_rows, band)]
    with contextlib.ExitStack() as stack:
        open_writers = [stack.enter_context(w) for w in writers]
        if scheduler is not None:
            from .distributed import image_bands

            done = stack.enter_context(image_bands(
                scheduler, band_counts, truth_path, model, exposure, bands, voxel_um=voxel_um, n_nodes=n_nodes,
                band_bytes=band_bytes, backend=backend, work_dir=Path(paths[0]).parent, progress=progress))
        else:
            done = ((rows, band_counts(phase, li, model, exposure, rows, voxel_um=voxel_um, n_nodes=n_nodes,
                                       band_bytes=band_bytes, backend=backend))
                    for rows in tqdm(bands, desc="image", unit="band", disable=not progress))
        for rows, counts in done:
            for i, c in enumerate(counts):
                open_writers[i].write_rows(rows[0], c)
        for i, w in enumerate(open_writers):
            flats, darks = flats_and_darks_of(acq, exposure.noise, i)
            w.write_flats(flats)
            w.write_darks(darks)
    return tuple(w.path for w in writers)


def storage_dtype(acq: AcquisitionParams) -> str:
    """How a scan's frames are stored: float32 when noise-free, else uint16 unless the
    flux (plus 8 sigma) overflows it."""
    if acq.noise_free:
        return "float32"
    top = acq.flux_photons + acq.dark_counts
    return "uint16" if top + 8 * np.sqrt(top) < 65535 else "float32"


def _child(seed: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    # addressed by key, not by spawn order: the same stream whatever the banding
    return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key + key)


def _band_depths(phase, li, model, exposure: Exposure, rows, warped, voxel_um, n_s, n_nodes,
                 band_bytes, backend):
    """(energy index, optical depths of a slab, the slab's first fine row) for one band."""
    acq, geoms, angles = exposure.params, exposure.geometries, exposure.angles_deg
    energies = np.array([g.energy_kev for g in geoms])
    nz = phase.shape[0]
    slabs = [fine_rows_needed(rows, g, acq, nz, voxel_um) for g in geoms]
    plain = np.flatnonzero(~warped)
    seen = [i for i in plain if slabs[i][1] > slabs[i][0]]
    for i in sorted(set(plain) - set(seen)):  # the band sees no phantom (magnified or drifted off it)
        yield i, np.zeros((len(angles), 0, n_s), np.float32), slabs[i][0]
    if seen:
        # the other undeformed energies share one projection of the union of their slabs
        lo = min(slabs[i][0] for i in seen)
        hi = max(slabs[i][1] for i in seen)
        plain = np.asarray(seen)
        od = optical_depths(phase[lo:hi], li[lo:hi], energies[plain], angles, model, voxel_um,
                            n_s, n_nodes=n_nodes, work_bytes=band_bytes, backend=backend)
        for k, i in enumerate(plain):
            yield i, od[k], lo
        del od
    for i in np.flatnonzero(warped):
        lo, hi = slabs[i]
        if hi <= lo:  # the band sees no phantom (drifted off it)
            yield i, np.zeros((len(angles), 0, n_s), np.float32), lo
            continue
        ph, x = warp_phase_and_li(phase, li, exposure.deformation, scale=i / (energies.size - 1),
                                  z_range=(lo, hi), work_bytes=band_bytes)
        yield i, optical_depths(ph, x, energies[i:i + 1], angles, model, voxel_um, n_s,
                                n_nodes=n_nodes, work_bytes=band_bytes, backend=backend)[0], lo


def angle_keys(angles_deg) -> list[int]:
    """The noise-stream key of each projection: its angle in whole micro-degrees.

    A projection's photon noise is addressed by its angle, not its index, so a
    subset of a scan's angles (a dead wedge, every other projection) draws what a
    scan of those angles alone draws (`synth.derive`).

    Examples
    --------
    >>> angle_keys([-120.0, 0.0, 0.5])[1:]
    [0, 500000]

    Negative angles wrap modulo 2**64 (the stream keys are unsigned): still one key per angle.
    """
    return [int(round(float(a) * 1e6)) % 2**64 for a in np.asarray(angles_deg, np.float64).ravel()]


def expose_rows(trans, acq: AcquisitionParams, noise: np.random.SeedSequence, energy: int, r0: int,
                angles_deg) -> np.ndarray:
    """Counts of a band of detector rows from ``r0`` at energy index ``energy``.

    Each (detector row, projection angle) draws from its own stream, a child of
    the scan's ``noise`` seed addressed by (energy, row, `angle_keys`), so the
    counts depend neither on the band nor on the other angles of the scan.
    """
    acq.validate()
    trans = np.asarray(trans)
    if not np.all(np.isfinite(trans)) or np.any(trans < 0):
        raise ValueError("transmission: must be finite and >= 0")
    if acq.noise_free:
        return expose(trans, acq)
    seed = _child(noise, energy)
    out = np.empty(trans.shape, np.float32)
    for a, key in enumerate(angle_keys(angles_deg)):
        for j in range(trans.shape[1]):
            cell = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key + (1, r0 + j, key))
            out[a, j] = poisson_counts(trans[a, j], acq, np.random.default_rng(cell))
    return out


def flats_and_darks_of(acq: AcquisitionParams, noise: np.random.SeedSequence, energy: int):
    """The flat and dark fields of energy index ``energy``, from the scan's ``noise`` seed."""
    return flats_and_darks(acq, np.random.default_rng(_child(noise, energy, 0)))
