"""Process three scans (pre-edge, edge, post-edge) into a 3D Li map.

The orchestration of the pipeline's stages, each its own module: read and check
the scans, resample every energy's projections onto the pre-edge detector grid
(zone-plate magnification), normalize, find the rotation centre, reconstruct
each energy, register onto the pre-edge volume, bin, segment,
compute the edge jump and the Li content, analyze, write ``limap.h5``,
``stats.json`` and figures. It reads only files: it runs unchanged on beamline data.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from trixanes._shared.paths import cleans_up_out_dir, make_work_dir
from trixanes._shared.provenance import Provenance, capture_warnings
from trixanes.io.limap import LiMap, write_limap
from trixanes.io.stats import Stats, write_stats
from trixanes.io.volume import HALVES, VOLUME

from . import analyze as _analyze
from . import figures as _figures
from .binning import bin_volume, suggest_binning
from .center import check_center
from .defaults import ALGORITHM, BACKEND, BSPLINE, FBP_FILTER_BINNED, RING_FILTER, UNCERTAINTY
from .limap import edge_jump, li_from_jump
from .reconstruct import ALGORITHMS, BACKENDS, check_backend
from .references import load_references, parse_composition, reference_jumps
from .magnification import matched_resamplings
from .register import register_volume
from .resample import apply_registration
from trixanes.io.dataexchange import ENERGY, FRAME_ENERGY, ScanError, scan_info
from .segment import label_particles, segment_phases
from .uncertainty import NoiseEstimate, half_difference_sigma, statistic_sigmas
from .volume import CHUNK_BYTES, reconstruct_scan_file

ROLES = ("pre", "edge", "post")


@dataclass(frozen=True)
class ProcessOptions:
    """Options of :func:`process`; every field has the default a user would expect.

    Attributes
    ----------
    binning : int or None
        n×n×n block mean after registration; None chooses from the voxel size.
    algorithm : {"auto", "fbp", "sirt", "os-sirt", "cgls"}
        ``auto``: FBP with full angular coverage, OS-SIRT when the angles leave a gap.
    center_px : float or None
        Rotation centre for every scan, a 0-based column of the pre-edge
        detector in ``[0, ncols - 1]`` (refused otherwise, before any work);
        None estimates it per scan.
    x_pristine, x_charged : float
        Li stoichiometries of the two reference states.
    register : bool
        Register edge and post-edge volumes onto the pre-edge volume.
    bspline : bool
        Follow the rigid registration by a B-spline one, for samples that
        deform between energies. Off by default: on rigid samples it fits
        noise (spurious displacements of about half a voxel) and costs time.
    ring_filter : bool
        Suppress ring artifacts in the sinograms. Off by default, as in
        ``trixanes reconstruct`` (`pipeline.defaults.RING_FILTER` says why).
    filter_name : str
        FBP filter: ramp, shepp-logan, cosine, hamming or hann. Hann by
        default: the volumes are binned afterwards, so the frequencies it
        damps are lost anyway, while the noise they carry would leak through
        the block mean (on the default scenario: interior Li RMSE 0.026
        against 0.032 with the ramp). This is why `process` and a single
        ``trixanes reconstruct`` (ramp: no binning follows) differ here, and
        only here (`pipeline.defaults`).
    thresholds : (float, float)
        Relative-lithiation thresholds of the Li-poor / moderate / rich classes.
    figures : bool
        Write the PNG figures.
    max_memory_gb : float or None
        When the full-resolution volumes would not fit (an estimate: five
        volumes), each energy is binned while it is read back from disk and the
        binned volumes are registered; a quarter of the cap sizes the chunks of
        rows reconstructed at a time. Peak memory is then about a quarter of the
        cap plus a dozen binned volumes (test, 96 x 320² scans: peak RSS 43 MB above the baseline
        with a 30 MB cap, 300 MB without). None: always work at full resolution.
    backend : {"auto", "numba", "astra", "cupy"}
        Reconstruction backend; "cupy" reconstructs on a CUDA GPU (optional
        CuPy), numba's result to float32 rounding. "auto" is numba everywhere.
    scheduler : str or None
        Address of a Dask scheduler (``tcp://host:8786``) whose workers
        reconstruct the chunks of rows; they must see the scan files (a shared
        file system). None: in this process.
    uncertainty : bool
        Estimate the photon-noise error of the Li map from the scan itself
        (`pipeline.uncertainty`: the two interleaved halves of the projections
        through the same stages): ``/li_sigma`` in ``limap.h5`` and a ``sigma``
        section in ``stats.json``. Off by default (`pipeline.defaults.UNCERTAINTY`):
        it about doubles the reconstruction time.
    composition : str or None
        Chemical formula of the sample (e.g. ``LiNi0.5Mn0.3Co0.2O2``). Only
        needed for edge-step normalized references, which are refused without
        it: with it their raw absorption is restored from xraylib's
        non-resonant background and Ni K-edge step of that composition
        (`trixanes.pipeline.references.restore_raw_absorption`).
    """

    binning: int | None = None
    algorithm: str = ALGORITHM
    center_px: float | None = None
    x_pristine: float = 1.0
    x_charged: float = 0.38
    register: bool = True
    bspline: bool = BSPLINE
    ring_filter: bool = RING_FILTER
    filter_name: str = FBP_FILTER_BINNED
    thresholds: tuple[float, float] = (0.6, 0.9)
    figures: bool = True
    max_memory_gb: float | None = 4.0
    scheduler: str | None = None
    backend: str = BACKEND
    composition: str | None = None
    uncertainty: bool = UNCERTAINTY

    def __post_init__(self):
        if self.binning is not None and not (isinstance(self.binning, int) and self.binning >= 1):
            raise ValueError(f"binning: must be an integer >= 1, got {self.binning!r}")
        if self.algorithm not in ("auto", *ALGORITHMS):
            raise ValueError(f"algorithm: must be one of {', '.join(('auto', *ALGORITHMS))}, "
                             f"got {self.algorithm!r}")
        if not self.x_charged < self.x_pristine:
            raise ValueError(f"x_charged ({self.x_charged}) must be below x_pristine ({self.x_pristine})")
        lo, hi = self.thresholds
        if not 0 <= lo < hi <= 1.5:
            raise ValueError(f"thresholds: need 0 <= low < high, got {self.thresholds}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend: must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.max_memory_gb is not None and not self.max_memory_gb > 0:
            raise ValueError(f"max_memory_gb: must be positive or None, got {self.max_memory_gb!r}")
        if self.composition is not None:
            parse_composition(self.composition)


@dataclass
class ProcessResult:
    """What `process` wrote; ``noise`` is the half-scan noise estimate (with ``uncertainty``)."""

    limap_path: Path
    stats_path: Path
    figures: list = field(default_factory=list)
    log: list = field(default_factory=list)
    seconds: float = 0.0
    stats: Stats | None = None
    noise: NoiseEstimate | None = None


def order_scans(paths) -> dict:
    """Identify pre-edge, edge and post-edge scans by their recorded energies.

    Returns
    -------
    dict
        ``{"pre": ScanInfo, "edge": ScanInfo, "post": ScanInfo}``.

    Raises
    ------
    ScanError
        Not three files, an energy missing, duplicate energies, or energies
        that cannot be ordered pre < edge < post.
    """
    paths = [Path(p) for p in paths]
    if len(paths) != 3:
        raise ScanError(f"process needs exactly three scans (pre-edge, edge, post-edge), got {len(paths)}")
    infos = [scan_info(p) for p in paths]
    for info in infos:
        if info.energy_kev is None:
            raise ScanError(f"{info.path}: no photon energy recorded "
                            f"({ENERGY} or {FRAME_ENERGY}); "
                            "the three scans are told apart by their energies")
    energies = [i.energy_kev for i in infos]
    if len({round(e, 6) for e in energies}) < 3:
        listing = ", ".join(f"{i.path.name}: {i.energy_kev:.4f} keV" for i in infos)
        raise ScanError(f"duplicate energies, cannot tell pre-edge, edge and post-edge apart ({listing})")
    ordered = sorted(infos, key=lambda i: i.energy_kev)
    shapes = {(i.n_rows, i.n_cols) for i in infos}
    if len(shapes) != 1:
        listing = ", ".join(f"{i.path.name}: {i.n_rows} rows x {i.n_cols} cols" for i in infos)
        raise ScanError(f"detector sizes differ between scans ({listing})")
    return dict(zip(ROLES, ordered))


#: smallest |J_pristine - J_charged| worth calibrating: below it the edge energy
#: sees no chemistry, and Li errors are the J noise times more than 30
MIN_REFERENCE_CONTRAST = 0.02


def check_calibration(j_pristine: float, j_charged: float, energies) -> None:
    """Refuse energies at which the two references cannot be told apart.

    Three distinct energies can always be sorted, so a swapped or misprinted
    edge energy (the paper prints 8.58 keV, above its post-edge) shows up here:
    the middle energy then sits where pristine and charged spectra coincide.
    """
    if not (np.isfinite(j_pristine) and np.isfinite(j_charged)):
        raise ScanError(f"reference edge jumps are not finite at {energies} keV: "
                        "the references have no edge step between pre- and post-edge energies")
    if abs(j_pristine - j_charged) < MIN_REFERENCE_CONTRAST:
        raise ScanError(
            f"the middle energy {energies[1]:.4f} keV is not on the Ni K-edge: the pristine and "
            f"charged references give edge jumps {j_pristine:.4f} and {j_charged:.4f} there "
            f"(difference < {MIN_REFERENCE_CONTRAST}), so Li cannot be calibrated. Check the "
            f"energies of the scans (pre < edge < post: {', '.join(f'{e:.4f}' for e in energies)} keV); "
            "the paper's Methods misprint the edge as 8.58 keV, its Results use 8.35 keV")


@cleans_up_out_dir("out_dir")  # a run that fails before writing leaves no folder it made
def process(scans, references, out_dir, options: ProcessOptions | None = None, *,
            progress: bool = True) -> ProcessResult:
    """Run the whole pipeline on three Data Exchange scans.

    Parameters
    ----------
    scans : sequence of path-like
        The three scans, in any order: they are ordered by their energies.
    references : path-like
        ``references.csv`` (``energy_kev,pristine,charged``), raw absorption spectra.
    out_dir : path-like
        Where ``limap.h5``, ``stats.json`` and ``figures/`` go. Refused before
        any work when it is a file or not writable; a run that fails before
        writing leaves no folder it created, and work folders of killed runs
        (``.work-*`` of a dead process) are removed.
    options : ProcessOptions, optional
    progress : bool
        Show progress bars.

    Returns
    -------
    ProcessResult
        With ``stats``, the `trixanes.io.stats.Stats` record written to ``stats.json``.
    """
    t0 = time.perf_counter()
    with capture_warnings() as seen:  # every warning of the run goes into the outputs' provenance
        run = _compute(scans, references, out_dir, options, progress)
    return _write_outputs(run, seen, t0)


@dataclass(frozen=True, eq=False)
class _Run:
    """What `_compute` made, for `_write_outputs`."""

    limap: LiMap
    mu: dict
    stats: Stats
    provenance: Provenance
    out_dir: Path
    log: list
    figures: bool
    noise: NoiseEstimate | None = None


def _compute(scans, references, out_dir, options, progress) -> _Run:
    opts = options or ProcessOptions()
    if opts.scheduler is None:  # a cluster's workers may have what this machine lacks
        check_backend(opts.backend)
    out_dir = Path(out_dir)
    log: list[str] = []
    roles = order_scans(scans)
    # a centre off the detector fails deep in the reconstruction, or silently gives garbage
    check_center(opts.center_px, roles["pre"].n_cols, roles["pre"].path)
    energies = tuple(roles[r].energy_kev for r in ROLES)
    log.append("energies: " + ", ".join(f"{r} {roles[r].energy_kev:.4f} keV ({roles[r].path.name})"
                                         for r in ROLES))
    refs = load_references(references, composition=opts.composition)
    j_pristine, j_charged = reference_jumps(refs, energies)
    check_calibration(j_pristine, j_charged, energies)
    log.append(f"reference edge jumps at these energies: pristine {j_pristine:.4f}, charged {j_charged:.4f}")
    log.extend(refs.notes)

    pixel = {r: roles[r].pixel_size_um for r in ROLES}
    if any(p is None for p in pixel.values()):
        known = [p for p in pixel.values() if p is not None]
        fallback = known[0] if known else 1.0
        msg = (f"pixel size missing in {[roles[r].path.name for r in ROLES if pixel[r] is None]}; "
               f"assuming {fallback} um and no magnification change")
        warnings.warn(msg)
        log.append(msg)
        pixel = {r: (p if p is not None else fallback) for r, p in pixel.items()}

    voxel = pixel["pre"]
    factor = opts.binning or suggest_binning(voxel)
    info = roles["pre"]
    full_shape = (info.n_rows, info.n_cols, info.n_cols)
    # three full volumes plus the registration's resampled copy and its work space
    need_gb = 5 * 4 * float(np.prod(full_shape)) / 1e9
    early = factor if (opts.max_memory_gb is not None and need_gb > opts.max_memory_gb) else 1
    if early > 1:
        log.append(f"full-resolution volumes would need ~{need_gb:.1f} GB (> {opts.max_memory_gb} GB): "
                   f"binning {factor}x while reading each volume, registering the binned volumes")
    # every energy is reconstructed on the pre-edge detector grid (see pipeline.magnification)
    resamplings = matched_resamplings([pixel[r] for r in ROLES], (info.n_rows, info.n_cols))
    if resamplings is not None:
        log.append("magnification: projections resampled onto the pre-edge pixel "
                   f"({voxel:.5f} um) from " + ", ".join(f"{r} {pixel[r]:.5f} um" for r in ROLES[1:])
                   + ", with matched pixel footprints and a common band limit")
    centres: dict = {}
    late = factor // early
    voxel_b = voxel * factor
    calibrate = dict(j_pristine=j_pristine, j_charged=j_charged, x_pristine=opts.x_pristine,
                     x_charged=opts.x_charged)
    work = make_work_dir(out_dir)  # records its owner: a later run removes it if this one is killed
    try:
        reader = _reconstruct_all(roles, opts, pixel, dict(zip(ROLES, resamplings or (None,) * 3)),
                                  work, early, log, progress, centres)
        volumes = {r: reader(r, VOLUME) for r in ROLES}
        registrations = _align(volumes, voxel * early, opts, log)
        binned = {r: bin_volume(volumes[r], late) if late > 1 else volumes[r] for r in ROLES}
        del volumes
        log.append(f"binning {factor}x{factor}x{factor}: voxel {voxel_b:.4f} um, shape {binned['pre'].shape}")

        seg = segment_phases(binned["post"])
        # rows and borders without data (NaN after registration) cut particles; they are no surface
        labels = label_particles(seg.am_mask, voxel_b, measured=np.isfinite(binned["post"]))
        jump = edge_jump(binned["pre"], binned["edge"], binned["post"], seg.am_mask)
        li = li_from_jump(jump.J, j_pristine, j_charged, opts.x_pristine, opts.x_charged)
        log.append(f"active material {seg.am_mask.mean():.3f} of the volume, {labels.max()} particles, "
                   f"{jump.n_invalid} voxels without a valid edge jump")
        # each half through the same transforms, binning, mask and calibration as the full scan
        half_li = [_half_li(reader, name, registrations, voxel * early, late, seg.am_mask, calibrate)
                   for name in (HALVES if opts.uncertainty else ())]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    analyze_kw = dict(x_pristine=opts.x_pristine, x_charged=opts.x_charged, thresholds=opts.thresholds)
    stats = _analyze.analyze(li, seg.am_mask, labels, voxel_b, edge_jump=jump.J, **analyze_kw)
    li_sigma = noise = None
    if half_li:
        t_u = time.perf_counter()
        noise = half_difference_sigma(*half_li, seg.am_mask)
        stats = stats.replace(sigma=statistic_sigmas(li, seg.am_mask, labels, voxel_b, noise, **analyze_kw))
        li_sigma = noise.sigma
        log.append(f"uncertainty: median voxel sigma(Li) {noise.median_sigma:.4f}, sigma(total Li) "
                   f"{stats.sigma['total_li']:.2g}, noise correlated over {noise.correlation_volume_vox:.1f} "
                   f"voxels ({stats.sigma['n_realizations']} noise fields, {time.perf_counter() - t_u:.1f} s)")
    stats = stats.replace(acquisition={
        "energies_kev": list(energies),
        "files": {r: str(roles[r].path) for r in ROLES},
        "reference_jumps": {"pristine": j_pristine, "charged": j_charged},
        "binning": factor,
        "voxel_size_um": voxel_b,
        "registration": {r: _reg_summary(g) for r, g in registrations.items()},
    })
    inputs = {r: Provenance.input_file(roles[r].path, energy_kev=roles[r].energy_kev) for r in ROLES}
    inputs["references"] = Provenance.input_file(references)
    provenance = Provenance(
        tool="process", options=dataclasses.asdict(opts), inputs=inputs,
        details={"rotation_center_px": {r: centres.get(r) for r in ROLES},
                 "registration": stats.acquisition["registration"],
                 "reference_jumps": stats.acquisition["reference_jumps"],
                 "binning": factor, "voxel_size_um": voxel_b})

    origin = [-(n / 2) * voxel for n in full_shape]
    limap = LiMap(li=li, am_mask=seg.am_mask, labels=labels, edge_jump=jump.J, li_sigma=li_sigma,
                  voxel_size_um=voxel_b,
                  origin_um=origin, x_pristine=opts.x_pristine, x_charged=opts.x_charged,
                  energies_kev=energies, binning=factor)
    return _Run(limap, binned, stats, provenance, out_dir, log, opts.figures, noise)


def _write_outputs(run: _Run, seen, t0) -> ProcessResult:
    """limap.h5, stats.json (each with the provenance and every warning of the run) and figures."""
    prov = run.provenance.with_warnings(seen)
    limap_path = write_limap(run.out_dir / "limap.h5", dataclasses.replace(run.limap, provenance=prov),
                             mu=run.mu)
    stats = run.stats.replace(provenance=prov)
    stats_path = write_stats(run.out_dir / "stats.json", stats)
    figs = []
    if run.figures:
        figs = _figures.save_all(stats, run.limap.li, run.mu["post"], run.limap.voxel_size_um[0],
                                 run.out_dir / "figures")
    return ProcessResult(limap_path, stats_path, figs, run.log, time.perf_counter() - t0, stats, run.noise)


def _reconstruct_all(roles, opts, pixel, resamplings, work, early, log, progress, centres=None):
    """Reconstruct each energy chunk by chunk into ``work``; return a reader of the volumes.

    ``centres`` (a dict) receives each energy's rotation centre, px. The
    reader, ``read(role, dataset)``, reads ``/volume`` (or a half-scan's
    ``/half_a``, ``/half_b``) in slabs of ``early`` rows, binned by ``early``:
    memory is bounded by one binned volume plus one slab, however large the scan.
    """
    # a quarter of the cap for the chunks in flight; the rest holds the binned volumes
    budget = CHUNK_BYTES if opts.max_memory_gb is None else min(CHUNK_BYTES, opts.max_memory_gb * 1e9 / 4)
    files, scales = {}, {}
    bar = tqdm(ROLES, desc="reconstruct", disable=not progress, unit="energy")
    for role in bar:
        bar.set_postfix_str(role)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # missing metadata is reported in the log
            tomo = reconstruct_scan_file(roles[role].path, work / role, center_px=opts.center_px,
                                         algorithm=opts.algorithm, ring_filter=opts.ring_filter,
                                         filter_name=opts.filter_name, backend=opts.backend,
                                         resampling=resamplings[role], memory_budget_bytes=budget,
                                         scheduler=opts.scheduler, progress=progress, halves=opts.uncertainty)
        files[role] = tomo.path
        scales[role] = np.float32(1.0 / pixel[role]) if tomo.voxel_size_um is None else np.float32(1.0)
        log.append(f"{role}: rotation centre {tomo.center_px:.2f} px, {tomo.algorithm}")
        if centres is not None:
            centres[role] = float(tomo.center_px)
        log.extend(f"  {n}" for n in tomo.notes
                   if not n.startswith(("rotation centre", "energy", "projections resampled")))

    def read(role, name):
        with h5py.File(files[role], "r") as f:
            ds = f[name]
            if early == 1:
                vol = ds[...]
            else:
                nz = ds.shape[0] // early * early
                slab_bytes = 4.0 * early * ds.shape[1] * ds.shape[2]
                step = early * int(max(1, budget // slab_bytes))
                vol = np.empty((nz // early,) + tuple(n // early for n in ds.shape[1:]), np.float32)
                for z in range(0, nz, step):
                    vol[z // early:(z + step) // early] = bin_volume(ds[z:min(nz, z + step)], early)
        return vol * scales[role] if scales[role] != 1 else vol

    return read


def _half_li(read, name, registrations, voxel, late, am_mask, calibrate) -> np.ndarray:
    """The Li map of one half-scan, made exactly as the full scan's (`pipeline.uncertainty`)."""
    vols = {r: read(r, name) for r in ROLES}
    for role, reg in registrations.items():
        vols[role] = apply_registration(reg, vols[role], vols["pre"].shape, voxel)
    binned = {r: bin_volume(vols[r], late) if late > 1 else vols[r] for r in ROLES}
    jump = edge_jump(binned["pre"], binned["edge"], binned["post"], am_mask)
    return li_from_jump(jump.J, calibrate["j_pristine"], calibrate["j_charged"], calibrate["x_pristine"],
                        calibrate["x_charged"])


def _align(volumes, voxel, opts, log) -> dict:
    """Register edge and post-edge onto the pre-edge volume (same grid), in place."""
    registrations = {}
    if not opts.register:
        return registrations
    for role in ("edge", "post"):
        reg = register_volume(volumes["pre"], volumes[role], transform="rigid",
                              bspline=opts.bspline, voxel_size_um=voxel)
        volumes[role] = reg.moved
        registrations[role] = reg
        log.append(f"{role} -> pre: translation (z,y,x) "
                   f"{np.round(reg.translation_vox, 2).tolist()} vox, rotation "
                   f"{np.round(reg.rotation_deg, 3).tolist()} deg"
                   + (f", B-spline up to {reg.bspline_max_displacement_vox:.2f} vox" if opts.bspline else ""))
    return registrations


def _reg_summary(reg) -> dict:
    return {
        "translation_vox_zyx": np.asarray(reg.translation_vox, float).tolist(),
        "rotation_deg": np.asarray(reg.rotation_deg, float).tolist(),
        "scale": float(reg.scale),
        "bspline_max_displacement_vox": reg.bspline_max_displacement_vox,
        "metric_before": reg.metric_before,
        "metric_after": reg.metric_after,
    }
