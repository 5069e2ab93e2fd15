"""Simulate one scenario: ground truth, forward model, files as a beamline writes them.

Writes into ``out_dir``: one Data Exchange scan per energy
(``scan_<energy>eV.h5``), ``references.csv`` (raw absorption of the two
reference states), ``truth.h5`` (Li field, phase map, particle labels on the
fine phantom grid) and ``scenario.toml`` (the resolved scenario).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from trixanes import __version__
from trixanes._shared.paths import check_out_dir
from trixanes._shared.provenance import Provenance
from trixanes.io.references import ReferenceTable, write_reference_table
from trixanes.io.truth import truth_attrs, write_truth

from .acquisition import energy_geometries, projection_angles
from .config import Scenario
from .deform import deformation_field
from .imaging import DEFAULT_BAND_BYTES, Exposure, fine_detector_size, write_scans
from .lithium import lithium_field
from .materials import reference_spectra_raw
from .microstructure import generate_microstructure
from .projector import check_backend
from .tiled import DEFAULT_SLAB_BYTES, SLAB_BYTES_PER_VOXEL, build_truth
from .xanes import XanesModel, default_spectra, measured_spectra

#: Peak memory of building the phantom, per fine voxel (measured: 2.41 GB peak RSS
#: for the 512 x 512 x 512 phantom of the ``default`` preset, ~0.15 GB of it imports),
#: and what stays while it is imaged (counted, not measured: phase 1 B + Li 4 B + 1 B slack).
PHANTOM_BYTES_PER_VOXEL = 18
IMAGED_BYTES_PER_VOXEL = 6

PHANTOM_MODES = ("auto", "whole", "tiled")
#: Size of truth.h5 per fine voxel (gzip'd Li, phase, labels; 0.48 B measured for
#: the default preset), with a margin.
TRUTH_FILE_BYTES_PER_VOXEL = 1.0

#: Energies of the written reference spectra: the beamline's pre-run XANES scan.
REFERENCE_GRID_KEV = np.round(np.arange(8.250, 8.6001, 0.0005), 4)


@dataclass(frozen=True)
class SimulationResult:
    """Files written by :func:`simulate`."""

    out_dir: Path
    scan_paths: tuple[Path, ...]
    references_path: Path
    truth_path: Path
    scenario_path: Path
    am_fraction: float
    n_particles: int
    seconds: float


def xanes_model(scenario: Scenario) -> XanesModel:
    """The scenario's spectral model (built-in or measured reference spectra)."""
    sp, li = scenario.spectra, scenario.lithium
    if sp.references_csv is None:
        pristine, charged = default_spectra(sp.edge_shift_ev)
    else:
        pristine, charged = measured_spectra(sp.references_csv)
    return XanesModel(kind=sp.model, pristine=pristine, charged=charged,
                      x_pristine=li.x_pristine, x_charged=li.x_charged, shift_ev=sp.edge_shift_ev)


def phantom_shape(scenario: Scenario) -> tuple[int, int, int]:
    """(z, y, x) fine grid of the scenario's phantom: the detector times the supersampling."""
    acq = scenario.acquisition
    ss = acq.supersample
    return (acq.detector_rows * ss, acq.detector_cols * ss, acq.detector_cols * ss)


def memory_needed(scenario: Scenario, band_bytes: int = DEFAULT_BAND_BYTES, *,
                  phantom: str = "whole", phantom_bytes: int = DEFAULT_SLAB_BYTES) -> int:
    """Bytes `simulate` needs at its peak (counted from the array sizes).

    Imaging holds a band's optical depths, the projector's and the warp's
    temporaries (each bounded by ``band_bytes``) and the phantom: all of it
    (``phantom="whole"``, whose build needs more still), or the band's slab of
    rows read from ``truth.h5`` and a deformed copy of it (``"tiled"``, whose
    build needs one slab of ``phantom_bytes``, at least one row; the largest
    particle's box, known once the particles are packed, is checked then).

    Examples
    --------
    >>> round(memory_needed(Scenario.preset("paper")) / 1e9)
    667
    >>> round(memory_needed(Scenario.preset("paper"), phantom="tiled") / 1e9, 1)
    5.2
    """
    if phantom not in ("whole", "tiled"):
        raise ValueError(f"phantom must be 'whole' or 'tiled', got {phantom!r}")
    acq = scenario.acquisition
    z, y, x = phantom_shape(scenario)
    n = float(z) * y * x
    # a band is never more than the optical depths of the whole scan
    whole = 4.0 * len(acq.energies_kev) * projection_angles(acq).size * z * fine_detector_size(acq, x)
    band = min(band_bytes, whole)
    if phantom == "whole":
        return int(max(PHANTOM_BYTES_PER_VOXEL * n, IMAGED_BYTES_PER_VOXEL * n + 3 * band))
    reach = 2 * math.ceil(acq.deformation_um / acq.fine_voxel_um) + 4 * acq.supersample
    rows = band / whole * z + reach  # the band's fine rows, their margins and the warp's reach
    build = max(phantom_bytes, SLAB_BYTES_PER_VOXEL * y * x)
    return int(max(build, 3 * band + 2 * IMAGED_BYTES_PER_VOXEL * rows * y * x))


def _available_memory() -> int | None:
    """Free memory of the machine, or of the container's cgroup when that is less; None if unknown."""
    found = []
    try:
        with open("/proc/meminfo") as f:
            found += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except (OSError, ValueError):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    try:  # cgroup v2: a container is killed at memory.max, whatever the host has free
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _phantom_mode(scenario: Scenario, phantom: str, band_bytes: int, phantom_bytes: int,
                  check_memory: bool) -> str:
    """"whole" or "tiled"; raise ValueError, before any work, when the chosen way cannot fit."""
    if phantom not in PHANTOM_MODES:
        raise ValueError(f"phantom must be one of {PHANTOM_MODES}, got {phantom!r}")
    have = _available_memory()
    if phantom == "auto":
        fits = have is None or memory_needed(scenario, band_bytes) <= have
        phantom = "whole" if fits else "tiled"
    need = memory_needed(scenario, band_bytes, phantom=phantom, phantom_bytes=phantom_bytes)
    if check_memory and have is not None and need > have:
        z, y, x = phantom_shape(scenario)
        hint = ("--phantom tiled builds it slab by slab" if phantom == "whole"
                else "lower --band-memory-mb or --phantom-memory-mb")
        raise ValueError(
            f"scenario {scenario.name!r}: the phantom ({z} x {y} x {x} fine voxels) needs about "
            f"{need / 1e9:.1f} GB of memory built {phantom}, {have / 1e9:.1f} GB is available; "
            f"{hint}, or reduce acquisition.detector_rows, detector_cols or supersample (or pass "
            f"check_memory=False, --no-memory-check, to try anyway)")
    return phantom


def _check_disk(scenario: Scenario, out_dir: Path, scratch_dir) -> None:
    """Raise ValueError when the files, and the scratch copy of the tiled Li field
    (4 B per fine voxel), would not fit the free disk."""
    acq = scenario.acquisition
    n = float(np.prod(phantom_shape(scenario), dtype=float))
    scans = 4.0 * len(acq.energies_kev) * (projection_angles(acq).size + 20) * acq.detector_rows * acq.detector_cols
    files = TRUTH_FILE_BYTES_PER_VOXEL * n + scans
    total = {}  # per file system: where, bytes
    for p, b in ((out_dir, files), (Path(scratch_dir or out_dir), 4.0 * n)):
        where = next(q for q in (p, *p.resolve().parents) if q.exists())
        place, sofar = total.get(where.stat().st_dev, (where, 0.0))
        total[where.stat().st_dev] = (place, sofar + b)
    for where, need in total.values():
        free = shutil.disk_usage(where).free
        if need > free:
            raise ValueError(
                f"scenario {scenario.name!r}: the tiled phantom needs about {need / 1e9:.1f} GB of "
                f"disk in {where} (the Li field's uncompressed scratch copy, 4 B per fine voxel, "
                f"and the files), {free / 1e9:.1f} GB is free; --scratch-dir puts the scratch "
                f"copy elsewhere")


def simulate(scenario: Scenario, out_dir, *, progress: bool = True,
             band_bytes: int = DEFAULT_BAND_BYTES, backend: str = "numba",
             check_memory: bool = True, phantom: str = "auto",
             phantom_bytes: int = DEFAULT_SLAB_BYTES, scratch_dir=None, scheduler=None) -> SimulationResult:
    """Build the ground truth and image it at every energy.

    Parameters
    ----------
    scenario : Scenario
        The validated configuration (``Scenario.preset("default")`` etc.).
    out_dir : path-like
        Output folder (created).
    progress : bool
        Show progress bars.
    band_bytes : int
        Working memory of the imaging stage, which projects, detects and
        writes the scans one band of detector rows at a time; sets the band
        size, never the result.
    backend : {"numba", "cupy"}
        Where the phantom is projected: numba on the CPU threads, or cupy on a
        CUDA GPU (needs CuPy; checked before any work). Noise-free files then
        differ from numba's at float32 rounding; with photon noise the Poisson
        draws may differ too (another, equally likely realization): a rounding
        change of the mean can change how many numbers a draw consumes.
    check_memory : bool
        Refuse, before any work, a scenario whose phantom would not fit in the
        available memory (`memory_needed`); with ``phantom="tiled"``, also one
        whose files and scratch copy would not fit the disk, and, right after
        the packing, one whose largest particle's box would not fit in memory.
    phantom : {"auto", "whole", "tiled"}
        Build the ground truth in memory (``whole``, fastest), or slab by slab
        and particle by particle into ``truth.h5`` (``tiled``, :mod:`synth.tiled`:
        several times slower, memory bounded by a slab and the largest
        particle), imaging it from there. Both give the same files. ``auto``:
        whole when it fits in the available memory.
    phantom_bytes : int
        Working memory of a slab of the tiled build; sets the slab size only.
    scratch_dir : path-like, optional
        Where the tiled build keeps its uncompressed Li field (4 B per fine
        voxel) until it is copied into ``truth.h5``; default ``out_dir``. The
        copy is removed at the end, also on errors (not if the process is killed).
    scheduler : str or distributed.Client, optional
        Image the bands of detector rows on the workers of this Dask scheduler
        (`synth.distributed`): they read the phantom from ``truth.h5`` and write
        their bands into ``out_dir``, which must be on a file system they share.
        The phantom is built here first. The files are those of a local run.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> res = simulate(Scenario.preset("tiny"), "sim-out", progress=False)  # doctest: +SKIP
    >>> [p.name for p in res.scan_paths]  # doctest: +SKIP
    ['scan_8300eV.h5', 'scan_8350eV.h5', 'scan_8430eV.h5']
    """
    t0 = time.perf_counter()
    check_out_dir(out_dir)  # a file or an unwritable folder: said before any work
    check_backend(backend)
    if scheduler is not None:  # a wrong address fails now, not after the phantom
        from trixanes._shared.cluster import connect

        client, owned = connect(scheduler)
        if owned:
            client.close()
    mode = _phantom_mode(scenario, phantom, band_bytes, phantom_bytes, check_memory)
    out_dir = Path(out_dir)
    if mode == "tiled" and check_memory:
        _check_disk(scenario, out_dir, scratch_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    acq = scenario.acquisition
    seeds = np.random.SeedSequence(scenario.seed).spawn(5)
    v = acq.fine_voxel_um
    shape = phantom_shape(scenario)

    stages = tqdm(total=3, desc=f"simulate {scenario.name}", unit="stage", disable=not progress)
    truth_path = out_dir / "truth.h5"
    if mode == "tiled":
        stages.set_postfix_str("phantom, tiled")
        truth = build_truth(truth_path, shape, v, scenario.sample, scenario.lithium,
                            sample_seed=_int(seeds[0]), lithium_seed=_int(seeds[1]),
                            slab_bytes=phantom_bytes, attrs=_truth_attrs(shape, v, scenario, "tiled"),
                            progress=progress, scratch_dir=scratch_dir,
                            box_bytes_limit=_available_memory() if check_memory else None)
        am_fraction, n_particles = truth.am_fraction, truth.n_particles
        stages.update(2)
    else:
        stages.set_postfix_str("microstructure")
        micro = generate_microstructure(shape, v, scenario.sample, seed=_int(seeds[0]))
        stages.update()
        stages.set_postfix_str("lithium")
        lith = lithium_field(micro.phase, micro.labels, v, scenario.lithium, seed=_int(seeds[1]),
                             internal_pores=micro.cavity_mask,
                             particle_diameters_um=micro.particle_diameters_um)
        stages.update()
        _write_truth(truth_path, micro, lith, v, scenario)
        am_fraction, n_particles = float(micro.am_fraction), int(micro.labels.max())
        phase, li = micro.phase, lith.li
        del micro, lith  # imaging needs phase and Li only: labels, masks and depths go (1.5 GB at default)
    model = xanes_model(scenario)
    refs_path = write_references(out_dir / "references.csv", model)

    stages.set_postfix_str("imaging")
    with contextlib.ExitStack() as stack:
        if mode == "tiled" or scheduler is not None:  # image the phantom from the truth file
            f = stack.enter_context(h5py.File(truth_path, "r"))
            phase, li = f["phase"], f["li"]
        scan_paths = image_phantom(phase, li, scenario, model, out_dir, seeds, band_bytes=band_bytes,
                                   progress=progress, backend=backend, scheduler=scheduler,
                                   truth_path=truth_path)
    stages.update()
    stages.close()
    scen_path = scenario.write_toml(out_dir / "scenario.toml")
    return SimulationResult(out_dir, tuple(scan_paths), refs_path, truth_path, scen_path,
                            am_fraction, n_particles,
                            time.perf_counter() - t0)


def image_phantom(phase, li, scenario: Scenario, model: XanesModel, out_dir: Path, seeds, *,
                  band_bytes: int = DEFAULT_BAND_BYTES, progress: bool = True,
                  backend: str = "numba", scheduler=None, truth_path=None) -> list:
    """Image a phantom (arrays or HDF5 datasets on the fine grid) at every energy into ``out_dir``.

    ``seeds`` are the scenario's five child seeds; the 3rd draws the drift, the
    4th the deformation and the 5th the photon noise. ``scheduler`` and
    ``truth_path`` as in `imaging.write_scans`.
    """
    acq = scenario.acquisition
    field = None
    if acq.deformation_um > 0:
        field = deformation_field(phantom_shape(scenario), acq.fine_voxel_um, acq.deformation_um,
                                  rng=np.random.default_rng(seeds[3]))
    exposure = Exposure(acq, energy_geometries(acq, rng=np.random.default_rng(seeds[2])),
                        projection_angles(acq), seeds[4], field)
    paths = [Path(out_dir) / f"scan_{g.energy_kev * 1000:.0f}eV.h5" for g in exposure.geometries]
    return write_scans(phase, li, model, exposure, paths, voxel_um=acq.fine_voxel_um,
                       n_nodes=scenario.spectra.nodes, band_bytes=band_bytes, progress=progress,
                       backend=backend, scheduler=scheduler, truth_path=truth_path,
                       simulator=f"trixanes {__version__}", scenario=scenario.name)


def _int(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1)[0])


def _write_truth(path: Path, micro, lith, v: float, scenario: Scenario) -> Path:
    attrs = dict(_truth_attrs(micro.phase.shape, v, scenario, "whole"), am_fraction=float(micro.am_fraction))
    return write_truth(path, lith.li, micro.phase, micro.labels, attrs)


def _truth_attrs(shape, v: float, scenario: Scenario, mode: str) -> dict:
    prov = Provenance(tool="simulate", options={"scenario": scenario.name, "seed": scenario.seed,
                                                "phantom": mode})
    return truth_attrs(shape, v, x_pristine=scenario.lithium.x_pristine,
                       x_charged=scenario.lithium.x_charged, scenario=scenario.to_toml(),
                       provenance=prov)


def write_references(path: Path, model: XanesModel) -> Path:
    """The two reference spectra of ``model``, as the beamline's pre-run scan (`REFERENCE_GRID_KEV`)."""
    pristine, charged = reference_spectra_raw(REFERENCE_GRID_KEV, model)
    return write_reference_table(path, ReferenceTable(REFERENCE_GRID_KEV, pristine, charged), comments=[
        f"raw absorption of NMC (mu, 1/um) at x = {model.x_pristine:g} and {model.x_charged:g}, "
        f"{model.kind} XANES model (trixanes {__version__})"])
